/**
 * The disposable Debian "VPS" for host tests: the image and run flags LocalVps uses
 * (components/host/vps-image), started with the docker CLI, reached over real SSH on a 127.0.0.1
 * port. Everything created is named `lg-host-test-*` and removed by `stop()`, which
 * `withVps` calls also when the test fails or the process is interrupted.
 *
 * Teardown holds on every way a run can end: a failed test or `after` hook calls `stop()`;
 * SIGINT/SIGTERM (Ctrl-C, a runner stopping) run it from a signal handler, with further signals
 * ignored meanwhile and the removal commands in their own process group (a terminal's Ctrl-C goes
 * to the whole foreground group and would kill them mid-way); and a watchdog in its own session
 * removes the VPS when this process is gone without cleaning up (SIGKILL, a CI timeout).
 */
import { spawn, spawnSync, SpawnSyncReturns } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BUILD_IMAGE_SCRIPT, buildImageArgs, VPS_RUN } from "../../components/host/vps-image";
import { DEFAULT_PIDS_LIMITS } from "../../contract/pids-limits";

/** Result of a bounded command. */
export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs a program with a hard timeout; a timeout is a failure with code 124, never a hang. */
export function run(
  cmd: string,
  args: string[],
  opts: {
    input?: string;
    timeoutMs?: number;
    env?: NodeJS.ProcessEnv;
    /**
     * In its own session (`setsid -w`): a Ctrl-C meant for the test, sent to the terminal's
     * foreground process group, does not reach it (cleanup commands).
     */
    detached?: boolean;
  } = {},
): Run {
  const t0 = Date.now();
  const [file, argv] = opts.detached ? ["setsid", ["-w", cmd, ...args]] : [cmd, args];
  const r: SpawnSyncReturns<string> = spawnSync(file, argv, {
    input: opts.input ?? "",
    encoding: "utf8",
    timeout: opts.timeoutMs ?? 60_000,
    killSignal: "SIGKILL",
    env: opts.env ?? process.env,
    maxBuffer: 64 * 1024 * 1024,
  });
  const timedOut = r.error !== undefined && (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT";
  return {
    code: timedOut ? 124 : (r.status ?? 1),
    stdout: r.stdout ?? "",
    stderr: (r.stderr ?? "") + (r.error ? `\n${String(r.error)}` : ""),
    ms: Date.now() - t0,
  };
}

/** Like `run` but throws with the output when the exit code is not 0. */
export function must(cmd: string, args: string[], opts: Parameters<typeof run>[2] = {}): Run {
  const r = run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Builds (or finds cached) the VPS image; returns its tag and how long it took. */
export function buildVpsImage(): { tag: string; ms: number } {
  const r = must("bash", [BUILD_IMAGE_SCRIPT, ...buildImageArgs()], { timeoutMs: 15 * 60_000 });
  const tag = r.stdout.trim().split("\n").pop() ?? "";
  if (!tag.startsWith("launchgate-test/")) throw new Error(`build-image.sh printed no tag: ${r.stdout}`);
  return { tag, ms: r.ms };
}

/** A private scratch directory, named after this process so reapStale() can find it later. */
export function scratchDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `lg-host-test-${process.pid}-`));
}

/** An ed25519 key pair on disk (private key file mode 0600). */
export interface KeyPair {
  readonly file: string;
  readonly privateKey: string;
  readonly publicKey: string;
}

export function makeKey(dir: string, name: string): KeyPair {
  const file = path.join(dir, name);
  must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `lg-host-test-${name}`, "-f", file]);
  return {
    file,
    privateKey: fs.readFileSync(file, "utf8"),
    publicKey: fs.readFileSync(`${file}.pub`, "utf8").trim(),
  };
}

export interface Vps {
  readonly container: string;
  readonly volume: string;
  /** SSH on 127.0.0.1. */
  readonly sshPort: number;
  /** The container's address on the docker bridge (for probing ports the firewall governs). */
  readonly ip: string;
  /** Scratch directory for keys; removed by stop(). */
  readonly dir: string;
  /** Further published ports (`startVps` option `publish`): port inside the VPS → port on 127.0.0.1. */
  readonly published: Readonly<Record<number, number>>;
  /** Reboots the VPS (docker restart) and waits for sshd; port and IP may change. */
  restart(): void;
  stop(): void;
}

/** Client options: key auth only, no prompts, no host-key store (a fresh container every run). */
export const SSH_OPTS = [
  "-o",
  "BatchMode=yes",
  "-o",
  "IdentitiesOnly=yes",
  "-o",
  "StrictHostKeyChecking=no",
  "-o",
  "UserKnownHostsFile=/dev/null",
  "-o",
  "ConnectTimeout=10",
  "-o",
  "LogLevel=ERROR",
];

/** Runs `command` on the VPS as `user` over real SSH. */
export function ssh(
  vps: Vps,
  user: string,
  keyFile: string | undefined,
  command: string,
  /** `extra` options come first, so they win over SSH_OPTS (ssh keeps the first value). */
  opts: { input?: string; timeoutMs?: number; extra?: string[] } = {},
): Run {
  const auth = keyFile ? ["-i", keyFile] : [];
  return run(
    "ssh",
    [...(opts.extra ?? []), ...SSH_OPTS, ...auth, "-p", String(vps.sshPort), `${user}@127.0.0.1`, command],
    { input: opts.input, timeoutMs: opts.timeoutMs },
  );
}

/** `docker exec` as root inside the VPS: reading state for assertions, not part of the system under test. */
export function exec(vps: Vps, script: string, timeoutMs = 60_000): Run {
  return run("docker", ["exec", "-i", vps.container, "bash", "-c", script], { timeoutMs });
}

const live = new Set<Vps>();
function stopAll(): void {
  for (const v of [...live]) v.stop();
}
process.once("exit", stopAll);
let stopping = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  // `on`, not `once`: a second Ctrl-C while the removal runs must not kill the process mid-way.
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    stopAll();
    process.exit(130);
  });
}

/**
 * Removes the VPS `id` (container, its docker-data volume, `dir`) once process `pid` is gone, by
 * polling every second: the net under SIGKILL or a CI timeout, where no handler runs.
 */
const WATCHDOG = [
  "pid=$1 id=$2 dir=$3",
  'while kill -0 "$pid" 2>/dev/null; do sleep 1; done',
  'docker rm -f -v "$id" >/dev/null 2>&1',
  'for i in 1 2 3 4 5 6 7 8 9 10; do docker volume rm -f "$id-docker" >/dev/null 2>&1; [ -z "$(docker volume ls -q --filter "name=^$id-docker$")" ] && break; sleep 1; done',
  'rm -rf "$dir"',
].join("\n");

/** Starts the watchdog for one VPS in its own session; returns how to end it after a normal stop. */
function startWatchdog(id: string, dir: string): () => void {
  const child = spawn("sh", ["-c", WATCHDOG, "lg-vps-watchdog", String(process.pid), id, dir], {
    detached: true,
    stdio: "ignore",
  });
  child.unref();
  return () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL"); // sh and its sleep
    } catch {
      // already gone
    }
  };
}

/**
 * Removes what an earlier run could not clean up (killed by SIGKILL, or interrupted while a
 * synchronous child ran): containers and volumes named `lg-host-test-<pid>-*` whose process is
 * gone. Runs of other live processes are left alone.
 */
export function reapStale(): string[] {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "EPERM";
    }
  };
  const stale = (name: string) => {
    const m = /^lg-host-test-(\d+)-/.exec(name);
    return m !== null && !alive(Number(m[1]));
  };
  const containers = run("docker", [
    "ps",
    "-a",
    "--format",
    "{{.Names}}",
    "--filter",
    "name=lg-host-test-",
  ]).stdout;
  const volumes = run("docker", ["volume", "ls", "-q", "--filter", "name=lg-host-test-"]).stdout;
  const reaped: string[] = [];
  for (const d of fs.readdirSync(os.tmpdir()).filter(stale)) {
    fs.rmSync(path.join(os.tmpdir(), d), { recursive: true, force: true });
    reaped.push(d);
  }
  for (const c of containers.split("\n").filter(stale)) {
    run("docker", ["rm", "-f", "-v", c], { timeoutMs: 60_000 });
    reaped.push(c);
  }
  for (const v of volumes.split("\n").filter(stale)) {
    run("docker", ["volume", "rm", "-f", v], { timeoutMs: 60_000 });
    reaped.push(v);
  }
  return reaped;
}

/** Waits (bounded) until sshd on 127.0.0.1:port answers. */
export function waitForSsh(port: number, timeoutMs = 60_000): void {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (
      run("ssh-keyscan", ["-T", "3", "-p", String(port), "127.0.0.1"], { timeoutMs: 10_000 }).stdout.includes(
        "ssh-",
      )
    )
      return;
    if (Date.now() > deadline)
      throw new Error(`sshd on 127.0.0.1:${port} did not answer within ${timeoutMs} ms`);
    run("sleep", ["1"]);
  }
}

/**
 * Starts a VPS from `image` with LocalVps's flags, root's authorized key in place (as LocalVps's
 * upload does), SSH published on a free 127.0.0.1 port. `opts.publish`: further ports inside the
 * VPS to publish on free 127.0.0.1 ports, as LocalVps's `publishedPorts` (e.g. its proxy's 443/80).
 */
export function startVps(
  image: string,
  rootPublicKey: string,
  dir?: string,
  prefix = "lg-host-test",
  opts: { readonly publish?: readonly number[] } = {},
): Vps {
  const reaped = reapStale();
  if (reaped.length > 0) console.log(`  removed leftovers of earlier runs: ${reaped.join(", ")}`);
  const id = `${prefix}-${process.pid}-${Date.now().toString(36)}`;
  const scratch = dir ?? scratchDir();
  let stopped = false;
  const vps: Vps = {
    container: id,
    volume: `${id}-docker`,
    sshPort: 0,
    ip: "",
    dir: scratch,
    published: {},
    restart() {
      must("docker", ["restart", "-t", "10", id], { timeoutMs: 120_000 });
      locate();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      live.delete(vps);
      run("docker", ["rm", "-f", "-v", id], { timeoutMs: 120_000, detached: true });
      // The engine can still hold the volume for a moment after `rm -f` returns (seen in CI under
      // load: "volume is in use"); retry, bounded, before leaving it to the watchdog.
      const volumeLeft = () =>
        run("docker", ["volume", "ls", "-q", "--filter", `name=^${id}-docker$`], {
          detached: true,
        }).stdout.trim() !== "";
      for (let i = 0; i < 20; i++) {
        run("docker", ["volume", "rm", "-f", `${id}-docker`], { timeoutMs: 60_000, detached: true });
        if (!volumeLeft()) break;
        run("sleep", ["0.5"], { detached: true });
      }
      fs.rmSync(scratch, { recursive: true, force: true });
      // Still there (the engine refused, a timeout): the watchdog retries once this process is gone.
      const left = run("docker", ["ps", "-a", "-q", "--filter", `name=^${id}$`], { detached: true });
      if (left.code === 0 && left.stdout.trim() === "" && !volumeLeft()) endWatchdog();
    },
  };
  const endWatchdog = startWatchdog(id, scratch);
  /** Reads the published SSH port and bridge IP, then waits until sshd answers. */
  function locate(): void {
    const port =
      must("docker", ["port", id, `${VPS_RUN.sshInternalPort}/tcp`])
        .stdout.trim()
        .split("\n")[0] ?? "";
    const ip = must("docker", [
      "inspect",
      "-f",
      "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
      id,
    ]).stdout.trim();
    const published: Record<number, number> = {};
    for (const p of opts.publish ?? []) {
      const bound =
        must("docker", ["port", id, `${p}/tcp`])
          .stdout.trim()
          .split("\n")[0] ?? "";
      published[p] = Number(bound.split(":").pop());
    }
    Object.assign(vps, { sshPort: Number(port.split(":").pop()), ip, published });
    waitForSsh(vps.sshPort);
  }
  live.add(vps);
  try {
    must("docker", ["volume", "create", vps.volume]);
    must("docker", [
      "create",
      "--name",
      id,
      "--hostname",
      "vps",
      ...VPS_RUN.capAdd.flatMap((c) => ["--cap-add", c]),
      ...VPS_RUN.capDrop.flatMap((c) => ["--cap-drop", c]),
      ...VPS_RUN.securityOpts.flatMap((o) => ["--security-opt", o]),
      "-v",
      `${VPS_RUN.cgroupMount}:${VPS_RUN.cgroupMount}:rw`,
      ...VPS_RUN.tmpfs.flatMap((t) => ["--tmpfs", t]),
      // LocalVps's PIDs limit (its applier runs `docker update` on the local engine; same value).
      "--pids-limit",
      String(DEFAULT_PIDS_LIMITS.vps),
      "-v",
      `${vps.volume}:${VPS_RUN.dockerDataPath}`,
      "-p",
      `${VPS_RUN.bindAddress}::${VPS_RUN.sshInternalPort}`,
      ...(opts.publish ?? []).flatMap((p) => ["-p", `${VPS_RUN.bindAddress}::${p}`]),
      image,
    ]);
    const keyFile = path.join(scratch, "root_authorized_keys");
    fs.writeFileSync(keyFile, `${rootPublicKey}\n`, { mode: 0o644 });
    must("docker", ["cp", keyFile, `${id}:${VPS_RUN.rootAuthorizedKeys}`]);
    must("docker", ["start", id]);
    locate();
    return vps;
  } catch (e) {
    vps.stop();
    throw e;
  }
}

/** Runs `fn` with a fresh VPS and always removes it afterwards. */
export async function withVps<T>(
  image: string,
  rootPublicKey: string,
  fn: (vps: Vps) => Promise<T>,
): Promise<T> {
  const vps = startVps(image, rootPublicKey);
  try {
    return await fn(vps);
  } finally {
    vps.stop();
  }
}

/**
 * The VPS's ed25519 SSH host key as an operator pins it (config `host.hostKey`): `ssh-keyscan`'s
 * key type and base64, without the host name.
 */
export function hostKeyOf(vps: Pick<Vps, "sshPort">): string {
  const scan = must("ssh-keyscan", ["-t", "ed25519", "-p", String(vps.sshPort), "127.0.0.1"]).stdout;
  const key = /^\S+ (ssh-ed25519 \S+)$/m.exec(scan)?.[1];
  if (!key) throw new Error(`ssh-keyscan found no ed25519 host key on 127.0.0.1:${vps.sshPort}:\n${scan}`);
  return key;
}
