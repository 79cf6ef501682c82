/**
 * One spec, two renderings: the same AppService / Redis / Postgres / Proxy spec as a Swarm
 * `docker.Service` — same user, capabilities, read-only root, limits, healthcheck and role markers
 * as the container — with placement, health-gated start-first updates that roll back, secrets as
 * content-hashed `docker.Secret` files (never values in env), and overlays for the networks.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { fakeResource, installMocks, recordOptions, Recorder, settle, reveal } from "../support/mocks";
import { AppService } from "../../components/app/AppService";
import { Redis } from "../../components/data/Redis";
import { Network, subnetGateway } from "../../components/network/Network";
import { Proxy } from "../../components/edge/Proxy";
import {
  SwarmPlacement,
  secretFileEnv,
  secretFileOwner,
  secretName,
  jobServiceCreateArgs,
  tmpfsSizeBytes,
  toServiceArgs,
} from "../../components/app/workload";
import { spawnSync } from "node:child_process";
import { DEFAULT_PIDS_LIMITS } from "../../contract/pids-limits";
import { hardened } from "../../components/app/hardening";
import { parseConfig } from "../../stacks/config";
import { appSecretNames, swarmPlacements } from "../../stacks/compose";
import type { AppConfig } from "../../stacks/config";
import { API_APP, API_DB_URL } from "../fixtures/apps";
import { readStackFile } from "../../stacks/stack-file";
import { SWARM_HOSTS } from "../gates/support";
import * as path from "node:path";

const S = "docker:index/service:Service";
const SECRET = "docker:index/secret:Secret";
const CONTAINER = "docker:index/container:Container";
const VOLUME = "docker:index/volume:Volume";
/** The API without its migration job (its migration job is tested on its own below). */
const APP: AppConfig = { ...API_APP, migrate: undefined };
const DB_URL = API_DB_URL;
const DIRECT_URL = "postgres://app:direct-s3cret@postgres:5432/app";
const MANAGER = { host: "203.0.113.10", port: 22, user: "deployer", privateKey: pulumi.secret("KEY") };
const CMD = "command:remote:Command";
const PLACEMENT: SwarmPlacement = {
  replicas: 2,
  maxReplicasPerNode: 1,
  order: "start-first",
  endpointMode: "dnsrr",
};

let rec: Recorder;
let opts: ReturnType<typeof recordOptions>;

before(async () => {
  rec = await installMocks("local", {
    state: (r) => (r.type === "random:index/randomPassword:RandomPassword" ? { result: "redis-pw" } : {}),
  });
  opts = recordOptions();
  new AppService("app-api", {
    app: APP,
    edgeNetwork: "edge-id",
    internalNetwork: "internal-id",
    secretEnv: pulumi.secret({ DATABASE_URL: DB_URL, JWT_SECRET: "jwt-one" }),
    flags: { REAL_MONEY_ENABLED: false },
    swarm: PLACEMENT,
    secretNames: ["DATABASE_URL", "JWT_SECRET"],
  });
  // The same app once more with a rotated JWT secret, to compare the secret names.
  new AppService("app-rotated", {
    app: { ...APP, name: "rotated" },
    edgeNetwork: "edge-id",
    internalNetwork: "internal-id",
    secretEnv: pulumi.secret({ DATABASE_URL: DB_URL, JWT_SECRET: "jwt-two" }),
    flags: {},
    swarm: PLACEMENT,
    secretNames: ["DATABASE_URL", "JWT_SECRET"],
  });
  // The API with its migration: a Swarm job a manager runs, after the pre-migration backup.
  new AppService("app-migrated", {
    app: { ...API_APP, name: "migrated" },
    edgeNetwork: "edge-id",
    internalNetwork: "internal-id",
    secretEnv: pulumi.secret({ DATABASE_URL: DB_URL, JWT_SECRET: "jwt-one" }),
    migrationEnv: pulumi.secret({ DATABASE_URL: DIRECT_URL }),
    flags: { REAL_MONEY_ENABLED: false },
    swarm: PLACEMENT,
    secretNames: ["DATABASE_URL", "JWT_SECRET"],
    migrationSecretNames: ["DATABASE_URL"],
    managerConnection: MANAGER,
    preMigrationBackup: fakeResource("test:index:Backup", "pre-migration-backup"),
  });
  new Redis("redis-queue", {
    image: "redis:7.2.5-bookworm",
    instance: { name: "queue", role: "queue", maxMemoryMb: 128 },
    internalNetwork: "internal-id",
    swarm: {
      placement: {
        constraints: ["node.labels.launchgate.redis == true"],
        order: "stop-first",
        endpointMode: "vip",
      },
      dataNode: {
        name: "node-1",
        docker: new docker.Provider("node-1-docker", { host: "ssh://deployer@203.0.113.11" }),
      },
    },
  });
  new Network("net", { swarm: { encrypted: true } });
  new Network("admin", {
    swarm: {
      encrypted: false,
      dbAdmin: {
        nodes: [{ ...MANAGER, host: "203.0.113.11" }, MANAGER],
        manager: MANAGER,
        subnet: "172.30.1.0/30",
      },
    },
  });
  new Proxy("proxy", {
    config: { image: "nginx:1.27.0-bookworm", hstsMaxAgeSeconds: 31536000, minTlsVersion: "TLSv1.2" },
    domain: "example.com",
    edgeNetwork: "edge-id",
    routes: [{ path: "/", upstream: "api:3000" }],
    certificatePem: "CERT",
    privateKeyPem: pulumi.secret("KEY"),
    pids: { engine: { local: true }, limit: 128 },
    swarm: {
      constraints: ["node.labels.launchgate.edge == true"],
      replicas: "global",
      order: "stop-first",
      endpointMode: "dnsrr",
    },
  });
  await settle();
});

describe("AppService as a Swarm service", () => {
  test("is a docker.Service (no container) named after the app", () => {
    const s = rec.one(S, "app-api");
    assert.equal(s.inputs.name, "api");
    assert.ok(!rec.ofType(CONTAINER).some((c) => c.name === "app-api"));
  });
  test("keeps the container's user, capabilities, read-only root, limits, healthcheck and role marker", () => {
    const spec = reveal(rec.one(S, "app-api").inputs).taskSpec;
    const c = spec.containerSpec;
    assert.equal(c.user, "10001:10001");
    assert.deepEqual(c.capDrops, ["ALL"]);
    assert.equal(c.readOnly, true);
    assert.deepEqual(spec.resources.limits, { memoryBytes: 512 * 1024 ** 2, nanoCpus: 1e9 });
    assert.equal(c.healthcheck.tests[1], "node");
    assert.equal(c.healthcheck.interval, "1s");
    const labels = Object.fromEntries(
      c.labels.map((l: { label: string; value: string }) => [l.label, l.value]),
    );
    assert.equal(labels["launchgate.role"], "app");
    assert.equal(labels["launchgate.no-new-privileges"], "daemon");
    assert.deepEqual(
      c.mounts.find((m: { target: string }) => m.target === "/tmp"),
      { type: "tmpfs", target: "/tmp", tmpfsOptions: { sizeBytes: 64 * 1024 ** 2, mode: 0o1777 } },
    );
    assert.deepEqual(spec.restartPolicy, { condition: "any", delay: "5s", window: "60s" });
  });
  test("spreads replicas (maxReplicasPerNode) and rolls updates start-first with rollback", () => {
    const s = reveal(rec.one(S, "app-api").inputs);
    assert.deepEqual(s.mode, { replicated: { replicas: 2 } });
    assert.equal(s.taskSpec.placement.maxReplicas, 1);
    assert.deepEqual(s.updateConfig, {
      parallelism: 1,
      delay: "0s",
      order: "start-first",
      failureAction: "rollback",
      monitor: "30s",
      maxFailureRatio: "0",
    });
    // The failed task is stopped first: it holds the spare node (moby/moby#40797).
    assert.equal(s.rollbackConfig.order, "stop-first");
    assert.equal(s.rollbackConfig.monitor, "30s");
    assert.equal(s.endpointSpec.mode, "dnsrr");
  });
  test("secrets are files: *_FILE names in env, never the values", () => {
    const c = reveal(rec.one(S, "app-api").inputs).taskSpec.containerSpec;
    assert.deepEqual(c.env, {
      PORT: "3000",
      NODE_ENV: "production",
      REAL_MONEY_ENABLED: "false",
      DATABASE_URL_FILE: "/run/secrets/DATABASE_URL",
      JWT_SECRET_FILE: "/run/secrets/JWT_SECRET",
    });
    assert.ok(!JSON.stringify(c.env).includes("s3cret") && !JSON.stringify(c.env).includes("jwt-one"));
    assert.deepEqual(
      c.secrets.map((s: Record<string, unknown>) => [s.fileName, s.fileUid, s.fileGid, s.fileMode]),
      [
        ["DATABASE_URL", "10001", "10001", 0o400],
        ["JWT_SECRET", "10001", "10001", 0o400],
      ],
    );
  });
  test("each secret is a docker.Secret with a content-hashed name and the value only in (secret) data", () => {
    const s = rec.one(SECRET, "app-api-secret-jwt-secret");
    assert.equal(s.inputs.name, secretName("app-api", "JWT_SECRET", "jwt-one"));
    assert.match(s.inputs.name, /^app-api-jwt-secret-[0-9a-f]{12}$/);
    assert.equal(Buffer.from(reveal(s.inputs.data), "base64").toString(), "jwt-one");
    assert.ok(!s.inputs.name.includes("jwt-one"));
  });
  test("a rotated value gets a new secret name (a new secret + a rolling update)", () => {
    assert.notEqual(
      secretName("app-api", "JWT_SECRET", "jwt-one"),
      secretName("app-api", "JWT_SECRET", "jwt-two"),
    );
    const rotated = rec.one(SECRET, "app-rotated-secret-jwt-secret");
    assert.equal(rotated.inputs.name, secretName("app-rotated", "JWT_SECRET", "jwt-two"));
  });
});

describe("an app's migration on a swarm: a Swarm job on a manager", () => {
  const job = () => rec.one(CMD, "app-migrated-migrate").inputs;
  /** The job's `docker service create` arguments, as the rendered script carries them. */
  const jobArgs = (): string[] => {
    const line = String(reveal(job().create))
      .split("\n")
      .find((l) => l.startsWith("export LG_JOB_ARGS="))!;
    const r = spawnSync("bash", ["-c", `${line}\neval "a=($LG_JOB_ARGS)"; printf '%s\\n' "\${a[@]}"`], {
      encoding: "utf8",
    });
    return r.stdout.trimEnd().split("\n");
  };
  test("runs on the manager after the pre-migration backup; the service waits for it", () => {
    assert.deepEqual(reveal(job().connection).host, MANAGER.host);
    assert.ok(
      opts.of(CMD, "app-migrated-migrate").dependencies.some((u) => u.endsWith("::pre-migration-backup")),
    );
    assert.ok(opts.of(S, "app-migrated").dependencies.some((u) => u.endsWith("::app-migrated-migrate")));
    const labels = rec.one(S, "app-migrated").inputs.labels as { label: string; value: string }[];
    assert.ok(labels.some((l) => l.label === "launchgate.migrated" && l.value === "true"));
    assert.ok((job().triggers as string[]).includes("launchgate.role=migration"));
    assert.deepEqual(
      rec.ofType(CONTAINER).filter((c) => c.name.startsWith("app-migrated")),
      [],
      "no migration container on a swarm",
    );
  });
  test("the same hardened spec as a replicated job: user, caps, read-only, limits, internal overlay, labels", () => {
    const a = jobArgs();
    const pairs = (flag: string) => a.flatMap((x, i) => (x === flag ? [a[i + 1]!] : []));
    assert.deepEqual(a.slice(0, 4), ["--mode", "replicated-job", "--restart-condition", "none"]);
    assert.deepEqual(pairs("--user"), [API_APP.user]);
    assert.ok(a.includes("--read-only"));
    assert.deepEqual(pairs("--cap-drop"), ["ALL"]);
    assert.deepEqual(pairs("--limit-memory"), [String(API_APP.memoryMb * 1024 ** 2)]);
    assert.deepEqual(pairs("--limit-pids"), [String(DEFAULT_PIDS_LIMITS.migration)]);
    assert.deepEqual(pairs("--network"), ["internal-id"]);
    assert.ok(pairs("--label").includes("launchgate.role=migration"));
    assert.ok(pairs("--container-label").includes("launchgate.role=migration"));
    assert.deepEqual(a.slice(-API_APP.migrate!.length), API_APP.migrate);
  });
  test("secrets are files: the direct DATABASE_URL as its own secret, never a value in the command", () => {
    const a = jobArgs();
    const secrets = a.flatMap((x, i) => (x === "--secret" ? [a[i + 1]!] : []));
    assert.equal(secrets.length, 2);
    assert.ok(
      secrets.some((x) =>
        /^source=app-migrated-migrate-database-url-[0-9a-f]{12},target=DATABASE_URL,/.test(x),
      ),
    );
    assert.ok(secrets.some((x) => /^source=app-migrated-jwt-secret-[0-9a-f]{12},target=JWT_SECRET,/.test(x)));
    assert.ok(a.includes("DATABASE_URL_FILE=/run/secrets/DATABASE_URL"));
    const text = JSON.stringify(reveal(job().create));
    for (const v of [DIRECT_URL, DB_URL, "jwt-one"]) assert.ok(!text.includes(v), `${v} in the command`);
    const direct = rec.ofType(SECRET).find((r) => r.name === "app-migrated-migrate-secret-database-url")!;
    assert.equal(Buffer.from(String(reveal(direct.inputs.data)), "base64").toString(), DIRECT_URL);
  });
  test("without a manager connection it is refused, naming the app", () => {
    assert.throws(
      () =>
        new AppService("app-x", {
          app: { ...API_APP, name: "x" },
          edgeNetwork: "e",
          internalNetwork: "i",
          secretEnv: {},
          flags: {},
          swarm: PLACEMENT,
          secretNames: [],
        }),
      /app x: a migration on a swarm needs `managerConnection`/,
    );
  });
  test("the job rendering is strict: unknown fields, privileged and restarting specs throw", () => {
    const job = { ...hardened({ memoryMb: 64, cpus: 1, kind: "job" }), image: "i" };
    const extras = { env: {}, secrets: [], networks: [], pidsLimit: 64 };
    assert.throws(
      () => jobServiceCreateArgs({ ...job, ports: [] }, extras),
      /"ports" has no Swarm job rendering/,
    );
    assert.throws(() => jobServiceCreateArgs({ ...job, privileged: true }, extras), /privileged/);
    assert.throws(() => jobServiceCreateArgs({ ...job, restart: "always" }, extras), /restart must be "no"/);
  });
});

describe("the DB admin network of a swarm (where the tunnel reaches Postgres)", () => {
  test("a config-only network per node, then the swarm-scoped internal bridge from it on a manager", () => {
    const cfg0 = rec.one(CMD, "admin-db-admin-config-0").inputs;
    const cfg1 = rec.one(CMD, "admin-db-admin-config-1").inputs;
    const net = rec.one(CMD, "admin-db-admin").inputs;
    assert.equal(reveal(cfg0.connection).host, "203.0.113.11");
    assert.equal(reveal(cfg1.connection).host, MANAGER.host);
    assert.equal(reveal(net.connection).host, MANAGER.host);
    for (const [c, mode] of [
      [cfg0, "config"],
      [net, "swarm"],
    ] as const) {
      const text = String(reveal(c.create));
      assert.match(text, new RegExp(`^export LG_MODE='${mode}'$`, "m"));
      assert.match(text, /^export LG_SUBNET='172\.30\.1\.0\/30'$/m);
      assert.match(text, /^export LG_GATEWAY='172\.30\.1\.1'$/m);
      assert.match(String(reveal(c.delete)), new RegExp(`^export LG_MODE='remove-${mode}'$`, "m"));
      assert.ok((c.triggers as string[]).includes("launchgate.role=db-admin-network"));
    }
    assert.match(String(reveal(net.create)), /--scope swarm --internal --config-from/);
    for (const n of ["admin-db-admin-config-0", "admin-db-admin-config-1", "admin-db-admin"])
      assert.equal(opts.of(CMD, n).deleteBeforeReplace, true, `${n}: fixed name, delete-first`);
    const deps = opts.of(CMD, "admin-db-admin").dependencies;
    assert.ok(
      deps.some((u) => u.endsWith("::admin-db-admin-config-0")) &&
        deps.some((u) => u.endsWith("::admin-db-admin-config-1")),
    );
  });
  test("subnetGateway: the first address of the subnet; bad input names what is expected", () => {
    assert.equal(subnetGateway("172.30.1.0/30"), "172.30.1.1");
    assert.equal(subnetGateway("10.1.2.77/24"), "10.1.2.1");
    assert.throws(() => subnetGateway("172.30.1.0"), /subnet: expected a\.b\.c\.d\/n, got "172\.30\.1\.0"/);
  });
});

describe("data stores and the proxy as Swarm services", () => {
  test("Redis: pinned, stop-first, password as a secret file read by its start script and healthcheck", () => {
    const s = reveal(rec.one(S, "redis-queue").inputs);
    assert.deepEqual(s.taskSpec.placement.constraints, [
      "node.labels.launchgate.redis == true",
      "node.labels.launchgate.node == node-1",
    ]);
    assert.equal(s.updateConfig.order, "stop-first");
    const c = s.taskSpec.containerSpec;
    assert.deepEqual(c.env, { REDIS_PASSWORD_FILE: "/run/secrets/REDIS_PASSWORD" });
    assert.match(c.args[0], /REDIS_PASSWORD="\$\(cat \/run\/secrets\/REDIS_PASSWORD\)"/);
    assert.match(c.healthcheck.tests[1], /cat \/run\/secrets\/REDIS_PASSWORD/);
    assert.deepEqual(c.mounts[0], { type: "volume", source: "redis-queue-data", target: "/data" });
    assert.deepEqual(c.secrets[0].fileMode, 0o444, "named user: world-readable inside the task only");
    const secret = rec.one(SECRET, "redis-queue-secret-redis-password");
    assert.equal(Buffer.from(reveal(secret.inputs.data), "base64").toString(), "redis-pw");
    assert.ok(!JSON.stringify(s).includes("redis-pw"), "the password is in no service input");
  });
  test("Redis: its volume is declared on the engine of the node it is pinned to, labelled with that node, protected", () => {
    const v = rec.one(VOLUME, "redis-queue-data");
    assert.match(v.provider ?? "", /::pulumi:providers:docker::node-1-docker::/, `provider ${v.provider}`);
    assert.deepEqual(v.inputs.labels, [
      { label: "launchgate.data", value: "redis-queue" },
      { label: "launchgate.node", value: "node-1" },
    ]);
    assert.equal(opts.of(VOLUME, "redis-queue-data").protect, true, "protected");
    assert.equal(opts.of(VOLUME, "redis-queue-data").retainOnDelete, true, "retained on delete");
  });
  test("Proxy: global on edge nodes, host-mode 80/443, config as Swarm configs, key as a secret, read-only root", () => {
    const s = reveal(rec.one(S, "proxy").inputs);
    assert.deepEqual(s.mode, { global: true });
    assert.deepEqual(s.taskSpec.placement.constraints, ["node.labels.launchgate.edge == true"]);
    assert.deepEqual(
      s.endpointSpec.ports.map((p: Record<string, unknown>) => [
        p.targetPort,
        p.publishedPort,
        p.publishMode,
      ]),
      [
        [80, 80, "host"],
        [443, 443, "host"],
      ],
    );
    const c = s.taskSpec.containerSpec;
    assert.equal(c.readOnly, true);
    assert.deepEqual(
      c.configs.map((x: Record<string, unknown>) => x.fileName),
      [
        "/etc/nginx/launchgate/nginx.conf",
        "/etc/nginx/launchgate/weights.conf",
        "/etc/nginx/launchgate/tls/cert.pem",
      ],
    );
    assert.deepEqual(
      c.secrets.map((x: Record<string, unknown>) => [x.fileName, x.fileUid, x.fileMode]),
      [["TLS_KEY", "0", 0o400]],
    );
    assert.ok(!rec.ofType("docker:index/volume:Volume").some((v) => v.name === "proxy-conf"));
    assert.equal(rec.ofType(CONTAINER).filter((x) => x.name === "proxy-config-check").length, 1);
  });
  test("Network: encrypted overlays, internal not attachable", () => {
    const internal = rec.one("docker:index/network:Network", "net-internal").inputs;
    const edge = rec.one("docker:index/network:Network", "net-edge").inputs;
    assert.deepEqual([internal.driver, internal.internal, internal.attachable], ["overlay", true, false]);
    assert.deepEqual(internal.options, { encrypted: "true" });
    assert.deepEqual([edge.driver, edge.attachable, edge.options], ["overlay", true, { encrypted: "true" }]);
  });
});

describe("the rendering's rules (pure)", () => {
  test("a container field without a Swarm rendering throws instead of being dropped", () => {
    assert.throws(
      () =>
        toServiceArgs(
          { ...hardened({ memoryMb: 64, cpus: 0.5 }), image: "x:1", uploads: [{ file: "/a", content: "b" }] },
          { kind: "service", swarm: PLACEMENT },
        ),
      /container field "uploads" has no Swarm service rendering/,
    );
    assert.throws(
      () => toServiceArgs({ image: "x:1", privileged: true }, { kind: "service", swarm: PLACEMENT }),
      /privileged/,
    );
  });
  test("tmpfs sizes, secret owners and *_FILE names", () => {
    assert.equal(tmpfsSizeBytes("rw,noexec,size=64m"), 64 * 1024 ** 2);
    assert.equal(tmpfsSizeBytes("rw,size=1k,nodev"), 1024);
    assert.equal(tmpfsSizeBytes("rw"), undefined);
    assert.deepEqual(secretFileOwner("10001:20002"), { uid: "10001", gid: "20002", mode: 0o400 });
    assert.deepEqual(secretFileOwner(undefined), { uid: "0", gid: "0", mode: 0o400 });
    assert.deepEqual(secretFileOwner("postgres"), { uid: "0", gid: "0", mode: 0o444 });
    assert.deepEqual(secretFileEnv(["A_B"]), { A_B_FILE: "/run/secrets/A_B" });
  });
  test("placements from config: pinned data stores, hosts−1 app replicas one per node, global proxy; dnsrr and clear overlays only on local", () => {
    const raw = readStackFile(path.resolve(__dirname, "../.."), "staging").values as Record<string, unknown>;
    const hosts = SWARM_HOSTS;
    const apps = (raw.apps as Record<string, unknown>[]).map(({ migrate: _m, ...a }) => a);
    const cfg = parseConfig({ ...raw, placement: "swarm", hosts, apps }, "staging");
    const p = swarmPlacements(cfg);
    assert.deepEqual(p.postgres.constraints, ["node.labels.launchgate.postgres == true"]);
    assert.equal(p.postgres.order, "stop-first");
    assert.deepEqual([p.app.replicas, p.app.maxReplicasPerNode, p.app.order], [2, 1, "start-first"]);
    assert.deepEqual(
      [p.proxy.replicas, p.proxy.constraints],
      ["global", ["node.labels.launchgate.edge == true"]],
    );
    assert.deepEqual([p.app.endpointMode, p.encrypted], ["vip", true]);
    const local = swarmPlacements({ ...cfg, environment: "local" });
    assert.deepEqual([local.app.endpointMode, local.encrypted], ["dnsrr", false]);
    assert.deepEqual(appSecretNames({ ...APP, database: "app", redis: ["queue", "cache"] }), [
      "DATABASE_URL",
      "REDIS_QUEUE_URL",
      "REDIS_CACHE_URL",
      "JWT_SECRET",
    ]);
  });
});
