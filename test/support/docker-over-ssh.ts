/**
 * The VPS's nested Docker engine, reached the way the program's docker provider reaches it
 * (`host: ssh://deployer@<vps>`): every connection to a local unix socket becomes
 * `ssh deployer@vps docker system dial-stdio`, multiplexed over one SSH master connection
 * (ControlMaster), at most MAX_SESSIONS at a time (the hardened sshd's `MaxSessions 10`).
 * The harness's Engine API client and the docker CLI (`DOCKER_HOST=unix://…`) both use it.
 *
 * The bridge runs as its own process (this file's `main`), so synchronous docker CLI calls of the
 * test process can go through it; it exits when its parent's stdin pipe closes (parent gone).
 * Images reach the engine without a registry: `docker save | ssh … docker load`, skipped for
 * images whose id (content hash) the engine already has.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { must, run, SSH_OPTS, type Vps } from "./vps";

/** Concurrent `dial-stdio` sessions on the one SSH connection (sshd MaxSessions 10, minus the master). */
export const MAX_SESSIONS = 8;

export interface DockerOverSsh {
  /** Local unix socket speaking the Engine API of the VPS's engine. */
  readonly socketPath: string;
  /** Environment for docker CLI calls against that engine. */
  readonly env: NodeJS.ProcessEnv;
  /** Stops the bridge (and its SSH master); safe to call twice. */
  stop(): void;
}

function sshArgs(port: number, keyFile: string, controlPath: string): string[] {
  return [...SSH_OPTS, "-i", keyFile, "-p", String(port), "-o", `ControlPath=${controlPath}`];
}

/**
 * Starts the bridge to `user`'s docker on the VPS (key auth with `keyFile`); waits (bounded) until
 * the engine answers through it. The socket lives in `vps.dir`.
 */
export function startDockerOverSsh(
  vps: Vps,
  user: string,
  keyFile: string,
  timeoutMs = 60_000,
): DockerOverSsh {
  const socketPath = path.join(vps.dir, "docker.sock");
  const controlPath = path.join(vps.dir, "ssh-docker.ctl");
  fs.rmSync(socketPath, { force: true });
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", __filename, socketPath, String(vps.sshPort), user, keyFile, controlPath],
    { stdio: ["pipe", "ignore", "inherit"] },
  );
  const env = { ...process.env, DOCKER_HOST: `unix://${socketPath}` };
  let stopped = false;
  const bridge: DockerOverSsh = {
    socketPath,
    env,
    stop() {
      if (stopped) return;
      stopped = true;
      child.stdin?.end();
      child.kill("SIGTERM");
      run("ssh", [...sshArgs(vps.sshPort, keyFile, controlPath), "-O", "exit", `${user}@127.0.0.1`], {
        timeoutMs: 10_000,
      });
      fs.rmSync(socketPath, { force: true });
    },
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = run("docker", ["version", "--format", "{{.Server.Version}}"], { env, timeoutMs: 20_000 });
    if (r.code === 0) return bridge;
    if (Date.now() > deadline || child.exitCode !== null) {
      bridge.stop();
      throw new Error(
        `docker over ssh to ${user}@127.0.0.1:${vps.sshPort} did not answer: ${r.stderr.trim()}`,
      );
    }
    must("sleep", ["0.5"]);
  }
}

/** What `loadImages` did. */
export interface ImageLoad {
  /** Images sent (`docker save | docker load`). */
  readonly loaded: string[];
  /** Images the engine already had with the same id. */
  readonly cached: string[];
  readonly bytes: number;
  readonly ms: number;
}

/**
 * Loads local images into the VPS's engine without a registry: one `docker save` stream of every
 * image whose id the engine lacks, piped over SSH into `docker load` (bounded: 10 min).
 */
export function loadImages(
  vps: Vps,
  user: string,
  keyFile: string,
  bridge: DockerOverSsh,
  tags: string[],
): ImageLoad {
  const t0 = Date.now();
  const idOf = (tag: string, env?: NodeJS.ProcessEnv) =>
    run("docker", ["image", "inspect", "-f", "{{.Id}}", tag], { env, timeoutMs: 30_000 }).stdout.trim();
  const missing: string[] = [];
  const cached: string[] = [];
  for (const tag of [...new Set(tags)]) {
    const local = idOf(tag);
    if (!local) throw new Error(`image ${tag} does not exist on this machine`);
    (idOf(tag, bridge.env) === local ? cached : missing).push(tag);
  }
  let bytes = 0;
  if (missing.length) {
    const ssh = [
      "ssh",
      ...SSH_OPTS,
      "-i",
      keyFile,
      "-p",
      String(vps.sshPort),
      `${user}@127.0.0.1`,
      "docker load -q",
    ];
    const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
    const r = spawnSync(
      "bash",
      [
        "-c",
        `set -o pipefail; docker save ${missing.map(q).join(" ")} | tee >(wc -c >&2) | ${ssh.map(q).join(" ")}`,
      ],
      { encoding: "utf8", timeout: 600_000, killSignal: "SIGKILL" },
    );
    if (r.status !== 0) throw new Error(`docker save | ssh docker load failed (${r.status}): ${r.stderr}`);
    bytes = Number(/(\d+)\s*$/.exec(r.stderr.trim())?.[1] ?? 0);
    for (const tag of missing)
      if (idOf(tag, bridge.env) !== idOf(tag))
        throw new Error(`${tag}: loaded, but the engine has another id`);
  }
  return { loaded: missing, cached, bytes, ms: Date.now() - t0 };
}

// ---------------------------------------------------------------------------------------------
// The bridge process

function main(argv: string[]): void {
  const [socketPath, port, user, keyFile, controlPath] = argv;
  if (!socketPath || !port || !user || !keyFile || !controlPath)
    throw new Error("usage: docker-over-ssh.ts SOCKET PORT USER KEYFILE CONTROLPATH");
  const base = sshArgs(Number(port), keyFile, controlPath);
  const target = `${user}@127.0.0.1`;
  const master = spawn("ssh", [...base, "-M", "-N", "-o", "ControlPersist=no", target], { stdio: "ignore" });
  const ready = () => spawnSync("ssh", [...base, "-O", "check", target], { stdio: "ignore" }).status === 0;
  const deadline = Date.now() + 30_000;
  while (!ready()) {
    if (master.exitCode !== null || Date.now() > deadline) {
      process.stderr.write(`docker-over-ssh: ssh master to ${target}:${port} failed\n`);
      process.exit(1);
    }
    spawnSync("sleep", ["0.2"]);
  }
  let active = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    active--;
    waiting.shift()?.();
  };
  const server = net.createServer((sock) => {
    sock.pause();
    const go = () => {
      active++;
      const ssh = spawn(
        "ssh",
        [...base, "-o", "ControlMaster=no", target, "docker", "system", "dial-stdio"],
        {
          stdio: ["pipe", "pipe", "ignore"],
        },
      );
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        release();
        sock.destroy();
        ssh.kill();
      };
      sock.pipe(ssh.stdin!);
      ssh.stdout!.pipe(sock);
      sock.resume();
      ssh.on("exit", finish);
      sock.on("close", finish);
      sock.on("error", finish);
      ssh.stdin!.on("error", finish);
    };
    if (active < MAX_SESSIONS) go();
    else waiting.push(go);
  });
  server.listen(socketPath);
  const quit = () => {
    server.close();
    master.kill();
    fs.rmSync(socketPath, { force: true });
    process.exit(0);
  };
  process.stdin.on("end", quit);
  process.stdin.on("close", quit);
  process.stdin.resume();
  process.on("SIGTERM", quit);
  process.on("SIGINT", quit);
}

if (require.main === module) main(process.argv.slice(2));
