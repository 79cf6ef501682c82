/** Data-safety policies: a compliant resource per policy, then one changed field per violation. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as data from "../../policies/data";
import { TYPES } from "../../policies/lib/resources";
import { ResourceInput, StackResourceInput, runResourcePolicy, runStackPolicy } from "./harness";

const DIGEST = `sha256:${"b".repeat(64)}`;

const volume = (name: string, kind: string | undefined, protect: boolean): ResourceInput => ({
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
    },
  };
}
const SAFE_QUEUE = "'--appendonly' 'yes' '--save' '900' '1' '--maxmemory-policy' 'noeviction'";

describe("data-volumes-protected", () => {
  it("passes protected data volumes and unprotected regenerable ones", async () => {
    assert.deepEqual(
      await runResourcePolicy(data.dataVolumesProtected, volume("postgres-data", "postgres", true)),
      [],
    );
    assert.deepEqual(
      await runResourcePolicy(data.dataVolumesProtected, volume("proxy-conf", "proxy-config", false)),
      [],
    );
  });
  it("refuses an unprotected data volume, labelled or named after a data store", async () => {
    assert.deepEqual(
      await runResourcePolicy(data.dataVolumesProtected, volume("postgres-data", "postgres", false)),
      [
        "volume postgres-data holds postgres but is not protected; create it with { protect: true, retainOnDelete: true }.",
      ],
    );
    assert.deepEqual(
      await runResourcePolicy(data.dataVolumesProtected, volume("redis-cache-data", undefined, false)),
      [
        "volume redis-cache-data holds data but is not protected; create it with { protect: true, retainOnDelete: true }.",
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
    name: "postgres",
    props: { image: `postgres@${DIGEST}` },
  };
  const step = (create: string, name: string): StackResourceInput => ({
    type: TYPES.remoteCommand,
    name,
    props: { create },
  });
  it("passes dumps plus a restore drill", async () => {
    const steps = [
      step("pg_dump -Fc app > /srv/backups/app.dump", "backups-install"),
      step("pg_restore -d scratch app.dump", "backups-drill"),
    ];
    assert.deepEqual(await runStackPolicy(data.backupsPresent, [pg, ...steps]), []);
  });
  it("refuses Postgres without dumps or drill", async () => {
    assert.deepEqual(
      await runStackPolicy(data.backupsPresent, [pg, step("apt-get upgrade", "host-packages")]),
      [
        "Postgres runs but no host step schedules `pg_dump`; add the Backups component.",
        "no restore drill (`pg_restore` into a scratch database); keep the Backups restore-drill step.",
      ],
    );
  });
});

describe("migrations-after-backup", () => {
  const backup: StackResourceInput = { type: TYPES.remoteCommand, name: "backups-pre-migration", props: {} };
  const migrate = (dependsOn: string[]): StackResourceInput => ({
    type: TYPES.container,
    name: "app-api-migrate",
    props: {},
    dependsOn,
  });
  it("passes a migration that waits for the pre-migration backup", async () => {
    assert.deepEqual(
      await runStackPolicy(data.migrationsAfterBackup, [backup, migrate(["backups-pre-migration"])]),
      [],
    );
  });
  it("refuses a migration that does not", async () => {
    assert.deepEqual(await runStackPolicy(data.migrationsAfterBackup, [backup, migrate([])]), [
      "migration app-api-migrate can run without a fresh backup; make it depend on the Backups pre-migration backup.",
    ]);
  });
});
