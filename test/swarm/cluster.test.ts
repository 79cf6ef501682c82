/**
 * The local stack on a 3-node Docker Swarm (issue 14), one cluster for the whole file, in order.
 *
 * Formation over real SSH: three disposable Debian VPS containers from
 * the program's LocalVps image (plus docker.io and ufw, which HardenedHost's packages and docker
 * steps install and test/host proves), prepared with the deploy user and a default-deny UFW; then
 * every command SwarmCluster declares, captured from the component, runs over SSH as the deploy
 * user in the engine's order — each command executes when the mock engine registers it, so the
 * real node ids and the real join token flow into the next commands exactly as outputs do.
 *
 * Checked from outside: three Ready managers with the configured labels; Swarm ports open to the
 * members only (the host, not a member, cannot reach 2377); the token never in a command text or
 * output log; a second run changes nothing (idempotent); a node dropped from config is drained,
 * removed and has left. Bounded: every command and wait has a timeout; containers are named
 * `i14-<pid>-*` and removed also on failure.
 */
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as https from "node:https";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { SwarmCluster, SwarmNode } from "../../components/host/SwarmCluster";
import { installMocks, reveal, settle, type RecordedResource } from "../support/mocks";
import { readStackFile } from "../../stacks/stack-file";
import { recordProgram, type ProgramRecording } from "../services/record";
import { ensureImages, type AppImageSpec } from "../services/images";
import { loadImages, startDockerOverSsh, type DockerOverSsh } from "../support/docker-over-ssh";
import {
  CONTAINER,
  Harness,
  imageRepo,
  NETWORK,
  PG_DATABASE,
  PG_GRANT,
  PG_ROLE,
  VOLUME,
} from "../support/harness";
import { eventually, request, tcpOpen } from "../support/probes";
import { startClientLoop, type ClientLoopResult } from "../support/client-loop";
import { SECRET, SERVICE, SERVICE_CONFIG, SwarmPlayer } from "../support/swarm-services";
import {
  KeyPair,
  Run,
  Vps,
  buildVpsImage,
  exec,
  makeKey,
  must,
  run,
  scratchDir,
  ssh,
  startVps,
} from "../support/vps";

const PREFIX = "i14";
const DEPLOY = "deployer";
const LABELS: Record<string, string>[] = [
  { "launchgate.postgres": "true", "launchgate.edge": "true" },
  { "launchgate.redis": "true", "launchgate.edge": "true" },
  { zone: "b" },
];

let vps: Vps[] = [];
let key: KeyPair;
let dir: string;

/** The LocalVps image with docker.io and ufw added, built once and cached by the base image's tag. */
function swarmImage(): string {
  const base = buildVpsImage().tag;
  const tag = `launchgate-test/vps-swarm:${crypto.createHash("sha256").update(base).digest("hex").slice(0, 16)}`;
  if (run("docker", ["image", "inspect", tag]).code === 0) return tag;
  const name = `${PREFIX}-${process.pid}-image`;
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

/** Test set-up (not under test): the deploy user with sudo and docker, UFW default-deny + SSH. */
function prepare(v: Vps): void {
  const r = exec(
    v,
    [
      "set -e",
      `id ${DEPLOY} >/dev/null 2>&1 || useradd -m -s /bin/bash -G docker,sudo ${DEPLOY}`,
      `echo '${DEPLOY} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/${DEPLOY}`,
      `install -d -m 0700 -o ${DEPLOY} -g ${DEPLOY} /home/${DEPLOY}/.ssh`,
      `echo '${key.publicKey}' > /home/${DEPLOY}/.ssh/authorized_keys`,
      `chown ${DEPLOY}: /home/${DEPLOY}/.ssh/authorized_keys`,
      "ufw default deny incoming >/dev/null && ufw allow 22/tcp >/dev/null && ufw --force enable >/dev/null",
      "for i in $(seq 60); do docker info >/dev/null 2>&1 && exit 0; sleep 1; done; echo dockerd not up >&2; exit 1",
    ].join("\n"),
    120_000,
  );
  assert.equal(r.code, 0, `prepare ${v.container}: ${r.stderr}`);
}

interface Executed {
  readonly name: string;
  readonly node: number;
  readonly create: string;
  readonly delete?: string;
  readonly stdinWasSecret: boolean;
  readonly result: Run;
}

/**
 * Declares SwarmCluster over `nodes` (indexes into `vps`) under mocks whose engine runs each
 * command over SSH as it is registered (dependencies first, as Pulumi orders them).
 */
async function form(nodes: number[]): Promise<Executed[]> {
  const executed: Executed[] = [];
  await installMocks("local", {
    state: (r) => {
      if (r.type !== "command:remote:Command") return {};
      const conn = reveal(r.inputs.connection) as { host: string };
      const node = Number(conn.host.replace("node-", ""));
      const create = String(reveal(r.inputs.create));
      const stdin = r.inputs.stdin === undefined ? "" : String(reveal(r.inputs.stdin));
      const result = ssh(vps[node]!, DEPLOY, key.file, create, { input: stdin, timeoutMs: 180_000 });
      executed.push({
        name: r.name,
        node,
        create,
        delete: r.inputs.delete === undefined ? undefined : String(reveal(r.inputs.delete)),
        stdinWasSecret: JSON.stringify(r.inputs.stdin ?? "").includes("4dabf18193072939515e22adb298388d"),
        result,
      });
      console.log(
        `  ${r.name.padEnd(26)} node-${node} ${String(result.ms).padStart(6)} ms exit ${result.code}`,
      );
      assert.equal(result.code, 0, `${r.name} failed:\n${result.stdout}\n${result.stderr}`);
      return { stdout: result.stdout, stderr: result.stderr };
    },
  });
  const members: SwarmNode[] = nodes.map((i) => ({
    name: `node-${i}`,
    connection: pulumi.secret({ host: `node-${i}`, port: 22, user: DEPLOY, privateKey: key.privateKey }),
    address: vps[i]!.ip,
    roles: ["manager"],
    labels: LABELS[i]!,
  }));
  new SwarmCluster("swarm", { nodes: members, drainTimeoutSeconds: 30 });
  // Registrations wait on real SSH commands: settle until every expected command ran (bounded).
  const expected = nodes.length * 3 + 1;
  const deadline = Date.now() + 8 * 60_000;
  while (executed.length < expected && Date.now() < deadline) await settle();
  assert.equal(executed.length, expected, `ran ${executed.map((e) => e.name).join(", ")}`);
  return executed;
}

/** `docker node ls` on node 0 as `hostname status availability manager-status` lines. */
function nodeList(): string[] {
  const r = exec(
    vps[0]!,
    "docker node ls --format '{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}'",
  );
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split("\n").sort();
}

before(() => {
  dir = scratchDir();
  key = makeKey(dir, "deployer");
  const image = swarmImage();
  vps = [0, 1, 2].map(() => startVps(image, key.publicKey, undefined, PREFIX));
  // Distinct hostnames, so `docker node ls` names each node.
  vps.forEach((v, i) => exec(v, `hostname node-${i}`));
  vps.forEach(prepare);
});

after(() => {
  for (const v of vps) v.stop();
  run("rm", ["-rf", dir]);
});

describe("swarm formation over real SSH (3 VPS containers)", { timeout: 15 * 60_000 }, () => {
  let first: Executed[] = [];
  test("the first run forms a 3-manager swarm with the configured labels", async () => {
    first = await form([0, 1, 2]);
    const nodes = nodeList();
    console.log(`  nodes: ${nodes.join(" | ")}`);
    assert.equal(nodes.length, 3);
    for (const n of nodes) assert.match(n, / Ready Active (Leader|Reachable)$/);
    const labels = exec(vps[0]!, "docker node inspect -f '{{json .Spec.Labels}}' node-0 node-2")
      .stdout.trim()
      .split("\n");
    assert.deepEqual(
      labels.map((l) => JSON.parse(l)),
      [LABELS[0], LABELS[2]],
    );
  });
  test("Swarm ports are open to members only", () => {
    const rules = exec(vps[1]!, "ufw status | grep -E '2377|7946|4789'").stdout;
    for (const peer of vps)
      assert.match(
        rules,
        new RegExp(`(2377/tcp|7946/tcp|7946/udp|4789/udp).*ALLOW.*${peer.ip.replace(/\./g, "\\.")}`),
      );
    assert.ok(!/Anywhere/.test(rules), `no rule open to anywhere:\n${rules}`);
    // The machine running the test is not a member: 2377 on a manager stays closed to it.
    const probe = run("bash", [
      "-c",
      `timeout 3 bash -c '</dev/tcp/${vps[0]!.ip}/2377' && echo open || echo closed`,
    ]);
    assert.equal(probe.stdout.trim(), "closed");
    const member = exec(
      vps[1]!,
      `timeout 3 bash -c '</dev/tcp/${vps[0]!.ip}/2377' && echo open || echo closed`,
    );
    assert.equal(member.stdout.trim(), "open");
  });
  test("the join token is a secret on stdin, in no command text and no output", () => {
    const token = first.find((e) => e.name === "swarm-join-token")!.result.stdout.trim();
    assert.match(token, /^SWMTKN-1-/);
    for (const e of first) {
      assert.ok(!e.create.includes(token) && !(e.delete ?? "").includes(token), `${e.name}: command text`);
      if (e.name !== "swarm-join-token")
        assert.ok(!(e.result.stdout + e.result.stderr).includes(token), `${e.name}: output`);
    }
    for (const e of first.filter((x) => x.name.endsWith("-join")))
      assert.ok(e.stdinWasSecret, `${e.name}: stdin secret`);
  });
  test("a second run is idempotent: same node ids, nothing changed", async () => {
    const again = await form([0, 1, 2]);
    const ids = (x: Executed[]) =>
      x
        .filter((e) => e.name.endsWith("-node"))
        .map((e) => e.result.stdout.trim())
        .sort();
    assert.deepEqual(ids(again), ids(first));
    for (const e of again)
      assert.ok(
        !/initialised|joined|label-add|is now a|added:/.test(e.result.stderr),
        `${e.name}: ${e.result.stderr}`,
      );
    assert.equal(nodeList().length, 3);
  });
  test("a node dropped from config is drained, removed, and leaves", () => {
    // What the engine runs when node-2 leaves the config: the dependent first (its node settings
    // on the manager: demote, drain, remove), then its join (on the node: leave).
    const nodeDelete = first.find((e) => e.name === "swarm-node-2-node")!.delete!;
    const joinDelete = first.find((e) => e.name === "swarm-node-2-join")!.delete!;
    const del = ssh(vps[0]!, DEPLOY, key.file, nodeDelete, { timeoutMs: 120_000 });
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stderr, /drained and removed/);
    const leave = ssh(vps[2]!, DEPLOY, key.file, joinDelete, { timeoutMs: 60_000 });
    assert.equal(leave.code, 0, leave.stderr);
    assert.equal(exec(vps[2]!, "docker info --format '{{.Swarm.LocalNodeState}}'").stdout.trim(), "inactive");
    const nodes = nodeList();
    console.log(`  nodes after removing node-2: ${nodes.join(" | ")}`);
    assert.equal(nodes.length, 2);
    assert.ok(nodes.every((n) => !n.startsWith("node-2 ")));
  });

  test("a node back in config joins again", async () => {
    await form([0, 1, 2]);
    const nodes = nodeList();
    assert.equal(nodes.length, 3, nodes.join(" | "));
    for (const n of nodes) assert.match(n, / Ready Active (Leader|Reachable)$/);
  });

  test("the local stack deploys with placement swarm: HTTPS on every edge node, data stores on their labelled nodes", async () => {
    await deployStack();
    for (const [i, v] of vps.entries()) {
      if (LABELS[i]!["launchgate.edge"] !== "true") continue;
      const res = await eventually(
        `GET /health via node-${i}'s proxy`,
        () => viaProxy(v, "/health"),
        (r) => r.status === 200,
        60_000,
      );
      assert.equal(JSON.parse(res.body).postgres, "ok", `node-${i}: ${res.body}`);
      assert.match(String(res.headers["strict-transport-security"]), /max-age=\d+/);
      console.log(`  node-${i} (${v.ip}:443): ${res.status} ${res.body.trim()}`);
    }
    assert.equal(await tcpOpen(vps[2]!.ip, 443), false, "node-2 is no edge node: no proxy on 443");
    const where = (service: string) => nodesOf(service);
    assert.deepEqual(where("postgres"), ["node-0"], "Postgres on the node labelled launchgate.postgres");
    for (const r of ["redis-queue", "redis-cache"])
      assert.deepEqual(where(r), ["node-1"], `${r} on the node labelled launchgate.redis`);
    assert.deepEqual(where("proxy"), ["node-0", "node-1"], "the proxy on every edge node (global)");
    const api = where("api");
    assert.equal(api.length, 2, `api replicas on distinct nodes: ${api.join(",")}`);
    assert.equal(new Set(api).size, 2, "at most one api task per node");
  });

  test("a secret is rotated while a client loop runs: new secret, rolling update, old one removed, 0 failed requests", async () => {
    const next = await record(ROTATED);
    const oldName = String(secretOf(current, "app-api-secret-session-key").inputs.name);
    const newName = String(secretOf(next, "app-api-secret-session-key").inputs.name);
    assert.notEqual(newName, oldName, "a new value is a new content-hashed secret");
    const { result: steps, loop } = await underLoad(() => rollOut(current, next));
    current = next;
    console.log(`  rotation: ${steps.join("; ")}`);
    reportLoop("rotation", loop, 0);
    const secrets = must("docker", ["secret", "ls", "--format", "{{.Name}}"], {
      env: bridges[0]!.env,
    }).stdout;
    assert.ok(secrets.includes(newName) && !secrets.includes(oldName), `secrets now: ${secrets}`);
    for (const t of taskContainers("api"))
      assert.equal(
        inTask(t.node, t.container, ["cat", "/run/secrets/SESSION_KEY"]),
        "rotation-2",
        `api task on node-${t.node} reads the rotated file`,
      );
  });

  test("a bad image's rolling update rolls back by itself (health-gated, failureAction rollback)", async () => {
    const bad = await record({ ...ROTATED, apps: appsWith(BAD_API) });
    const { result: steps, loop } = await underLoad(() => rollOut(current, bad, "rollback_completed"));
    console.log(`  bad image: ${steps.join("; ")}`);
    const image = JSON.parse(
      must("docker", ["service", "inspect", "-f", "{{json .Spec.TaskTemplate.ContainerSpec.Image}}", "api"], {
        env: bridges[0]!.env,
      }).stdout,
    );
    assert.equal(image, imageMap[api.image], "the service spec is the previous one again");
    // Measured: a few 502/504 from the proxy as the bad update starts (an upstream address that
    // stops answering: the proxy does not retry another task yet); bounded like a lost node.
    reportLoop("bad image", loop, 0.05);
    assert.deepEqual(Object.keys(loop.seen), ["1.4.0"], "only the good release served");
  });

  test("a node is lost: the app keeps answering, full replicas again within 30 s, every committed row kept", async () => {
    // The table the api's migration creates (not rendered on a swarm yet): the same DDL.
    const owner = String(current.resources.find((r) => r.type === PG_ROLE)!.inputs.name);
    psql(
      `CREATE TABLE IF NOT EXISTS launchgate_rows (id bigserial PRIMARY KEY, note text NOT NULL);\nALTER TABLE launchgate_rows OWNER TO "${owner}";`,
      "blazetv",
    );
    const committed: number[] = [];
    const write = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const r = await viaProxy(vps[0]!, "/rows", "POST", `row-${committed.length}`);
        assert.equal(r.status, 201, r.body);
        committed.push(JSON.parse(r.body).id);
      }
    };
    await write(10);
    const victim = 2;
    assert.ok(
      nodesOf("api").includes(`node-${victim}`),
      `an api task runs on node-${victim} (the least loaded node)`,
    );
    const { loop, result: recoveredMs } = await underLoad(async () => {
      const t0 = Date.now();
      must("docker", ["stop", "-t", "0", vps[victim]!.container], { timeoutMs: 60_000 });
      console.log(`node lost: node-${victim} (${vps[victim]!.container}, ${vps[victim]!.ip}) stopped`);
      await eventually(
        "api back to 2 running replicas on the remaining nodes",
        async () => nodesOf("api"),
        (n) => n.length === 2 && !n.includes(`node-${victim}`),
        60_000,
      );
      const ms = Date.now() - t0;
      await write(10);
      return ms;
    });
    console.log(`  full api replicas again ${(recoveredMs / 1000).toFixed(1)} s after the node stopped`);
    reportLoop("node lost", loop, 0.05);
    assert.ok(recoveredMs <= 30_000, `full replicas again in ${recoveredMs} ms (≤ 30 s)`);
    const kept = psql(`SELECT count(*) FROM launchgate_rows WHERE id IN (${committed.join(",")})`, "blazetv");
    assert.equal(Number(kept), committed.length, "every committed row is still there");
  });
});

// ---------------------------------------------------------------------------------------------
// The local stack on the cluster

const REPO = path.resolve(__dirname, "../..");
const stackFile = readStackFile(REPO, "local");
const domain = stackFile.values.domain as string;
type Json = any;
/** The stack's apps without migration jobs (not rendered on a swarm yet); the api has one secret to rotate. */
const baseApps = (stackFile.values.apps as Json[]).map(({ migrate: _m, ...a }) =>
  a.route === "/" ? { ...a, secretEnv: ["SESSION_KEY"] } : a,
);
const api = baseApps.find((a) => a.route === "/")!;
const BAD_API = api.image.replace(/:[^:@/]+$/, ":1.5.0-unhealthy");
const appsWith = (image: string) => baseApps.map((a) => (a === api ? { ...a, image } : a));
/** An app image whose health never passes (its database unreachable): Swarm must not keep it. */
const APPS: AppImageSpec[] = [
  ...baseApps.map((a) => ({ ref: a.image, port: a.port, version: a.image.split(":").pop()! })),
  {
    ref: BAD_API,
    port: api.port,
    version: "1.5.0-unhealthy",
    env: { DATABASE_URL: "postgres://nobody:none@127.0.0.1:1/none" },
  },
];
const FIRST = { appSecrets: { api: { SESSION_KEY: "rotation-1" } } };
const ROTATED = { appSecrets: { api: { SESSION_KEY: "rotation-2" } } };

let bridges: DockerOverSsh[] = [];
let imageMap: Record<string, string> = {};
let harness: Harness;
let player: SwarmPlayer;
let current: ProgramRecording;
let ca = "";

after(() => {
  for (const b of bridges) b.stop();
});

/** The cluster as config: every VPS a manager with its labels, reached at its own address and SSH port. */
function hostsConfig() {
  return vps.map((v, i) => ({ address: v.ip, sshPort: v.sshPort, roles: ["manager"], labels: LABELS[i]! }));
}

async function record(overrides: Record<string, unknown>): Promise<ProgramRecording> {
  return recordProgram(
    "local",
    { placement: "swarm", hosts: hostsConfig(), apps: appsWith(api.image), ...overrides },
    "launchgate-swarm-test",
  );
}

/** What is played on the cluster: the docker and postgresql resources (the cluster is formed above). */
const PLAYED = [NETWORK, VOLUME, CONTAINER, SECRET, SERVICE_CONFIG, SERVICE, PG_ROLE, PG_DATABASE, PG_GRANT];
const played = (rec: ProgramRecording) => rec.resources.filter((r) => PLAYED.includes(r.type));
const secretOf = (rec: ProgramRecording, name: string) =>
  rec.resources.find((r) => r.type === SECRET && r.name === name)!;

/**
 * Runs `cmd` in a task container on node `node` (stdin `input`), through `docker exec` inside the
 * VPS: reading state for assertions, as test/support/vps.ts's `exec` does (an exec's output
 * stream is not reliably delivered through the docker-over-ssh bridge).
 */
function inTask(node: number, container: string, cmd: string[], input = ""): string {
  return must("docker", ["exec", "-i", vps[node]!.container, "docker", "exec", "-i", container, ...cmd], {
    input,
    timeoutMs: 60_000,
  }).stdout;
}

/** `psql` as the superuser inside the Postgres task (over its local socket). */
function psql(sql: string, db = "postgres"): string {
  const [task] = taskContainers("postgres");
  assert.ok(task, "a running Postgres task");
  const cmd = ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", "-"];
  return inTask(task.node, task.container, cmd, sql).trim();
}

/** Hostnames of the nodes running `service`'s tasks (desired running, state running), sorted. */
function nodesOf(service: string): string[] {
  const out = must(
    "docker",
    [
      "service",
      "ps",
      service,
      "--filter",
      "desired-state=running",
      "--format",
      "{{.Node}} {{.CurrentState}}",
    ],
    {
      env: bridges[0]!.env,
    },
  ).stdout;
  return out
    .split("\n")
    .filter((l) => / Running /.test(l))
    .map((l) => l.split(" ")[0]!)
    .sort();
}

/** The running task containers of `service` on every reachable node. */
function taskContainers(service: string): { node: number; container: string }[] {
  const found: { node: number; container: string }[] = [];
  bridges.forEach((b, node) => {
    const r = run("docker", ["ps", "-q", "--filter", `label=com.docker.swarm.service.name=${service}`], {
      env: b.env,
      timeoutMs: 20_000,
    });
    for (const id of r.stdout.split("\n").filter(Boolean)) found.push({ node, container: id });
  });
  return found;
}

/**
 * The local images node `i` can need: those of the services whose placement constraints its
 * labels meet (the apps anywhere, Postgres only on its labelled node), and the bad api image;
 * the first manager also runs the one-shot containers (the proxy's config check).
 */
function imagesFor(i: number): string[] {
  const meets = (c: string) => {
    const m = /^node\.labels\.(\S+) == (\S+)$/.exec(c);
    assert.ok(m, `constraint ${c} is not a node-label constraint`);
    return LABELS[i]![m[1]!] === m[2];
  };
  const refs = played(current)
    .filter((r) =>
      r.type === SERVICE
        ? ((r.inputs.taskSpec.placement?.constraints ?? []) as string[]).every(meets)
        : r.type === CONTAINER && i === 0,
    )
    .map((r) => String(r.type === SERVICE ? r.inputs.taskSpec.containerSpec.image : r.inputs.image));
  return [...new Set([...refs, BAD_API].map((ref) => imageMap[ref] ?? imageMap[imageRepo(ref)]!))];
}

async function deployStack(): Promise<void> {
  const t0 = Date.now();
  const images = ensureImages(APPS);
  imageMap = images.map;
  console.log(
    `  images: ${images.built.length ? `built ${images.built.length}` : "all cached"} in ${(images.buildMs / 1000).toFixed(1)} s`,
  );
  bridges = vps.map((v) => startDockerOverSsh(v, DEPLOY, key.file));
  current = await record(FIRST);
  vps.forEach((v, i) => {
    const load = loadImages(v, DEPLOY, key.file, bridges[i]!, imagesFor(i));
    console.log(
      `  node-${i}: ${load.loaded.length} images loaded (${(load.bytes / 1e6).toFixed(0)} MB) in ${(load.ms / 1000).toFixed(1)} s`,
    );
  });
  console.log(
    "  rewrites: registry images → local test images on every node; admin tunnel → docker exec psql in the Postgres task",
  );
  ca = current.caCertPem!;
  const names = new Map(
    current.resources.filter((r) => r.type === NETWORK).map((r) => [r.name, String(r.inputs.name)]),
  );
  // The player finds networks through the harness (which creates them) when a service is created.
  player = new SwarmPlayer({
    socketPath: bridges[0]!.socketPath,
    imageMap,
    networkId: (res) => harness.networkDockerName(names.get(res) ?? res),
  });
  harness = new Harness({
    imageMap,
    runId: `lg-svc-i14-${process.pid}`,
    keepOnFailure: true, // the VPS teardown removes everything
    engine: { socketPath: bridges[0]!.socketPath, cliEnv: bridges[0]!.env, placement: "as-declared" },
    postgresqlExec: (sql) => void psql(sql),
    handlers: player.handlers(),
  });
  await harness.up(played(current));
  console.log(`  stack up on 3 nodes in ${((Date.now() - t0) / 1000).toFixed(1)} s (images included)`);
}

/**
 * An update from `from` to `to` as the engine makes it on a swarm: replaced secrets/configs
 * created first (new content-hashed names), changed services updated in place (Swarm's rolling
 * update), the replaced secrets/configs deleted last. `expect`: how each service update ends.
 */
async function rollOut(
  from: ProgramRecording,
  to: ProgramRecording,
  expect = "completed",
): Promise<string[]> {
  const key = (r: RecordedResource) => `${r.type} ${r.name}`;
  const old = new Map(played(from).map((r) => [key(r), r]));
  const done: string[] = [];
  const replaced: RecordedResource[] = [];
  const changed: RecordedResource[] = [];
  for (const r of played(to)) {
    const o = old.get(key(r));
    if (!o) throw new Error(`${key(r)}: new resources are not played by the swarm replay`);
    if (JSON.stringify(o.inputs) === JSON.stringify(r.inputs)) continue;
    if (r.type === SECRET || r.type === SERVICE_CONFIG) {
      await player.createData(r, r.type === SECRET ? "secrets" : "configs");
      replaced.push(o);
      done.push(`replace (create first) ${key(r)}`);
    } else if (r.type === SERVICE) changed.push(r);
    else throw new Error(`${key(r)} changed: not played by the swarm replay`);
  }
  for (const r of changed) {
    const state = await player.updateService(r);
    assert.equal(state, expect, `${r.name}: update ${state}`);
    done.push(`update ${key(r)} (${state})`);
  }
  if (expect === "completed") for (const o of replaced) await player.removeData(o);
  return done;
}

/** HTTPS to a node's published 443 (host mode), trusting only the internal CA. */
const viaProxy = (v: Vps, p: string, method = "GET", body?: string) =>
  request(
    https,
    { host: v.ip, port: 443, servername: domain, ca, path: p, method, headers: { host: domain } },
    body,
  );

/** Runs `fn` while the client loop sends GET /version through node-0's proxy in its own process. */
async function underLoad<T>(fn: () => Promise<T>): Promise<{ result: T; loop: ClientLoopResult }> {
  const client = startClientLoop({
    host: vps[0]!.ip,
    port: 443,
    servername: domain,
    ca,
    caFile: path.join(dir, "ca.pem"),
  });
  await new Promise((r) => setTimeout(r, 2000));
  try {
    const result = await fn();
    await new Promise((r) => setTimeout(r, 3000));
    return { result, loop: await client.stop() };
  } catch (e) {
    await client.stop();
    throw e;
  }
}

/** Prints the loop's counts; asserts it ran and at most `maxFailed` (a ratio) of its requests failed. */
function reportLoop(what: string, loop: ClientLoopResult, maxFailed: number): void {
  const total = Object.values(loop.seen).reduce((a, b) => a + b, 0) + loop.failures.length;
  console.log(
    `  ${what}: client loop ${total} requests, ${loop.failures.length} failed, slowest ${loop.maxMs} ms, versions ${JSON.stringify(loop.seen)}`,
  );
  if (loop.failures.length) console.log(`  failures: ${loop.failures.slice(0, 5).join(" | ")}`);
  assert.ok(total >= 20, `${what}: client loop ran ${total} requests`);
  assert.ok(
    loop.failures.length <= total * maxFailed,
    `${what}: ${loop.failures.length} of ${total} requests failed (allowed ${maxFailed * 100} %)`,
  );
}
