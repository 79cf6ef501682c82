/**
 * Local test images for the services test: builds (or reuses, by content hash) the specs in
 * test/support/images/ and derives one image per app and version from the sample app (its port
 * and version baked in as env, as a real app image knows its own port). Returns the explicit
 * image map the harness rewrites registry references through.
 */
import { execFileSync } from "node:child_process";
import * as path from "node:path";

const REPO = path.resolve(__dirname, "../..");
const BUILD = path.join(REPO, "test/support/images/build.sh");

export interface TestImages {
  readonly map: Record<string, string>;
  /** Images that had to be built in this run (empty = warm cache). */
  readonly built: string[];
  /** Of those, the debootstrap-built base images (the expensive part of a cold cache). */
  readonly baseBuilt: string[];
  readonly buildMs: number;
}

function imageExists(tag: string): boolean {
  try {
    execFileSync("docker", ["image", "inspect", tag], { stdio: "ignore", timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

/** Builds (or reuses) the image of a spec; returns its tag. */
function build(name: string): string {
  const out = execFileSync(BUILD, [name], {
    encoding: "utf8",
    timeout: 600_000,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return out.trim().split("\n").pop()!;
}

export interface AppImageSpec {
  /** Registry reference the program declares, e.g. `ghcr.io/blazetv/api:1.4.0`. */
  readonly ref: string;
  readonly port: number;
  readonly version: string;
  /** Extra env baked into the derived image (e.g. `FAIL_PERCENT` for a broken release). */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Builds every spec and the derived app images. `cold` removes this run's base images first
 * so the build (debootstrap + import) is measured from an empty docker image cache.
 */
export function ensureImages(apps: readonly AppImageSpec[], opts: { cold?: boolean } = {}): TestImages {
  const t0 = Date.now();
  const built: string[] = [];
  const names = ["postgres", "pgbouncer", "redis", "nginx", "app"] as const;
  if (opts.cold) {
    // Only the exact tags these specs build (and their derived app images): other tests' images stay.
    for (const n of names) {
      const tag = execFileSync(BUILD, ["--tag-only", n], { encoding: "utf8" }).trim();
      const derived =
        n === "app"
          ? execFileSync(
              "docker",
              [
                "images",
                "--format",
                "{{.Repository}}:{{.Tag}}",
                "--filter",
                "reference=launchgate-test/app-*",
              ],
              { encoding: "utf8" },
            )
              .split("\n")
              .filter(
                (t) => t.endsWith(`:${tag.split(":").pop()}`) || t.includes(`:${tag.split(":").pop()}-`),
              )
          : [];
      for (const t of [...derived, tag]) {
        try {
          execFileSync("docker", ["rmi", t], { stdio: "ignore", timeout: 60_000 });
        } catch {
          /* absent already */
        }
      }
    }
  }
  const tags: Record<string, string> = {};
  const baseBuilt: string[] = [];
  for (const n of names) {
    const before = Date.now();
    tags[n] = build(n);
    if (Date.now() - before > 5_000) {
      built.push(tags[n]!);
      baseBuilt.push(tags[n]!);
    }
  }
  const map: Record<string, string> = {
    postgres: tags.postgres!,
    "edoburu/pgbouncer": tags.pgbouncer!,
    redis: tags.redis!,
    nginx: tags.nginx!,
  };
  const baseHash = tags.app!.split(":").pop()!;
  for (const a of apps) {
    const app = a.ref.split("@")[0]!.split(":")[0]!.split("/").pop()!;
    const tag = `launchgate-test/app-${app}:${baseHash}-${a.version}`;
    if (!imageExists(tag)) {
      execFileSync("docker", ["build", "-q", "-t", tag, "-"], {
        input: `FROM ${tags.app}\nENV PORT=${a.port} APP_VERSION=${a.version}${Object.entries(a.env ?? {})
          .map(([k, v]) => ` ${k}=${v}`)
          .join("")}\n`,
        stdio: ["pipe", "ignore", "pipe"],
        timeout: 120_000,
      });
      built.push(tag);
    }
    map[a.ref] = tag;
  }
  return { map, built, baseBuilt, buildMs: Date.now() - t0 };
}
