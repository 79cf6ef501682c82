/**
 * A disposable PostgreSQL 15 server for host tests: the shared image spec
 * test/support/images/postgres (official-style entrypoint; built by images/build.sh with
 * debootstrap + docker import, cached by content hash), one container per test, removed with its
 * anonymous volumes on `stop()` and on process exit. Every wait is bounded.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as path from "node:path";

const BUILD = path.join(__dirname, "images", "build.sh");

/** Builds (or reuses) the image; returns its tag. Cold: ~40 s plus the debootstrap download. */
export function buildPostgresImage(timeoutMs = 15 * 60_000): string {
  const r = spawnSync("bash", [BUILD, "postgres"], {
    encoding: "utf8",
    timeout: timeoutMs,
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (r.status !== 0) throw new Error(`postgres image build failed (status ${r.status}, ${r.error ?? ""})`);
  return r.stdout.trim().split("\n").pop()!;
}

export interface PgServer {
  /** Container name (`<prefix><random>`), usable with `docker exec`. */
  readonly name: string;
  /** psql inside the container as superuser over the local socket; returns stdout (-qAtX). */
  psql(db: string, sql: string, timeoutMs?: number): string;
  /** Removes the container and its anonymous volumes; safe to call twice. */
  stop(): void;
}

const live = new Set<string>();
let hooked = false;
function removeAll(): void {
  for (const n of live) spawnSync("docker", ["rm", "-f", "-v", n], { stdio: "ignore", timeout: 30_000 });
  live.clear();
}

/** Starts a server and waits (≤ `readyTimeoutMs`) until it accepts connections. */
export function startPostgres(image: string, prefix: string, readyTimeoutMs = 60_000): PgServer {
  if (!hooked) {
    hooked = true;
    process.on("exit", removeAll);
    for (const s of ["SIGINT", "SIGTERM"] as const) process.on(s, () => (removeAll(), process.exit(130)));
  }
  const name = `${prefix}${crypto.randomBytes(4).toString("hex")}`;
  live.add(name); // before `run`: a container created but failing to start is removed too
  execFileSync(
    "docker",
    [
      "run",
      "-d",
      "--name",
      name,
      "--label",
      "launchgate.test=pg",
      "-e",
      "POSTGRES_PASSWORD=test-only",
      image,
    ],
    {
      stdio: "ignore",
      timeout: 60_000,
    },
  );
  const server: PgServer = {
    name,
    psql(db, sql, timeoutMs = 300_000) {
      return execFileSync(
        "docker",
        ["exec", "-i", name, "psql", "-U", "postgres", "-d", db, "-qAtX", "-v", "ON_ERROR_STOP=1"],
        {
          input: sql,
          encoding: "utf8",
          timeout: timeoutMs,
          maxBuffer: 64 << 20,
        },
      );
    },
    stop() {
      spawnSync("docker", ["rm", "-f", "-v", name], { stdio: "ignore", timeout: 30_000 });
      live.delete(name);
    },
  };
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    const r = spawnSync("docker", ["exec", name, "pg_isready", "-U", "postgres"], {
      stdio: "ignore",
      timeout: 10_000,
    });
    // pg_isready turns green during initdb's temporary server too; a query proves the real one.
    if (
      r.status === 0 &&
      spawnSync("docker", ["exec", name, "psql", "-U", "postgres", "-Atc", "select 1"], { timeout: 10_000 })
        .status === 0
    )
      break;
    if (Date.now() > deadline) {
      const logs = spawnSync("docker", ["logs", "--tail", "30", name], { encoding: "utf8" });
      server.stop();
      throw new Error(`postgres ${name} not ready after ${readyTimeoutMs} ms:\n${logs.stdout}${logs.stderr}`);
    }
    spawnSync("sleep", ["0.5"]);
  }
  return server;
}
