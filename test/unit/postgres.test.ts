import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import { before, test } from "node:test";
import {
  installMocks,
  isSecret,
  Recorder,
  settle,
  unwrap,
  fakeResource,
  isSecretInput,
  recordOptions,
  reveal,
} from "../support/mocks";
import { patientProbe } from "../../components/app/hardening";
import {
  POSTGRES_FIRST_READY_WAIT_SECONDS,
  POSTGRES_READY_CHECK,
  pgbouncerFileLimit,
  pgbouncerIni,
  pgbouncerMemoryMb,
  Postgres,
  scramVerifier,
  tuningFlags,
  type PostgresSettings,
} from "../../components/data/Postgres";

const C = "docker:index/container:Container";
const config: PostgresSettings = {
  image: "postgres:16.4",
  memoryMb: 1024,
  maxConnections: 200,
  sharedBuffersMb: 256,
  effectiveCacheSizeMb: 1024,
  workMemMb: 4,
  databases: [
    { name: "app", role: "app" },
    { name: "admin", role: "admin_web" },
  ],
  pgbouncer: {
    image: "edoburu/pgbouncer:1.23.1",
    poolMode: "transaction",
    defaultPoolSize: 20,
    // What the stack passes when the key is unset: 20 × maxConnections (test/unit/config.test.ts).
    maxClientConn: 4000,
    maxPreparedStatements: 200,
    serverLoginRetrySeconds: 1,
    queryWaitTimeoutSeconds: 120,
  },
};

let rec: Recorder;
let opts: ReturnType<typeof recordOptions>;
let pg: Postgres;

before(async () => {
  // RandomPassword's `result` is computed by the provider: fake a deterministic 32-char one.
  rec = await installMocks("local", {
    state: (r) =>
      r.type === "random:index/randomPassword:RandomPassword"
        ? { result: crypto.createHash("sha256").update(r.name).digest("hex").slice(0, 32) }
        : {},
  });
  opts = recordOptions();
  const tunnel = fakeResource("test:index:Tunnel", "tunnel");
  pg = new Postgres("postgres", {
    config,
    internalNetwork: "net-internal",
    ipAddress: "172.30.0.10",
    adminEndpoint: { host: "127.0.0.1", port: 15432 },
    adminDependsOn: [tunnel],
    pids: {
      engine: { ssh: { host: "203.0.113.10", port: 22, user: "deployer", privateKey: "KEY" } },
      server: 164,
      pgbouncer: 512,
    },
  });
  new Postgres("debpg", {
    config,
    internalNetwork: "n",
    ipAddress: "172.30.0.11",
    adminEndpoint: { host: "127.0.0.1", port: 15433 },
    serverCommand: ["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/data"],
    pgbouncerBinary: "/usr/sbin/pgbouncer",
    pids: { engine: { local: true }, server: 512, pgbouncer: 512 },
  });
  await settle();
});

test("server: internal network only, fixed address, no published port", () => {
  const s = rec.one(C, "postgres").inputs;
  assert.deepEqual(s.networksAdvanced, [
    { name: "net-internal", ipv4Address: "172.30.0.10", aliases: ["postgres"] },
  ]);
  assert.equal(s.ports, undefined);
  assert.equal(s.publishAllPorts, undefined);
  assert.equal(s.networkMode, undefined);
});

test("server: tuning flags from config after the configurable command", () => {
  const s = rec.one(C, "postgres").inputs;
  assert.deepEqual(s.command.slice(0, 1), ["postgres"]);
  const flags = (s.command as string[]).slice(1).join(" ");
  for (const f of [
    "max_connections=200",
    "shared_buffers=256MB",
    "effective_cache_size=1024MB",
    "work_mem=4MB",
  ]) {
    assert.ok(flags.includes(`-c ${f}`), `missing -c ${f} in ${flags}`);
  }
  assert.deepEqual(tuningFlags(config).filter((x) => x === "-c").length, 6);
});

test("server: pg_isready healthcheck, patient until first ready, waited for", () => {
  const s = rec.one(C, "postgres").inputs;
  assert.deepEqual(
    s.healthcheck.tests,
    patientProbe(POSTGRES_READY_CHECK, POSTGRES_FIRST_READY_WAIT_SECONDS),
  );
  assert.equal(s.healthcheck.interval, "1s");
  assert.equal(s.healthcheck.timeout, "5s");
  assert.equal(s.wait, true);
});

test("server: hardened runtime (non-root, caps, no-new-privileges, read-only, limits, restart)", () => {
  const s = rec.one(C, "postgres").inputs;
  assert.equal(s.user, "postgres");
  assert.deepEqual(s.capabilities, { drops: ["ALL"] });
  assert.deepEqual(s.securityOpts, ["no-new-privileges:true"]);
  assert.equal(s.privileged, false);
  assert.equal(s.readOnly, true);
  assert.ok(s.tmpfs["/var/run/postgresql"]);
  assert.equal(s.memory, 1024);
  assert.equal(s.cpus, "1");
  assert.equal(s.restart, "unless-stopped");
  assert.deepEqual(s.logOpts, { "max-size": "10m", "max-file": "5" });
});

test("server: data on the named volume, which is protected and retained on delete", () => {
  const s = rec.one(C, "postgres").inputs;
  assert.deepEqual(s.volumes, [{ volumeName: "postgres-data", containerPath: "/var/lib/postgresql/data" }]);
  const v = opts.of("docker:index/volume:Volume", "postgres-data");
  assert.equal(v.protect, true);
  assert.equal(v.retainOnDelete, true);
});

test("server command and PgBouncer binary are configurable for Debian-packaged binaries", () => {
  const s = rec.one(C, "debpg").inputs;
  assert.deepEqual(s.command.slice(0, 4), [
    "/usr/lib/postgresql/15/bin/postgres",
    "-D",
    "/var/lib/postgresql/data",
    "-c",
  ]);
  const b = rec.one(C, "debpg-pgbouncer").inputs;
  assert.match(b.command[0], /exec \/usr\/sbin\/pgbouncer \/tmp\/pgbouncer.ini$/);
});

test("superuser password: random, secret, only in env", async () => {
  const s = rec.one(C, "postgres").inputs;
  const pw = rec.one("random:index/randomPassword:RandomPassword", "postgres-superuser").inputs;
  assert.ok(pw.length >= 32);
  assert.equal(await isSecret(pg.superuserPassword), true);
  assert.equal(isSecretInput(s.envs), true, "server env (superuser password) is secret");
  assert.ok(reveal<string[]>(s.envs).some((e) => e.startsWith("POSTGRES_PASSWORD=")));
  assert.ok(!(s.command as string[]).join(" ").includes("PASSWORD"));
});

test("admin provider targets the tunnel endpoint and waits for the tunnel and the server", () => {
  const p = rec.one("pulumi:providers:postgresql", "postgres-admin").inputs;
  assert.equal(p.host, "127.0.0.1");
  assert.equal(p.port, "15432"); // provider inputs are serialized as strings
  assert.equal(p.username, "postgres");
  const deps = opts.of("pulumi:providers:postgresql", "postgres-admin").dependencies;
  assert.ok(deps.some((u) => u.endsWith("::tunnel")));
  assert.ok(deps.some((u) => u.endsWith("docker:index/container:Container::postgres")));
});

test("one least-privilege LOGIN role per database, protected", () => {
  for (const role of ["app", "admin_web"]) {
    const r = rec.one("postgresql:index/role:Role", `postgres-${role}`).inputs;
    assert.equal(r.login, true);
    assert.equal(r.superuser, false);
    assert.equal(r.createDatabase, false);
    assert.equal(r.createRole, false);
    assert.equal(r.replication, false);
    assert.equal(r.bypassRowLevelSecurity, false);
    assert.equal(opts.of("postgresql:index/role:Role", `postgres-${role}`).protect, true);
  }
});

test("databases are owned by their role, protected and retained; PUBLIC loses CONNECT", () => {
  const db = rec.one("postgresql:index/database:Database", "postgres-admin").inputs;
  assert.equal(db.owner, "admin_web");
  const o = opts.of("postgresql:index/database:Database", "postgres-admin");
  assert.equal(o.protect, true);
  assert.equal(o.retainOnDelete, true);
  const g = rec.one("postgresql:index/grant:Grant", "postgres-app-revoke-public").inputs;
  assert.equal(g.role, "public");
  assert.deepEqual(g.privileges, []);
});

test("PgBouncer: alias, internal only, no port, pool settings, auth via secret env", () => {
  const b = rec.one(C, "postgres-pgbouncer").inputs;
  assert.deepEqual(b.networksAdvanced, [{ name: "net-internal", aliases: ["postgres-pgbouncer"] }]);
  assert.equal(b.ports, undefined);
  assert.deepEqual(b.capabilities, { drops: ["ALL"] });
  assert.equal(b.readOnly, true);
  assert.equal(isSecretInput(b.envs), true, "PgBouncer env (auth file) is secret");
  const envs = reveal<string[]>(b.envs);
  const ini = envs.find((e) => e.startsWith("PGBOUNCER_INI="))!;
  assert.match(ini, /pool_mode = transaction/);
  assert.match(ini, /default_pool_size = 20/);
  assert.match(ini, /max_client_conn = 4000\n/);
  assert.match(ini, /max_prepared_statements = 200\n/);
  assert.match(ini, /server_login_retry = 1\n/);
  assert.match(ini, /query_wait_timeout = 120\n/);
  const explicit = pgbouncerIni(
    { ...config, pgbouncer: { ...config.pgbouncer, maxClientConn: 750, maxPreparedStatements: 0 } },
    "10.0.0.1",
    "/x",
  );
  assert.match(explicit, /max_client_conn = 750\n/);
  assert.match(explicit, /max_prepared_statements = 0\n/);
  assert.match(ini, /app = host=172\.30\.0\.10 port=5432 dbname=app/);
  assert.match(ini, /auth_type = scram-sha-256/);
  const auth = envs.find((e) => e.startsWith("PGBOUNCER_AUTH="))!;
  // SCRAM verifiers, not passwords: the same secret the role holds (see scramVerifier).
  const verifier = "SCRAM-SHA-256\\$4096:[A-Za-z0-9+/=]+\\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}";
  assert.match(auth, new RegExp(`^PGBOUNCER_AUTH="app" "${verifier}"\n"admin_web" "${verifier}"$`));
  const role = reveal<string>(rec.one("postgresql:index/role:Role", "postgres-app").inputs.password);
  assert.ok(auth.includes(`"app" "${role}"`), "PgBouncer and the role hold the same verifier");
  assert.ok(!(b.command as string[]).join(" ").match(/"app" "/), "no password in the command");
  assert.ok(pgbouncerIni(config, "10.0.0.1", "/x").includes("auth_file = /x"));
});

test("PgBouncer: its open-files limit covers max_client_conn plus the server connections (issue 12)", () => {
  // Each client and each server connection is a socket; PgBouncer never raises its own soft
  // limit, and Docker ≥ 25 starts containers at a soft limit of 1024.
  const need = pgbouncerFileLimit(config);
  const servers = config.pgbouncer.defaultPoolSize * config.databases.length;
  assert.ok(need >= config.pgbouncer.maxClientConn + servers, `${need}`);
  assert.equal(
    pgbouncerFileLimit({ ...config, pgbouncer: { ...config.pgbouncer, maxClientConn: 100000 } }) > 100000,
    true,
  );
  const b = rec.one(C, "postgres-pgbouncer").inputs;
  // The start script raises the soft limit itself (one host and Swarm alike; no ulimits override,
  // CIS 5.19) and refuses to start, naming the numbers, when the hard limit is lower.
  assert.equal(b.ulimits, undefined);
  const script = (b.command as string[]).join("\n");
  assert.match(script, new RegExp(`ulimit -S -n ${need}\\b`));
  assert.match(script, /max_client_conn/);
  assert.ok(script.indexOf("ulimit -S -n") < script.indexOf("exec "), "raised before PgBouncer starts");
});

test("PgBouncer: memory grows with max_client_conn (measured ~7 KiB per waiting client), never below 128 MiB", () => {
  const at = (maxClientConn: number) =>
    pgbouncerMemoryMb({ ...config, pgbouncer: { ...config.pgbouncer, maxClientConn } });
  assert.equal(rec.one(C, "postgres-pgbouncer").inputs.memory, at(config.pgbouncer.maxClientConn));
  assert.equal(at(2000), 128, "the default stacks keep 128 MiB");
  for (const n of [1, 2000, 10_000, 50_000, 100_000]) {
    const mb = at(n);
    assert.ok(Number.isInteger(mb) && mb >= 128, `${n}: ${mb}`);
    // 10,000 clients waiting at login held 66 MiB (RSS high-water mark, PgBouncer 1.24).
    assert.ok(mb * 1024 >= 64 * 1024 + n * 7, `${n} clients in ${mb} MiB`);
  }
  assert.ok(at(100_000) > at(10_000));
});

test("scramVerifier: RFC 7677's example exchange verifies against the verifier it computes", () => {
  // RFC 7677 §3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
  const v = scramVerifier("pencil", Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"));
  const m = /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$([^:]+):(.+)$/.exec(v);
  assert.ok(m, v);
  const storedKey = Buffer.from(m[1]!, "base64");
  const serverKey = Buffer.from(m[2]!, "base64");
  const nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
  const authMessage = `n=user,r=rOprNGfwEbeRWgbNEkqO,r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=${nonce}`;
  const hmac = (k: Buffer) => crypto.createHmac("sha256", k).update(authMessage).digest();
  assert.equal(hmac(serverKey).toString("base64"), "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  const proof = Buffer.from("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "base64");
  const clientSig = hmac(storedKey);
  const clientKey = Buffer.from(proof.map((b, i) => b ^ clientSig[i]!));
  assert.deepEqual(crypto.createHash("sha256").update(clientKey).digest(), storedKey);
});

test("directUrls: secret postgres:// URLs straight to the server (session semantics) per database", async () => {
  assert.equal(await isSecret(pg.directUrls), true);
  const urls = await unwrap(pg.directUrls);
  assert.match(urls.app!, /^postgres:\/\/app:[A-Za-z0-9]{32}@postgres:5432\/app$/);
  assert.match(urls.admin!, /^postgres:\/\/admin_web:[A-Za-z0-9]{32}@postgres:5432\/admin$/);
});

test("databaseUrls: secret postgres:// URLs through PgBouncer per database", async () => {
  assert.equal(await isSecret(pg.databaseUrls), true);
  const urls = await unwrap(pg.databaseUrls);
  assert.deepEqual(Object.keys(urls).sort(), ["admin", "app"]);
  assert.match(urls.app!, /^postgres:\/\/app:[A-Za-z0-9]{32}@postgres-pgbouncer:6432\/app$/);
  assert.equal(await unwrap(pg.poolerHost), "postgres-pgbouncer");
  assert.equal(await unwrap(pg.volumeName), "postgres-data");
  assert.equal(await unwrap(pg.containerName), "postgres");
});

test("role passwords and the admin provider password are secret inputs", () => {
  assert.equal(isSecretInput(rec.one("postgresql:index/role:Role", "postgres-app").inputs.password), true);
  assert.equal(isSecretInput(rec.one("pulumi:providers:postgresql", "postgres-admin").inputs.password), true);
});
