/**
 * TEST HARNESS — not a deployer. Runs the docker Network/Volume/Container inputs that a mock run
 * of the program recorded (test/support/mocks.ts) on the local Docker engine, so tests can prove
 * the declared services work together. Production deploys go through the
 * Pulumi CLI and the docker provider; nothing here is used by the program.
 *
 * Strict by construction: every input field the harness understands is listed in a mapping
 * table below, and any other field (at any depth) throws `UnmappedFieldError`, so the harness
 * can never silently run something different from what the program declares.
 *
 * The only rewrites are explicit and reported:
 *   - image references go through `imageMap` (registry images → locally built test images);
 *   - docker object names get a per-run prefix (`lg-svc-<id>-`) so runs never collide and
 *     cleanup is exact; every container also keeps its declared name as a network alias on each
 *     network it joins, so name-based DNS between containers resolves as declared;
 *   - published ports bind to 127.0.0.1 on an ephemeral host port (read back with `hostPort`);
 *   - `hostPath` binds point into a per-run temp dir.
 *
 * Order: with recorded `dependencies` (URNs, as the engine gets them) each resource is created
 * once its dependencies are, all others in parallel (as the engine runs them) — `wait` containers
 * count when the provider's own poll sees them healthy (an inspect a second: `PROVIDER_WAIT_POLL_MS`),
 * `attach` jobs when exited 0, and every container create ends with the provider's read delay
 * (`PROVIDER_READ_DELAY_MS`), as the docker provider reports them; a `start: false` container
 * is only created, and its PIDs-limit command (components/app/pids-limit.ts `startOneShot`, run
 * by the harness unless a handler takes its type) sets the limit, starts it and waits for exit 0. @pulumi/postgresql roles,
 * databases and grants are applied as SQL in the Postgres container (`postgresAdminContainer`).
 * Uploads are made exactly as the provider makes them: one tar per file, extracted at "/".
 *
 * Talks to the Engine API on /var/run/docker.sock (the CLI cannot express exec-form
 * healthchecks), or on another engine's socket (`engine`: the disposable VPS's nested engine over
 * SSH, with "as-declared" placement: declared names, ports and host paths, no prefixes).
 * `handlers` let further recorded types (the program's commands) take part in the dependency order. Cleanup removes only objects labelled with this run's id, always: `cleanup()`
 * in `finally`, `up()` on failure, synchronous process exit/signal hooks, and reaping of objects
 * whose creating process is gone. Runs that need the program's fixed subnets take a lock.
 */
import { execFileSync, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import type { RecordedResource } from "./mocks";
import {
  PIDS_LIMIT_COMMAND_ROLE,
  oneShotStartCommand,
  parsePidsLimitCommand,
  pidsLimitCommand,
} from "../../contract/pids-limits";
import { commandRoleOf } from "../../contract/roles";

/**
 * The Docker CLI without blocking the event loop (the engine runs a deployment's steps side by
 * side: a synchronous CLI call here would stall every other branch of `up`, e.g. health polls and
 * role creation, for its whole duration). Resolves with stdout; rejects on a non-zero exit.
 */
function dockerCli(
  args: readonly string[],
  o: { env: NodeJS.ProcessEnv; timeoutMs: number; input?: string },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("docker", [...args], {
      env: o.env,
      timeout: o.timeoutMs,
      // No stdin unless there is input: writing to a CLI that already exited is an EPIPE.
      stdio: [o.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    // A CLI that exits before reading all its input: its exit status says what happened.
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(o.input);
    child.on("error", reject);
    child.on("close", (code, signal) =>
      code === 0
        ? resolve(stdout)
        : reject(new Error(`docker ${args.slice(0, 3).join(" ")} …: exit ${code ?? signal}\n${stderr}`)),
    );
  });
}

/** `sh -c text` (the docker CLI in `env`), bounded: exit status and stdout+stderr as they came. */
function runShell(
  text: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number | string; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", text], { env, timeout: timeoutMs, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (output += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (output += d));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code: code ?? signal ?? "killed", output }));
  });
}

/** A recorded command resource with the PIDs-limit role marker (`limitPids` / `startOneShot`). */
function isPidsLimitCommand(r: RecordedResource): boolean {
  return (
    r.type.startsWith("command:") &&
    commandRoleOf((r.inputs.triggers ?? []) as unknown[]) === PIDS_LIMIT_COMMAND_ROLE
  );
}

export const NETWORK = "docker:index/network:Network";
export const VOLUME = "docker:index/volume:Volume";
export const CONTAINER = "docker:index/container:Container";
export const PG_ROLE = "postgresql:index/role:Role";
export const PG_DATABASE = "postgresql:index/database:Database";
export const PG_GRANT = "postgresql:index/grant:Grant";
const PG_TYPES = [PG_ROLE, PG_DATABASE, PG_GRANT];
/** Label every object created by a harness run carries (value: the run id). */
export const RUN_LABEL = "launchgate.test.run";
/** The process that created the object; objects of a process that is gone are reaped. */
export const PID_LABEL = "launchgate.test.pid";
/**
 * The docker provider's health poll for a `wait` container: one inspect, then `time.Sleep(time.Second)`
 * between inspects until healthy (kreuzwerker/terraform-provider-docker, PR #467 "support docker
 * container healthy state", resource_docker_container_funcs.go), which @pulumi/docker bridges.
 */
export const PROVIDER_WAIT_POLL_MS = 1000;
/**
 * The docker provider's read after every container create: a `StateChangeConf` with
 * `Delay: containerReadRefreshDelay` (100 ms) before its first refresh (same file).
 */
export const PROVIDER_READ_DELAY_MS = 100;

type Json = any;

/** An input field the harness has no mapping for: the program declares something we can't run faithfully. */
export class UnmappedFieldError extends Error {
  constructor(
    readonly resource: string,
    readonly field: string,
    value: unknown,
  ) {
    super(
      `${resource}: input field \`${field}\` (= ${JSON.stringify(value)?.slice(0, 120)}) is not mapped by the test harness; map it in test/support/harness.ts`,
    );
    this.name = "UnmappedFieldError";
  }
}

/** A container that did not become healthy (or exited) within its budget. */
export class UnhealthyError extends Error {
  constructor(
    readonly container: string,
    readonly status: string,
    readonly lastHealthLog: string,
    readonly budgetMs: number,
  ) {
    super(
      `container ${container} not healthy after ${budgetMs} ms (status: ${status}); last health log: ${lastHealthLog.trim() || "(none)"}`,
    );
    this.name = "UnhealthyError";
  }
}

// ---------------------------------------------------------------------------------------------
// Engine API client (unix socket, bounded time)

interface ApiResponse {
  readonly status: number;
  readonly body: Buffer;
}

const SOCKET = process.env.DOCKER_SOCKET ?? "/var/run/docker.sock";

export function api(
  method: string,
  urlPath: string,
  body?: Json | Buffer,
  timeoutMs = 60_000,
  socketPath = SOCKET,
): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const isTar = Buffer.isBuffer(body);
    const payload = body === undefined ? undefined : isTar ? body : Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        socketPath,
        method,
        path: `/v1.41${urlPath}`,
        headers: payload
          ? {
              "content-type": isTar ? "application/x-tar" : "application/json",
              "content-length": payload.length,
            }
          : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error(`docker API ${method} ${urlPath}: no answer in ${timeoutMs} ms`)),
    );
    req.on("error", reject);
    if (payload) req.write(payload);
    req.end();
  });
}

export async function apiJson(
  method: string,
  urlPath: string,
  body?: Json,
  ok: number[] = [200, 201, 204],
  timeoutMs?: number,
  socketPath = SOCKET,
): Promise<Json> {
  const res = await api(method, urlPath, body, timeoutMs, socketPath);
  if (!ok.includes(res.status)) {
    throw new Error(`docker API ${method} ${urlPath} → ${res.status}: ${res.body.toString().trim()}`);
  }
  const text = res.body.toString();
  return text ? JSON.parse(text) : undefined;
}

/** Docker's multiplexed log stream (8-byte frame headers) → text. */
export function demux(buf: Buffer): string {
  let out = "";
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + size).toString();
    i += 8 + size;
  }
  return i === 0 && buf.length > 0 ? buf.toString() : out;
}

// ---------------------------------------------------------------------------------------------
// Small pure helpers (exported for the harness's own unit test)

/** Go duration ("1m30s", "500ms", "10s", "0s") → nanoseconds. */
export function durationNs(d: string): number {
  if (d === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  const unit: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  let consumed = 0;
  for (const m of d.matchAll(re)) {
    total += Number(m[1]) * unit[m[2]!]!;
    consumed += m[0].length;
  }
  if (consumed !== d.length || consumed === 0) throw new Error(`not a duration: ${JSON.stringify(d)}`);
  return Math.round(total);
}

/**
 * A ustar archive holding one regular file at `filePath` (relative to "/"), as the docker provider
 * uploads it: extracted at "/", missing parent directories are created by the engine.
 */
export function tarOneFile(filePath: string, content: Buffer, mode: number, uid = 0, gid = 0): Buffer {
  const name = filePath.replace(/^\/+/, "");
  let prefix = "";
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf("/", 155);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
    if (cut <= 0 || Buffer.byteLength(base) > 100 || Buffer.byteLength(prefix) > 155)
      throw new Error(`upload path too long for ustar: ${filePath}`);
  }
  const h = Buffer.alloc(512, 0);
  const put = (s: string, off: number, len: number) => h.write(s, off, len, "utf8");
  const oct = (n: number, len: number) => n.toString(8).padStart(len - 1, "0") + "\0";
  put(base, 0, 100);
  put(oct(mode, 8), 100, 8);
  put(oct(uid, 8), 108, 8);
  put(oct(gid, 8), 116, 8);
  put(oct(content.length, 12), 124, 12);
  put(oct(Math.floor(Date.now() / 1000), 12), 136, 12);
  put("        ", 148, 8);
  put("0", 156, 1);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  put(prefix, 345, 155);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512, 0);
  return Buffer.concat([h, content, pad, Buffer.alloc(1024, 0)]);
}

/** Repository part of an image ref: `ghcr.io/x/api:1.4.0@sha256:…` → `ghcr.io/x/api`. */
export function imageRepo(ref: string): string {
  const noDigest = ref.split("@")[0]!;
  const lastSlash = noDigest.lastIndexOf("/");
  const colon = noDigest.indexOf(":", lastSlash + 1);
  return colon === -1 ? noDigest : noDigest.slice(0, colon);
}

// ---------------------------------------------------------------------------------------------
// Strict field walking

/**
 * Reads an object's fields through `take`; `done()` throws for any field not taken. Undefined,
 * null and empty-array/object values count as "not declared" and are accepted silently only
 * when explicitly listed as ignorable-when-empty by the caller (they carry no behaviour).
 */
export class Fields {
  private readonly taken = new Set<string>();
  constructor(
    private readonly resource: string,
    private readonly prefix: string,
    private readonly obj: Record<string, Json>,
  ) {}
  take<T = Json>(key: string): T | undefined {
    this.taken.add(key);
    const v = this.obj[key];
    return v === null ? undefined : (v as T);
  }
  done(): void {
    for (const [k, v] of Object.entries(this.obj)) {
      if (this.taken.has(k) || v === undefined) continue;
      throw new UnmappedFieldError(this.resource, `${this.prefix}${k}`, v);
    }
  }
}

export function fields(resource: string, prefix: string, obj: Json): Fields {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    throw new Error(`${resource}: ${prefix || "inputs"} is not an object: ${JSON.stringify(obj)}`);
  }
  return new Fields(resource, prefix, obj as Record<string, Json>);
}

function unsupportedIfSet(
  f: Fields,
  key: string,
  allowed: (v: Json) => boolean,
  resource: string,
  prefix = "",
): void {
  const v = f.take(key);
  if (v !== undefined && !allowed(v)) throw new UnmappedFieldError(resource, `${prefix}${key}`, v);
}

// ---------------------------------------------------------------------------------------------
// The harness

export interface HarnessOptions {
  /** Image ref (exact) or repository (`postgres`, `ghcr.io/x/api`) → local image tag. */
  readonly imageMap: Record<string, string>;
  /** Run id (docker names are `<runId>-<declared name>`). @default `lg-svc-<6 hex>` */
  readonly runId?: string;
  /** Progress lines. @default console.log with a timestamp */
  readonly log?: (line: string) => void;
  /**
   * Declared name of the container that @pulumi/postgresql resources (roles, databases, grants)
   * are applied to, as SQL through `docker exec psql` on its local socket (the program's provider
   * reaches it through an SSH tunnel, which this engine has no use for). Required when any are recorded.
   */
  readonly postgresAdminContainer?: string;
  /** How long `up` waits for another run holding the fixed subnets. @default 600000 */
  readonly subnetLockTimeoutMs?: number;
  /** Leave what `up` created in place when it fails (debugging). @default false: clean up */
  readonly keepOnFailure?: boolean;
  /**
   * The engine to run on. @default this machine's (`DOCKER_SOCKET` or /var/run/docker.sock), and
   * "isolated" placement. A disposable engine of its own (the VPS's nested one, reached over SSH:
   * test/support/docker-over-ssh.ts) takes "as-declared" placement.
   */
  readonly engine?: HarnessEngine;
  /**
   * Applies one SQL statement of a recorded role/database/grant instead of `docker exec psql` in
   * `postgresAdminContainer` (e.g. through the program's own admin tunnel). Throws on failure.
   */
  readonly postgresqlExec?: (sql: string) => void;
  /**
   * Further resource types the engine orders together with the docker ones (e.g. the program's
   * `command:remote:Command` installs): type → how to create one. Used with recorded dependencies.
   */
  readonly handlers?: Readonly<Record<string, (r: RecordedResource) => Promise<void>>>;
}

/**
 * Where the harness runs and how it places what it creates.
 *   - "isolated" (default, a shared engine): names `<runId>-<declared>` (declared name kept as a
 *     network alias), published ports on 127.0.0.1 at an ephemeral port, `hostPath` binds in a
 *     per-run temp dir, the fixed-subnet lock, exit hooks that sweep the run.
 *   - "as-declared" (an engine of its own, e.g. the disposable VPS's): declared names, declared
 *     ports (`ip` as declared, else all addresses), declared host paths on the engine's host, no
 *     lock; whoever owns the engine tears it down (no exit-hook sweep through a forwarded socket).
 */
export interface HarnessEngine {
  /** Engine API unix socket. */
  readonly socketPath: string;
  /** Environment for the harness's docker CLI calls (`exec`, cleanup), e.g. `DOCKER_HOST=unix://…`. */
  readonly cliEnv: NodeJS.ProcessEnv;
  readonly placement: "isolated" | "as-declared";
}

/** A container as it was started: declared inputs, docker name, health budget. */
export interface RunningContainer {
  readonly declaredName: string;
  readonly dockerName: string;
  readonly id: string;
  readonly resource: RecordedResource;
  /** Healthcheck budget: startPeriod + (retries + 1) × (interval + timeout); 0 without healthcheck. */
  readonly healthBudgetMs: number;
  /** `wait: true` → waitTimeout (provider default 60 s), else undefined. */
  readonly waitTimeoutMs?: number;
  readonly oneShot: boolean;
  /** Declared `start: false`: created stopped, started by its PIDs-limit command (`startOneShot`). */
  readonly startedByCommand: boolean;
  /** When it started (created, for one started by its command until that runs). */
  startedAt: number;
  /**
   * `destroyGraceSeconds`: on removal the provider stops the container with this timeout (SIGTERM,
   * SIGKILL after it) before removing it; undefined: removed by force (SIGKILL), as the provider does.
   */
  readonly stopSeconds?: number;
}

export interface UpResult {
  /** Milliseconds from the first create to every long-running container healthy. */
  readonly allHealthyMs: number;
  /** Per container: ms from its start to healthy. */
  readonly healthyAfterMs: Record<string, number>;
  /** Per long-running container: ms from the first create to first seen healthy. */
  readonly healthyAtMs: Record<string, number>;
  /**
   * Per long-running container: ms from the first create to when Docker marked it healthy (its
   * first passing probe ended), before whoever polls it (the provider's `wait`, the harness) saw it.
   */
  readonly dockerHealthyAtMs: Record<string, number>;
}

/** Runs of this process on this machine's engine (swept by the exit hooks). */
const liveRuns = new Set<string>();
const heldLocks = new Set<string>();

/**
 * The program declares fixed subnets (and a fixed Postgres address), so two runs on one engine
 * cannot hold them at once. A run that creates a network with a fixed subnet takes this
 * engine-wide lock (atomic mkdir; a lock whose owner process is gone is taken over) and waits,
 * bounded, for another run to finish.
 */
export const SUBNET_LOCK = path.join(os.tmpdir(), "launchgate-services-subnets.lock");

async function acquireSubnetLock(runId: string, log: (l: string) => void, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      fs.mkdirSync(SUBNET_LOCK);
      fs.writeFileSync(path.join(SUBNET_LOCK, "owner"), `${process.pid} ${runId}\n`);
      heldLocks.add(SUBNET_LOCK);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let owner = "";
    try {
      owner = fs.readFileSync(path.join(SUBNET_LOCK, "owner"), "utf8").trim();
    } catch {
      /* being written or removed */
    }
    const pid = Number(owner.split(" ")[0]);
    let alive = true;
    if (pid > 0) {
      try {
        process.kill(pid, 0);
      } catch {
        alive = false;
      }
    }
    if (!alive) {
      fs.rmSync(SUBNET_LOCK, { recursive: true, force: true });
      continue;
    }
    if (!told) {
      log(`waiting for the fixed subnets: held by ${owner || "another run"} (${SUBNET_LOCK})`);
      told = true;
    }
    if (Date.now() > deadline)
      throw new Error(`fixed subnets still held by ${owner} after ${timeoutMs} ms (${SUBNET_LOCK})`);
    await sleep(1000);
  }
}

function releaseSubnetLock(): void {
  if (!heldLocks.has(SUBNET_LOCK)) return;
  fs.rmSync(SUBNET_LOCK, { recursive: true, force: true });
  heldLocks.delete(SUBNET_LOCK);
}
let hooksInstalled = false;

/** Synchronously removes every object labelled with `runId` (exit hooks; also the final sweep). */
/**
 * Removes objects left by harness runs whose process is gone (killed before its exit hook ran),
 * e.g. networks still holding the program's fixed subnets. Live runs are never touched.
 */
export function reapDeadRuns(log: (l: string) => void = () => undefined): void {
  const docker = (args: string[]) => {
    try {
      return execFileSync("docker", args, {
        encoding: "utf8",
        timeout: 60_000,
        stdio: ["ignore", "pipe", "ignore"],
      }).trim();
    } catch {
      return "";
    }
  };
  const dead = new Set<string>();
  for (const kind of [
    ["ps", "-a"],
    ["network", "ls"],
    ["volume", "ls"],
  ]) {
    const fmt = `{{.Label "${RUN_LABEL}"}} {{.Label "${PID_LABEL}"}}`;
    for (const line of docker([...kind, "--filter", `label=${PID_LABEL}`, "--format", fmt])
      .split("\n")
      .filter(Boolean)) {
      const [run, pid] = line.split(" ");
      if (!run || !pid || liveRuns.has(run)) continue;
      try {
        process.kill(Number(pid), 0);
      } catch {
        dead.add(run);
      }
    }
  }
  for (const run of dead) {
    log(`reaping leftovers of dead run ${run}`);
    sweepSync(run);
  }
}

export function sweepSync(runId: string, env: NodeJS.ProcessEnv = process.env): void {
  const docker = (args: string[]) => {
    try {
      return execFileSync("docker", args, {
        env,
        encoding: "utf8",
        timeout: 60_000,
        stdio: ["ignore", "pipe", "ignore"],
      }).trim();
    } catch {
      return "";
    }
  };
  const filter = `label=${RUN_LABEL}=${runId}`;
  const containers = docker(["ps", "-aq", "--filter", filter]).split("\n").filter(Boolean);
  if (containers.length) docker(["rm", "-f", "-v", ...containers]);
  const networks = docker(["network", "ls", "-q", "--filter", filter]).split("\n").filter(Boolean);
  if (networks.length) docker(["network", "rm", ...networks]);
  const volumes = docker(["volume", "ls", "-q", "--filter", filter]).split("\n").filter(Boolean);
  if (volumes.length) docker(["volume", "rm", "-f", ...volumes]);
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", () => {
    for (const id of liveRuns) sweepSync(id);
    releaseSubnetLock();
  });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      for (const id of liveRuns) sweepSync(id);
      releaseSubnetLock();
      process.exit(130);
    });
  }
}

export class Harness {
  readonly runId: string;
  /** What the harness rewrote (image refs), for the report. */
  readonly rewrites: string[] = [];
  private readonly log: (line: string) => void;
  private readonly networks = new Map<string, string>(); // declared name → docker name
  private readonly volumes = new Map<string, string>();
  private readonly containers = new Map<string, RunningContainer>(); // declared name → running
  private readonly hostDir: string;
  private holdsSubnetLock = false;
  private aborted = false;
  private readonly socketPath: string;
  private readonly cliEnv: NodeJS.ProcessEnv;
  private readonly asDeclared: boolean;
  /** When the last `up` started creating (after any wait for the subnet lock); epoch ms. */
  upStartedAt = 0;
  private readonly firstHealthyMs = new Map<string, number>();
  /** When each container (by id) was first seen healthy; epoch ms. */
  private readonly firstHealthyAt = new Map<string, number>();
  /** When Docker marked each container (by id) healthy (its first passing probe ended); epoch ms. */
  private readonly dockerHealthyAt = new Map<string, number>();
  /**
   * What the last `up` did when, in ms since it started creating: container creates and starts,
   * first seen healthy, roles/databases/grants applied, one-shot starts and exits, PIDs limits.
   * For finding where the time goes (bench/services.ts prints it).
   */
  readonly timeline: { readonly atMs: number; readonly what: string }[] = [];

  private mark(what: string): void {
    if (this.upStartedAt) this.timeline.push({ atMs: Date.now() - this.upStartedAt, what });
  }

  /**
   * Records the first time `c` is seen healthy, and when Docker marked it so: the end of its first
   * passing probe in the health log of that same inspect (`state`), by the engine's clock (this
   * machine's); the time seen when the log no longer has it.
   */
  private seenHealthy(c: RunningContainer, state: Json): void {
    if (this.firstHealthyMs.has(c.id)) return;
    const now = Date.now();
    this.firstHealthyMs.set(c.id, now - c.startedAt);
    this.firstHealthyAt.set(c.id, now);
    const passed = ((state?.Health?.Log ?? []) as Json[])
      .filter((p) => p.ExitCode === 0)
      .map((p) => Date.parse(p.End))
      .filter((t) => Number.isFinite(t) && t >= c.startedAt - 1000 && t <= now);
    const docker = passed.length ? Math.min(...passed) : now;
    this.dockerHealthyAt.set(c.id, docker);
    if (this.upStartedAt)
      this.timeline.push({ atMs: docker - this.upStartedAt, what: `healthy ${c.declaredName} (Docker)` });
    this.mark(`healthy ${c.declaredName} (seen)`);
  }

  constructor(private readonly opts: HarnessOptions) {
    this.runId = opts.runId ?? `lg-svc-${crypto.randomBytes(3).toString("hex")}`;
    if (!/^lg-svc-[a-z0-9-]+$/.test(this.runId))
      throw new Error(`run id must start with lg-svc-: ${this.runId}`);
    const t0 = Date.now();
    this.log = opts.log ?? ((l) => console.log(`[harness +${((Date.now() - t0) / 1000).toFixed(1)}s] ${l}`));
    this.hostDir = path.join(os.tmpdir(), this.runId);
    this.socketPath = opts.engine?.socketPath ?? SOCKET;
    this.cliEnv = opts.engine?.cliEnv ?? process.env;
    this.asDeclared = opts.engine?.placement === "as-declared";
    if (!this.asDeclared) {
      liveRuns.add(this.runId);
      installExitHooks();
    }
  }

  private api(method: string, urlPath: string, body?: Json | Buffer, timeoutMs?: number) {
    return api(method, urlPath, body, timeoutMs, this.socketPath);
  }

  private apiJson(method: string, urlPath: string, body?: Json, ok?: number[], timeoutMs?: number) {
    return apiJson(method, urlPath, body, ok, timeoutMs, this.socketPath);
  }

  /** Docker name of a declared network/volume/container name. */
  dockerName(declared: string): string {
    return this.asDeclared ? declared : `${this.runId}-${declared}`;
  }

  container(declared: string): RunningContainer {
    const c = this.containers.get(declared);
    if (!c)
      throw new Error(
        `no running container declared as ${declared} (have: ${[...this.containers.keys()].join(", ")})`,
      );
    return c;
  }

  /** Long-running containers (services), in start order. */
  running(): RunningContainer[] {
    return [...this.containers.values()].filter((c) => !c.oneShot);
  }

  /** Every container this run created and still has, one-shot jobs included. */
  all(): RunningContainer[] {
    return [...this.containers.values()];
  }

  networkDockerName(declared: string): string {
    const n = this.networks.get(declared);
    if (!n)
      throw new Error(`no network declared as ${declared} (have: ${[...this.networks.keys()].join(", ")})`);
    return n;
  }

  volumeDockerName(declared: string): string {
    const v = this.volumes.get(declared);
    if (!v)
      throw new Error(`no volume declared as ${declared} (have: ${[...this.volumes.keys()].join(", ")})`);
    return v;
  }

  /**
   * Validates every resource first (so an unmapped field fails before anything is created),
   * then creates networks, volumes and containers (in recorded order; one-shot `attach`
   * containers run to completion after the containers before them are healthy) and waits for
   * every long-running container to be healthy within its budget. On failure it logs the error
   * (UnhealthyError: container name + last health log), removes everything of this run and rethrows.
   */
  async up(resources: readonly RecordedResource[]): Promise<UpResult> {
    try {
      return await this.upInner(resources);
    } catch (e) {
      // Report (the error names the container and its last health log), then leave nothing behind.
      this.log(`up failed: ${(e as Error).message.split("\n")[0]}`);
      if (!this.opts.keepOnFailure) await this.cleanup();
      throw e;
    }
  }

  private async upInner(resources: readonly RecordedResource[]): Promise<UpResult> {
    const handled = Object.keys(this.opts.handlers ?? {});
    const relevant = resources.filter(
      (r) => [NETWORK, VOLUME, CONTAINER, ...PG_TYPES, ...handled].includes(r.type) || isPidsLimitCommand(r),
    );
    for (const r of relevant) this.validate(r);
    await this.refuseWhatTheClientWould(relevant);
    const pg = relevant.filter((x) => PG_TYPES.includes(x.type));
    if (pg.length && !this.opts.postgresAdminContainer && !this.opts.postgresqlExec)
      throw new Error("postgresql resources recorded but no postgresAdminContainer given");
    if (
      !this.asDeclared &&
      relevant.some((r) => r.type === NETWORK && (r.inputs.ipamConfigs ?? []).length > 0)
    ) {
      await acquireSubnetLock(this.runId, this.log, this.opts.subnetLockTimeoutMs ?? 600_000);
      this.holdsSubnetLock = true;
      reapDeadRuns(this.log);
    }
    const t0 = Date.now();
    this.upStartedAt = t0;
    this.timeline.length = 0;
    const started = relevant.some((r) => r.dependencies !== undefined)
      ? await this.startByDependencies(relevant)
      : await this.startInOrder(relevant, pg);
    const healthyAfterMs = await this.waitHealthy(started);
    const allHealthyMs = Date.now() - t0;
    this.mark("up done");
    this.log(`all ${started.length} containers healthy in ${(allHealthyMs / 1000).toFixed(1)} s`);
    const healthyAtMs = Object.fromEntries(
      started.map((c) => [c.declaredName, (this.firstHealthyAt.get(c.id) ?? Date.now()) - t0]),
    );
    const dockerHealthyAtMs = Object.fromEntries(
      started.map((c) => [c.declaredName, (this.dockerHealthyAt.get(c.id) ?? Date.now()) - t0]),
    );
    return { allHealthyMs, healthyAfterMs, healthyAtMs, dockerHealthyAtMs };
  }

  /**
   * The engine's order: each resource is created once everything it depends on (recorded
   * `dependencies`, already reduced to the resources given here) is created, all others in
   * parallel. A container with `wait` counts as created when healthy, one with `attach` when it
   * exited 0 (as the docker provider reports them); roles/databases/grants when applied.
   */
  private async startByDependencies(relevant: readonly RecordedResource[]): Promise<RunningContainer[]> {
    const key = (r: RecordedResource) => `${r.type} ${r.name}`;
    const byKey = new Map(relevant.map((r) => [key(r), r]));
    const created = new Map<string, Promise<void>>();
    const started: RunningContainer[] = [];
    const create = (r: RecordedResource): Promise<void> => {
      const k = key(r);
      let p = created.get(k);
      if (p) return p;
      p = (async () => {
        const deps = (r.dependencies ?? []).map(urnKey).filter((d) => byKey.has(d) && d !== k);
        await Promise.all(deps.map((d) => create(byKey.get(d)!)));
        if (this.aborted) throw new Error(`${this.runId}: aborted`);
        if (r.type === NETWORK) await this.createNetwork(r);
        else if (r.type === VOLUME && !this.opts.handlers?.[VOLUME]) await this.createVolume(r);
        else if (PG_TYPES.includes(r.type)) await this.applyPostgresql([r]);
        else if (this.opts.handlers?.[r.type]) await this.opts.handlers[r.type]!(r);
        else if (isPidsLimitCommand(r)) void (await this.applyPidsLimit(r));
        else {
          const c = await this.createAsProvider(r);
          if (!c.oneShot) started.push(c);
        }
      })();
      created.set(k, p);
      return p;
    };
    try {
      await Promise.all(relevant.map(create));
    } catch (e) {
      this.aborted = true; // branches still waiting must not create anything after cleanup
      await Promise.allSettled([...created.values()]);
      throw e;
    }
    return started;
  }

  /**
   * Without recorded dependencies: networks, volumes, then containers in registration order;
   * a one-shot `attach` container runs after the containers before it are healthy; roles are
   * applied as soon as the admin container is healthy.
   */
  private async startInOrder(
    relevant: readonly RecordedResource[],
    pg: readonly RecordedResource[],
  ): Promise<RunningContainer[]> {
    for (const r of relevant.filter((x) => x.type === NETWORK)) await this.createNetwork(r);
    for (const r of relevant.filter((x) => x.type === VOLUME)) await this.createVolume(r);
    const started: RunningContainer[] = [];
    let roles: Promise<void> = Promise.resolve();
    const rolesDone = () => roles;
    for (const r of relevant.filter((x) => x.type === CONTAINER)) {
      if (r.inputs.start === false)
        throw new Error(
          `${r.name} is created stopped (start: false): play it with recorded dependencies, so its PIDs-limit command starts it`,
        );
      const oneShot = Boolean(r.inputs.attach);
      if (oneShot) {
        await rolesDone();
        await this.waitHealthy(started);
      }
      const c = await this.startContainer(r);
      if (oneShot) await this.waitExit(c);
      else started.push(c);
      if (pg.length && c.declaredName === this.opts.postgresAdminContainer) {
        roles = this.waitHealthy([c]).then(() => this.applyPostgresql(pg));
        roles.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile
      }
    }
    await rolesDone();
    return started;
  }

  /**
   * What the docker provider's Engine API client refuses before sending anything, refused here
   * too (this harness talks to the engine directly, and an engine ignores fields it does not know):
   * a healthcheck `startInterval` on an engine below API 1.44 (moby's client: "specify
   * health-check start interval" requires API version 1.44). Creates nothing.
   */
  async refuseWhatTheClientWould(resources: readonly RecordedResource[]): Promise<void> {
    const starting = resources.filter(
      (r) =>
        r.type === CONTAINER &&
        (r.inputs.healthcheck as { startInterval?: string } | undefined)?.startInterval,
    );
    if (!starting.length) return;
    const api = String(((await this.apiJson("GET", "/version")) as { ApiVersion?: string }).ApiVersion);
    const [major, minor] = api.split(".").map(Number) as [number, number];
    if (major > 1 || (major === 1 && minor >= 44)) return;
    throw new Error(
      `${starting[0]!.name}: "specify health-check start interval" requires API version 1.44, but the Docker daemon API version is ${api} (declare launchgate:host.engineApiVersion as the engine's)`,
    );
  }

  /** Throws UnmappedFieldError for any field the harness does not map (dry: creates nothing). */
  validate(r: RecordedResource): void {
    if (r.type === NETWORK) this.networkSpec(r);
    else if (r.type === VOLUME) this.volumeSpec(r);
    else if (r.type === CONTAINER) this.containerSpec(r, "validate");
    else if (PG_TYPES.includes(r.type)) this.postgresqlSql(r);
    else if (this.opts.handlers?.[r.type]) return;
    else if (isPidsLimitCommand(r)) return;
    else throw new Error(`harness does not run ${r.type} (${r.name})`);
  }

  // ---- @pulumi/postgresql resources as SQL

  /** SQL for one recorded Role / Database / Grant; strict like the docker mappings. */
  postgresqlSql(r: RecordedResource): string {
    const id = `${r.type} ${r.name}`;
    const f = fields(id, "", r.inputs);
    const ident = (s: string) => `"${String(s).replace(/"/g, '""')}"`;
    const lit = (s: string) => `'${String(s).replace(/'/g, "''")}'`;
    const flag = (key: string, on: string, off: string, def: boolean) =>
      (f.take<boolean>(key) ?? def) ? on : off;
    let sql: string;
    if (r.type === PG_ROLE) {
      const name = f.take<string>("name")!;
      const opts = [
        flag("login", "LOGIN", "NOLOGIN", false),
        flag("superuser", "SUPERUSER", "NOSUPERUSER", false),
        flag("createDatabase", "CREATEDB", "NOCREATEDB", false),
        flag("createRole", "CREATEROLE", "NOCREATEROLE", false),
        flag("replication", "REPLICATION", "NOREPLICATION", false),
        flag("bypassRowLevelSecurity", "BYPASSRLS", "NOBYPASSRLS", false),
        flag("inherit", "INHERIT", "NOINHERIT", true),
      ];
      const limit = f.take<number>("connectionLimit");
      if (limit !== undefined) opts.push(`CONNECTION LIMIT ${Number(limit)}`);
      const pw = f.take<string>("password");
      if (pw !== undefined) opts.push(`PASSWORD ${lit(pw)}`);
      const member = f.take<string[]>("roles") ?? [];
      sql =
        `CREATE ROLE ${ident(name)} WITH ${opts.join(" ")};` +
        member.map((m) => `\nGRANT ${ident(m)} TO ${ident(name)};`).join("");
    } else if (r.type === PG_DATABASE) {
      const parts = [`CREATE DATABASE ${ident(f.take<string>("name")!)}`];
      const owner = f.take<string>("owner");
      if (owner) parts.push(`OWNER ${ident(owner)}`);
      const enc = f.take<string>("encoding");
      if (enc) parts.push(`ENCODING ${lit(enc)}`);
      const tpl = f.take<string>("template");
      if (tpl) parts.push(`TEMPLATE ${ident(tpl)}`);
      const collate = f.take<string>("lcCollate");
      if (collate) parts.push(`LC_COLLATE ${lit(collate)}`);
      const ctype = f.take<string>("lcCtype");
      if (ctype) parts.push(`LC_CTYPE ${lit(ctype)}`);
      const allow = f.take<boolean>("allowConnections");
      if (allow !== undefined) parts.push(`ALLOW_CONNECTIONS ${allow}`);
      const limit = f.take<number>("connectionLimit");
      if (limit !== undefined) parts.push(`CONNECTION LIMIT ${Number(limit)}`);
      const isTpl = f.take<boolean>("isTemplate");
      if (isTpl !== undefined) parts.push(`IS_TEMPLATE ${isTpl}`);
      sql = parts.join(" ") + ";";
    } else {
      const type = f.take<string>("objectType");
      if (type !== "database") throw new UnmappedFieldError(id, "objectType", type);
      const db = ident(f.take<string>("database")!);
      const roleName = f.take<string>("role")!;
      const role = roleName.toLowerCase() === "public" ? "PUBLIC" : ident(roleName);
      const privs = f.take<string[]>("privileges") ?? [];
      const withGrant = f.take<boolean>("withGrantOption") ? " WITH GRANT OPTION" : "";
      sql =
        `REVOKE ALL ON DATABASE ${db} FROM ${role};` +
        (privs.length ? `\nGRANT ${privs.join(", ")} ON DATABASE ${db} TO ${role}${withGrant};` : "");
    }
    f.done();
    return sql;
  }

  /** Applies recorded roles, then databases, then grants (the provider's dependency order). */
  async applyPostgresql(resources: readonly RecordedResource[]): Promise<void> {
    const admin = this.opts.postgresqlExec ? "the admin connection" : this.opts.postgresAdminContainer!;
    const order = [PG_ROLE, PG_DATABASE, PG_GRANT];
    const sorted = [...resources].sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type));
    for (const r of sorted) {
      const stmts = this.postgresqlSql(r).split("\n");
      if (this.opts.postgresqlExec) for (const stmt of stmts) this.opts.postgresqlExec(stmt);
      // One psql call per resource: `-f` runs each statement in its own implicit transaction
      // (CREATE DATABASE refuses a transaction block, which `-c "a; b"` would make).
      else
        await this.execAsync(
          admin,
          ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-f", "-"],
          {
            input: `${stmts.join("\n")}\n`,
          },
        );
      this.log(`postgresql ${r.type.split(":").pop()} ${r.name} applied in ${admin}`);
      this.mark(`${r.type.split(":").pop()} ${r.name} applied`);
    }
  }

  // ---- networks and volumes

  private declaredName(r: RecordedResource): string {
    const n = r.inputs.name;
    return typeof n === "string" && n ? n : r.name;
  }

  private networkSpec(r: RecordedResource): Json {
    const id = `${r.type} ${r.name}`;
    const f = fields(id, "", r.inputs);
    f.take("name");
    const spec: Json = {
      Name: this.dockerName(this.declaredName(r)),
      CheckDuplicate: true,
      Driver: f.take("driver") ?? "bridge",
      Internal: Boolean(f.take("internal")),
      Attachable: Boolean(f.take("attachable")),
      Options: f.take("options") ?? {},
      Labels: {
        ...this.labels(id, f.take("labels")),
        [RUN_LABEL]: this.runId,
        [PID_LABEL]: String(process.pid),
      },
    };
    unsupportedIfSet(f, "ipv6", (v) => v === false, id);
    const ipamDriver = f.take("ipamDriver");
    const ipam = (f.take<Json[]>("ipamConfigs") ?? []).map((c, i) => {
      const g = fields(id, `ipamConfigs[${i}].`, c);
      const out: Json = { Subnet: g.take("subnet") };
      if (g.take("gateway")) out.Gateway = c.gateway;
      if (g.take("ipRange")) out.IPRange = c.ipRange;
      if (g.take("auxAddress")) out.AuxiliaryAddresses = c.auxAddress;
      g.done();
      return out;
    });
    spec.IPAM = { Driver: ipamDriver ?? "default", Config: ipam, Options: f.take("ipamOptions") ?? {} };
    f.done();
    return spec;
  }

  private volumeSpec(r: RecordedResource): Json {
    const id = `${r.type} ${r.name}`;
    const f = fields(id, "", r.inputs);
    f.take("name");
    const spec = {
      Name: this.dockerName(this.declaredName(r)),
      Driver: f.take("driver") ?? "local",
      DriverOpts: f.take("driverOpts") ?? {},
      Labels: {
        ...this.labels(id, f.take("labels")),
        [RUN_LABEL]: this.runId,
        [PID_LABEL]: String(process.pid),
      },
    };
    f.done();
    return spec;
  }

  private labels(id: string, labels: Json[] | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    (labels ?? []).forEach((l, i) => {
      const g = fields(id, `labels[${i}].`, l);
      out[g.take("label")] = String(g.take("value"));
      g.done();
    });
    return out;
  }

  async createNetwork(r: RecordedResource): Promise<void> {
    const spec = this.networkSpec(r);
    await this.apiJson("POST", "/networks/create", spec);
    this.networks.set(this.declaredName(r), spec.Name);
    this.log(
      `network ${spec.Name}${spec.Internal ? " (internal)" : ""}${spec.IPAM.Config.length ? ` ${spec.IPAM.Config.map((c: Json) => c.Subnet).join(",")}` : ""}`,
    );
  }

  async createVolume(r: RecordedResource): Promise<void> {
    const spec = this.volumeSpec(r);
    await this.apiJson("POST", "/volumes/create", spec);
    this.volumes.set(this.declaredName(r), spec.Name);
    this.log(`volume ${spec.Name}`);
  }

  // ---- containers

  private mapImage(id: string, ref: string): string {
    if (typeof ref !== "string" || !ref)
      throw new Error(`${id}: image is not a string: ${JSON.stringify(ref)}`);
    const local = this.opts.imageMap[ref] ?? this.opts.imageMap[imageRepo(ref)];
    if (!local) {
      throw new Error(
        `${id}: image ${ref} has no local test image; add it (or its repository ${imageRepo(ref)}) to the harness imageMap`,
      );
    }
    const line = `${ref} → ${local}`;
    if (!this.rewrites.includes(line)) this.rewrites.push(line);
    return local;
  }

  /** Builds the Engine API create body, networks to connect and uploads; `validate` resolves no names. */
  private containerSpec(r: RecordedResource, mode: "validate" | "run") {
    const id = `${r.type} ${r.name}`;
    const f = fields(id, "", r.inputs);
    const declared = this.declaredName(r);
    f.take("name");
    const name = (kind: "network" | "volume", n: string) => {
      if (mode === "validate") return n;
      const m = kind === "network" ? this.networks.get(n) : this.volumes.get(n);
      if (!m) throw new Error(`${id}: ${kind} ${n} was not declared in this run`);
      return m;
    };

    const body: Json = { Labels: {}, HostConfig: {} };
    const hc = body.HostConfig;
    body.Image = this.mapImage(id, f.take<string>("image")!);
    const cmd = f.take<string[]>("command");
    if (cmd) body.Cmd = cmd;
    const ep = f.take<string[]>("entrypoints");
    if (ep) body.Entrypoint = ep;
    body.Env = f.take<string[]>("envs") ?? [];
    const user = f.take<string>("user");
    if (user) body.User = user;
    const wd = f.take<string>("workingDir");
    if (wd) body.WorkingDir = wd;
    const hostname = f.take<string>("hostname");
    if (hostname) body.Hostname = hostname;
    const domainname = f.take<string>("domainname");
    if (domainname) body.Domainname = domainname;
    const stopSignal = f.take<string>("stopSignal");
    if (stopSignal) body.StopSignal = stopSignal;
    const stopTimeout = f.take<number>("stopTimeout");
    if (stopTimeout !== undefined) body.StopTimeout = stopTimeout;
    body.Labels = {
      ...this.labels(id, f.take("labels")),
      [RUN_LABEL]: this.runId,
      [PID_LABEL]: String(process.pid),
      "launchgate.test.declared-name": declared,
    };
    if (f.take("tty")) body.Tty = true;
    if (f.take("stdinOpen")) body.OpenStdin = true;

    // Healthcheck
    let healthBudgetMs = 0;
    const h = f.take("healthcheck");
    if (h) {
      const g = fields(id, "healthcheck.", h);
      const tests = g.take<string[]>("tests");
      if (!tests?.length) throw new Error(`${id}: healthcheck without tests`);
      const ns = (k: string, def: string) => durationNs(g.take<string>(k) ?? def);
      body.Healthcheck = {
        Test: tests,
        Interval: ns("interval", "30s"),
        Timeout: ns("timeout", "30s"),
        StartPeriod: ns("startPeriod", "0s"),
        Retries: g.take<number>("retries") ?? 3,
      };
      const si = g.take<string>("startInterval");
      if (si) body.Healthcheck.StartInterval = durationNs(si);
      g.done();
      const hcN = body.Healthcheck;
      healthBudgetMs = Math.ceil((hcN.StartPeriod + (hcN.Retries + 1) * (hcN.Interval + hcN.Timeout)) / 1e6);
    }

    // Runtime hardening and limits
    const caps = f.take("capabilities");
    if (caps) {
      const g = fields(id, "capabilities.", caps);
      hc.CapAdd = g.take("adds") ?? [];
      hc.CapDrop = g.take("drops") ?? [];
      g.done();
    }
    const sec = f.take<string[]>("securityOpts");
    if (sec) hc.SecurityOpt = sec;
    if (f.take("readOnly")) hc.ReadonlyRootfs = true;
    const tmpfs = f.take<Record<string, string>>("tmpfs");
    if (tmpfs) hc.Tmpfs = tmpfs;
    const mem = f.take<number>("memory");
    if (mem !== undefined) hc.Memory = mem * 1024 * 1024;
    const memRes = f.take<number>("memoryReservation");
    if (memRes !== undefined) hc.MemoryReservation = memRes * 1024 * 1024;
    const swap = f.take<number>("memorySwap");
    if (swap !== undefined) hc.MemorySwap = swap < 0 ? -1 : swap * 1024 * 1024;
    const cpus = f.take<string>("cpus");
    if (cpus !== undefined) hc.NanoCpus = Math.round(Number(cpus) * 1e9);
    const shares = f.take<number>("cpuShares");
    if (shares !== undefined) hc.CpuShares = shares;
    const cpuSet = f.take<string>("cpuSet");
    if (cpuSet !== undefined) hc.CpusetCpus = cpuSet;
    const shm = f.take<number>("shmSize");
    if (shm !== undefined) hc.ShmSize = shm * 1024 * 1024;
    const ulimits = f.take<Json[]>("ulimits");
    if (ulimits) {
      hc.Ulimits = ulimits.map((u, i) => {
        const g = fields(id, `ulimits[${i}].`, u);
        const out = { Name: g.take("name"), Soft: g.take("soft"), Hard: g.take("hard") };
        g.done();
        return out;
      });
    }
    const sysctls = f.take<Record<string, string>>("sysctls");
    if (sysctls) hc.Sysctls = sysctls;
    if (f.take("init")) hc.Init = true;
    const groupAdds = f.take<string[]>("groupAdds");
    if (groupAdds) hc.GroupAdd = groupAdds;
    unsupportedIfSet(f, "privileged", (v) => v === false, id);
    unsupportedIfSet(f, "publishAllPorts", (v) => v === false, id);
    const dns = f.take<string[]>("dns");
    if (dns) hc.Dns = dns;
    const hosts = f.take<Json[]>("hosts");
    if (hosts) {
      hc.ExtraHosts = hosts.map((x, i) => {
        const g = fields(id, `hosts[${i}].`, x);
        const out = `${g.take("host")}:${g.take("ip")}`;
        g.done();
        return out;
      });
    }

    // Restart and logging
    const restart = f.take<string>("restart");
    hc.RestartPolicy = { Name: restart ?? "no", MaximumRetryCount: f.take<number>("maxRetryCount") ?? 0 };
    const logDriver = f.take<string>("logDriver");
    const logOpts = f.take<Record<string, string>>("logOpts");
    if (logDriver || logOpts) hc.LogConfig = { Type: logDriver ?? "json-file", Config: logOpts ?? {} };

    // Ports: always loopback, ephemeral host port
    const ports = f.take<Json[]>("ports");
    if (ports?.length) {
      body.ExposedPorts = {};
      hc.PortBindings = {};
      ports.forEach((p, i) => {
        const g = fields(id, `ports[${i}].`, p);
        const key = `${g.take("internal")}/${g.take("protocol") ?? "tcp"}`;
        const external = g.take<number>("external");
        const ip = g.take<string>("ip");
        g.done();
        body.ExposedPorts[key] = {};
        hc.PortBindings[key] = [
          this.asDeclared
            ? { HostIp: ip ?? "", HostPort: external === undefined ? "" : String(external) }
            : { HostIp: "127.0.0.1", HostPort: "" },
        ];
      });
    }

    // Storage
    const mounts: Json[] = [];
    (f.take<Json[]>("volumes") ?? []).forEach((v, i) => {
      const g = fields(id, `volumes[${i}].`, v);
      const target = g.take<string>("containerPath");
      const ro = Boolean(g.take("readOnly"));
      const vol = g.take<string>("volumeName");
      const hostPath = g.take<string>("hostPath");
      g.done();
      if (vol) mounts.push({ Type: "volume", Source: name("volume", vol), Target: target, ReadOnly: ro });
      else if (hostPath) {
        const src = this.asDeclared ? hostPath : path.join(this.hostDir, hostPath);
        if (mode === "run" && !this.asDeclared) fs.mkdirSync(src, { recursive: true });
        mounts.push({ Type: "bind", Source: src, Target: target, ReadOnly: ro });
      } else throw new UnmappedFieldError(id, `volumes[${i}]`, v);
    });
    (f.take<Json[]>("mounts") ?? []).forEach((m, i) => {
      const g = fields(id, `mounts[${i}].`, m);
      const type = g.take<string>("type");
      const out: Json = { Type: type, Target: g.take("target"), ReadOnly: Boolean(g.take("readOnly")) };
      const src = g.take<string>("source");
      if (type === "volume") out.Source = name("volume", src!);
      else if (type === "tmpfs") {
        const t = g.take("tmpfsOptions");
        if (t) {
          const tg = fields(id, `mounts[${i}].tmpfsOptions.`, t);
          out.TmpfsOptions = { SizeBytes: tg.take("sizeBytes"), Mode: tg.take("mode") };
          tg.done();
        }
      } else throw new UnmappedFieldError(id, `mounts[${i}].type`, type);
      g.done();
      mounts.push(out);
    });
    if (mounts.length) hc.Mounts = mounts;

    // Networks: first in create, the rest connected before start; declared name kept as alias
    const nets: { name: string; config: Json }[] = [];
    (f.take<Json[]>("networksAdvanced") ?? []).forEach((n, i) => {
      const g = fields(id, `networksAdvanced[${i}].`, n);
      const netName = name("network", g.take<string>("name")!);
      const aliases = [...new Set([...(g.take<string[]>("aliases") ?? []), declared])];
      const ipv4 = g.take<string>("ipv4Address");
      const ipv6 = g.take<string>("ipv6Address");
      g.done();
      const config: Json = { Aliases: aliases };
      if (ipv4 || ipv6)
        config.IPAMConfig = {
          ...(ipv4 ? { IPv4Address: ipv4 } : {}),
          ...(ipv6 ? { IPv6Address: ipv6 } : {}),
        };
      nets.push({ name: netName, config });
    });
    const networkMode = f.take<string>("networkMode");
    if (networkMode === "none") {
      if (nets.length) throw new Error(`${id}: networkMode "none" with networksAdvanced`);
      hc.NetworkMode = "none";
    } else if (networkMode && networkMode !== "bridge" && networkMode !== "default") {
      throw new UnmappedFieldError(id, "networkMode", networkMode);
    }
    if (nets.length) {
      hc.NetworkMode = nets[0]!.name;
      body.NetworkingConfig = { EndpointsConfig: { [nets[0]!.name]: nets[0]!.config } };
    }

    // Files written before start
    const uploads = (f.take<Json[]>("uploads") ?? []).map((u, i) => {
      const g = fields(id, `uploads[${i}].`, u);
      const file = g.take<string>("file")!;
      const content = g.take<string>("content");
      const b64 = g.take<string>("contentBase64");
      const executable = Boolean(g.take("executable"));
      const permissions = g.take<string>("permissions");
      const owner = g.take<string | number>("owner");
      const group = g.take<string | number>("group");
      const source = g.take<string>("source");
      g.take("sourceHash");
      g.done();
      if (source) throw new UnmappedFieldError(id, `uploads[${i}].source`, source);
      const data =
        content !== undefined
          ? Buffer.from(content)
          : b64 !== undefined
            ? Buffer.from(b64, "base64")
            : undefined;
      if (data === undefined)
        throw new Error(`${id}: uploads[${i}] (${file}) has neither content nor contentBase64`);
      const mode = permissions ? parseInt(permissions, 8) : executable ? 0o744 : 0o644;
      return {
        file,
        data,
        mode,
        uid: Number(owner ?? 0),
        gid: Number(group ?? 0),
        owned: owner !== undefined || group !== undefined,
      };
    });

    // Lifecycle flags of the provider
    const wait = Boolean(f.take("wait"));
    const waitTimeout = f.take<number>("waitTimeout");
    const attach = Boolean(f.take("attach"));
    f.take("logs"); // provider reads logs of attached containers; the harness always can
    f.take("mustRun"); // provider: keep it running; the harness checks health/exit instead
    // `start: false`: created only; its PIDs-limit command starts it (see `applyPidsLimit`).
    const start = f.take("start");
    if (start !== undefined && typeof start !== "boolean") throw new UnmappedFieldError(id, "start", start);
    const startedByCommand = start === false;
    if (startedByCommand && (attach || wait))
      throw new UnmappedFieldError(id, attach ? "attach" : "wait", true);
    unsupportedIfSet(f, "rm", (v) => v === false, id);
    const removeVolumes = f.take("removeVolumes");
    void removeVolumes; // anonymous volumes are always removed by cleanup; named ones survive replace
    const grace = f.take<number>("destroyGraceSeconds");
    f.done();

    return {
      declared,
      body,
      extraNetworks: nets.slice(1),
      uploads,
      healthBudgetMs,
      waitTimeoutMs: wait ? (waitTimeout ?? 60) * 1000 : undefined,
      oneShot: attach || startedByCommand,
      startedByCommand,
      stopSeconds: grace !== undefined && grace > 0 ? grace : undefined,
    };
  }

  /** Creates, uploads files into, connects and starts one container (replacing none). */
  async startContainer(r: RecordedResource): Promise<RunningContainer> {
    const spec = this.containerSpec(r, "run");
    const dockerName = this.dockerName(spec.declared);
    const created = await this.apiJson(
      "POST",
      `/containers/create?name=${encodeURIComponent(dockerName)}`,
      spec.body,
    );
    const cid: string = created.Id;
    for (const u of spec.uploads) {
      // Like the provider: full path in the archive, extracted at "/"; owner/group only when declared.
      const tar = tarOneFile(u.file, u.data, u.mode, u.uid, u.gid);
      const res = await this.api(
        "PUT",
        `/containers/${cid}/archive?path=%2F${u.owned ? "&copyUIDGID=1" : ""}`,
        tar,
      );
      if (res.status !== 200)
        throw new Error(`${dockerName}: upload ${u.file} → ${res.status}: ${res.body.toString().trim()}`);
    }
    for (const n of spec.extraNetworks) {
      await this.apiJson("POST", `/networks/${encodeURIComponent(n.name)}/connect`, {
        Container: cid,
        EndpointConfig: n.config,
      });
    }
    if (!spec.startedByCommand) await this.apiJson("POST", `/containers/${cid}/start`);
    const c: RunningContainer = {
      declaredName: spec.declared,
      dockerName,
      id: cid,
      resource: r,
      healthBudgetMs: spec.healthBudgetMs,
      waitTimeoutMs: spec.waitTimeoutMs,
      oneShot: spec.oneShot,
      startedByCommand: spec.startedByCommand,
      startedAt: Date.now(),
      stopSeconds: spec.stopSeconds,
    };
    this.containers.set(spec.declared, c);
    this.mark(`${spec.startedByCommand ? "created" : "started"} ${spec.declared}`);
    this.log(
      `container ${dockerName} ${spec.startedByCommand ? "created (start: false)" : "started"} (${spec.body.Image}${spec.uploads.length ? `, ${spec.uploads.length} uploads` : ""})`,
    );
    return c;
  }

  /**
   * One container create as the docker provider performs it (kreuzwerker/terraform-provider-docker
   * `resourceDockerContainerCreate`, which @pulumi/docker bridges): create, uploads, networks and
   * start ({@link startContainer}); with `wait`, its health wait ({@link waitHealthyAsProvider});
   * an `attach` one-shot waits for its exit; then the read that ends every create, which first
   * sleeps the provider's refresh delay ({@link PROVIDER_READ_DELAY_MS}). A container created
   * stopped (`start: false`) is only created: its PIDs-limit command starts it.
   */
  async createAsProvider(r: RecordedResource): Promise<RunningContainer> {
    const c = await this.startContainer(r);
    if (!c.startedByCommand) {
      if (c.oneShot) await this.waitExit(c);
      else if (c.waitTimeoutMs !== undefined) await this.waitHealthyAsProvider(c);
    }
    await sleep(PROVIDER_READ_DELAY_MS);
    return c;
  }

  /**
   * The provider's `wait` (terraform-provider-docker PR #467): inspect right after the start, and
   * while the container is not healthy, sleep {@link PROVIDER_WAIT_POLL_MS} and inspect again, up
   * to `waitTimeout`. So a dependent sees a `wait` container healthy only at the first whole poll
   * after Docker marked it healthy, as `pulumi up` would, not at the harness's own poll rate.
   * Throws UnhealthyError (with the last health log, and the container log when it exited) like
   * {@link waitHealthy}.
   */
  async waitHealthyAsProvider(c: RunningContainer): Promise<void> {
    const budget = c.waitTimeoutMs ?? 60_000;
    const deadline = c.startedAt + budget;
    for (;;) {
      const st = (await this.inspect(c)).State;
      if (st.Health?.Status === "healthy") {
        this.seenHealthy(c, st);
        return;
      }
      await this.failIfHopeless(c, st, budget, deadline);
      await sleep(PROVIDER_WAIT_POLL_MS);
    }
  }

  async inspect(c: RunningContainer | string): Promise<Json> {
    const ident = typeof c === "string" ? c : c.id;
    return this.apiJson("GET", `/containers/${encodeURIComponent(ident)}/json`);
  }

  /** Docker's restart count of every running service container, by docker name. */
  async restartCounts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const c of this.running()) out[c.dockerName] = Number((await this.inspect(c)).RestartCount ?? 0);
    return out;
  }

  /**
   * Service containers that restarted (crashed: `restart: unless-stopped` brought them back) since
   * `before` (from `restartCounts`), each with the tail of its log, by docker name. A container
   * created since counts from 0. An upstream that crashes fails requests whatever the proxy does:
   * tests that count failed requests report this apart from the proxy's own failures.
   */
  async crashedSince(before: Record<string, number>, tail = 30): Promise<Record<string, string>> {
    const now = await this.restartCounts();
    const out: Record<string, string> = {};
    for (const c of this.running())
      if ((now[c.dockerName] ?? 0) > (before[c.dockerName] ?? 0))
        out[c.dockerName] =
          `restarted ${now[c.dockerName]! - (before[c.dockerName] ?? 0)}×; log:\n${await this.logs(c, tail)}`;
    return out;
  }

  /**
   * Throws UnhealthyError when `c` (its inspected `State` `st`) has exited — with its last health
   * log and its container log — or `deadline` (epoch ms) has passed; returns otherwise.
   */
  private async failIfHopeless(
    c: RunningContainer,
    st: Json,
    budget: number,
    deadline: number,
  ): Promise<void> {
    const logs = st.Health?.Log ?? [];
    const last = logs.length
      ? `exit ${logs[logs.length - 1]!.ExitCode}: ${logs[logs.length - 1]!.Output}`
      : "";
    if (!st.Running && !st.Restarting && st.Status !== "created")
      throw new UnhealthyError(
        c.dockerName,
        `exited ${st.ExitCode}`,
        `${last}\n--- container log ---\n${await this.logs(c)}`,
        budget,
      );
    if (Date.now() > deadline)
      throw new UnhealthyError(c.dockerName, st.Health?.Status ?? st.Status, last, budget);
  }

  async logs(c: RunningContainer, tail = 40): Promise<string> {
    const res = await this.api("GET", `/containers/${c.id}/logs?stdout=1&stderr=1&tail=${tail}`);
    return demux(res.body);
  }

  /**
   * Waits until each container is healthy, within its budget (waitTimeout when `wait` is
   * declared, else its healthcheck budget). On failure: UnhealthyError with the name and the
   * last health log (or the exit code and logs when it died).
   */
  async waitHealthy(cs: readonly RunningContainer[]): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    await Promise.all(
      cs.map(async (c) => {
        const budget = Math.max(c.waitTimeoutMs ?? 0, c.healthBudgetMs) || 30_000;
        const deadline = c.startedAt + budget;
        for (;;) {
          const st = (await this.inspect(c)).State;
          const health: string | undefined = st.Health?.Status;
          if (health === "healthy" || (!st.Health && st.Running)) {
            // The first time it was seen healthy counts (a later call must not inflate it).
            this.seenHealthy(c, st);
            out[c.declaredName] = this.firstHealthyMs.get(c.id)!;
            return;
          }
          await this.failIfHopeless(c, st, budget, deadline);
          await sleep(250);
        }
      }),
    );
    return out;
  }

  /** Waits for a one-shot container to exit 0 within its budget (waitTimeout or 120 s). */
  async waitExit(c: RunningContainer): Promise<void> {
    const budget = c.waitTimeoutMs ?? 120_000;
    const res = await this.apiJson("POST", `/containers/${c.id}/wait`, undefined, [200], budget);
    const logs = await this.logs(c);
    if (res.StatusCode !== 0)
      throw new Error(`one-shot container ${c.dockerName} exited ${res.StatusCode}:\n${logs}`);
    this.log(
      `one-shot ${c.dockerName} exited 0 after ${((Date.now() - c.startedAt) / 1000).toFixed(1)} s: ${logs.trim().split("\n").pop()}`,
    );
  }

  /**
   * Runs a recorded PIDs-limit command (components/app/pids-limit.ts) on this engine: strictly
   * `limitPids`'s or `startOneShot`'s text (anything else throws), rebuilt by the same contract
   * function with its container's declared name mapped to this run's docker name, and run with
   * `sh -c` against this engine: `docker update` + the `docker inspect` check, and for a one-shot
   * then `docker start --attach` under its timeout. A one-shot that exits non-zero (or times out)
   * throws with its exit status and output. Runs by default for recorded PIDs-limit commands; as a
   * handler: `handlers: { "command:remote:Command": (r) => h.applyPidsLimit(r) }`. Resolves with
   * the command's output (a one-shot's: the job's stdout and stderr).
   * Any other command (no pids-limit role marker) throws: the harness runs nothing else.
   */
  async applyPidsLimit(r: RecordedResource): Promise<string> {
    const f = fields(`${r.type} ${r.name}`, "", r.inputs);
    const triggers = f.take<unknown[]>("triggers") ?? [];
    if (commandRoleOf(triggers) !== PIDS_LIMIT_COMMAND_ROLE)
      throw new Error(`harness does not run ${r.type} ${r.name}: only PIDs-limit commands`);
    const parsed = parsePidsLimitCommand(String(f.take("create") ?? ""));
    if (!parsed) throw new UnmappedFieldError(`${r.type} ${r.name}`, "create", r.inputs.create);
    f.take("connection"); // the engine is this harness's, whatever host the program would SSH to
    f.done();
    const c = this.container(parsed.container);
    const text = parsed.start
      ? oneShotStartCommand(parsed.limit, c.dockerName, parsed.start.timeoutSeconds)
      : pidsLimitCommand(parsed.limit, c.dockerName);
    if (parsed.start) {
      c.startedAt = Date.now();
      this.mark(`starter of ${c.declaredName}: limit, check, start --attach`);
    }
    const budgetMs = ((parsed.start?.timeoutSeconds ?? 0) + 60) * 1000;
    const res = await runShell(text, this.cliEnv, budgetMs);
    if (res.code !== 0)
      throw new Error(
        parsed.start
          ? `one-shot ${c.dockerName} (started by ${r.name} under PIDs limit ${parsed.limit}) exited ${res.code}:\n${res.output}`
          : `${c.dockerName}: PIDs limit ${parsed.limit} not applied (exit ${res.code}): ${res.output}`,
      );
    this.mark(parsed.start ? `one-shot ${c.declaredName} exited 0` : `pids limit ${c.declaredName}`);
    if (parsed.start && this.upStartedAt) {
      // When the engine ran the job (its start inside the command), for the timeline; not
      // awaited, so the harness is not slower than the command itself.
      const since = this.upStartedAt;
      this.inspect(c)
        .then((st) => {
          for (const [at, what] of [
            [st.State.StartedAt, `one-shot ${c.declaredName} running (engine)`],
            [st.State.FinishedAt, `one-shot ${c.declaredName} finished (engine)`],
          ])
            if (since === this.upStartedAt) this.timeline.push({ atMs: Date.parse(at) - since, what });
        })
        .catch(() => undefined);
    }
    if (parsed.start)
      this.log(
        `one-shot ${c.dockerName} ran under PIDs limit ${parsed.limit}, exited 0 after ${((Date.now() - c.startedAt) / 1000).toFixed(1)} s: ${res.output.trim().split("\n").pop()}`,
      );
    else this.log(`container ${c.dockerName}: PIDs limit ${parsed.limit}`);
    return res.output;
  }

  /** Removes a container (its named volumes stay, like a provider replace). */
  async removeContainer(declared: string): Promise<void> {
    const c = this.containers.get(declared);
    if (!c) return;
    if (c.stopSeconds !== undefined)
      await this.api(
        "POST",
        `/containers/${c.id}/stop?t=${c.stopSeconds}`,
        undefined,
        (c.stopSeconds + 20) * 1000,
      );
    await this.apiJson("DELETE", `/containers/${c.id}?force=1&v=1`, undefined, [204, 404]);
    this.containers.delete(declared);
    this.log(`container ${c.dockerName} removed`);
  }

  /**
   * Replaces a container with new recorded inputs. `deleteBeforeReplace` (same name) removes the
   * old one first; otherwise the new one (different declared name) must be healthy before the
   * old one is removed, like the provider's create-before-delete.
   */
  async replace(
    oldDeclared: string,
    next: RecordedResource,
    deleteBeforeReplace: boolean,
  ): Promise<{ healthyMs: number }> {
    this.validate(next);
    const t0 = Date.now();
    if (deleteBeforeReplace) await this.removeContainer(oldDeclared);
    else if (this.declaredName(next) === oldDeclared)
      throw new Error(`create-before-delete needs a new name (${oldDeclared})`);
    const c = await this.createAsProvider(next);
    // Without `wait` the provider reports the create once the container runs: healthy is measured.
    if (c.waitTimeoutMs === undefined) await this.waitHealthy([c]);
    if (!deleteBeforeReplace) await this.removeContainer(oldDeclared);
    return { healthyMs: Date.now() - t0 };
  }

  /** `docker exec` as the container's user (or `user`), bounded; returns stdout, throws on non-zero. */
  exec(
    declared: string,
    cmd: string[],
    opts: { user?: string; env?: string[]; timeoutMs?: number; input?: string } = {},
  ): string {
    return execFileSync("docker", this.execArgs(declared, cmd, opts), {
      env: this.cliEnv,
      encoding: "utf8",
      timeout: opts.timeoutMs ?? 20_000,
      input: opts.input,
      stdio: ["pipe", "pipe", "pipe"],
    });
  }

  /** `docker exec` arguments for {@link exec} and {@link execAsync}. */
  private execArgs(
    declared: string,
    cmd: string[],
    opts: { user?: string; env?: string[]; input?: string },
  ): string[] {
    const c = this.container(declared);
    const args = ["exec", ...(opts.input !== undefined ? ["-i"] : [])];
    if (opts.user) args.push("-u", opts.user);
    for (const e of opts.env ?? []) args.push("-e", e);
    return [...args, c.dockerName, ...cmd];
  }

  /** {@link exec} without blocking the event loop (for steps that run beside others in `up`). */
  execAsync(
    declared: string,
    cmd: string[],
    opts: { user?: string; env?: string[]; timeoutMs?: number; input?: string } = {},
  ): Promise<string> {
    return dockerCli(this.execArgs(declared, cmd, opts), {
      env: this.cliEnv,
      timeoutMs: opts.timeoutMs ?? 20_000,
      input: opts.input,
    });
  }

  /** Host port docker bound (on 127.0.0.1) for a declared container port. */
  async hostPort(declared: string, internal: number, protocol = "tcp"): Promise<number> {
    const st = await this.inspect(this.container(declared));
    const b = st.NetworkSettings?.Ports?.[`${internal}/${protocol}`]?.[0];
    if (!b) throw new Error(`${declared}: port ${internal}/${protocol} is not published`);
    return Number(b.HostPort);
  }

  /** Removes everything this run created; safe to call twice. */
  async cleanup(): Promise<void> {
    sweepSync(this.runId, this.cliEnv);
    fs.rmSync(this.hostDir, { recursive: true, force: true });
    this.containers.clear();
    this.networks.clear();
    this.volumes.clear();
    liveRuns.delete(this.runId);
    if (this.holdsSubnetLock) {
      releaseSubnetLock();
      this.holdsSubnetLock = false;
    }
    this.log(`cleaned up ${this.runId}`);
  }
}

/** `type name` of a URN (`urn:pulumi:stack::project::parent$type::name`). */
export function urnKey(urn: string): string {
  const parts = urn.split("::");
  const name = parts.slice(3).join("::");
  const type = (parts[2] ?? "").split("$").pop()!;
  return `${type} ${name}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
