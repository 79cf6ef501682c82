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
import * as https from "node:https";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import type { RecordedResource } from "../support/mocks";
import { readStackFile } from "../../stacks/stack-file";
import type { ProgramRecording } from "../services/record";
import type { AppImageSpec } from "../services/images";
import { PG_ROLE } from "../support/harness";
import { eventually, request, tcpOpen } from "../support/probes";
import { startClientLoop, type ClientLoopResult } from "../support/client-loop";
import { SECRET, SERVICE, SERVICE_CONFIG } from "../support/swarm-services";
import {
  DEPLOY,
  REMOTE,
  SwarmLab,
  isPlayedServicePidsLimit,
  isTunnel,
  played,
  type Executed,
} from "../support/swarm-lab";
import { parseServicePidsLimitCommand } from "../../contract/pids-limits";
import { unitServiceScript } from "../support/fake-host";
import { SSH_OPTS, Vps, exec, must, run, ssh } from "../support/vps";
import { commandRoleOf } from "../../contract/roles";

/**
 * Redis on node-0 (the first manager), Postgres on node-1 (another node: its volume must be
 * declared there, not on the manager that receives the services), edges node-0 and node-1, node-2
 * plain: node-2 can be lost while the data stays, and the client uses node-0's proxy.
 */
const LABELS: Record<string, string>[] = [
  { "launchgate.redis": "true", "launchgate.edge": "true" },
  { "launchgate.postgres": "true", "launchgate.edge": "true" },
  { zone: "b" },
];

let lab: SwarmLab;
let vps: Vps[] = [];
const form = (nodes: number[]) => lab.form(nodes);
const nodeList = () => lab.nodeList();

before(() => {
  lab = new SwarmLab(LABELS, "i14");
  vps = lab.vps;
});

after(() => lab?.stop());

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
    // The configured labels and each node's own name (what pins a data store to its node).
    assert.deepEqual(
      labels.map((l) => JSON.parse(l)),
      [
        { ...LABELS[0], "launchgate.node": "node-0" },
        { ...LABELS[2], "launchgate.node": "node-2" },
      ],
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
    const del = ssh(vps[0]!, DEPLOY, lab.key.file, nodeDelete, { timeoutMs: 120_000 });
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stderr, /drained and removed/);
    const leave = ssh(vps[2]!, DEPLOY, lab.key.file, joinDelete, { timeoutMs: 60_000 });
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
    // The program's PIDs-limit command for the api (CIS 5.29) ran on the first manager: the
    // service's task template carries the configured limit.
    const pids = must(
      "docker",
      ["service", "inspect", "-f", "{{json .Spec.TaskTemplate.Resources.Limits.Pids}}", "api"],
      { env: lab.bridges[0]!.env },
    ).stdout.trim();
    const wanted = parseServicePidsLimitCommand(
      String(current.resources.find((r) => isPlayedServicePidsLimit(r))!.inputs.create),
    )!.limit;
    assert.equal(Number(pids), wanted, `api's Limits.Pids: ${pids}`);
    console.log(`  api: TaskTemplate.Resources.Limits.Pids = ${pids}`);
    // The proxy's one-shot config check (nginx -t) ran to completion, started by its command.
    const check = must(
      "docker",
      ["ps", "-a", "--filter", "name=^proxy-config-check-", "--format", "{{.Names}} {{.Status}}"],
      { env: lab.bridges[0]!.env },
    ).stdout.trim();
    assert.match(check, /^proxy-config-check-\S+ Exited \(0\)/, `the config check ran and passed: ${check}`);
    console.log(`  ${check}`);
    // The api's migration ran as a Swarm job (on the internal overlay, after the pre-migration
    // backup) before the api started: its table exists, owned by the app role; the job is gone.
    const owner = String(current.resources.find((r) => r.type === PG_ROLE)!.inputs.name);
    assert.equal(
      lab.psql("SELECT tableowner FROM pg_tables WHERE tablename = 'launchgate_rows'", "blazetv"),
      owner,
      "the migration created launchgate_rows as the app role",
    );
    const services = must("docker", ["service", "ls", "--format", "{{.Name}}"], { env: lab.bridges[0]!.env });
    assert.ok(!/migrate/.test(services.stdout), `the job service is removed: ${services.stdout}`);
    const preMigration = lab.asRoot(PG_NODE, "ls /srv/launchgate/backups/postgres/blazetv").stdout;
    assert.match(
      preMigration,
      /-pre-migration-[0-9a-f]{1,40}\.dump$/m,
      "a pre-migration dump before the job",
    );
    // Roles and databases came through the program's admin tunnel: an SSH forward to Postgres'
    // one address on the DB admin network of its node (PermitOpen allows nothing else).
    assert.equal(lab.tunnelEnv?.REMOTE_ADDRESS, "172.30.1.2");
    assert.equal(lab.psqlViaTunnel(current, "SELECT inet_server_addr()"), "172.30.1.2");
    const [pgTask] = lab.taskContainers("postgres");
    const addrs = lab.inTask(pgTask!.node, pgTask!.container, ["hostname", "-i"]);
    assert.match(addrs, /\b172\.30\.1\.2\b/, `the Postgres task's addresses: ${addrs}`);
    const other = run(
      "ssh",
      [...SSH_OPTS, "-i", lab.key.file, "-p", String(vps[PG_NODE]!.sshPort), "-W", `${vps[1]!.ip}:22`].concat(
        `${DEPLOY}@127.0.0.1`,
      ),
      { timeoutMs: 20_000 },
    );
    assert.notEqual(other.code, 0, "a forward anywhere else is refused");
    // sshd refuses the channel ("administratively prohibited"; ssh -q prints only the failure).
    assert.match(other.stderr, /administratively prohibited|stdio forwarding failed/);
    console.log(
      `  admin tunnel: 127.0.0.1:${lab.tunnelPort} → 172.30.1.2:5432 on node-${PG_NODE}; elsewhere: ${other.stderr.trim().split("\n").pop()}`,
    );
    const where = (service: string) => lab.nodesOf(service);
    assert.deepEqual(
      where("postgres"),
      [`node-${PG_NODE}`],
      "Postgres on the node labelled launchgate.postgres",
    );
    for (const r of ["redis-queue", "redis-cache"])
      assert.deepEqual(where(r), [`node-${RD_NODE}`], `${r} on the node labelled launchgate.redis`);
    // Each store's data is the volume the program declared on its node (its labels), not one Swarm
    // made up there; the first manager, which received the services, holds no Postgres volume.
    const stores: [string, string, number][] = [
      ["postgres", "postgres-data", PG_NODE],
      ["redis-queue", "redis-queue-data", RD_NODE],
      ["redis-cache", "redis-cache-data", RD_NODE],
    ];
    for (const [service, volume, node] of stores) {
      const labels = JSON.parse(
        must("docker", ["volume", "inspect", "-f", "{{json .Labels}}", volume], {
          env: lab.bridges[node]!.env,
        }).stdout,
      );
      assert.equal(
        labels["launchgate.node"],
        `node-${node}`,
        `${volume} on node-${node}: ${JSON.stringify(labels)}`,
      );
      assert.match(
        labels["launchgate.data"],
        /^(postgres|redis-\w+)$/,
        `${volume}: the declared data volume`,
      );
      const [task] = lab.taskContainers(service);
      assert.equal(task!.node, node);
      const source = run(
        "docker",
        [
          "inspect",
          "-f",
          '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}}{{end}}{{end}}',
          task!.container,
        ],
        {
          env: lab.bridges[node]!.env,
        },
      ).stdout.trim();
      assert.equal(source, volume, `${service}'s task mounts the declared ${volume}`);
      console.log(`  ${service} on node-${node}: mounts ${volume} ${JSON.stringify(labels)}`);
    }
    const onManager = run("docker", ["volume", "ls", "-q", "--filter", "name=^postgres-data$"], {
      env: lab.bridges[0]!.env,
    }).stdout.trim();
    assert.equal(onManager, "", "no Postgres volume on the first manager");
    assert.deepEqual(where("proxy"), ["node-0", "node-1"], "the proxy on every edge node (global)");
    const api = where("api");
    assert.equal(api.length, 2, `api replicas on distinct nodes: ${api.join(",")}`);
    assert.equal(new Set(api).size, 2, "at most one api task per node");
  });

  test("backups, the restore drill and monitoring run on the Postgres node, Redis' copies on the Redis node", async () => {
    // Rows to back up, written through the app (the table its migration created).
    for (let i = 0; i < 5; i++) {
      const r = await viaProxy(vps[0]!, "/rows", "POST", `ops-${i}`);
      assert.equal(r.status, 201, r.body);
    }
    const pgNode = PG_NODE;
    assert.deepEqual(lab.nodesOf("postgres"), [`node-${pgNode}`]);
    const ops = ["backup", "drill", "pre-migration-backup", "monitoring"];
    for (const r of played(current).filter((x) => ops.includes(commandRoleOf(x.inputs.triggers) ?? "")))
      if (r.name === "backups-redis")
        assert.equal(lab.nodeOf(r), RD_NODE, `${r.name} runs on the Redis node`);
      else assert.equal(lab.nodeOf(r), pgNode, `${r.name} runs on the Postgres node`);
    // As the timers would start them: each unit's ExecStart lines (then ExecStartPost) as root.
    for (const u of ["launchgate-backup-full.service", "launchgate-restore-drill.service"]) {
      const unit = lab.asRoot(pgNode, `cat /etc/systemd/system/${u}`);
      assert.equal(unit.code, 0, unit.stderr);
      const r = lab.asRoot(pgNode, `set -e\n${unitServiceScript(unit.stdout)}\n`);
      assert.equal(r.code, 0, `${u}: ${r.stdout}\n${r.stderr}`);
      console.log(
        `  ${u} on node-${pgNode}: ${(r.ms / 1000).toFixed(1)} s; ${r.stderr.trim().split("\n").pop()}`,
      );
    }
    const storage = (stackFile.values.host as Json)?.storagePath ?? "/srv/launchgate";
    const record = JSON.parse(lab.asRoot(pgNode, `cat ${storage}/backups/restore-drill.json`).stdout);
    console.log(
      `  drill record: ok ${record.ok}, ${record.tables} tables, rows ${JSON.stringify(record.rowCounts)}, app role ${record.appRole}, ${record.durationMs} ms`,
    );
    assert.equal(record.ok, true, JSON.stringify(record));
    assert.equal(record.databases[0].database, "blazetv");
    assert.ok(record.rowCounts["public.launchgate_rows"] >= 5, JSON.stringify(record.rowCounts));
    assert.equal(record.appRole, String(current.resources.find((r) => r.type === PG_ROLE)!.inputs.name));
    assert.match(
      record.dump,
      new RegExp(`^${storage}/backups/postgres/blazetv/blazetv-\\d{8}T\\d{6}Z-full\\.dump$`),
    );
    // Redis' daily copies, as their timer on the Redis node would start them.
    const redisUnit = lab.asRoot(RD_NODE, "cat /etc/systemd/system/launchgate-backup-redis.service");
    assert.equal(redisUnit.code, 0, redisUnit.stderr);
    const copies = lab.asRoot(RD_NODE, `set -e\n${unitServiceScript(redisUnit.stdout)}\n`);
    assert.equal(copies.code, 0, `launchgate-backup-redis.service: ${copies.stdout}\n${copies.stderr}`);
    console.log(
      `  launchgate-backup-redis.service on node-${RD_NODE}: ${copies.stderr.trim().split("\n").pop()}`,
    );
    const rdb = lab.asRoot(RD_NODE, `ls ${storage}/backups/redis`).stdout;
    for (const r of ["redis-queue", "redis-cache"])
      assert.match(rdb, new RegExp(`^${r}-\\d{8}T\\d{6}Z\\.rdb$`, "m"), `an RDB copy of ${r}`);
    // Monitoring's probe on the same node, printing what it measures and judges.
    const probe = lab.asRoot(pgNode, "/usr/local/lib/launchgate/monitor-probe.sh --print", 120_000);
    assert.equal(probe.code, 0, probe.stderr);
    const [measured, judged] = probe.stdout.split("\n--\n");
    console.log(`  monitor on node-${pgNode}: ${measured!.trim().split("\n").join(" ")}`);
    const m = Object.fromEntries(
      measured!
        .trim()
        .split("\n")
        .map((l) => l.split("=") as [string, string]),
    );
    assert.equal(m["container.postgres"], "healthy", "Postgres' task container on this node");
    assert.equal(m["service.postgres"], "1/1");
    assert.equal(m["service.api"], "2/2");
    // Redis runs on another node: judged by its replicas from here, its container by its own node.
    assert.equal(m["service.redis-queue"], "1/1");
    assert.equal(m["container.redis-queue"], undefined, "no Redis task container on the Postgres node");
    assert.equal(m["drill.ok"], "true");
    assert.ok(Number(m["backup.age_hours"]) < 1, `backup age ${m["backup.age_hours"]}`);
    for (const check of [
      "service.postgres",
      "service.api",
      "container.postgres",
      "backup.drill",
      "backup.freshness",
    ])
      assert.match(judged!, new RegExp(`^ok\\t${check.replace(".", "\\.")}\\t`, "m"), `${check} judged ok`);
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
      env: lab.bridges[0]!.env,
    }).stdout;
    assert.ok(secrets.includes(newName) && !secrets.includes(oldName), `secrets now: ${secrets}`);
    for (const t of lab.taskContainers("api"))
      assert.equal(
        lab.inTask(t.node, t.container, ["cat", "/run/secrets/SESSION_KEY"]),
        "rotation-2",
        `api task on node-${t.node} reads the rotated file`,
      );
  });

  test("a bad image's rolling update rolls back by itself (health-gated, failureAction rollback)", async () => {
    const bad = await record({ ...ROTATED, apps: unmigrated(BAD_API) });
    const { result: steps, loop } = await underLoad(() => rollOut(current, bad, "rollback_completed"));
    console.log(`  bad image: ${steps.join("; ")}`);
    const image = JSON.parse(
      must("docker", ["service", "inspect", "-f", "{{json .Spec.TaskTemplate.ContainerSpec.Image}}", "api"], {
        env: lab.bridges[0]!.env,
      }).stdout,
    );
    assert.equal(image, lab.imageMap[api.image], "the service spec is the previous one again");
    reportLoop("bad image", loop, 0);
    assert.deepEqual(Object.keys(loop.seen), ["1.4.0"], "only the good release served");
  });

  test("a node is lost: the app keeps answering, full replicas again within 30 s, every committed row kept", async () => {
    const committed: number[] = [];
    const write = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const r = await viaProxy(vps[0]!, "/rows", "POST", `row-${committed.length}`);
        assert.equal(r.status, 201, r.body);
        committed.push(JSON.parse(r.body).id);
      }
    };
    await write(10);
    // A node holding an api task and no data store (every api task is on its own node).
    const dataNodes = [`node-${PG_NODE}`, `node-${RD_NODE}`];
    const dataFree = () => lab.nodesOf("api").find((n) => !dataNodes.includes(n));
    if (!dataFree()) {
      // The start-first updates above start each new task on the one free node, so both api tasks
      // can end on the data nodes. One forced rolling update moves its first task to the free,
      // data-free node (2 tasks, at most 1 per node, 3 nodes: the only free node is that one).
      const moved = must("docker", ["service", "update", "--force", "--detach=false", "api"], {
        env: lab.bridges[0]!.env,
        timeoutMs: 180_000,
      });
      console.log(
        `  api tasks were on ${dataNodes.join(", ")}: forced update (${moved.ms} ms) → ${lab.nodesOf("api").join(", ")}`,
      );
    }
    const candidate = dataFree();
    assert.ok(candidate, `an api task on a node without data (api on ${lab.nodesOf("api").join(", ")})`);
    const victim = Number(candidate.replace("node-", ""));
    const { loop, result: recoveredMs } = await underLoad(async () => {
      const t0 = Date.now();
      must("docker", ["stop", "-t", "0", vps[victim]!.container], { timeoutMs: 60_000 });
      console.log(`node lost: node-${victim} (${vps[victim]!.container}, ${vps[victim]!.ip}) stopped`);
      await eventually(
        "api back to 2 running replicas on the remaining nodes",
        async () => lab.nodesOf("api"),
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
    const kept = lab.psql(
      `SELECT count(*) FROM launchgate_rows WHERE id IN (${committed.join(",")})`,
      "blazetv",
    );
    assert.equal(Number(kept), committed.length, "every committed row is still there");
  });
});

// ---------------------------------------------------------------------------------------------
// The local stack on the cluster

const REPO = path.resolve(__dirname, "../..");
const stackFile = readStackFile(REPO, "local");
const domain = stackFile.values.domain as string;
type Json = any;
/** The stack's apps (the api migrates: a Swarm job on the first manager); the api has one secret to rotate. */
const baseApps = (stackFile.values.apps as Json[]).map((a) =>
  a.route === "/" ? { ...a, secretEnv: ["SESSION_KEY"] } : a,
);
const api = baseApps.find((a) => a.route === "/")!;
const BAD_API = api.image.replace(/:[^:@/]+$/, ":1.5.0-unhealthy");
const appsWith = (image: string) => baseApps.map((a) => (a === api ? { ...a, image } : a));
/** A release of `image` without the api's migration (its update alone is what Swarm rolls back). */
const unmigrated = (image: string) => appsWith(image).map(({ migrate: _m, ...a }) => a);
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

let current: ProgramRecording;
let ca = "";

const record = (overrides: Record<string, unknown>) =>
  lab.record({ apps: appsWith(api.image), ...overrides });
const secretOf = (rec: ProgramRecording, name: string) =>
  rec.resources.find((r) => r.type === SECRET && r.name === name)!;

/** The Postgres node and the Redis node (their labels). */
const PG_NODE = LABELS.findIndex((l) => l["launchgate.postgres"] === "true");
const RD_NODE = LABELS.findIndex((l) => l["launchgate.redis"] === "true");

async function deployStack(): Promise<void> {
  current = await record(FIRST);
  ca = current.caCertPem!;
  // HardenedHost is not played on the nodes (a prepared image stands in); its sshd step's
  // least-privilege forwarding rule for the deploy user is, as that step writes it, on the
  // Postgres node: the tunnel below must get through it.
  const sshd = current.resources.find((r) => r.type === REMOTE && r.name === `node-${PG_NODE}-sshd`)!;
  const permitOpen = /^export LG_PERMIT_OPEN='([^']*)'$/m.exec(String(sshd.inputs.stdin))![1]!;
  assert.equal(
    permitOpen,
    "172.30.1.2:5432",
    "the Postgres node's sshd forwards only to its DB admin address",
  );
  const rule = `Match User ${DEPLOY}\n  AllowTcpForwarding local\n  PermitOpen ${permitOpen}\n`;
  const w = lab.asRoot(
    PG_NODE,
    `printf '${rule}' >/etc/ssh/sshd_config.d/00-launchgate-permitopen.conf && sshd -t && kill -HUP "$(cat /run/sshd.pid)"`,
  );
  assert.equal(w.code, 0, w.stderr);
  await lab.deploy(current, APPS, [BAD_API]);
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
    if (isTunnel(r)) {
      // The tunnel re-opens on every run (a new run id): its open script reuses the live forward.
      lab.openTunnel(r);
      continue;
    } else if (isPlayedServicePidsLimit(r)) {
      // Re-applied by the engine after the service's update (its trigger has the spec's digest):
      // one more rolling update, not replayed here to keep the suite bounded.
      done.push(`skip ${key(r)} (a second rolling update)`);
      continue;
    } else if (r.type === REMOTE) {
      // A changed command is replaced (its triggers changed) or updated: either runs its create.
      lab.runCommand(r);
      done.push(`run ${key(r)}`);
    } else if (r.type === SECRET || r.type === SERVICE_CONFIG) {
      await lab.player.createData(r, r.type === SECRET ? "secrets" : "configs");
      replaced.push(o);
      done.push(`replace (create first) ${key(r)}`);
    } else if (r.type === SERVICE) changed.push(r);
    else throw new Error(`${key(r)} changed: not played by the swarm replay`);
  }
  for (const r of changed) {
    const state = await lab.player.updateService(r);
    assert.equal(state, expect, `${r.name}: update ${state}`);
    done.push(`update ${key(r)} (${state})`);
  }
  if (expect === "completed") for (const o of replaced) await lab.player.removeData(o);
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
    caFile: path.join(lab.dir, "ca.pem"),
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
