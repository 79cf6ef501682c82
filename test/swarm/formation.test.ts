/**
 * Swarm formation over real SSH (issue 14, slice 2): three disposable Debian VPS containers from
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
import { after, before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { SwarmCluster, SwarmNode } from "../../components/host/SwarmCluster";
import { installMocks, reveal, settle } from "../support/mocks";
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
});
