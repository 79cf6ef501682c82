/**
 * Backups on a real PostgreSQL (issue 4, backup half). The scripts are the exact ones the
 * Backups component declares: a mock run records the `remote.Command` inputs, and this test runs
 * those texts with bash on this machine, as sshd would run them for the deploy user. `docker exec`
 * reaches a sibling PostgreSQL 15 container seeded with 600k rows, and a password-protected Redis.
 *
 * The installer writes to /usr/local/lib/launchgate and /etc/systemd/system; here it runs in a
 * private mount namespace (`unshare --mount`) where those two directories are bind mounts of a
 * temp dir, so this machine is never touched. There is no systemd: a stand-in `systemctl` on PATH
 * records what the installer asks for, and the test runs each unit's ExecStart lines itself, in
 * the order systemd would. Runs as root, so the scripts' `sudo -n` branch is not taken.
 *
 * Run: node --import tsx --test test/host/backups.test.ts   (needs docker, debootstrap, unshare)
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, settle } from "../support/mocks";
import { PgServer, buildPostgresImage, startPostgres } from "../support/pg";
import { Backups } from "../../components/ops/Backups";
import {
  FakeHost,
  HostRun,
  makeFakeHost,
  seedPlainDump,
  seedPlainRestore,
  seedShop,
  SHOP_SEED,
} from "../support/fake-host";

const CMD = "command:remote:Command";
const DAY = 86_400_000;

/** Rows seeded per table. */
const SEED = SHOP_SEED;
/** The app role owning database `owned` and its tables. */
const APP_ROLE = "shop_app";
const OWNED_COUNTS = { "billing.invoices": 100, "public.items": 5000 };
type Run = HostRun;

describe("backups on a real PostgreSQL", { timeout: 20 * 60_000 }, () => {
  let pg: PgServer | undefined;
  let redis: string | undefined;
  let tmp: string;
  let storage: string;
  let backupDir: string;
  let install: string;
  let drillInstall: string;
  let preMigration: string;
  const times: Record<string, string> = {};

  let host: FakeHost;
  const onHost = (script: string, timeoutMs?: number): Run => host.run(script, timeoutMs);

  function ok(r: Run, what: string): Run {
    assert.equal(r.status, 0, `${what} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
    return r;
  }

  const unit = (u: string) => host.unit(u);
  const lines = (text: string, key: string) =>
    text
      .split("\n")
      .filter((l) => l.startsWith(`${key}=`))
      .map((l) => l.slice(key.length + 1));
  /** Runs a service as systemd would: ExecStart lines in order, then ExecStartPost if all passed. */
  const runService = (u: string): Run => onHost(host.serviceScript(u));
  const dumps = (db = "app") =>
    fs
      .readdirSync(path.join(backupDir, "postgres", db))
      .filter((f) => f.endsWith(".dump"))
      .sort();
  /** Newest dump by mtime (what the drill must pick). */
  const newestDump = (db = "app") => {
    const dir = path.join(backupDir, "postgres", db);
    return dumps(db)
      .map((f) => path.join(dir, f))
      .sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs)
      .pop()!;
  };
  const pgRestoreList = (file: string) =>
    spawnSync("docker", ["exec", "-i", pg!.name, "pg_restore", "-l"], {
      input: fs.readFileSync(file),
      timeout: 120_000,
    });

  before(async () => {
    host = makeFakeHost("lg-backup-test-");
    tmp = host.dir;
    storage = host.storage;
    backupDir = host.backupDir;
    fs.writeFileSync(path.join(storage, "uploads", "avatar.png"), crypto.randomBytes(4096));
    const t0 = Date.now();
    const image = buildPostgresImage();
    times["image"] = `${Date.now() - t0} ms`;
    pg = startPostgres(image, "lg-backup-test-");
    // Redis as the Redis component runs it: requirepass, and REDIS_PASSWORD in the container's env.
    const redisImage = spawnSync(
      "bash",
      [path.join(__dirname, "..", "support", "images", "build.sh"), "redis"],
      {
        encoding: "utf8",
        timeout: 15 * 60_000,
        stdio: ["ignore", "pipe", "inherit"],
      },
    ).stdout.trim();
    redis = `lg-backup-test-redis-${path.basename(tmp).slice(-6).toLowerCase()}`;
    const started = spawnSync(
      "docker",
      [
        "run",
        "-d",
        "--name",
        redis,
        "-e",
        "REDIS_PASSWORD=test-only-pw",
        redisImage,
        "redis-server",
        "--requirepass",
        "test-only-pw",
      ],
      { encoding: "utf8", timeout: 60_000 },
    );
    assert.equal(started.status, 0, started.stderr);
    const deadline = Date.now() + 30_000;
    while (
      spawnSync("docker", [
        "exec",
        redis,
        "redis-cli",
        "-a",
        "test-only-pw",
        "--no-auth-warning",
        "SET",
        "lg:marker",
        "kept-in-rdb",
      ])
        .stdout?.toString()
        .trim() !== "OK"
    ) {
      assert.ok(Date.now() < deadline, "redis not ready in 30 s");
      spawnSync("sleep", ["0.5"]);
    }
    const s0 = Date.now();
    seedShop(pg);
    times["seed (600k rows)"] = `${Date.now() - s0} ms`;
    // A database as the Postgres component makes it: owned by a LOGIN role, PUBLIC's CONNECT
    // revoked, and tables (in two schemas) created by that app role, as its migrations would.
    pg.psql(
      "postgres",
      `CREATE ROLE ${APP_ROLE} LOGIN PASSWORD 'test-only-pw'; CREATE DATABASE owned OWNER ${APP_ROLE}; REVOKE ALL ON DATABASE owned FROM PUBLIC;`,
    );
    pg.psql(
      "owned",
      `SET ROLE ${APP_ROLE};
       CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL);
       INSERT INTO items (name) SELECT 'item' || g FROM generate_series(1, 5000) g;
       CREATE SCHEMA billing;
       CREATE TABLE billing.invoices (id int PRIMARY KEY);
       INSERT INTO billing.invoices SELECT generate_series(1, 100);`,
    );

    // The exact scripts the component declares, from a mock run.
    const rec = await installMocks("local");
    new Backups("backups", {
      config: { dailyAt: "02:00", incrementalEveryHours: 6, retentionDays: 30, drillEveryHours: 24 },
      connection: { host: "127.0.0.1", port: 22, user: "deployer", privateKey: pulumi.secret("unused") },
      storagePath: storage,
      postgresContainer: pg.name,
      databases: ["app", "owned"],
      redisContainers: [redis],
      releaseId: "sha256:0123abcd",
    });
    await settle();
    install = rec.one(CMD, "backups-install").inputs.create;
    drillInstall = rec.one(CMD, "backups-drill").inputs.create;
    preMigration = rec.one(CMD, "backups-pre-migration").inputs.create;
  });

  after(() => {
    pg?.stop();
    if (redis) spawnSync("docker", ["rm", "-f", "-v", redis], { stdio: "ignore", timeout: 30_000 });
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    console.log("timings:", JSON.stringify(times, null, 2));
  });

  test("install writes scripts and units, enables the timers; a second run changes nothing", () => {
    const first = ok(onHost(install), "install");
    assert.match(first.stdout, /timer launchgate-backup-full\.timer enabled/);
    // The restore drill is its own install (role drill), after the backups'.
    const firstDrill = ok(onHost(drillInstall), "drill install");
    assert.match(firstDrill.stdout, /timer launchgate-restore-drill\.timer enabled/);
    for (const s of ["backup-postgres.sh", "restore-drill.sh", "backup-retention.sh"]) {
      const st = fs.statSync(path.join(tmp, "lib", "launchgate", s));
      assert.equal(st.mode & 0o777, 0o755, s);
    }
    assert.equal(fs.statSync(backupDir).mode & 0o777, 0o711);
    const calls = fs.readFileSync(path.join(tmp, "systemctl.log"), "utf8");
    assert.match(calls, /^daemon-reload$/m);
    assert.match(calls, /^enable --now launchgate-restore-drill\.timer$/m);
    const second = ok(onHost(install), "install (again)");
    assert.equal(second.stdout.trim(), "unchanged");
    assert.equal(ok(onHost(drillInstall), "drill install (again)").stdout.trim(), "unchanged");
    times["install: first / second run"] = `${first.ms} ms / ${second.ms} ms`;
  });

  test("timers carry the declared schedule, and systemd parses it", () => {
    const expected: Record<string, string> = {
      "launchgate-backup-full.timer": "*-*-* 02:00:00 UTC",
      "launchgate-backup-incremental.timer": "*-*-* 00,06,12,18:00:00 UTC",
      "launchgate-restore-drill.timer": "*-*-* 03:00:00 UTC",
    };
    for (const [timer, cal] of Object.entries(expected)) {
      assert.deepEqual(lines(unit(timer), "OnCalendar"), [cal], timer);
      const r = spawnSync("systemd-analyze", ["calendar", cal], { encoding: "utf8", timeout: 10_000 });
      if (r.error) {
        console.log(`systemd-analyze unavailable (${r.error.message}); schedule checked by parsing only`);
        continue;
      }
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Normalized form: ${cal.replace(/[*]/g, "\\*")}`));
    }
  });

  test("daily service: a verified -Fc dump, Redis/storage copies, retention", () => {
    const r = ok(runService("launchgate-backup-full.service"), "full backup");
    times["full backup service (dump + storage tar + retention)"] = `${r.ms} ms`;
    const files = dumps();
    assert.equal(files.length, 1, files.join(", "));
    assert.match(files[0]!, /^app-\d{8}T\d{6}Z-full\.dump$/);
    const file = path.join(backupDir, "postgres", "app", files[0]!);
    assert.equal(fs.readFileSync(file).subarray(0, 5).toString(), "PGDMP", "custom-format archive magic");
    const toc = pgRestoreList(file);
    assert.equal(toc.status, 0, toc.stderr?.toString());
    assert.match(toc.stdout.toString(), /TABLE DATA public orders/);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    // The cluster's globals beside it: the roles that own and are granted things in the dump.
    const globals = fs.readFileSync(`${file}.globals.sql`, "utf8");
    assert.equal(fs.statSync(`${file}.globals.sql`).mode & 0o777, 0o600);
    assert.match(globals, new RegExp(`^CREATE ROLE ${APP_ROLE};$`, "m"));
    assert.match(globals, /PostgreSQL database cluster dump complete/);
    assert.match(r.stderr, /verified by reading it back whole/);
    // Row counts of the dump's own snapshot, beside it.
    assert.equal(
      fs.readFileSync(`${file}.counts`, "utf8"),
      Object.entries(SEED)
        .sort()
        .map(([t, n]) => `${t}|${n}\n`)
        .join(""),
    );
    // Redis: a fresh BGSAVE (authenticated inside the container), copied out and checked.
    assert.match(r.stderr, /copied lg-backup-test-redis-\w+:\/data\/dump\.rdb/);
    assert.doesNotMatch(r.stderr, /warning: BGSAVE/);
    const rdbs = fs.readdirSync(path.join(backupDir, "redis"));
    assert.equal(rdbs.length, 1);
    const rdb = fs.readFileSync(path.join(backupDir, "redis", rdbs[0]!));
    assert.equal(rdb.subarray(0, 5).toString(), "REDIS");
    assert.ok(rdb.includes("kept-in-rdb"), "the key written before the backup is in the copy");
    const tars = fs.readdirSync(path.join(backupDir, "storage"));
    assert.equal(tars.length, 1);
    const list = spawnSync("tar", ["-tzf", path.join(backupDir, "storage", tars[0]!)], { encoding: "utf8" });
    assert.match(list.stdout, /uploads\/avatar\.png/);
    assert.doesNotMatch(list.stdout, /backups\//, "the tarball excludes the backups themselves");
  });

  test("measure: the component's dump vs the seeds' plain pg_dump > file.sql", () => {
    const t0 = Date.now();
    ok(onHost("exec /usr/local/lib/launchgate/backup-postgres.sh incremental"), "incremental");
    const fcMs = Date.now() - t0;
    const fc = dumps().find((f) => f.endsWith("-incremental.dump"))!;
    const fcSize = fs.statSync(path.join(backupDir, "postgres", "app", fc)).size;
    const plain = path.join(tmp, "plain.sql");
    const { ms: plainMs, bytes: plainSize } = seedPlainDump(pg!, "app", plain);
    // The seeds' restore path for the plain file: psql < file.sql into a fresh database.
    const plainRestoreMs = seedPlainRestore(pg!, plain, "plain_restore");
    pg!.psql("postgres", "DROP DATABASE plain_restore");
    fs.rmSync(plain);
    // The bare `pg_dump -Fc` inside that, to show what the snapshot counts and the check cost.
    const raw = path.join(tmp, "raw.dump");
    const r0 = Date.now();
    const rawFd = fs.openSync(raw, "w");
    const rr = spawnSync("docker", ["exec", pg!.name, "pg_dump", "-U", "postgres", "-Fc", "app"], {
      stdio: ["ignore", rawFd, "pipe"],
      timeout: 300_000,
    });
    fs.closeSync(rawFd);
    assert.equal(rr.status, 0);
    times["bare pg_dump -Fc"] = `${Date.now() - r0} ms, ${fs.statSync(raw).size} bytes`;
    fs.rmSync(raw);
    times["component dump (-Fc, snapshot counts, pg_restore -l)"] = `${fcMs} ms, ${fcSize} bytes`;
    times["seeds' plain pg_dump > file.sql"] = `${plainMs} ms, ${plainSize} bytes`;
    times["seeds' plain restore (psql < file.sql)"] = `${plainRestoreMs} ms`;
    assert.ok(fcSize < plainSize, "the compressed custom format is smaller than plain SQL");
  });

  test("pre-migration backup command: one verified dump labelled with the release", () => {
    const r = ok(onHost(preMigration), "pre-migration");
    times["pre-migration backup command"] = `${r.ms} ms`;
    const pre = dumps().filter((f) => f.endsWith("-pre-migration-sha256-0123abcd.dump"));
    assert.equal(pre.length, 1, dumps().join(", "));
  });

  test("retention deletes backups older than 30 days and keeps the rest (and the newest of each kind)", () => {
    const dir = path.join(backupDir, "postgres", "app");
    const real = dumps();
    const src = path.join(dir, real[0]!);
    const aged: Record<string, number> = {
      "app-20260901T020000Z-full.dump": 40,
      "app-20261023T020000Z-full.dump": 31,
      "app-20261025T020000Z-full.dump": 29,
      "app-20261110T020000Z-incremental.dump": 14,
    };
    for (const [f, days] of Object.entries(aged)) {
      fs.copyFileSync(src, path.join(dir, f));
      fs.writeFileSync(path.join(dir, `${f}.counts`), "x|1\n");
      const when = new Date(Date.now() - days * DAY);
      for (const p of [path.join(dir, f), path.join(dir, `${f}.counts`)]) fs.utimesSync(p, when, when);
    }
    // Redis: an old copy beside the fresh one goes; storage: the only tarball, made old, stays
    // (the newest of its kind is kept whatever its age).
    const rdb = path.join(backupDir, "redis", "queue-20260901T020000Z.rdb");
    fs.writeFileSync(rdb, "REDIS0011");
    fs.utimesSync(rdb, new Date(Date.now() - 45 * DAY), new Date(Date.now() - 45 * DAY));
    const tar = path.join(backupDir, "storage", fs.readdirSync(path.join(backupDir, "storage"))[0]!);
    fs.utimesSync(tar, new Date(Date.now() - 45 * DAY), new Date(Date.now() - 45 * DAY));

    const r = ok(onHost("exec /usr/local/lib/launchgate/backup-retention.sh"), "retention");
    const left = dumps();
    assert.ok(!left.includes("app-20260901T020000Z-full.dump"), "40 days old: deleted");
    assert.ok(!left.includes("app-20261023T020000Z-full.dump"), "31 days old: deleted");
    assert.ok(!fs.existsSync(path.join(dir, "app-20261023T020000Z-full.dump.counts")), "its counts file too");
    assert.ok(left.includes("app-20261025T020000Z-full.dump"), "29 days old: kept");
    assert.ok(left.includes("app-20261110T020000Z-incremental.dump"), "14 days old: kept");
    for (const f of real) assert.ok(left.includes(f), `${f} (new): kept`);
    assert.ok(!fs.existsSync(rdb), "45-day-old Redis copy deleted");
    assert.equal(fs.readdirSync(path.join(backupDir, "redis")).length, 1, "fresh Redis copy kept");
    assert.ok(fs.existsSync(tar), "only storage tarball kept although 45 days old");
    assert.match(r.stderr, /deleted 3,/);
  });

  let drillContainersBefore = "";
  test("restore drill: roles first, then each latest dump with owners into a scratch cluster; counts and app-role reads; ok:true", () => {
    drillContainersBefore = spawnSync(
      "docker",
      ["ps", "-aq", "--filter", "label=launchgate.job=restore-drill", "--filter", "name=lg-drill-"],
      { encoding: "utf8" },
    ).stdout.trim();
    // Writes after the last dump must not fail the drill: it compares with the dump's snapshot.
    pg!.psql("app", "INSERT INTO users (email) SELECT 'late' || g FROM generate_series(1, 10) g");
    const r = runService("launchgate-restore-drill.service");
    ok(r, "drill");
    times["restore drill"] = `${r.ms} ms`;
    const result = JSON.parse(fs.readFileSync(path.join(backupDir, "restore-drill.json"), "utf8"));
    assert.equal(result.ok, true);
    assert.equal(result.error, undefined);
    assert.ok(
      Math.abs(Date.parse(result.finishedAt) - Date.now()) < 120_000,
      `finishedAt ${result.finishedAt}`,
    );
    assert.match(result.finishedAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.equal(result.dump, newestDump());
    assert.match(result.dump, /-pre-migration-/, "the pre-migration dump is the newest");
    assert.equal(result.tables, 3);
    assert.deepEqual(result.rowCounts, SEED);
    // The record says what was checked.
    assert.deepEqual(result.checks, [
      "dump and globals match their backup-time sha256",
      "globals restored first (roles)",
      "restored with owners and grants (pg_restore --create)",
      "row counts equal the dump snapshot",
      "app role reads every table",
      "app role uses every sequence",
    ]);
    // The database the app role owns: restored with its owner, and readable by that role.
    const owned = result.databases.find((d: { database: string }) => d.database === "owned");
    assert.equal(owned.ok, true, JSON.stringify(owned));
    assert.equal(owned.appRole, APP_ROLE);
    assert.deepEqual(owned.rowCounts, OWNED_COUNTS);
    assert.equal(
      spawnSync(
        "docker",
        ["ps", "-aq", "--filter", "label=launchgate.job=restore-drill", "--filter", "name=lg-drill-"],
        {
          encoding: "utf8",
        },
      ).stdout.trim(),
      drillContainersBefore,
      "scratch cluster removed",
    );
    assert.equal(result.sizeBytes, fs.statSync(result.dump).size);
    assert.ok(result.durationMs > 0);
    times["restore drill (inside the script)"] =
      `${result.durationMs} ms for a ${result.sizeBytes}-byte dump`;
    const dbs = pg!.psql("postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'lg_drill%'");
    assert.equal(dbs.trim(), "", "scratch database dropped");
  });

  for (const [label, corrupt] of [
    [
      "flipped bytes",
      (f: string) => {
        const buf = fs.readFileSync(f);
        for (let i = 0; i < 64; i++) buf[Math.floor(buf.length / 2) + i] ^= 0xff;
        fs.writeFileSync(f, buf);
      },
    ],
    ["truncated", (f: string) => fs.truncateSync(f, Math.floor(fs.statSync(f).size / 2))],
  ] as const) {
    test(`a corrupted dump (${label}) fails the drill loudly and records ok:false`, () => {
      const dir = path.join(backupDir, "postgres", "app");
      const good = newestDump();
      const bad = path.join(dir, `app-29991231T000000Z-corrupt-${label.replace(" ", "-")}.dump`);
      fs.copyFileSync(good, bad);
      fs.copyFileSync(`${good}.counts`, `${bad}.counts`);
      fs.copyFileSync(`${good}.globals.sql`, `${bad}.globals.sql`);
      corrupt(bad);
      const future = new Date(Date.now() + 60_000);
      fs.utimesSync(bad, future, future); // newest by mtime: the drill must pick it
      try {
        const r = runService("launchgate-restore-drill.service");
        assert.notEqual(r.status, 0, "drill must exit non-zero");
        assert.match(r.stderr, /RESTORE DRILL FAILED/);
        const result = JSON.parse(fs.readFileSync(path.join(backupDir, "restore-drill.json"), "utf8"));
        assert.equal(result.ok, false);
        assert.equal(result.dump, bad);
        assert.match(result.error, /pg_restore/);
        assert.ok(Date.parse(result.finishedAt) > Date.now() - 120_000);
        const dbs = pg!.psql("postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'lg_drill%'");
        assert.equal(dbs.trim(), "", "scratch database dropped after a failure too");
      } finally {
        fs.rmSync(bad, { force: true });
        fs.rmSync(`${bad}.counts`, { force: true });
        fs.rmSync(`${bad}.globals.sql`, { force: true });
      }
    });
  }

  /**
   * `create` (SQL, as the superuser) in the database owned by the app role, a fresh incremental
   * dump, then the drill: it must fail with `message` for that database; `drop` undoes `create`
   * and a clean dump follows.
   */
  const drillRefuses = (create: string, drop: string, message: RegExp) => {
    pg!.psql("owned", create);
    try {
      ok(onHost("exec /usr/local/lib/launchgate/backup-postgres.sh incremental"), "incremental");
      const r = runService("launchgate-restore-drill.service");
      assert.notEqual(r.status, 0, "drill must fail");
      const result = JSON.parse(fs.readFileSync(path.join(backupDir, "restore-drill.json"), "utf8"));
      assert.equal(result.ok, false);
      const owned = result.databases.find((d: { database: string }) => d.database === "owned");
      assert.equal(owned.ok, false);
      assert.match(owned.error, message);
    } finally {
      pg!.psql("owned", drop);
      ok(onHost("exec /usr/local/lib/launchgate/backup-postgres.sh incremental"), "incremental (clean)");
    }
  };

  test("a table the app role cannot read fails the drill (a restore the app could not use)", () => {
    // Created by the superuser with no grant: as after a restore with --no-owner.
    drillRefuses(
      "CREATE TABLE private_notes (n int); INSERT INTO private_notes VALUES (1);",
      "DROP TABLE private_notes",
      new RegExp(
        `app role ${APP_ROLE} cannot read the restored owned: .*permission denied for table private_notes`,
      ),
    );
  });

  test("a dump truncated on its way to disk (pg_dump exited 0) is refused at backup time", () => {
    // A docker stand-in that passes everything through but cuts pg_dump's output short and
    // exits 0, as a full disk behind a pipe or a killed stream can.
    const shim = path.join(tmp, "truncating-docker");
    fs.mkdirSync(shim, { recursive: true });
    const realDocker = spawnSync("bash", ["-c", "command -v docker"], { encoding: "utf8" }).stdout.trim();
    fs.writeFileSync(
      path.join(shim, "docker"),
      `#!/bin/bash\nfor a in "$@"; do if [ "$a" = pg_dump ]; then ${realDocker} "$@" | head -c 200000; exit 0; fi; done\nexec ${realDocker} "$@"\n`,
      { mode: 0o755 },
    );
    const before = dumps();
    const r = onHost(`PATH=${shim}:$PATH exec /usr/local/lib/launchgate/backup-postgres.sh incremental`);
    assert.notEqual(r.status, 0, `a truncated dump was accepted:\n${r.stderr}`);
    assert.match(r.stderr, /verification failed: pg_restore could not read the whole dump of app back/);
    assert.deepEqual(dumps(), before, "no new dump kept");
    const leftovers = fs
      .readdirSync(path.join(backupDir, "postgres", "app"))
      .filter((f) => f.includes(".partial"));
    assert.deepEqual(leftovers, [], "no partial files left");
  });

  /** A docker stand-in that passes everything through but rewrites `program`'s output with `perl`. */
  const mangling = (label: string, program: string, perl: string) => {
    const shim = path.join(tmp, `mangling-docker-${label}`);
    fs.mkdirSync(shim, { recursive: true });
    const realDocker = spawnSync("bash", ["-c", "command -v docker"], { encoding: "utf8" }).stdout.trim();
    fs.writeFileSync(
      path.join(shim, "docker"),
      `#!/bin/bash\nfor a in "$@"; do if [ "$a" = ${program} ]; then ${realDocker} "$@" | perl -0777 -pe '${perl}'; exit 0; fi; done\nexec ${realDocker} "$@"\n`,
      { mode: 0o755 },
    );
    return shim;
  };

  for (const [label, program, perl] of [
    // The table of contents (every object's definition) is stored uncompressed: a same-size
    // change there reads back through `pg_restore -f /dev/null` without an error.
    ["a dump with a table definition changed (same size)", "pg_dump", "s/CREATE TABLE/CREATE TABLX/"],
    [
      "a dump with bytes flipped in its middle (same size)",
      "pg_dump",
      "substr($_, length($_) >> 1, 16) ^= chr(255) x 16",
    ],
    ["globals with a role changed (same size)", "pg_dumpall", "s/CREATE ROLE/CREATE ROLX/"],
  ] as const) {
    test(`${label} on its way to disk (the program exited 0) is refused at backup time`, () => {
      const before = dumps();
      const r = onHost(
        `PATH=${mangling(label.replace(/\W+/g, "-"), program, perl)}:$PATH exec /usr/local/lib/launchgate/backup-postgres.sh incremental`,
      );
      assert.notEqual(r.status, 0, `a corrupted backup was accepted:\n${r.stderr}`);
      assert.match(
        r.stderr,
        /verification failed: .*(is not what the server wrote|could not read the whole dump)/,
      );
      assert.match(r.stderr, /verification failed: .*\bof app\b/);
      assert.deepEqual(dumps(), before, "no new dump kept");
      const leftovers = fs
        .readdirSync(path.join(backupDir, "postgres", "app"))
        .filter((f) => f.includes(".partial"));
      assert.deepEqual(leftovers, [], "no partial files left");
    });
  }

  test("a dump or its globals changed on disk after the backup verified them fails the drill, naming the checksum", () => {
    ok(onHost("exec /usr/local/lib/launchgate/backup-postgres.sh incremental"), "incremental");
    const good = newestDump();
    assert.match(
      fs.readFileSync(`${good}.sha256`, "utf8"),
      /^[0-9a-f]{64} {2}\S+\.dump\n[0-9a-f]{64} {2}\S+\.dump\.globals\.sql\n$/,
    );
    for (const file of [good, `${good}.globals.sql`]) {
      const original = fs.readFileSync(file);
      const stat = fs.statSync(file);
      const bad = Buffer.from(original);
      bad[bad.length >> 1] ^= 0x01; // one bit, same size, same mtime
      fs.writeFileSync(file, bad);
      fs.utimesSync(file, stat.atime, stat.mtime);
      try {
        const r = runService("launchgate-restore-drill.service");
        assert.notEqual(r.status, 0, "drill must fail");
        const result = JSON.parse(fs.readFileSync(path.join(backupDir, "restore-drill.json"), "utf8"));
        assert.equal(result.ok, false);
        assert.equal(result.dump, good);
        assert.match(result.error, /changed on disk since the backup verified it .*sha256/);
      } finally {
        fs.writeFileSync(file, original);
        fs.utimesSync(file, stat.atime, stat.mtime);
      }
    }
    // Untouched again: the same dump passes, and the record lists the checksum among its checks.
    ok(runService("launchgate-restore-drill.service"), "drill");
    const result = JSON.parse(fs.readFileSync(path.join(backupDir, "restore-drill.json"), "utf8"));
    assert.equal(result.ok, true);
    assert.ok(result.checks.includes("dump and globals match their backup-time sha256"), result.checks);
  });

  test("globals missing, empty or stale (another dump's) beside the newest dump fail the drill, saying so", () => {
    const good = newestDump();
    const globals = `${good}.globals.sql`;
    const original = fs.readFileSync(globals);
    const older = dumps()
      .map((f) => path.join(backupDir, "postgres", "app", f))
      .filter((f) => f !== good && fs.existsSync(`${f}.globals.sql`))[0]!;
    // A role only the stale file lacks: created after the older dump, named by nothing.
    pg!.psql("postgres", "CREATE ROLE lg_stale_marker NOLOGIN");
    ok(onHost("exec /usr/local/lib/launchgate/backup-postgres.sh incremental"), "incremental");
    pg!.psql("postgres", "DROP ROLE lg_stale_marker");
    const newest = newestDump();
    const newestGlobals = fs.readFileSync(`${newest}.globals.sql`);
    const cases: [string, () => void, RegExp][] = [
      ["missing", () => fs.rmSync(`${newest}.globals.sql`), /no globals beside/],
      ["empty", () => fs.writeFileSync(`${newest}.globals.sql`, ""), /no globals beside/],
      [
        "stale",
        () => fs.copyFileSync(`${older}.globals.sql`, `${newest}.globals.sql`),
        /changed on disk since the backup verified it .*sha256/,
      ],
    ];
    try {
      for (const [label, spoil, message] of cases) {
        spoil();
        const r = runService("launchgate-restore-drill.service");
        assert.notEqual(r.status, 0, `${label}: drill must fail`);
        const result = JSON.parse(fs.readFileSync(path.join(backupDir, "restore-drill.json"), "utf8"));
        assert.equal(result.ok, false, label);
        assert.equal(result.dump, newest, label);
        assert.match(result.error, message, label);
        fs.writeFileSync(`${newest}.globals.sql`, newestGlobals);
      }
    } finally {
      fs.writeFileSync(`${newest}.globals.sql`, newestGlobals);
      fs.writeFileSync(globals, original);
    }
  });

  test("a sequence the app role cannot use fails the drill (its inserts would fail after a recovery)", () => {
    drillRefuses(
      "CREATE SEQUENCE billing.invoice_numbers",
      "DROP SEQUENCE billing.invoice_numbers",
      new RegExp(`app role ${APP_ROLE} cannot use the restored sequence\\(s\\) billing\\.invoice_numbers`),
    );
    // The app's own sequences (items.id's bigserial) pass, and the record says so.
    ok(runService("launchgate-restore-drill.service"), "drill");
    const result = JSON.parse(fs.readFileSync(path.join(backupDir, "restore-drill.json"), "utf8"));
    assert.ok(result.checks.includes("app role uses every sequence"), result.checks);
  });

  test("globals cut short (no completion line) fail the drill before anything is restored", () => {
    const good = newestDump();
    const globals = `${good}.globals.sql`;
    const original = fs.readFileSync(globals);
    const sums = fs.readFileSync(`${good}.sha256`);
    const cut = original.subarray(0, original.lastIndexOf("-- PostgreSQL database cluster dump complete"));
    fs.writeFileSync(globals, cut);
    // As if the checksum had been written for the short file (it cannot tell a file cut before hashing).
    const sha = crypto.createHash("sha256").update(cut).digest("hex");
    fs.writeFileSync(
      `${good}.sha256`,
      sums.toString().replace(/^[0-9a-f]{64}(?= {2}\S+\.globals\.sql$)/m, sha),
    );
    try {
      const r = runService("launchgate-restore-drill.service");
      assert.notEqual(r.status, 0, "drill must fail");
      const result = JSON.parse(fs.readFileSync(path.join(backupDir, "restore-drill.json"), "utf8"));
      assert.match(result.error, /globals .* incomplete/);
    } finally {
      fs.writeFileSync(globals, original);
      fs.writeFileSync(`${good}.sha256`, sums);
    }
  });

  test("overlapping runs wait for the lock instead of interleaving", () => {
    // Hold the lock for 2 s; a backup started meanwhile must finish after it is released.
    const r = onHost(
      'exec 9>/run/lock/launchgate-backup.lock; flock 9; (sleep 2; flock -u 9) & start=$(date +%s%3N); /usr/local/lib/launchgate/backup-retention.sh 9>&-; echo "$(( $(date +%s%3N) - start ))"',
    );
    ok(r, "locked retention");
    assert.ok(Number(r.stdout.trim().split("\n").pop()) >= 1500, `waited ${r.stdout.trim()} ms`);
  });
});
