/**
 * Backup and restore-drill throughput against the seeds' plain `pg_dump > file.sql` /
 * `psql < file.sql`, on the same PostgreSQL 15 container and the same 600k-row database. The
 * backup scripts are the exact ones the Backups component declares (captured from a mock run,
 * installed by its own install command), run as test/host/backups.test.ts runs them: bash on
 * this machine in a private mount namespace, a stand-in `systemctl`, `docker exec` into the
 * database container. Docker objects: `lg-bench-pg-<hex>`, removed at the end.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { Backups } from "../components/ops/Backups";
import { installMocks, settle } from "../test/support/mocks";
import { buildPostgresImage, startPostgres } from "../test/support/pg";
import { REPEAT, Row, median, ratio, secs } from "./table";

const SEED = { users: 200_000, orders: 300_000, events: 100_000 };

const mbps = (bytes: number, ms: number) => `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;

export async function measureBackups(log: (l: string) => void): Promise<Row[]> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lg-bench-backups-"));
  const storage = path.join(tmp, "storage");
  const backupDir = path.join(storage, "backups");
  for (const d of ["lib", "units", "fakebin", "storage/uploads"])
    fs.mkdirSync(path.join(tmp, d), { recursive: true });
  fs.writeFileSync(
    path.join(tmp, "fakebin", "systemctl"),
    `#!/bin/bash\necho "$*" >>"$LG_T/systemctl.log"\nstate="$LG_T/systemctl.enabled"\ncase $1 in\n  is-enabled|is-active) grep -qx "$3" "$state" 2>/dev/null ;;\n  enable) echo "$3" >>"$state" ;;\nesac\n`,
    { mode: 0o755 },
  );
  const onHost = (script: string, timeoutMs = 10 * 60_000) => {
    const setup =
      'mount --bind "$LG_T/lib" /usr/local/lib && mount --bind "$LG_T/units" /etc/systemd/system && exec bash -c "$LG_RUN"';
    const t0 = Date.now();
    const r = spawnSync("unshare", ["--mount", "--propagation", "private", "bash", "-c", setup], {
      encoding: "utf8",
      timeout: timeoutMs,
      env: { ...process.env, LG_T: tmp, LG_RUN: script, PATH: `${tmp}/fakebin:${process.env.PATH}` },
      maxBuffer: 64 << 20,
    });
    const ms = Date.now() - t0;
    if (r.error || r.status !== 0)
      throw new Error(`host script failed (${r.status}): ${r.error ?? ""} ${r.stderr.slice(-400)}`);
    return { ms, stdout: r.stdout, stderr: r.stderr };
  };
  const unitScript = (u: string) => {
    const text = fs.readFileSync(path.join(tmp, "units", u), "utf8").split("\n");
    const pick = (k: string) => text.filter((l) => l.startsWith(`${k}=`)).map((l) => l.slice(k.length + 1));
    return [...pick("ExecStart"), ...pick("ExecStartPost")].join(" && \\\n");
  };

  const image = buildPostgresImage();
  const pg = startPostgres(image, "lg-bench-pg-");
  try {
    const s0 = Date.now();
    pg.psql("postgres", "CREATE DATABASE app");
    pg.psql(
      "app",
      `CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
       CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users, amount_cents int NOT NULL, note text);
       CREATE TABLE events (id bigserial PRIMARY KEY, kind text NOT NULL, payload jsonb NOT NULL);
       INSERT INTO users (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, ${SEED.users}) g;
       INSERT INTO orders (user_id, amount_cents, note)
         SELECT 1 + (g % ${SEED.users}), (g::bigint * 7919) % 100000, md5(g::text) FROM generate_series(1, ${SEED.orders}) g;
       INSERT INTO events (kind, payload)
         SELECT (ARRAY['login','view','pay'])[1 + g % 3], jsonb_build_object('n', g, 'tag', md5(g::text)) FROM generate_series(1, ${SEED.events}) g;
       CREATE INDEX ON orders (user_id);`,
    );
    const dbBytes = Number(pg.psql("postgres", "SELECT pg_database_size('app')").trim());
    log(`seeded 600k rows (${(dbBytes / 1e6).toFixed(1)} MB on disk) in ${secs(Date.now() - s0)}`);

    const rec = await installMocks("local");
    new Backups("backups", {
      config: { dailyAt: "02:00", incrementalEveryHours: 6, retentionDays: 30, drillEveryHours: 24 },
      connection: { host: "127.0.0.1", port: 22, user: "deployer", privateKey: pulumi.secret("unused") },
      storagePath: storage,
      postgresContainer: pg.name,
      databases: ["app"],
      redisContainers: [],
      releaseId: "sha256:0123abcd",
    });
    await settle();
    onHost(rec.one("command:remote:Command", "backups-install").inputs.create as string);

    const dir = path.join(backupDir, "postgres", "app");
    const plain = path.join(tmp, "plain.sql");
    const dumpMs: number[] = [];
    const plainMs: number[] = [];
    const drillMs: number[] = [];
    const plainRestoreMs: number[] = [];
    let dumpBytes = 0;
    let plainBytes = 0;
    // Interleaved, so load from elsewhere on the machine hits both sides alike.
    for (let i = 0; i < REPEAT; i++) {
      // Ours: the component's dump (pg_dump -Fc + snapshot row counts + pg_restore -l check).
      dumpMs.push(onHost("exec /usr/local/lib/launchgate/backup-postgres.sh full").ms);
      const newest = fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".dump"))
        .map((f) => path.join(dir, f))
        .sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs)
        .pop()!;
      dumpBytes = fs.statSync(newest).size;

      // Baseline: the seeds' plain pg_dump > file.sql.
      const p0 = Date.now();
      const fd = fs.openSync(plain, "w");
      const pd = spawnSync("docker", ["exec", pg.name, "pg_dump", "-U", "postgres", "app"], {
        stdio: ["ignore", fd, "pipe"],
        timeout: 300_000,
      });
      fs.closeSync(fd);
      if (pd.status !== 0) throw new Error(`pg_dump failed: ${pd.stderr?.toString()}`);
      plainMs.push(Date.now() - p0);
      plainBytes = fs.statSync(plain).size;

      // Ours: the restore drill as its service runs it (scratch DB, restore, row counts, result file).
      drillMs.push(onHost(unitScript("launchgate-restore-drill.service")).ms);
      const result = JSON.parse(fs.readFileSync(path.join(backupDir, "restore-drill.json"), "utf8")) as {
        ok: boolean;
      };
      if (!result.ok) throw new Error(`restore drill reported failure: ${JSON.stringify(result)}`);

      // Baseline: the seeds' psql < file.sql into a fresh database.
      if (i > 0) pg.psql("postgres", "DROP DATABASE plain_restore");
      pg.psql("postgres", "CREATE DATABASE plain_restore");
      const q0 = Date.now();
      const restore = spawnSync(
        "docker",
        [
          "exec",
          "-i",
          pg.name,
          "psql",
          "-U",
          "postgres",
          "-d",
          "plain_restore",
          "-q",
          "-v",
          "ON_ERROR_STOP=1",
        ],
        { input: fs.readFileSync(plain), timeout: 300_000, maxBuffer: 64 << 20 },
      );
      if (restore.status !== 0)
        throw new Error(`psql < file.sql failed: ${restore.stderr?.toString().slice(-300)}`);
      plainRestoreMs.push(Date.now() - q0);
      log(
        `round ${i + 1}: dump ${dumpMs[i]} / ${plainMs[i]} ms, restore ${drillMs[i]} / ${plainRestoreMs[i]} ms`,
      );
      spawnSync("sleep", ["1.1"]); // dump file names carry the second
    }
    const [dump, plainDump, drill, plainRestore] = [dumpMs, plainMs, drillMs, plainRestoreMs].map(median) as [
      number,
      number,
      number,
      number,
    ];

    const db = `${(dbBytes / 1e6).toFixed(0)} MB DB, median of ${REPEAT}`;
    return [
      {
        figure: `backup: component dump (-Fc, counts, verified), ${db}`,
        ours: `${secs(dump)} = ${mbps(dbBytes, dump)}, file ${(dumpBytes / 1e6).toFixed(1)} MB`,
        baselineWhat: "seed: pg_dump > file.sql",
        baseline: `${secs(plainDump)} = ${mbps(dbBytes, plainDump)}, file ${(plainBytes / 1e6).toFixed(1)} MB`,
        ratio: ratio(dump, plainDump),
      },
      {
        figure: `restore drill (scratch DB + row counts), ${db}`,
        ours: `${secs(drill)} = ${mbps(dbBytes, drill)}, verified ok`,
        baselineWhat: "seed: psql < file.sql (unverified)",
        baseline: `${secs(plainRestore)} = ${mbps(dbBytes, plainRestore)}`,
        ratio: ratio(drill, plainRestore),
      },
    ];
  } finally {
    pg.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
