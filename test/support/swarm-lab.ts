/**
 * A Docker Swarm of disposable VPS containers and the `local` stack played on it, for the swarm
 * test (test/swarm/cluster.test.ts) and the bench (bench/swarm.ts).
 *
 * Nodes: the LocalVps image with docker.io and ufw added (HardenedHost's packages and docker steps
 * install them; test/host proves those steps), prepared with the deploy user and a default-deny UFW.
 * Formation: every command SwarmCluster declares, captured from the component under mocks whose
 * engine runs each command over SSH as it is registered, so real node ids and the real join token
 * flow into the next commands exactly as outputs do.
 * Stack: the program recorded with `placement: swarm` (test/services/record.ts) and played in the
 * engine's dependency order: the strict harness for networks, volumes, one-shot containers and
 * Postgres roles, test/support/swarm-services.ts for secrets, configs and services, through the
 * first manager's Engine API over SSH, the ops commands (backups, drill, monitoring installs, the
 * pre-migration backup) over SSH on the node they connect to. Rewrites: registry images → local test images loaded on the
 * nodes that can run them; the admin tunnel → `psql` in the Postgres task.
 * Containers are named `<prefix>-<pid>-*`; `stop()` removes them (and their volumes).
 */
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { CLOSE_SCRIPT, OPEN_SCRIPT } from "../../components/data/PostgresAdminTunnel";
import * as pulumi from "@pulumi/pulumi";
import { SwarmCluster, SwarmNode } from "../../components/host/SwarmCluster";
import { recordProgram, type ProgramRecording } from "../services/record";
import { ensureImages, type AppImageSpec } from "../services/images";
import { loadImages, startDockerOverSsh, type DockerOverSsh } from "./docker-over-ssh";
import { CONTAINER, Harness, imageRepo, NETWORK, PG_DATABASE, PG_GRANT, PG_ROLE, VOLUME } from "./harness";
import { installMocks, reveal, settle, type RecordedResource } from "./mocks";
import { commandRoleOf } from "../../contract/roles";
import { NODE_NAME_LABEL, nodeName } from "../../contract/placement";
import {
  PIDS_LIMIT_COMMAND_ROLE,
  parsePidsLimitCommand,
  parseServicePidsLimitCommand,
} from "../../contract/pids-limits";
import { SECRET, SERVICE, SERVICE_CONFIG, SwarmPlayer } from "./swarm-services";
import {
  KeyPair,
  Run,
  Vps,
  buildVpsImage,
  exec,
  hostKeyOf,
  makeKey,
  must,
  run,
  scratchDir,
  ssh,
  startVps,
} from "./vps";

export const DEPLOY = "deployer";

/** The LocalVps image with docker.io and ufw added, built once and cached by the base image's tag. */
export function swarmImage(prefix: string): string {
  const base = buildVpsImage().tag;
  const tag = `launchgate-test/vps-swarm:${crypto.createHash("sha256").update(base).digest("hex").slice(0, 16)}`;
  if (run("docker", ["image", "inspect", tag]).code === 0) return tag;
  const name = `${prefix}-${process.pid}-image`;
  try {
    must("docker", ["run", "-d", "--name", name, base, "sleep", "infinity"]);
    must(
      "docker",
      [
        "exec",
        name,
        "sh",
        "-c",
        "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io ufw >/dev/null",
      ],
      { timeoutMs: 10 * 60_000 },
    );
    const cfg = JSON.parse(must("docker", ["image", "inspect", base]).stdout)[0].Config;
    must("docker", ["commit", "--change", `CMD ${JSON.stringify(cfg.Cmd ?? [])}`, name, tag]);
    return tag;
  } finally {
    run("docker", ["rm", "-f", name], { timeoutMs: 60_000 });
  }
}

/** A SwarmCluster command as it ran over SSH. */
export interface Executed {
  readonly name: string;
  readonly node: number;
  readonly create: string;
  readonly delete?: string;
  readonly stdinWasSecret: boolean;
  readonly result: Run;
}

export const REMOTE = "command:remote:Command";
const PG_PROVIDER = "pulumi:providers:postgresql";

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
/** What is played on the cluster: the docker and postgresql resources (the cluster is formed first). */
const PLAYED = [NETWORK, VOLUME, CONTAINER, SECRET, SERVICE_CONFIG, SERVICE, PG_ROLE, PG_DATABASE, PG_GRANT];
/**
 * The program's remote commands played over SSH on the node they connect to (by role marker):
 * the ops installs and the pre-migration backup on the Postgres node, an app's migration job on
 * the first manager. Not played: host steps (a
 * prepared image stands in), formation (played by `form`), PIDs limits.
 */
export const PLAYED_COMMANDS = [
  "backup",
  "drill",
  "pre-migration-backup",
  "monitoring",
  "migration",
  "db-admin-network",
];
export const LOCAL = "command:local:Command";
/** The DB admin tunnel (a local command: ssh -L on this machine) is played too. */
export const isTunnel = (r: RecordedResource) =>
  r.type === LOCAL && commandRoleOf(r.inputs.triggers) === "db-admin-tunnel";
/**
 * A one-shot container's starter (`startOneShot`: its PIDs-limit command sets the limit and starts
 * it; the proxy's config check). The services' own PIDs-limit commands (rolling updates) are not
 * played.
 */
export const isStarter = (r: RecordedResource) =>
  r.type === REMOTE &&
  commandRoleOf(r.inputs.triggers) === PIDS_LIMIT_COMMAND_ROLE &&
  parsePidsLimitCommand(String(r.inputs.create))?.start !== undefined;
/**
 * Services whose PIDs-limit command (`docker service update --limit-pids` on the first manager) is
 * played at deploy: one, because each is a rolling update with its 30 s monitor window.
 */
export const PIDS_PLAYED_SERVICES = ["api"];
/** A played service PIDs-limit command (its service in {@link PIDS_PLAYED_SERVICES}). */
export const isPlayedServicePidsLimit = (r: RecordedResource) =>
  r.type === REMOTE &&
  commandRoleOf(r.inputs.triggers) === PIDS_LIMIT_COMMAND_ROLE &&
  PIDS_PLAYED_SERVICES.includes(parseServicePidsLimitCommand(String(r.inputs.create))?.service ?? "");
export const played = (rec: ProgramRecording) =>
  rec.resources.filter(
    (r) =>
      PLAYED.includes(r.type) ||
      isTunnel(r) ||
      isStarter(r) ||
      isPlayedServicePidsLimit(r) ||
      (r.type === REMOTE && PLAYED_COMMANDS.includes(commandRoleOf(r.inputs.triggers) ?? "")),
  );

export class SwarmLab {
  readonly vps: Vps[];
  readonly key: KeyPair;
  readonly dir: string;
  bridges: DockerOverSsh[] = [];
  imageMap: Record<string, string> = {};
  /** The DB admin network's id as its command printed it (the recording has the mocks' empty output). */
  dbAdminNetworkId = "";
  /** The admin tunnel's environment as played (local port and control socket rewritten), once opened. */
  tunnelEnv?: Record<string, string>;
  /** The nodes' ed25519 host keys (config `hosts[].hostKey`), scanned once. */
  private hostKeys?: string[];
  /** Free local port standing in for the tunnel's DB_TUNNEL_PORT (other runs may hold 15432). */
  tunnelPort = 0;
  /** Recorded network resource name → its docker name (the harness creates it per run). */
  networkNames = new Map<string, string>();
  harness!: Harness;
  player!: SwarmPlayer;

  /**
   * Starts one VPS per entry of `labels` (hostnames node-0…), prepared (not under test): the
   * deploy user with sudo and docker, UFW default-deny + SSH.
   */
  constructor(
    readonly labels: readonly Record<string, string>[],
    readonly prefix: string,
  ) {
    this.dir = scratchDir();
    this.key = makeKey(this.dir, "deployer");
    const image = swarmImage(prefix);
    this.vps = [];
    try {
      for (const [i] of labels.entries()) {
        const v = startVps(image, this.key.publicKey, undefined, prefix);
        this.vps.push(v);
        exec(v, `hostname node-${i}`); // distinct hostnames, so `docker node ls` names each node
      }
      this.vps.forEach((v) => this.prepare(v));
    } catch (e) {
      this.stop();
      throw e;
    }
  }

  private prepare(v: Vps): void {
    const r = exec(
      v,
      [
        "set -e",
        `id ${DEPLOY} >/dev/null 2>&1 || useradd -m -s /bin/bash -G docker,sudo ${DEPLOY}`,
        `echo '${DEPLOY} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/${DEPLOY}`,
        `install -d -m 0700 -o ${DEPLOY} -g ${DEPLOY} /home/${DEPLOY}/.ssh`,
        `echo '${this.key.publicKey}' > /home/${DEPLOY}/.ssh/authorized_keys`,
        `chown ${DEPLOY}: /home/${DEPLOY}/.ssh/authorized_keys`,
        "ufw default deny incoming >/dev/null && ufw allow 22/tcp >/dev/null && ufw --force enable >/dev/null",
        "for i in $(seq 60); do docker info >/dev/null 2>&1 && exit 0; sleep 1; done; echo dockerd not up >&2; exit 1",
      ].join("\n"),
      120_000,
    );
    assert.equal(r.code, 0, `prepare ${v.container}: ${r.stderr}`);
  }

  /** Removes the bridges, the VPS containers, their volumes and the scratch dir (idempotent). */
  stop(): void {
    if (this.tunnelEnv)
      run("/bin/sh", ["-c", CLOSE_SCRIPT], {
        env: { PATH: process.env.PATH!, ...this.tunnelEnv },
        timeoutMs: 20_000,
      });
    for (const b of this.bridges) b.stop();
    for (const v of this.vps) v.stop();
    run("rm", ["-rf", this.dir]);
  }

  /**
   * Declares SwarmCluster over `nodes` (indexes into `vps`, every one a manager) under mocks whose
   * engine runs each command over SSH as it is registered (dependencies first, as Pulumi orders them).
   */
  async form(nodes: number[], log: (l: string) => void = console.log): Promise<Executed[]> {
    const executed: Executed[] = [];
    await installMocks("local", {
      state: (r) => {
        if (r.type !== "command:remote:Command") return {};
        const conn = reveal(r.inputs.connection) as { host: string };
        const node = Number(conn.host.replace("node-", ""));
        const create = String(reveal(r.inputs.create));
        const stdin = r.inputs.stdin === undefined ? "" : String(reveal(r.inputs.stdin));
        const result = ssh(this.vps[node]!, DEPLOY, this.key.file, create, {
          input: stdin,
          timeoutMs: 180_000,
        });
        executed.push({
          name: r.name,
          node,
          create,
          delete: r.inputs.delete === undefined ? undefined : String(reveal(r.inputs.delete)),
          stdinWasSecret: JSON.stringify(r.inputs.stdin ?? "").includes("4dabf18193072939515e22adb298388d"),
          result,
        });
        log(`  ${r.name.padEnd(26)} node-${node} ${String(result.ms).padStart(6)} ms exit ${result.code}`);
        assert.equal(result.code, 0, `${r.name} failed:\n${result.stdout}\n${result.stderr}`);
        return { stdout: result.stdout, stderr: result.stderr };
      },
    });
    const members: SwarmNode[] = nodes.map((i) => ({
      name: `node-${i}`,
      connection: pulumi.secret({
        host: `node-${i}`,
        port: 22,
        user: DEPLOY,
        privateKey: this.key.privateKey,
      }),
      address: this.vps[i]!.ip,
      roles: ["manager"],
      labels: this.labels[i]!,
    }));
    new SwarmCluster("swarm", { nodes: members, drainTimeoutSeconds: 30 });
    // Registrations wait on real SSH commands: settle until every expected command ran (bounded).
    // Per node: its firewall, its join (init on the first) and its settings; plus the token.
    const expected = nodes.length * 3 + 1;
    const deadline = Date.now() + 8 * 60_000;
    while (executed.length < expected && Date.now() < deadline) await settle();
    assert.equal(executed.length, expected, `ran ${executed.map((e) => e.name).join(", ")}`);
    return executed;
  }

  /** `docker node ls` on node 0 as `hostname status availability manager-status` lines. */
  nodeList(): string[] {
    const r = exec(
      this.vps[0]!,
      "docker node ls --format '{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}'",
    );
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split("\n").sort();
  }

  /** The cluster as config: every VPS a manager with its labels, at its own address and SSH port. */
  hostsConfig() {
    // Each node's host key, pinned as an operator would (the tunnel refuses any other).
    this.hostKeys ??= this.vps.map((v) => hostKeyOf(v));
    return this.vps.map((v, i) => ({
      address: v.ip,
      sshPort: v.sshPort,
      hostKey: this.hostKeys![i]!,
      roles: ["manager"],
      labels: this.labels[i]!,
    }));
  }

  /** The `local` stack with `placement: swarm` on these nodes, with further config `overrides`. */
  record(overrides: Record<string, unknown>): Promise<ProgramRecording> {
    return recordProgram(
      "local",
      { placement: "swarm", hosts: this.hostsConfig(), ...overrides },
      "launchgate-swarm-test",
      { keepTypes: [REMOTE, LOCAL] },
    );
  }

  /**
   * The node a recorded remote command connects to, as the deploy user: the local stack reaches
   * each node's VPS container on loopback at its configured SSH port (`hostsConfig`).
   */
  nodeOf(r: RecordedResource): number {
    const c = r.inputs.connection as { host: string; port: number; user: string };
    const node = this.vps.findIndex((v) => c.host === "127.0.0.1" && v.sshPort === c.port);
    assert.ok(node >= 0, `${r.name}: connects to ${c.host}:${c.port}, no node of this cluster`);
    assert.equal(c.user, DEPLOY, `${r.name}: connects as the deploy user`);
    return node;
  }

  /**
   * The node whose engine a recorded docker resource is declared on: the `host` of its docker
   * provider (`ssh://deployer@127.0.0.1:<the node's SSH port>` on the local stack).
   */
  nodeOfProvider(rec: ProgramRecording, r: RecordedResource): number {
    const providerName = (r.provider ?? "").split("::").slice(0, -1).pop();
    const p = rec.all.find((x) => x.type === "pulumi:providers:docker" && x.name === providerName);
    assert.ok(p, `${r.name}: no docker provider ${providerName} recorded (${r.provider})`);
    const m = /^ssh:\/\/([^@]+)@127\.0\.0\.1:(\d+)$/.exec(String(p.inputs.host));
    const node = this.vps.findIndex((v) => m !== null && v.sshPort === Number(m[2]));
    assert.ok(
      node >= 0,
      `${r.name}: provider ${providerName} reaches ${p.inputs.host}, no node of this cluster`,
    );
    assert.equal(m![1], DEPLOY, `${r.name}: its provider connects as the deploy user`);
    return node;
  }

  /**
   * Creates a recorded docker.Volume on the engine its provider reaches: the first manager's
   * through the harness, another node's with the Docker CLI over that node's bridge.
   */
  private async createVolumeOnItsNode(rec: ProgramRecording, r: RecordedResource, log: (l: string) => void) {
    const node = this.nodeOfProvider(rec, r);
    if (node === 0) return this.harness.createVolume(r);
    const labels = ((r.inputs.labels ?? []) as { label: string; value: string }[]).flatMap((l) => [
      "--label",
      `${l.label}=${l.value}`,
    ]);
    must("docker", ["volume", "create", ...labels, String(r.inputs.name)], { env: this.bridges[node]!.env });
    log(`  [node-${node}] volume ${r.inputs.name}`);
  }

  /**
   * Runs a recorded remote command's `create` over SSH on its node as the deploy user, its stdin
   * (a secret, e.g. the alert webhook) on stdin; throws with its output when it fails.
   */
  runCommand(r: RecordedResource, log: (l: string) => void = console.log): Run {
    const node = this.nodeOf(r);
    let create = String(r.inputs.create);
    let stdin = r.inputs.stdin === undefined ? "" : String(r.inputs.stdin);
    if (commandRoleOf(r.inputs.triggers) === "migration") {
      // The job's `docker service create` names recorded network ids and registry images (its
      // spec in the script, its per-release arguments on stdin): the engine's network names and
      // the local test images stand in (listed in `rewrites`).
      const rewrite = (text: string) => {
        for (const [res, name] of this.networkNames)
          text = text.split(`'\\''${res}-id'\\''`).join(`'\\''${this.harness.networkDockerName(name)}'\\''`);
        for (const [ref, local] of Object.entries(this.imageMap))
          text = text.split(`'\\''${ref}'\\''`).join(`'\\''${local}'\\''`);
        return text;
      };
      create = rewrite(create);
      stdin = rewrite(stdin);
    }
    const res = ssh(this.vps[node]!, DEPLOY, this.key.file, create, {
      input: stdin,
      timeoutMs: 10 * 60_000,
    });
    if (res.code !== 0) throw new Error(`${r.name} failed on node-${node}:\n${res.stdout}\n${res.stderr}`);
    if (commandRoleOf(r.inputs.triggers) === "db-admin-network" && res.stdout.trim())
      this.dbAdminNetworkId = res.stdout.trim();
    const last = res.stdout.trim().split("\n").pop() ?? "";
    log(`  [ssh] ${r.name} on node-${node}: ${(res.ms / 1000).toFixed(1)} s  ${last.slice(0, 100)}`);
    return res;
  }

  /**
   * Opens the program's DB admin tunnel as its local command does (OPEN_SCRIPT with the recorded
   * environment, the deploy key on stdin), with two rewrites: a free local port for 15432 and the
   * control socket and HOME in the scratch dir.
   */
  openTunnel(r: RecordedResource, log: (l: string) => void = console.log): void {
    assert.equal(String(r.inputs.create), OPEN_SCRIPT, "the tunnel runs the program's open script");
    const home = path.join(this.dir, "home");
    fs.mkdirSync(path.join(home, ".ssh"), { recursive: true, mode: 0o700 });
    const env: Record<string, string> = {
      ...(r.inputs.environment as Record<string, string>),
      LOCAL_PORT: String(this.tunnelPort),
      CONTROL_SOCKET: path.join(this.dir, "pg-admin.ctl"),
      HOME: home,
    };
    const res = run("/bin/sh", ["-c", OPEN_SCRIPT], {
      input: this.key.privateKey,
      env: { PATH: process.env.PATH!, ...env },
      timeoutMs: 60_000,
    });
    assert.equal(res.code, 0, `tunnel: ${res.stdout}\n${res.stderr}`);
    this.tunnelEnv = env;
    log(`  [local] ${r.name}: ${res.stdout.trim()}`);
  }

  /** `psql` over the admin tunnel as the program's postgresql provider connects (its login). */
  psqlViaTunnel(rec: ProgramRecording, sql: string, db?: string): string {
    const p = rec.all.find((r) => r.type === PG_PROVIDER)!.inputs as Record<string, string>;
    return must(
      "psql",
      ["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", p.host!, "-p", String(this.tunnelPort)].concat([
        "-U",
        p.username!,
        "-d",
        db ?? p.database ?? "postgres",
        "-c",
        sql,
      ]),
      {
        env: {
          ...process.env,
          PGPASSWORD: p.password!,
          PGSSLMODE: p.sslmode ?? "prefer",
          PGCONNECT_TIMEOUT: "10",
        } as Record<string, string>,
      },
    ).stdout.trim();
  }

  /** Runs `script` as root (`sudo -n bash -s`) on node `node` over SSH as the deploy user. */
  asRoot(node: number, script: string, timeoutMs = 10 * 60_000): Run {
    return ssh(this.vps[node]!, DEPLOY, this.key.file, "sudo -n bash -s", { input: script, timeoutMs });
  }

  /**
   * Runs `cmd` in a task container on node `node` (stdin `input`), through `docker exec` inside
   * the VPS: reading state, as test/support/vps.ts's `exec` does (an exec's output stream is not
   * reliably delivered through the docker-over-ssh bridge).
   */
  inTask(node: number, container: string, cmd: string[], input = ""): string {
    return must(
      "docker",
      ["exec", "-i", this.vps[node]!.container, "docker", "exec", "-i", container, ...cmd],
      {
        input,
        timeoutMs: 60_000,
      },
    ).stdout;
  }

  /** `psql` as the superuser inside the Postgres task (over its local socket). */
  psql(sql: string, db = "postgres"): string {
    const [task] = this.taskContainers("postgres");
    assert.ok(task, "a running Postgres task");
    const cmd = ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", "-"];
    return this.inTask(task.node, task.container, cmd, sql).trim();
  }

  /** Hostnames of the nodes running `service`'s tasks (desired running, state running), sorted. */
  nodesOf(service: string): string[] {
    const format = "{{.Node}} {{.CurrentState}}";
    const out = must(
      "docker",
      ["service", "ps", service, "--filter", "desired-state=running", "--format", format],
      { env: this.bridges[0]!.env },
    ).stdout;
    return out
      .split("\n")
      .filter((l) => / Running /.test(l))
      .map((l) => l.split(" ")[0]!)
      .sort();
  }

  /** The running task containers of `service` on every reachable node. */
  taskContainers(service: string): { node: number; container: string }[] {
    const found: { node: number; container: string }[] = [];
    this.bridges.forEach((b, node) => {
      const filter = `label=com.docker.swarm.service.name=${service}`;
      const r = run("docker", ["ps", "-q", "--filter", filter], { env: b.env, timeoutMs: 20_000 });
      for (const id of r.stdout.split("\n").filter(Boolean)) found.push({ node, container: id });
    });
    return found;
  }

  /**
   * The local images node `i` can need for `rec`: those of the services whose placement
   * constraints its labels meet (the apps anywhere, Postgres only on its labelled node), and
   * `extra`; the first manager also runs the one-shot containers (the proxy's config check).
   */
  private imagesFor(i: number, rec: ProgramRecording, extra: readonly string[]): string[] {
    // The configured labels and the node's own name (SwarmCluster labels each node with it).
    const labels: Record<string, string> = { ...this.labels[i]!, [NODE_NAME_LABEL]: nodeName(i) };
    const meets = (c: string) => {
      const m = /^node\.labels\.(\S+) == (\S+)$/.exec(c);
      assert.ok(m, `constraint ${c} is not a node-label constraint`);
      return labels[m[1]!] === m[2];
    };
    const refs = played(rec)
      .filter((r) =>
        r.type === SERVICE
          ? ((r.inputs.taskSpec.placement?.constraints ?? []) as string[]).every(meets)
          : r.type === CONTAINER && i === 0,
      )
      .map((r) => String(r.type === SERVICE ? r.inputs.taskSpec.containerSpec.image : r.inputs.image));
    return [
      ...new Set([...refs, ...extra].map((ref) => this.imageMap[ref] ?? this.imageMap[imageRepo(ref)]!)),
    ];
  }

  /**
   * Builds (or reuses) the test images of `apps`, opens the bridges, loads on each node the images
   * it can need for `rec` (plus the `extra` refs), then plays `rec`. Returns the milliseconds the
   * images took and the milliseconds from the first create to every service converged.
   */
  async deploy(
    rec: ProgramRecording,
    apps: readonly AppImageSpec[],
    extra: readonly string[] = [],
    log: (l: string) => void = console.log,
  ): Promise<{ imagesMs: number; upMs: number }> {
    const t0 = Date.now();
    this.tunnelPort = await freePort();
    const images = ensureImages(apps);
    this.imageMap = images.map;
    log(
      `  images: ${images.built.length ? `built ${images.built.length}` : "all cached"} in ${(images.buildMs / 1000).toFixed(1)} s`,
    );
    this.bridges = this.vps.map((v) => startDockerOverSsh(v, DEPLOY, this.key.file));
    this.vps.forEach((v, i) => {
      const load = loadImages(v, DEPLOY, this.key.file, this.bridges[i]!, this.imagesFor(i, rec, extra));
      log(
        `  node-${i}: ${load.loaded.length} images loaded (${(load.bytes / 1e6).toFixed(0)} MB) in ${(load.ms / 1000).toFixed(1)} s`,
      );
    });
    log(
      `  rewrites: registry images → local test images on the nodes (also in the migration job's command, with the engine's network names for recorded ids); the DB admin network's id → the one its command printed; admin tunnel local port 15432 → ${this.tunnelPort}, its control socket and HOME → the scratch dir`,
    );
    const names = new Map(
      rec.resources.filter((r) => r.type === NETWORK).map((r) => [r.name, String(r.inputs.name)]),
    );
    this.networkNames = names;
    // The player finds networks through the harness (which creates them) when a service is created;
    // the DB admin network (made by its command) by the id the command printed.
    this.player = new SwarmPlayer({
      socketPath: this.bridges[0]!.socketPath,
      imageMap: this.imageMap,
      networkId: (res) =>
        res === "" ? this.dbAdminNetworkId : this.harness.networkDockerName(names.get(res) ?? res),
      log: (l) => log(`  [swarm] ${l}`),
    });
    this.harness = new Harness({
      imageMap: this.imageMap,
      runId: `lg-svc-${this.prefix}-${process.pid}`,
      keepOnFailure: true, // stop() removes the VPS containers and everything in them
      engine: {
        socketPath: this.bridges[0]!.socketPath,
        cliEnv: this.bridges[0]!.env,
        placement: "as-declared",
      },
      // Roles and databases through the program's tunnel, as the postgresql provider would.
      postgresqlExec: (sql) => void this.psqlViaTunnel(rec, sql),
      handlers: {
        ...this.player.handlers(),
        // A starter runs as the harness runs it (on the engine it created the container on).
        [REMOTE]: async (r) => {
          if (!isStarter(r)) return void this.runCommand(r, log);
          // A starter starts its container on the engine its connection reaches: the first
          // manager's, where the container was created (the harness runs it on that engine).
          assert.equal(this.nodeOf(r), 0, `${r.name}: starts its one-shot container on the first manager`);
          await this.harness.applyPidsLimit(r);
        },
        [LOCAL]: async (r) => this.openTunnel(r, log),
        // Each volume on the engine of the node its provider reaches (a data store's node).
        [VOLUME]: (r) => this.createVolumeOnItsNode(rec, r, log),
      },
      log: (l) => log(`  [harness] ${l}`),
    });
    const imagesMs = Date.now() - t0;
    const t1 = Date.now();
    await this.harness.up(played(rec));
    const upMs = Date.now() - t1;
    log(
      `  stack up on ${this.vps.length} node(s) in ${(upMs / 1000).toFixed(1)} s (images before: ${(imagesMs / 1000).toFixed(1)} s)`,
    );
    return { imagesMs, upMs };
  }
}
