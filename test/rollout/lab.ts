/**
 * The rollout lab, shared by test/rollout/canary.test.ts and `npm run bench -- --only rollout`:
 * the `local` stack's services as the program declares them (recorded by test/services/record.ts,
 * run by the services harness with the locally built images), with `release.rollout` on, plus
 * what a `pulumi up` of each rollout step would change, applied the way the engine applies it:
 * new containers created (health-gated), the proxy's weights step run (the recorded
 * `command:remote:Command`: the exact command and stdin the program declares, with the harness's
 * container name), then containers the step no longer declares removed.
 *
 * The only stand-ins: the weights command runs through the local shell instead of SSH, and the
 * proxy log is read with the same `docker logs --since/--until` locally instead of over SSH.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as https from "node:https";
import * as path from "node:path";
import { weightsCommand } from "../../components/edge/Proxy";
import { parsePidsLimitCommand } from "../../contract/pids-limits";
import { commandRoleOf } from "../../contract/roles";
import { readStackFile } from "../../stacks/stack-file";
import type { RolloutEffects } from "../../tools/promote/canary";
import { proxyLogCommand } from "../../tools/promote/rollout";
import { CONTAINER, Harness, sleep } from "../support/harness";
import { request } from "../support/probes";
import type { RecordedResource } from "../support/mocks";
import { ensureImages, type TestImages } from "../services/images";
import { recordProgram, type ProgramRecording } from "../services/record";

const REPO = path.resolve(__dirname, "../..");
type Json = any;

/** Seconds the drain steps of `containers` (their declared names) wait on delete, as recorded in `rec`. */
function drainSeconds(rec: ProgramRecording, containers: readonly string[]): number[] {
  return rec.all
    .filter((r) => r.type === "command:local:Command")
    .map((r) => r.inputs as { delete?: unknown; triggers?: unknown[] })
    .filter(
      (i) => commandRoleOf(i.triggers) === "drain" && containers.includes(String(i.triggers?.[0] ?? "")),
    )
    .map((i) => Number(/^sleep (\d+)$/.exec(String(i.delete))?.[1] ?? NaN))
    .filter((n) => Number.isFinite(n));
}

export const STABLE_COMMIT = "1".repeat(40);
export const CANARY_COMMIT = "2".repeat(40);

/** One client request through the proxy: when it finished, the status, which version answered. */
export interface Sample {
  readonly t: number;
  readonly status: number;
  readonly version: string;
  readonly error?: string;
}

export interface Load {
  readonly samples: Sample[];
  stop(): Promise<void>;
}

export interface CanaryImage {
  readonly ref: string;
  readonly version: string;
  readonly env?: Record<string, string>;
}

export class RolloutLab {
  readonly harness: Harness;
  readonly images: TestImages;
  readonly api: { name: string; image: string; port: number; route?: string };
  readonly domain: string;
  readonly ca: string;
  httpsPort = 0;
  private readonly apps: Json[];
  private readonly baseRelease: Json;

  private constructor(
    readonly rollout: Record<string, unknown>,
    harness: Harness,
    images: TestImages,
    readonly base: ProgramRecording,
  ) {
    const file = readStackFile(REPO, "local");
    this.apps = file.values.apps as Json[];
    this.api = this.apps.find((a) => a.route === "/")!;
    this.domain = file.values.domain as string;
    this.baseRelease = file.values.release;
    this.harness = harness;
    this.images = images;
    this.ca = base.caCertPem!;
    this.applied = base;
  }

  /** The declaration the lab's containers were last brought to (what the engine's state would hold). */
  private applied: ProgramRecording;

  /** Builds (or reuses) the images, records the stack with `rollout` on and brings it up. */
  static async start(o: {
    rollout: Record<string, unknown>;
    canaries: readonly CanaryImage[];
    runId?: string;
    log?: (l: string) => void;
  }): Promise<RolloutLab> {
    execFileSync(path.join(REPO, "test/support/ensure-dockerd.sh"), { stdio: "ignore", timeout: 90_000 });
    const file = readStackFile(REPO, "local");
    const apps = file.values.apps as { name: string; image: string; port: number; route?: string }[];
    const api = apps.find((a) => a.route === "/")!;
    const images = ensureImages([
      ...apps.map((a) => ({ ref: a.image, port: a.port, version: a.image.split(":").pop()! })),
      ...o.canaries.map((c) => ({ ref: c.ref, port: api.port, version: c.version, env: c.env })),
    ]);
    const base = await recordProgram("local", {
      release: { ...(file.values.release as Json), commit: STABLE_COMMIT, rollout: o.rollout },
    });
    const harness = new Harness({
      imageMap: images.map,
      postgresAdminContainer: "postgres",
      runId: o.runId,
      log: o.log,
    });
    const lab = new RolloutLab(o.rollout, harness, images, base);
    try {
      await harness.up(base.resources);
      lab.httpsPort = await harness.hostPort("proxy", 443);
      await lab.runWeights(base);
    } catch (e) {
      await harness.cleanup();
      throw e;
    }
    return lab;
  }

  private readonly recorded = new Map<string, ProgramRecording>();

  /**
   * Records every declaration a rollout of `canary` can need (each step, weight 0, final) ahead,
   * so a step's measured time is the engine's work, not the mock run's.
   */
  async prepare(canary: CanaryImage, steps: readonly number[]): Promise<void> {
    for (const w of [...steps, 0, "final" as const]) await this.recording(canary, w);
  }

  /** The program's declaration for a rollout step: `weight` (0..100) or the final state. */
  async recording(canary: CanaryImage, weight: number | "final"): Promise<ProgramRecording> {
    const key = `${canary.ref} ${weight}`;
    const hit = this.recorded.get(key);
    if (hit) return hit;
    const rec = await this.record(canary, weight);
    this.recorded.set(key, rec);
    return rec;
  }

  private async record(canary: CanaryImage, weight: number | "final"): Promise<ProgramRecording> {
    const images = Object.fromEntries(this.apps.map((a) => [`app:${a.name}`, a.image]));
    return recordProgram("local", {
      apps: this.apps.map((a) => (a === this.api ? { ...a, image: canary.ref } : a)),
      release: {
        ...this.baseRelease,
        commit: CANARY_COMMIT,
        previous: { commit: STABLE_COMMIT, images },
        rollout: this.rollout,
        ...(weight === "final" ? {} : { canaryWeight: weight }),
      },
    });
  }

  /** Declared names of the running containers (services and kept one-shot jobs). */
  declared(): string[] {
    return this.harness.all().map((c) => c.declaredName);
  }

  /** The proxy's weights step as recorded: the command must be the program's, run on the harness's proxy. */
  async runWeights(rec: ProgramRecording): Promise<string> {
    const step = rec.commands.find((c) => c.name === "proxy-weights");
    if (!step) throw new Error("the program declares no proxy-weights step (is release.rollout set?)");
    if (step.inputs.create !== weightsCommand("proxy"))
      throw new Error(`unexpected weights command: ${String(step.inputs.create)}`);
    const r = spawnSync("sh", ["-c", weightsCommand(this.harness.container("proxy").dockerName)], {
      input: String(step.inputs.stdin),
      encoding: "utf8",
      timeout: 30_000,
    });
    if (r.status !== 0) throw new Error(`weights step failed (${r.status}): ${r.stderr}`);
    return String(step.inputs.stdin);
  }

  /**
   * Applies a recording as `pulumi up` would: create what is new (jobs run to exit 0, services
   * health-gated), run the weights step, remove what is no longer declared.
   */
  async converge(rec: ProgramRecording): Promise<void> {
    const want = rec.resources.filter((r) => r.type === CONTAINER);
    const running = new Set(this.declared());
    for (const r of want) {
      if (running.has(String(r.inputs.name))) continue;
      const c = await this.harness.startContainer(r as RecordedResource);
      if (c.startedByCommand) {
        // Created stopped: its PIDs-limit command (kept in the recording) sets the limit and runs it.
        const starter = rec.resources.find(
          (x) =>
            x.type.startsWith("command:") &&
            parsePidsLimitCommand(String(x.inputs.create))?.container === r.inputs.name,
        );
        if (!starter) throw new Error(`no PIDs-limit command starts ${String(r.inputs.name)}`);
        await this.harness.applyPidsLimit(starter);
      } else if (c.oneShot) await this.harness.waitExit(c);
      else await this.harness.waitHealthy([c]);
    }
    await this.runWeights(rec);
    const keep = new Set(want.map((r) => String(r.inputs.name)));
    const gone = this.declared().filter((name) => !keep.has(name));
    // The engine deletes what is gone at the end, dependents first: the drain steps of the
    // removed app containers (their delete waits, in parallel), then the containers.
    const waits = drainSeconds(this.applied, gone);
    if (waits.length) await sleep(Math.max(...waits) * 1000);
    for (const name of gone) await this.harness.removeContainer(name);
    this.applied = rec;
  }

  /** Rollout effects on this lab: each weight a converge, the log from `docker logs`. */
  effects(canary: CanaryImage, log: (l: string) => void, alerts: unknown[]): RolloutEffects {
    return {
      applyWeight: async (w) => this.converge(await this.recording(canary, w)),
      readLog: async (since, until) => {
        // The same `docker logs` the driver runs over SSH, minus the ssh prefix.
        const argv = proxyLogCommand({
          host: "-",
          port: 22,
          user: "-",
          identityFile: "-",
          knownHostsFile: "-",
          hostKeys: "known",
          container: this.harness.container("proxy").dockerName,
          since,
          until,
        });
        const docker = argv.slice(argv.indexOf("docker"));
        const r = spawnSync(docker[0]!, docker.slice(1), {
          encoding: "utf8",
          timeout: 30_000,
          maxBuffer: 64 << 20,
        });
        if (r.status !== 0) throw new Error(`docker logs failed: ${r.stderr}`);
        return `${r.stdout}\n${r.stderr}`;
      },
      alert: async (p) => void alerts.push(p),
      now: () => new Date(),
      sleep,
      log,
    };
  }

  /** One GET through the proxy over HTTPS (a new connection each time), trusting the internal CA. */
  async get(pathname: string): Promise<Sample> {
    const res = await request(https, {
      host: "127.0.0.1",
      port: this.httpsPort,
      servername: this.domain,
      ca: this.ca,
      path: pathname,
      headers: { host: this.domain },
      agent: false,
    }).catch((e: Error) => e);
    if (res instanceof Error) return { t: Date.now(), status: 0, version: "", error: res.message };
    let version = "";
    try {
      version = String((JSON.parse(res.body) as { version?: unknown }).version ?? "");
    } catch {
      /* not JSON: the proxy's own error page */
    }
    return { t: Date.now(), status: res.status, version };
  }

  /** Client traffic: `workers` loops each sending GET /version every `everyMs`, until stopped. */
  load(workers = 2, everyMs = 60): Load {
    const samples: Sample[] = [];
    let running = true;
    const loops = Array.from({ length: workers }, async () => {
      while (running) {
        const t = Date.now();
        samples.push(await this.get("/version"));
        await sleep(Math.max(0, everyMs - (Date.now() - t)));
      }
    });
    return {
      samples,
      stop: async () => {
        running = false;
        await Promise.all(loops);
      },
    };
  }

  async cleanup(): Promise<void> {
    await this.harness.cleanup();
  }
}
