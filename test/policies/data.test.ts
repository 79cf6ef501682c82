/** Data-safety policies: a compliant resource per policy, then one changed field per violation. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as data from "../../policies/data";
import { TYPES } from "../../policies/lib/resources";
import { ResourceInput, StackResourceInput, runResourcePolicy, runStackPolicy } from "./harness";

const DIGEST = `sha256:${"b".repeat(64)}`;
const role = (r: string, engine?: string) => [
  { label: "launchgate.role", value: r },
  ...(engine ? [{ label: "launchgate.datastore", value: engine }] : []),
];

const volume = (name: string, kind: string | undefined, protect: boolean): StackResourceInput => ({
  type: TYPES.volume,
  name,
  protect,
  props: { name, labels: kind ? [{ label: "launchgate.data", value: kind }] : [] },
});

/** A Redis container as components/data/Redis.ts declares it: a shell line with quoted args. */
function redis(args: string, name = "redis-queue", volumeName = "redis-queue-data"): StackResourceInput {
  return {
    type: TYPES.container,
    name,
    props: {
      image: `redis@${DIGEST}`,
      command: [`exec redis-server /tmp/redis-auth.conf ${args}`],
      volumes: [{ volumeName, containerPath: "/data" }],
      labels: role("datastore", "redis"),
    },
  };
}
const SAFE_QUEUE = "'--appendonly' 'yes' '--save' '900' '1' '--maxmemory-policy' 'noeviction'";

/** A Postgres Swarm service mounting `source`, with placement `constraints`. */
const pgService = (constraints: string[], source = "postgres-data"): StackResourceInput => ({
  type: TYPES.service,
  name: "postgres",
  props: {
    name: "postgres",
    taskSpec: {
      containerSpec: {
        image: `postgres@${DIGEST}`,
        mounts: [
          { type: "volume", source, target: "/var/lib/postgresql/data/pgdata" },
          { type: "tmpfs", target: "/var/run/postgresql" },
        ],
      },
      placement: { constraints },
    },
  },
});
/** The data volume as components/data/volume.ts declares it on a node. */
const nodeVolume = (
  node: string | undefined,
  protect = true,
  name = "postgres-data",
): StackResourceInput => ({
  type: TYPES.volume,
  name: `${name}${node ? `@${node}` : ""}`,
  protect,
  props: {
    name,
    labels: [
      { label: "launchgate.data", value: "postgres" },
      ...(node ? [{ label: "launchgate.node", value: node }] : []),
    ],
  },
});
const PINNED = ["node.labels.launchgate.postgres == true", "node.labels.launchgate.node == node-1"];

describe("swarm-volumes-on-pinned-node", () => {
  const run = (rs: StackResourceInput[]) => runStackPolicy(data.swarmVolumesOnPinnedNode, rs);
  it("passes a service pinned to the node its volume is declared (and protected) on", async () => {
    assert.deepEqual(await run([pgService(PINNED), nodeVolume("node-1")]), []);
    // A service without volume mounts needs no pinning (apps spread).
    assert.deepEqual(
      await run([{ ...pgService([]), props: { name: "api", taskSpec: { containerSpec: {} } } }]),
      [],
    );
  });
  it("refuses a volume declared on another node (or only on the managing engine)", async () => {
    assert.deepEqual(await run([pgService(PINNED), nodeVolume("node-0")]), [
      "service postgres is pinned to node-1 and mounts volume postgres-data at /var/lib/postgresql/data/pgdata, but that volume is declared on node-0; Swarm would create an undeclared, unprotected one on node-1. Declare it through node-1's docker provider, labelled launchgate.node=node-1.",
    ]);
    assert.deepEqual(await run([pgService(PINNED), nodeVolume(undefined)]), [
      "service postgres is pinned to node-1 and mounts volume postgres-data at /var/lib/postgresql/data/pgdata, but that volume is declared on the managing engine; Swarm would create an undeclared, unprotected one on node-1. Declare it through node-1's docker provider, labelled launchgate.node=node-1.",
    ]);
  });
  it("refuses a mounted volume that is not declared at all", async () => {
    assert.deepEqual(await run([pgService(PINNED, "pgdata-2"), nodeVolume("node-1")]), [
      "service postgres is pinned to node-1 and mounts volume pgdata-2 at /var/lib/postgresql/data/pgdata, but no volume of that name is declared; Swarm would create an undeclared, unprotected one on node-1. Declare it through node-1's docker provider, labelled launchgate.node=node-1.",
    ]);
  });
  it("refuses a service not pinned to exactly one node: by label only, two names, or a != on the node", async () => {
    for (const constraints of [
      ["node.labels.launchgate.postgres == true"],
      ["node.labels.launchgate.node == node-1", "node.labels.launchgate.node == node-2"],
      ["node.labels.launchgate.node == node-1", "node.labels.launchgate.node != node-1"],
      [],
    ])
      assert.deepEqual(await run([pgService(constraints), nodeVolume("node-1")]), [
        `service postgres mounts volume postgres-data but its placement does not pin it to one node (constraints: ${constraints.join("; ") || "none"}); add exactly one \`launchgate.node\` constraint for the node holding the volume.`,
      ]);
  });
  it("refuses a volume labelled for the node but declared through another node's docker provider", async () => {
    // node-1's firewall runs over its own connection, named by its marker: node-1 is 10.0.0.2:22.
    const firewall = (node: string, host: string): StackResourceInput => ({
      type: TYPES.remoteCommand,
      name: `swarm-${node}-firewall`,
      props: {
        connection: { host, port: 22, user: "deployer" },
        create: "sudo -n bash -c '…' launchgate-firewall",
        triggers: ["launchgate.role=host-swarm-firewall", "firewall.sh:sha256:00", `launchgate.node=${node}`],
      },
    });
    const through = (host: string, name: string): StackResourceInput => ({
      ...nodeVolume("node-1"),
      provider: { type: "pulumi:providers:docker", name, props: { host } },
    });
    const members = [firewall("node-0", "10.0.0.1"), firewall("node-1", "10.0.0.2")];
    assert.deepEqual(
      await run([...members, pgService(PINNED), through("ssh://deployer@10.0.0.2:22", "vps-docker-node-1")]),
      [],
    );
    assert.deepEqual(
      await run([...members, pgService(PINNED), through("ssh://deployer@10.0.0.1:22", "vps-docker")]),
      [
        "volume postgres-data is labelled launchgate.node=node-1 but declared through docker provider vps-docker, which reaches ssh://deployer@10.0.0.1:22, not node-1 (10.0.0.2:22); Swarm would create an undeclared, unprotected one on node-1. Declare it through node-1's docker provider.",
      ],
    );
    // Same address, another port (two VPS on one machine): another node.
    assert.equal(
      (await run([...members, pgService(PINNED), through("ssh://deployer@10.0.0.2:2222", "p")])).length,
      1,
    );
  });
  it("refuses the pinned node's volume unprotected", async () => {
    assert.deepEqual(await run([pgService(PINNED), nodeVolume("node-1", false)]), [
      "volume postgres-data on node-1, mounted by service postgres, is not protected; create it with { protect: true, retainOnDelete: true }.",
    ]);
  });
});

describe("data-volumes-protected", () => {
  it("passes protected data volumes and unprotected regenerable ones", async () => {
    assert.deepEqual(
      await runStackPolicy(data.dataVolumesProtected, [volume("postgres-data", "postgres", true)]),
      [],
    );
    assert.deepEqual(
      await runStackPolicy(data.dataVolumesProtected, [volume("proxy-conf", "proxy-config", false)]),
      [],
    );
  });
  it("refuses an unprotected data volume: labelled, or mounted by a data store (whatever its name)", async () => {
    assert.deepEqual(
      await runStackPolicy(data.dataVolumesProtected, [volume("postgres-data", "postgres", false)]),
      [
        "volume postgres-data holds postgres but is not protected; create it with { protect: true, retainOnDelete: true }.",
      ],
    );
    assert.deepEqual(
      await runStackPolicy(data.dataVolumesProtected, [
        volume("vol-1", undefined, false),
        redis(SAFE_QUEUE, "kv", "vol-1"),
      ]),
      [
        "volume vol-1 holds data-store data but is not protected; create it with { protect: true, retainOnDelete: true }.",
      ],
    );
  });
});

describe("databases-protected", () => {
  const db = (protect: boolean): ResourceInput => ({
    type: TYPES.pgDatabase,
    name: "postgres-blazetv",
    protect,
    props: { name: "blazetv" },
  });
  it("passes a protected database, refuses an unprotected one", async () => {
    assert.deepEqual(await runResourcePolicy(data.databasesProtected, db(true)), []);
    assert.deepEqual(await runResourcePolicy(data.databasesProtected, db(false)), [
      "database blazetv is not protected; create it with { protect: true, retainOnDelete: true }.",
    ]);
  });
});

describe("database-roles-least-privilege", () => {
  const ROLE = {
    name: "app",
    login: true,
    superuser: false,
    createDatabase: false,
    createRole: false,
    replication: false,
    bypassRowLevelSecurity: false,
  };
  const r = (props: Record<string, unknown>): ResourceInput => ({
    type: "postgresql:index/role:Role",
    name: "pg-app",
    props,
  });
  it("passes a LOGIN-only role", async () => {
    assert.deepEqual(await runResourcePolicy(data.databaseRolesLeastPrivilege, r(ROLE)), []);
  });
  for (const [k, sql] of [
    ["superuser", "SUPERUSER"],
    ["createDatabase", "CREATEDB"],
    ["createRole", "CREATEROLE"],
    ["replication", "REPLICATION"],
    ["bypassRowLevelSecurity", "BYPASSRLS"],
  ])
    it(`refuses ${sql}`, async () => {
      assert.deepEqual(await runResourcePolicy(data.databaseRolesLeastPrivilege, r({ ...ROLE, [k]: true })), [
        `role app has ${sql}; app roles get LOGIN only (set them false).`,
      ]);
    });
});

describe("database-roles-least-privilege: membership (issue 10 red team)", () => {
  it("refuses membership in the superuser or a predefined role with cluster-wide power", async () => {
    const grant = (grantRole: string): ResourceInput => ({
      type: "postgresql:index/grantRole:GrantRole",
      name: "pg-app-grant",
      props: { role: "app", grantRole },
    });
    assert.deepEqual(await runResourcePolicy(data.databaseRolesLeastPrivilege, grant("app_readers")), []);
    for (const privileged of [
      "postgres",
      "pg_execute_server_program",
      "pg_read_all_data",
      "pg_write_server_files",
    ])
      assert.deepEqual(await runResourcePolicy(data.databaseRolesLeastPrivilege, grant(privileged)), [
        `role app is made a member of ${privileged}, which has cluster-wide power (SET ROLE); app roles get no such membership.`,
      ]);
    assert.deepEqual(
      await runResourcePolicy(data.databaseRolesLeastPrivilege, {
        type: "postgresql:index/role:Role",
        name: "pg-app",
        props: { name: "app", login: true, roles: ["pg_read_server_files"] },
      }),
      [
        "role app is made a member of pg_read_server_files, which has cluster-wide power (SET ROLE); app roles get no such membership.",
      ],
    );
  });
});

describe("redis-persistence", () => {
  it("passes AOF on with default save points", async () => {
    assert.deepEqual(await runResourcePolicy(data.redisPersistence, redis(SAFE_QUEUE)), []);
  });
  it("refuses AOF off and RDB disabled", async () => {
    assert.deepEqual(await runResourcePolicy(data.redisPersistence, redis("'--appendonly' 'no'")), [
      "Redis AOF is off; run redis-server with `--appendonly yes`.",
    ]);
    assert.deepEqual(
      await runResourcePolicy(data.redisPersistence, redis("'--appendonly' 'yes' --save \"\"")),
      ['Redis RDB snapshots are disabled (`--save ""`); keep the default save points.'],
    );
  });
});

describe("redis-queue-noeviction", () => {
  const vols = [
    volume("redis-queue-data", "redis-queue", true),
    volume("redis-cache-data", "redis-cache", true),
  ];
  it("passes noeviction for the queue and allkeys-lru for the cache", async () => {
    const cache = redis(
      "'--appendonly' 'yes' '--maxmemory-policy' 'allkeys-lru'",
      "redis-cache",
      "redis-cache-data",
    );
    assert.deepEqual(
      await runStackPolicy(data.redisQueueNoEviction, [...vols, redis(SAFE_QUEUE), cache]),
      [],
    );
  });
  it("refuses an evicting queue", async () => {
    const queue = redis("'--appendonly' 'yes' '--maxmemory-policy' 'allkeys-lru'");
    assert.deepEqual(await runStackPolicy(data.redisQueueNoEviction, [...vols, queue]), [
      "Redis queue instance redis-queue uses maxmemory-policy allkeys-lru; queues and sessions need `--maxmemory-policy noeviction`.",
    ]);
  });
});

describe("backups-present", () => {
  const pg: StackResourceInput = {
    type: TYPES.container,
    name: "db",
    props: { name: "db", image: `postgres@${DIGEST}`, labels: role("datastore", "postgres") },
  };
  const database: StackResourceInput = { type: TYPES.pgDatabase, name: "app-db", props: { name: "app" } };
  const gate = (retentionDays: number, drillEveryHours: number): StackResourceInput => ({
    type: TYPES.localCommand,
    name: "release-gate",
    props: {
      environment: {
        LAUNCHGATE_GATE: JSON.stringify({ version: 1, backups: { retentionDays, drillEveryHours } }),
      },
    },
  });
  /** Single-quoted as components/ops/remote-script.ts renders values. */
  const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
  /** An install as renderInstall writes it: the LG_FILES manifest, each file in LG_FILE_<n>. */
  const install = (files: [string, string][], timers: string) =>
    [
      "#!/usr/bin/env bash",
      `export LG_FILES=${q(files.map(([p], i) => `0755 ${p} LG_FILE_${i}`).join("\n"))}`,
      `export LG_TIMERS=${q(timers)}`,
      ...files.map(([, c], i) => `export LG_FILE_${i}=${q(c)}`),
    ].join("\n");
  const script = (env: Record<string, string>, body: string) =>
    ["#!/usr/bin/env bash", ...Object.entries(env).map(([k, v]) => `export ${k}=${q(v)}`), body].join("\n");
  const ENV = { LG_PG_CONTAINER: "db", LG_DATABASES: "app", LG_RETENTION_DAYS: "30" };
  const unit = (name: string, exec: string, calendar: string): [string, string][] => [
    [`/etc/systemd/system/${name}.service`, `[Service]\nExecStart=${exec}\n`],
    [`/etc/systemd/system/${name}.timer`, `[Timer]\nOnCalendar=${calendar}\n`],
  ];
  const backupFiles = (env = ENV, calendar = "*-*-* 02:00:00 UTC"): [string, string][] => [
    ["/l/backup.sh", script(env, 'for d in $LG_DATABASES; do pg_dump "$d"; done')],
    ["/l/retention.sh", script(env, "days=${LG_RETENTION_DAYS:?}")],
    ...unit("b", "/l/backup.sh", calendar),
  ];
  const drillFiles = (env = ENV, calendar = "*-*-* 03:00:00 UTC"): [string, string][] => [
    ["/l/drill.sh", script(env, "for d in $LG_DATABASES; do pg_restore; done")],
    ...unit("d", "/l/drill.sh", calendar),
  ];
  const cmd = (r: string, files: [string, string][], timers: string): StackResourceInput => ({
    type: TYPES.remoteCommand,
    name: `x-${r}`,
    props: { create: install(files, timers), triggers: [`launchgate.role=${r}`] },
  });
  const backup = (files = backupFiles()) => cmd("backup", files, "b.timer");
  const drill = (files = drillFiles()) => cmd("drill", files, "d.timer");
  const check = (...rs: StackResourceInput[]) =>
    runStackPolicy(data.backupsPresent, [pg, database, gate(30, 24), ...rs]);

  it("passes a backup install and a separate drill, each with timers, installed as declared", async () => {
    assert.deepEqual(await check(backup(), drill()), []);
  });
  it("refuses Postgres without backups, without a drill, or a drill without timer", async () => {
    assert.deepEqual(await check(drill()), [
      "Postgres runs but no command installs scheduled Postgres backups (role backup); keep the Backups component.",
    ]);
    assert.deepEqual(await check(backup()), [
      "Postgres runs but no command installs a scheduled restore drill (role drill); keep the Backups component.",
    ]);
    assert.deepEqual(await check(backup(), cmd("drill", drillFiles(), "")), [
      "the drill install enables no systemd timer; a scheduled restore drill must run on a schedule.",
    ]);
  });
  it("every Redis data store is in some backup install's Redis backup (a swarm: the one on its node)", async () => {
    const redis = (name: string): StackResourceInput => ({
      type: TYPES.container,
      name,
      props: { name, labels: role("datastore", "redis") },
    });
    const redisBackup = (listed: string) =>
      cmd(
        "backup",
        [
          [
            "/l/redis.sh",
            script({ LG_REDIS_CONTAINERS: listed }, "for c in $LG_REDIS_CONTAINERS; do :; done"),
          ],
          ["/l/retention.sh", script(ENV, "days=${LG_RETENTION_DAYS:?}")],
        ],
        "r.timer",
      );
    const run = (...rs: StackResourceInput[]) =>
      runStackPolicy(data.backupsPresent, [
        pg,
        database,
        gate(30, 24),
        redis("redis-queue"),
        redis("redis-cache"),
        backup(),
        drill(),
        ...rs,
      ]);
    assert.deepEqual(await run(redisBackup("redis-queue redis-cache")), []);
    // Split over two installs (Postgres' node and Redis' node): covered by their union.
    assert.deepEqual(
      await run(redisBackup(""), { ...redisBackup("redis-queue redis-cache"), name: "x-backup-redis" }),
      [],
    );
    assert.deepEqual(await run(redisBackup("redis-queue")), [
      "no backup install backs up Redis redis-cache (LG_REDIS_CONTAINERS of the installed Redis backups: redis-queue); every Redis data store is backed up with Postgres.",
    ]);
  });
  it("judges each setting as installed, one changed setting per violation", async () => {
    assert.deepEqual(await check(backup(backupFiles({ ...ENV, LG_RETENTION_DAYS: "7" })), drill()), [
      "/l/backup.sh keeps dumps 7 days but the release declares 30 (launchgate:backups.retentionDays); install the declared retention.",
      "/l/retention.sh keeps dumps 7 days but the release declares 30 (launchgate:backups.retentionDays); install the declared retention.",
    ]);
    assert.deepEqual(await check(backup(backupFiles({ ...ENV, LG_RETENTION_DAYS: "x" })), drill()), [
      '/l/backup.sh sets no retention (LG_RETENTION_DAYS="x"); install the declared launchgate:backups.retentionDays.',
      '/l/retention.sh sets no retention (LG_RETENTION_DAYS="x"); install the declared launchgate:backups.retentionDays.',
    ]);
    const ignoring = backupFiles().map(([p, c]): [string, string] => [
      p,
      c.replace("${LG_RETENTION_DAYS:?}", "7"),
    ]);
    assert.deepEqual(await check(backup(ignoring), drill()), [
      "the backup install applies no retention (no installed script reads LG_RETENTION_DAYS); keep backup-retention.sh.",
    ]);
    assert.deepEqual(await check(backup(), drill(drillFiles({ ...ENV, LG_DATABASES: "" }))), [
      '/l/drill.sh leaves out database(s) app (LG_DATABASES=""); it must cover every managed database.',
    ]);
    assert.deepEqual(await check(backup(backupFiles({ ...ENV, LG_PG_CONTAINER: "old" })), drill()), [
      '/l/backup.sh reads Postgres from container "old", not "db"; keep LG_PG_CONTAINER from the Postgres component.',
      '/l/retention.sh reads Postgres from container "old", not "db"; keep LG_PG_CONTAINER from the Postgres component.',
    ]);
    const noop = drillFiles().map(([p, c]): [string, string] => [
      p,
      c.replace("ExecStart=/l/drill.sh", "ExecStart=/bin/true"),
    ]);
    assert.deepEqual(await check(backup(), drill(noop)), [
      "/etc/systemd/system/d.timer starts a service that runs none of the installed scripts (/bin/true); keep its ExecStart.",
      "no timer of the drill install runs /l/drill.sh; the databases would never be restored on schedule.",
    ]);
    assert.deepEqual(await check(backup(), drill(drillFiles(ENV, "weekly"))), [
      'the drill timer runs "weekly" but the release declares a drill every 24 h (launchgate:backups.drillEveryHours).',
    ]);
    assert.deepEqual(await check(backup(), cmd("drill", [], "d.timer")), [
      "the drill install writes no files (no LG_FILES manifest); keep components/ops/Backups.ts's install.",
    ]);
  });
  it("holds the installed dump period to the declared launchgate:backups.incrementalEveryHours", async () => {
    const declared: StackResourceInput = {
      ...gate(30, 24),
      props: {
        environment: {
          LAUNCHGATE_GATE: JSON.stringify({
            version: 1,
            backups: { retentionDays: 30, drillEveryHours: 24, incrementalEveryHours: 6 },
          }),
        },
      },
    };
    const withTimers = (...calendars: string[]) =>
      backup([...backupFiles(), ...calendars.flatMap((c, i) => unit(`i${i}`, "/l/backup.sh", c))]);
    const run = (b: StackResourceInput) =>
      runStackPolicy(data.backupsPresent, [pg, database, declared, b, drill()]);
    assert.deepEqual(await run(withTimers("*-*-* 00,06,12,18:00:00 UTC")), []);
    assert.deepEqual(await run(withTimers("*-*-* 00/6:00:00 UTC")), []);
    assert.deepEqual(await run(withTimers("hourly")), []);
    assert.deepEqual(await run(backup()), [
      "the backup timers dump at best every 24 h but the release declares a dump every 6 h (launchgate:backups.incrementalEveryHours).",
    ]);
    assert.deepEqual(await run(withTimers("*-*-* 00,06,12:00:00 UTC")), [
      "the backup timers dump at best every 12 h but the release declares a dump every 6 h (launchgate:backups.incrementalEveryHours).",
    ]);
    // A manifest written before the field existed: only the at-least-daily rule.
    assert.deepEqual(await check(backup(), drill()), []);
  });
  it("text such as pg_dump in an unmarked command does not count", async () => {
    const text: StackResourceInput = {
      type: TYPES.remoteCommand,
      name: "backups-install",
      props: { create: "pg_dump; pg_restore" },
    };
    assert.equal((await runStackPolicy(data.backupsPresent, [pg, text])).length, 2);
  });
});

describe("database-public-revoked", () => {
  const grant = (role: string, privileges: string[]): ResourceInput => ({
    type: "postgresql:index/grant:Grant",
    name: "revoke-public",
    props: { database: "app", role, objectType: "database", privileges },
  });
  it("passes a revoke from PUBLIC and grants to app roles", async () => {
    assert.deepEqual(await runResourcePolicy(data.databasePublicRevoked, grant("public", [])), []);
    assert.deepEqual(await runResourcePolicy(data.databasePublicRevoked, grant("app", ["CONNECT"])), []);
  });
  it("refuses privileges granted to PUBLIC", async () => {
    assert.deepEqual(await runResourcePolicy(data.databasePublicRevoked, grant("PUBLIC", ["CONNECT"])), [
      "grants CONNECT on app to PUBLIC; grant to the app role only (privileges: []).",
    ]);
  });
});

describe("migrations-after-backup", () => {
  const backup: StackResourceInput = {
    type: TYPES.remoteCommand,
    name: "b",
    props: { triggers: ["launchgate.role=pre-migration-backup"] },
  };
  const migrate = (dependsOn: string[]): StackResourceInput => ({
    type: TYPES.container,
    name: "job-1",
    props: { labels: role("migration") },
    dependsOn,
  });
  it("passes a migration that waits for the pre-migration backup", async () => {
    assert.deepEqual(await runStackPolicy(data.migrationsAfterBackup, [backup, migrate(["b"])]), []);
  });
  it("refuses a migration (by role, whatever its name) that does not", async () => {
    assert.deepEqual(await runStackPolicy(data.migrationsAfterBackup, [backup, migrate([])]), [
      "migration job-1 can run without a fresh backup; make it depend on the Backups pre-migration backup.",
    ]);
  });
  it("checks a swarm's migration command (a Swarm job run by a manager) the same way", async () => {
    const job = (dependsOn: string[]): StackResourceInput => ({
      type: TYPES.remoteCommand,
      name: "swarm-job",
      props: {
        triggers: ["launchgate.role=migration"],
        create: "docker service create --mode replicated-job",
      },
      dependsOn,
    });
    assert.deepEqual(await runStackPolicy(data.migrationsAfterBackup, [backup, job(["b"])]), []);
    assert.deepEqual(await runStackPolicy(data.migrationsAfterBackup, [backup, job([])]), [
      "migration swarm-job can run without a fresh backup; make it depend on the Backups pre-migration backup.",
    ]);
  });
  describe("a job created stopped: what starts it must wait for the backup", () => {
    const stopped = (dependsOn: string[]): StackResourceInput => ({
      ...migrate(dependsOn),
      props: { labels: role("migration"), start: false },
    });
    const starter = (dependsOn: string[]): StackResourceInput => ({
      type: TYPES.remoteCommand,
      name: "job-1-pids-limit",
      props: {
        triggers: [
          "launchgate.role=pids-limit",
          "launchgate.pids-limit=256",
          "launchgate.pids-limit-starts=true",
        ],
      },
      dependsOn: ["job-1", ...dependsOn],
    });
    const REFUSED = [
      "migration job-1 can run without a fresh backup; make it depend on the Backups pre-migration backup.",
    ];
    it("passes when its starter waits for the backup (the container need not)", async () => {
      assert.deepEqual(
        await runStackPolicy(data.migrationsAfterBackup, [backup, stopped([]), starter(["b"])]),
        [],
      );
    });
    it("refuses when neither waits, or nothing starts it; a container that waits holds its starter back too", async () => {
      assert.deepEqual(
        await runStackPolicy(data.migrationsAfterBackup, [backup, stopped([]), starter([])]),
        REFUSED,
      );
      assert.deepEqual(await runStackPolicy(data.migrationsAfterBackup, [backup, stopped(["b"])]), REFUSED);
      assert.deepEqual(
        await runStackPolicy(data.migrationsAfterBackup, [backup, stopped(["b"]), starter([])]),
        [],
      );
    });
  });
});

describe("command-delete-replacement", () => {
  const cmd = (props: Record<string, unknown>): ResourceInput => ({
    type: TYPES.remoteCommand,
    name: "x-install",
    props,
  });
  it("passes no delete, delete-first, or a delete scoped to its version", async () => {
    assert.deepEqual(await runResourcePolicy(data.commandDeleteReplacement, cmd({ create: "install" })), []);
    assert.deepEqual(
      await runResourcePolicy(
        data.commandDeleteReplacement,
        cmd({ create: "i", delete: "sleep 10", triggers: ["launchgate.delete=own-version"] }),
      ),
      [],
    );
    assert.deepEqual(
      await runResourcePolicy(
        data.commandDeleteReplacement,
        cmd({
          create: "i",
          delete: "rm -f /srv/x-3f9a2c71",
          triggers: ["3f9a2c71", "launchgate.delete=own-version"],
        }),
      ),
      [],
    );
  });
  it("refuses a scope claim whose delete removes things without naming its version", async () => {
    assert.deepEqual(
      await runResourcePolicy(
        data.commandDeleteReplacement,
        cmd({ create: "i", delete: "rm -f /srv/x", triggers: ["3f9a2c71", "launchgate.delete=own-version"] }),
      ),
      [
        "declares its delete scoped to its own version (launchgate.delete=own-version) but the delete removes things without naming its version; set { deleteBeforeReplace: true }.",
      ],
    );
  });
  it("refuses a delete with create-first replacement", async () => {
    assert.deepEqual(
      await runResourcePolicy(data.commandDeleteReplacement, cmd({ create: "i", delete: "rm -f /x" })),
      [
        "has a delete script but replaces create-first: the old delete would undo the new create; set { deleteBeforeReplace: true } or scope the delete to its version.",
      ],
    );
  });
});

describe("backup schedules as installed (calendarPeriodDays, calendarPeriodHours)", () => {
  /** OnCalendar value → most days apart, most hours apart (the largest gap, across midnight). */
  const table: [string, number, number][] = [
    ["*-*-* 02:00:00 UTC", 1, 24],
    ["*-*-* 00/6:00:00 UTC", 1, 6],
    ["*-*-* 00/5:00:00 UTC", 1, 5],
    ["*-*-* 00,06,12,18:00:00 UTC", 1, 6],
    ["*-*-* 01,07,13,19:30:00 UTC", 1, 6],
    ["*-*-* 00,06,12:00:00 UTC", 1, 12],
    ["*-*-* *:15:00", 1, 1],
    ["hourly", 0, 1],
    ["*-*-1/2 03:00:00 UTC", 2, 48],
    ["Mon *-*-* 03:00:00 UTC", 7, 168],
    ["weekly", 7, 168],
    ["daily", 1, 24],
    ["monthly", 31, 744],
    ["yearly", 366, 8784],
    ["*-01-01 00:00:00", 366, 8784],
    ["not a calendar", 366, 8784],
  ];
  for (const [value, days, hours] of table)
    it(`${value} → at most ${days} day(s), ${hours} h apart`, () => {
      assert.equal(data.calendarPeriodDays(value), days);
      assert.equal(data.calendarPeriodHours(value), hours);
    });
});

describe("postgres-durability and data-volumes-private", () => {
  const pg = (command: string[]): ResourceInput => ({
    type: TYPES.container,
    name: "postgres",
    props: {
      command,
      labels: [
        { label: "launchgate.role", value: "datastore" },
        { label: "launchgate.datastore", value: "postgres" },
      ],
      volumes: [{ volumeName: "postgres-data", containerPath: "/var/lib/postgresql/data" }],
    },
  });
  it("the shipped flags pass; fsync/full_page_writes/synchronous_commit off are refused (last value wins)", async () => {
    assert.deepEqual(
      await runResourcePolicy(data.postgresDurability, pg(["postgres", "-c", "max_connections=100"])),
      [],
    );
    assert.deepEqual(
      await runResourcePolicy(
        data.postgresDurability,
        pg([
          "postgres",
          "-c",
          "fsync=on",
          "-c",
          "fsync=off",
          "-c",
          "full_page_writes=off",
          "-csynchronous_commit=off",
        ]),
      ),
      [
        "the server runs with fsync=off; remove it — a crash can lose committed data.",
        "the server runs with full_page_writes=off; remove it — a crash can lose committed data.",
        "the server runs with synchronous_commit=off; remove it — a crash can lose committed data.",
      ],
    );
  });
  it("only data stores mount a data store's volume; nobody shares another container's mounts", async () => {
    const app = (volumes: unknown[]): ResourceInput => ({
      type: TYPES.container,
      name: "app-api",
      props: { labels: [{ label: "launchgate.role", value: "app" }], volumes },
    });
    assert.deepEqual(await runStackPolicy(data.dataVolumesPrivate, [pg(["postgres"]), app([])]), []);
    assert.deepEqual(
      await runStackPolicy(data.dataVolumesPrivate, [
        pg(["postgres"]),
        app([{ volumeName: "postgres-data", containerPath: "/pg" }, { fromContainer: "postgres" }]),
      ]),
      [
        "app-api shares every mount of postgres (volumes fromContainer); mount what it needs by name.",
        "app-api (app) mounts the data volume postgres-data; only its data store may — use the server's connection instead.",
      ],
    );
  });
  it("no container bind-mounts the directory the backups write dumps to (or a parent of it)", async () => {
    const backups: ResourceInput = {
      type: "command:remote:Command",
      name: "backups-install",
      props: {
        create:
          "export LG_FILES='0755 /usr/local/lib/launchgate/backup-postgres.sh LG_FILE_0'\n" +
          "export LG_FILE_0='#!/usr/bin/env bash\nexport LG_BACKUP_DIR='\\''/srv/launchgate/backups'\\''\n'\n",
        triggers: ["launchgate.role=backup"],
      },
    };
    const app = (hostPath: string): ResourceInput => ({
      type: TYPES.container,
      name: "app-api",
      props: {
        labels: [{ label: "launchgate.role", value: "app" }],
        volumes: [{ hostPath, containerPath: "/mnt" }],
      },
    });
    assert.deepEqual(
      await runStackPolicy(data.dataVolumesPrivate, [backups, app("/srv/launchgate/storage/cvs")]),
      [],
    );
    for (const hostPath of ["/srv/launchgate/backups", "/srv/launchgate", "/srv/launchgate/backups/"])
      assert.deepEqual(await runStackPolicy(data.dataVolumesPrivate, [backups, app(hostPath)]), [
        `app-api bind-mounts ${hostPath}, which holds the database dumps (/srv/launchgate/backups); only the backup scripts read them.`,
      ]);
  });
});
