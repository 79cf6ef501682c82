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
    props: { image: `postgres@${DIGEST}`, labels: role("datastore", "postgres") },
  };
  const cmd = (r: string, timers: string): StackResourceInput => ({
    type: TYPES.remoteCommand,
    name: `x-${r}`,
    props: {
      create: `#!/usr/bin/env bash\nexport LG_TIMERS='${timers}'\n`,
      triggers: [`launchgate.role=${r}`],
    },
  });
  it("passes a backup install and a separate drill, each with timers", async () => {
    assert.deepEqual(
      await runStackPolicy(data.backupsPresent, [
        pg,
        cmd("backup", "a.timer b.timer"),
        cmd("drill", "d.timer"),
      ]),
      [],
    );
  });
  it("refuses Postgres without backups, without a drill, or a drill without timer", async () => {
    assert.deepEqual(await runStackPolicy(data.backupsPresent, [pg, cmd("drill", "d.timer")]), [
      "Postgres runs but no command installs scheduled Postgres backups (role backup); keep the Backups component.",
    ]);
    assert.deepEqual(await runStackPolicy(data.backupsPresent, [pg, cmd("backup", "a.timer")]), [
      "Postgres runs but no command installs a scheduled restore drill (role drill); keep the Backups component.",
    ]);
    assert.deepEqual(
      await runStackPolicy(data.backupsPresent, [pg, cmd("backup", "a.timer"), cmd("drill", "")]),
      ["the drill install enables no systemd timer; a scheduled restore drill must run on a schedule."],
    );
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
        cmd({ create: "i", delete: "rm", triggers: ["launchgate.delete=own-version"] }),
      ),
      [],
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

describe("backup schedules as installed (calendarPeriodDays)", () => {
  const table: [string, number][] = [
    ["*-*-* 02:00:00 UTC", 1],
    ["*-*-* 00/6:00:00 UTC", 1],
    ["*-*-1/2 03:00:00 UTC", 2],
    ["Mon *-*-* 03:00:00 UTC", 7],
    ["weekly", 7],
    ["daily", 1],
    ["monthly", 31],
    ["yearly", 366],
    ["*-01-01 00:00:00", 366],
    ["not a calendar", 366],
  ];
  for (const [value, days] of table)
    it(`${value} → at most ${days} day(s) apart`, () => assert.equal(data.calendarPeriodDays(value), days));
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
});
