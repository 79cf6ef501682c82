/**
 * Config validation: every shipped stack file parses; each bad input fails with one message
 * naming the key, the value received and what is expected — before any resource exists.
 */
import assert from "node:assert/strict";
import { configProblems } from "../support/config-problems";
import { describe, test } from "node:test";
import * as path from "node:path";
import { LaunchgateConfig, parseConfig } from "../../stacks/config";
import { readStackFile } from "../../stacks/stack-file";
import { SWARM_HOSTS } from "../gates/support";

const ROOT = path.join(__dirname, "..", "..");
const load = (stack: string) => readStackFile(ROOT, stack).values;

/** Deep copy of a stack's raw config with `edit` applied. */
function edited(stack: string, edit: (raw: any) => void): Record<string, unknown> {
  const raw = structuredClone(load(stack));
  edit(raw);
  return raw;
}

const problemsOf = configProblems;

describe("shipped stack files", () => {
  for (const stack of ["local", "staging", "production"]) {
    test(`${stack} parses with defaults applied`, () => {
      const cfg: LaunchgateConfig = parseConfig(load(stack), stack);
      assert.equal(cfg.environment, stack);
      assert.equal(cfg.backups.retentionDays, 30);
      assert.equal(cfg.backups.dailyAt, "02:00");
      assert.equal(cfg.monitoring.cpuWarnPercent, 70);
      assert.equal(cfg.monitoring.cpuCritPercent, 90);
      assert.deepEqual(
        cfg.redis.instances.map((i) => [i.name, i.role]),
        [
          ["queue", "queue"],
          ["cache", "cache"],
        ],
      );
      assert.ok(cfg.apps.length >= 3);
    });
  }
  test("production flags real money on and names the counsel attestation", () => {
    const cfg = parseConfig(load("production"), "production");
    assert.deepEqual(cfg.flags.REAL_MONEY_ENABLED?.enabled, true);
    assert.equal(cfg.flags.REAL_MONEY_ENABLED?.requiresAttestation, "legal-counsel");
  });
});

interface BadCase {
  readonly name: string;
  readonly stack: string;
  readonly edit: (raw: any) => void;
  /** The exact message expected. */
  readonly message: string;
}

const BAD: BadCase[] = [
  {
    name: "missing required key",
    stack: "local",
    edit: (r) => delete r.domain,
    message: "launchgate:domain: got nothing; expected a value of type string (required)",
  },
  {
    name: "env name in lower case (the key is what is wrong)",
    stack: "local",
    edit: (r) => (r.apps[0].env = { ...r.apps[0].env, session_secret: "x" }),
    message:
      'launchgate:apps[0].env.session_secret: got key "session_secret"; expected an environment variable name: A-Z first, then A-Z, 0-9, _ (e.g. SESSION_SECRET)',
  },
  {
    name: "bad app name",
    stack: "local",
    edit: (r) => (r.apps[0].name = "API"),
    message:
      'launchgate:apps[0].name: got "API"; expected a name: a-z first, then a-z, 0-9, - (at most 31 characters)',
  },
  {
    name: "port out of range",
    stack: "local",
    edit: (r) => (r.host.sshPort = 70000),
    message: "launchgate:host.sshPort: got 70000; expected a value <= 65535",
  },
  {
    name: "port of the wrong type",
    stack: "local",
    edit: (r) => (r.apps[0].port = "3000"),
    message: 'launchgate:apps[0].port: got "3000"; expected a number',
  },
  {
    name: "bad IP address",
    stack: "staging",
    edit: (r) => (r.host.address = "300.1.2.3"),
    message: 'launchgate:host.address: got "300.1.2.3"; expected an IPv4 address or a DNS name',
  },
  {
    name: "staging without the host's SSH host key",
    stack: "staging",
    edit: (r) => delete r.host.hostKey,
    message:
      'launchgate:host.hostKey: got nothing; expected the host\'s SSH host public key ("ssh-ed25519 AAAA…", from ssh-keyscan, verified out of band) on staging',
  },
  {
    name: "host key with the host name left in (ssh-keyscan's whole line)",
    stack: "staging",
    edit: (r) => (r.host.hostKey = "203.0.113.10 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk"),
    message:
      "launchgate:host.hostKey: got \"203.0.113.10 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk\"; expected an SSH host public key such as 'ssh-ed25519 AAAA…' (ssh-keyscan -t ed25519 <address>, the line without the host name): not `<type> <base64>` with type ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa",
  },
  {
    name: "a truncated host key (a key no server can present)",
    stack: "staging",
    edit: (r) => (r.host.hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk"),
    message:
      "launchgate:host.hostKey: got \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk\"; expected an SSH host public key such as 'ssh-ed25519 AAAA…' (ssh-keyscan -t ed25519 <address>, the line without the host name): its base64 is not a whole ed25519 key (32 key bytes)",
  },
  {
    name: "an RSA key written as ed25519",
    stack: "staging",
    edit: (r) => (r.host.hostKey = "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQC7"),
    message:
      "launchgate:host.hostKey: got \"ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQC7\"; expected an SSH host public key such as 'ssh-ed25519 AAAA…' (ssh-keyscan -t ed25519 <address>, the line without the host name): its base64 does not decode to a ssh-ed25519 key (it holds a ssh-rsa key)",
  },
  {
    name: "bad CIDR",
    stack: "staging",
    edit: (r) => (r.host.sshAllowFrom = ["198.51.100.0/33"]),
    message:
      'launchgate:host.sshAllowFrom[0]: got "198.51.100.0/33"; expected an IPv4 CIDR such as 203.0.113.0/24',
  },
  {
    name: "unknown Redis role",
    stack: "local",
    edit: (r) => (r.redis.instances[0].role = "queues"),
    message: 'launchgate:redis.instances[0].role: got "queues"; expected one of "queue", "session", "cache"',
  },
  {
    name: "tag-only image in production",
    stack: "production",
    edit: (r) => (r.apps[0].image = "ghcr.io/blazetv/api:1.4.0"),
    message:
      'launchgate:apps[0].image: got "ghcr.io/blazetv/api:1.4.0"; expected an image pinned by digest (repo@sha256:<64 hex>) on production',
  },
  {
    name: ":latest on local",
    stack: "local",
    edit: (r) => (r.redis.image = "redis:latest"),
    message:
      'launchgate:redis.image: got "redis:latest"; expected an explicit tag or digest, never :latest or no tag',
  },
  {
    name: "root user for an app",
    stack: "local",
    edit: (r) => (r.apps[1].user = "0:0"),
    message: 'launchgate:apps[1].user: got "0:0"; expected a non-root uid and gid',
  },
  {
    name: "root user for an app, uid 0 written as 00",
    stack: "local",
    edit: (r) => (r.apps[1].user = "00:00"),
    message: 'launchgate:apps[1].user: got "00:00"; expected a non-root uid and gid',
  },
  {
    name: "an app in the root group",
    stack: "local",
    edit: (r) => (r.apps[1].user = "10001:0"),
    message: 'launchgate:apps[1].user: got "10001:0"; expected a non-root uid and gid',
  },
  {
    name: "unknown key (typo)",
    stack: "local",
    edit: (r) => (r.postgres.maxConnection = 50),
    message:
      "launchgate:postgres.maxConnection: got 50; expected no such key (a typo? known: image, memoryMb, maxConnections, sharedBuffersMb, effectiveCacheSizeMb, workMemMb, databases, pgbouncer)",
  },
  {
    name: "app refers to an unknown database",
    stack: "local",
    edit: (r) => (r.apps[0].database = "blaze"),
    message:
      'launchgate:apps[0].database: got "blaze"; expected one of launchgate:postgres.databases[*].name (blazetv)',
  },
  {
    name: "app refers to an unknown redis",
    stack: "local",
    edit: (r) => (r.apps[1].redis = ["jobs"]),
    message:
      'launchgate:apps[1].redis[0]: got "jobs"; expected one of launchgate:redis.instances[*].name (queue, cache)',
  },
  {
    name: "production without a staging stack",
    stack: "production",
    edit: (r) => delete r.release.stagingStack,
    message:
      "launchgate:release.stagingStack: got nothing; expected the staging stack whose verified release production must match (org/project/stack)",
  },
  {
    name: "staging without Cloudflare TLS",
    stack: "staging",
    edit: (r) => (r.tls = "internal-ca"),
    message: 'launchgate:tls: got "internal-ca"; expected "cloudflare-origin" on staging',
  },
  {
    name: "Cloudflare origin TLS with records not proxied (the origin accepts only Cloudflare)",
    stack: "staging",
    edit: (r) => (r.dns.proxied = false),
    message:
      "launchgate:dns.proxied: got false; expected true with tls cloudflare-origin (the origin then accepts only Cloudflare's addresses and certificate)",
  },
  {
    name: "bad backup time",
    stack: "local",
    edit: (r) => (r.backups = { dailyAt: "25:00" }),
    message: 'launchgate:backups.dailyAt: got "25:00"; expected HH:MM (24h, UTC)',
  },
  {
    name: "short commit",
    stack: "local",
    edit: (r) => (r.release.commit = "abc123"),
    message: 'launchgate:release.commit: got "abc123"; expected a 40-hex-digit git commit',
  },
  {
    name: "unknown environment",
    stack: "local",
    edit: (r) => (r.environment = "prod"),
    message: 'launchgate:environment: got "prod"; expected one of "local", "staging", "production"',
  },
  {
    name: "inverted thresholds",
    stack: "local",
    edit: (r) => (r.monitoring = { cpuWarnPercent: 95 }),
    message: 'launchgate:monitoring: got {"cpuWarnPercent":95}; expected cpuWarnPercent below cpuCritPercent',
  },
];

describe("Redis maxMemoryMb bounds", () => {
  test("non-integer, too small and too large values are refused naming the key, value and bound", async () => {
    const { REDIS_MAX_MEMORY_MB } = await import("../../stacks/config");
    const of = (v: unknown) =>
      problemsOf(
        edited("local", (r) => (r.redis.instances[0].maxMemoryMb = v)),
        "local",
      );
    assert.deepEqual(of(256.5), [
      "launchgate:redis.instances[0].maxMemoryMb: got 256.5; expected an integer",
    ]);
    assert.deepEqual(of(8), ["launchgate:redis.instances[0].maxMemoryMb: got 8; expected a value >= 16"]);
    assert.deepEqual(of(REDIS_MAX_MEMORY_MB + 1), [
      `launchgate:redis.instances[0].maxMemoryMb: got ${REDIS_MAX_MEMORY_MB + 1}; expected a value <= ${REDIS_MAX_MEMORY_MB}`,
    ]);
    assert.deepEqual(of(REDIS_MAX_MEMORY_MB), []);
    assert.deepEqual(of(16), []);
  });
});

describe("PgBouncer sizing", () => {
  test("max_client_conn defaults to 20 × max_connections; explicit values are kept", async () => {
    const { pgbouncerMaxClientConn } = await import("../../stacks/config");
    const cfg = parseConfig(load("local"), "local");
    assert.equal(cfg.postgres.pgbouncer.maxClientConn, undefined);
    assert.equal(pgbouncerMaxClientConn(cfg.postgres), 20 * cfg.postgres.maxConnections);
    assert.equal(cfg.postgres.pgbouncer.maxPreparedStatements, 200);
    assert.equal(cfg.postgres.pgbouncer.serverLoginRetrySeconds, 0.5);
    const set = parseConfig(
      edited("local", (r) => (r.postgres.pgbouncer.maxClientConn = 5000)),
      "local",
    );
    assert.equal(pgbouncerMaxClientConn(set.postgres), 5000);
  });
  test("the default max_client_conn stays within the key's own bound and ≥ 10× max_connections", async () => {
    // At max_connections 10,000 (the schema's most), 20× would be 200,000: more than an explicit
    // maxClientConn may be (100,000), and a file-descriptor budget PgBouncer was never sized for.
    const { pgbouncerMaxClientConn, PGBOUNCER_MAX_CLIENT_CONN } = await import("../../stacks/config");
    for (const maxConnections of [10, 100, 4999, 5000, 5001, 10000]) {
      const cfg = parseConfig(
        edited("local", (r) => {
          r.postgres.maxConnections = maxConnections;
          r.postgres.pgbouncer.defaultPoolSize = 2; // fits beside the 8 reserved at 10
        }),
        "local",
      );
      const got = pgbouncerMaxClientConn(cfg.postgres);
      assert.ok(got >= 10 * maxConnections, `${maxConnections}: ${got}`);
      assert.ok(got <= PGBOUNCER_MAX_CLIENT_CONN, `${maxConnections}: ${got}`);
    }
    assert.deepEqual(
      problemsOf(
        edited("local", (r) => (r.postgres.pgbouncer.maxClientConn = PGBOUNCER_MAX_CLIENT_CONN + 1)),
        "local",
      ),
      [
        `launchgate:postgres.pgbouncer.maxClientConn: got ${PGBOUNCER_MAX_CLIENT_CONN + 1}; expected a value <= ${PGBOUNCER_MAX_CLIENT_CONN}`,
      ],
    );
  });
  test("pools larger than max_connections are refused with the key, value and limit", () => {
    const problems = problemsOf(
      edited("local", (r) => {
        r.postgres.maxConnections = 50;
        r.postgres.pgbouncer.defaultPoolSize = 45;
      }),
      "local",
    );
    assert.deepEqual(problems, [
      "launchgate:postgres.pgbouncer.defaultPoolSize: got 45; expected at most 42: 1 database pool(s) must fit in launchgate:postgres.maxConnections (50) minus 8 reserved",
    ]);
  });
  test("max_client_conn below the pools is refused", () => {
    const problems = problemsOf(
      edited("local", (r) => (r.postgres.pgbouncer.maxClientConn = 5)),
      "local",
    );
    assert.equal(problems.length, 1);
    assert.match(
      problems[0]!,
      /^launchgate:postgres\.pgbouncer\.maxClientConn: got 5; expected at least the pooled server connections \(20\)/,
    );
  });
  test("unknown PgBouncer keys are refused (the schema lists the known ones)", () => {
    const problems = problemsOf(
      edited("local", (r) => (r.postgres.pgbouncer.maxPreparedStatement = 10)),
      "local",
    );
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /maxPreparedStatement/);
  });
});

describe("bad config is refused with key, value and expectation", () => {
  for (const c of BAD) {
    test(c.name, () => {
      const problems = problemsOf(edited(c.stack, c.edit), c.stack);
      assert.deepEqual(problems, [c.message]);
    });
  }
  test("several problems are all listed at once", () => {
    const problems = problemsOf(
      edited("local", (r) => {
        r.host.sshPort = 0;
        r.redis.instances[0].role = "x";
      }),
      "local",
    );
    assert.equal(problems.length, 2);
    assert.match(problems.join("\n"), /launchgate:host\.sshPort/);
    assert.match(problems.join("\n"), /launchgate:redis\.instances\[0\]\.role/);
  });
});

describe("placement and hosts (Swarm cluster shape)", () => {
  /** A placeholder ed25519 host key (staging requires each node's). */
  const HOST_KEY = SWARM_HOSTS[0]!.hostKey;
  /** Named `node-<last octet − 1>` (10.0.0.1 → node-0); staging requires names. */
  const nameOf = (address: string) => `node-${Number(address.split(".").pop()) - 1}`;
  const node = (address: string, roles: string[], labels: Record<string, string> = {}) => ({
    name: nameOf(address),
    address,
    hostKey: HOST_KEY,
    roles,
    labels,
  });
  /** Three managers; node 1 holds Postgres, node 2 Redis, every node is an edge node. */
  const cluster = () => [
    node("10.0.0.1", ["manager"], { "launchgate.postgres": "true", "launchgate.edge": "true" }),
    node("10.0.0.2", ["manager"], { "launchgate.redis": "true", "launchgate.edge": "true" }),
    node("10.0.0.3", ["manager"], { "launchgate.edge": "true" }),
  ];
  const swarm = (hosts: unknown[], keepMigrations = false) =>
    edited("staging", (r) => {
      r.placement = "swarm";
      r.hosts = hosts;
      if (!keepMigrations) for (const a of r.apps) delete a.migrate;
    });

  test("single-host with no hosts is the default, for every shipped stack", () => {
    for (const stack of ["local", "staging", "production"]) {
      const cfg = parseConfig(load(stack), stack);
      assert.equal(cfg.placement, "single-host");
      assert.deepEqual(cfg.hosts, []);
    }
  });
  test("a valid cluster parses with defaults (sshPort 22, roles [worker], labels {})", () => {
    const cfg = parseConfig(
      swarm([
        ...cluster(),
        { name: "node-3", address: "10.0.0.4", hostKey: HOST_KEY },
        { name: "node-4", address: "10.0.0.5", hostKey: HOST_KEY },
      ]),
      "staging",
    );
    assert.equal(cfg.placement, "swarm");
    assert.deepEqual(cfg.hosts[3], {
      name: "node-3",
      address: "10.0.0.4",
      hostKey: HOST_KEY,
      sshPort: 22,
      roles: ["worker"],
      labels: {},
    });
  });

  test("a migration job is accepted on a swarm (a manager runs it as a Swarm job)", () => {
    const cfg = parseConfig(swarm(cluster(), true), "staging");
    assert.deepEqual(cfg.apps[0]!.migrate, ["node", "dist/migrate.js"]);
  });

  const CASES: { name: string; raw: () => Record<string, unknown>; message: string }[] = [
    {
      name: "an unknown placement",
      raw: () => edited("staging", (r) => (r.placement = "kubernetes")),
      message: 'launchgate:placement: got "kubernetes"; expected one of "single-host", "swarm"',
    },
    {
      name: "hosts with single-host",
      raw: () => edited("staging", (r) => (r.hosts = cluster())),
      message:
        'launchgate:hosts: got ["10.0.0.1","10.0.0.2","10.0.0.3"]; expected no hosts with placement "single-host" (its one host is launchgate:host); set launchgate:placement to "swarm" for a cluster',
    },
    {
      name: "swarm without hosts",
      raw: () => swarm([]),
      message: 'launchgate:hosts: got []; expected at least one host with placement "swarm"',
    },
    {
      name: "a node without a name on staging (index names shift when a host is removed)",
      raw: () => swarm(cluster().map((h, i) => (i === 1 ? { ...h, name: undefined } : h))),
      message:
        'launchgate:hosts[1].name: got nothing; expected a stable node name (e.g. "node-1") on staging: an index-named node is renamed when an earlier host is removed, and the program would drain the wrong one',
    },
    {
      name: "two nodes with one name",
      raw: () => swarm(cluster().map((h, i) => (i === 2 ? { ...h, name: "node-0" } : h))),
      message: 'launchgate:hosts[2].name: got "node-0"; expected a node name unique among hosts',
    },
    {
      name: "a node name that is not a name",
      raw: () => swarm(cluster().map((h, i) => (i === 0 ? { ...h, name: "Node 0" } : h))),
      message:
        'launchgate:hosts[0].name: got "Node 0"; expected a node name: a lowercase letter, then up to 30 of a-z, 0-9 and -',
    },
    {
      name: "an unknown node role",
      raw: () => swarm([node("10.0.0.1", ["leader"])]),
      message: 'launchgate:hosts[0].roles[0]: got "leader"; expected one of "manager", "worker"',
    },
    {
      name: "a bad node label key",
      raw: () => swarm([node("10.0.0.1", ["manager"], { "Bad Key": "x" })]),
      message:
        'launchgate:hosts[0].labels.Bad Key: got "x"; expected a node label key such as launchgate.postgres',
    },
    {
      name: "two managers (no Raft majority after one loss)",
      raw: () => swarm(cluster().map((h, i) => (i === 2 ? { ...h, roles: ["worker"] } : h))),
      message:
        'launchgate:hosts: got "2 manager(s) among 3 host(s)"; expected an odd number of hosts with role "manager" — at least 3 managers for 3 host(s) (Raft quorum)',
    },
    {
      name: "no node holds Postgres",
      raw: () =>
        swarm(cluster().map((h, i) => (i === 0 ? { ...h, labels: { "launchgate.edge": "true" } } : h))),
      message:
        'launchgate:hosts: got "0 host(s) labelled launchgate.postgres=true"; expected exactly one host with labels.launchgate.postgres: "true" (its postgres volume lives on that node)',
    },
    {
      name: "a node label naming another node (launchgate.node is the program's)",
      raw: () =>
        swarm(
          cluster().map((h, i) =>
            i === 1 ? { ...h, labels: { ...h.labels, "launchgate.node": "node-0" } } : h,
          ),
        ),
      message:
        'launchgate:hosts[1].labels.launchgate.node: got "node-0"; expected no launchgate.node label: the program sets it to the node\'s name (node-1), which pins data stores to their node',
    },
    {
      name: "two nodes hold Redis",
      raw: () =>
        swarm(
          cluster().map((h, i) =>
            i === 2 ? { ...h, labels: { ...h.labels, "launchgate.redis": "true" } } : h,
          ),
        ),
      message:
        'launchgate:hosts: got "2 host(s) labelled launchgate.redis=true"; expected exactly one host with labels.launchgate.redis: "true" (its redis volume lives on that node)',
    },
    {
      name: "no edge node",
      raw: () =>
        swarm(
          cluster().map((h) => ({
            ...h,
            labels: Object.fromEntries(Object.entries(h.labels).filter(([k]) => k !== "launchgate.edge")),
          })),
        ),
      message:
        'launchgate:hosts: got "0 host(s) labelled launchgate.edge=true"; expected at least one host with labels.launchgate.edge: "true" (the proxy\'s published ports)',
    },
    {
      name: "the same node twice",
      raw: () =>
        swarm([
          ...cluster(),
          { ...node("10.0.0.1", ["worker"]), name: "node-3" },
          node("10.0.0.5", ["worker"]),
        ]),
      message: 'launchgate:hosts[3].address: got "10.0.0.1"; expected an address:sshPort unique among hosts',
    },
  ];
  for (const c of CASES) {
    test(`refused: ${c.name}`, () => assert.deepEqual(problemsOf(c.raw(), "staging"), [c.message]));
  }
});
