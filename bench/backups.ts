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
import { makeFakeHost, seedPlainDump, seedPlainRestore, seedShop } from "../test/support/fake-host";
import { buildPostgresImage, startPostgres } from "../test/support/pg";
import { REPEAT, Row, median, ratio, secs } from "./table";

const mbps = (bytes: number, ms: number) => `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;

export async function measureBackups(log: (l: string) => void): Promise<Row[]> {
  const host = makeFakeHost("lg-bench-backups-");
  const { storage, backupDir } = host;
  const tmp = host.dir;
  /** Runs a host script; the bench stops at the first failure. */
  const onHost = (script: string) => {
    const r = host.run(script);
    if (r.status !== 0) throw new Error(`host script failed (${r.status}): ${r.stderr.slice(-400)}`);
    return r;
  };

  const image = buildPostgresImage();
  const pg = startPostgres(image, "lg-bench-pg-");
  try {
    const s0 = Date.now();
    seedShop(pg);
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
    onHost(rec.one("command:remote:Command", "backups-drill").inputs.create as string);

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
      // Ours: the component's dump (pg_dump -Fc + globals + snapshot row counts + whole read-back).
      dumpMs.push(onHost("exec /usr/local/lib/launchgate/backup-postgres.sh full").ms);
      const newest = fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".dump"))
        .map((f) => path.join(dir, f))
        .sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs)
        .pop()!;
      dumpBytes = fs.statSync(newest).size;

      // Baseline: the seeds' plain pg_dump > file.sql.
      const plainDump = seedPlainDump(pg, "app", plain);
      plainMs.push(plainDump.ms);
      plainBytes = plainDump.bytes;

      // Ours: the restore drill as its service runs it (scratch cluster, restore, checks, result file).
      drillMs.push(onHost(host.serviceScript("launchgate-restore-drill.service")).ms);
      const result = JSON.parse(fs.readFileSync(path.join(backupDir, "restore-drill.json"), "utf8")) as {
        ok: boolean;
      };
      if (!result.ok) throw new Error(`restore drill reported failure: ${JSON.stringify(result)}`);

      // Baseline: the seeds' psql < file.sql into a fresh database.
      plainRestoreMs.push(seedPlainRestore(pg, plain, "plain_restore"));
      log(
        `round ${i + 1}: dump ${dumpMs[i]} / ${plainMs[i]} ms, restore ${drillMs[i]} / ${plainRestoreMs[i]} ms`,
      );
      spawnSync("sleep", ["1.1"]); // dump file names carry the second
    }
    // Format: directory with parallel jobs (-Fd -j) beside the custom format the component uses
    // (-Fc, restored with -j from a file as the drill does), same compression, dumped and restored
    // inside the same server (its own pg_dump/pg_restore), so only the dump's parallelism differs.
    const jobs = Math.max(2, Math.min(4, os.cpus().length));
    const major = Number(/(\d+)/.exec(pg.psql("postgres", "SHOW server_version"))![1]);
    const z = major >= 16 ? "zstd:3" : "1";
    const inPg = (cmd: string) => {
      const t0 = Date.now();
      const r = spawnSync("docker", ["exec", pg.name, "sh", "-c", cmd], {
        encoding: "utf8",
        timeout: 600_000,
      });
      if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr.slice(-300)}`);
      return Date.now() - t0;
    };
    const fmt = {
      customDump: [] as number[],
      customRestore: [] as number[],
      dirDump: [] as number[],
      dirRestore: [] as number[],
    };
    for (let i = 0; i < REPEAT; i++) {
      const reset =
        "rm -rf /tmp/lg-fmt; mkdir -p /tmp/lg-fmt; dropdb -U postgres --if-exists fmt_restore; createdb -U postgres fmt_restore";
      inPg(reset);
      fmt.customDump.push(inPg(`pg_dump -U postgres -Fc -Z ${z} -f /tmp/lg-fmt/app.dump app`));
      fmt.customRestore.push(
        inPg(`pg_restore -U postgres --exit-on-error -j ${jobs} -d fmt_restore /tmp/lg-fmt/app.dump`),
      );
      inPg(reset);
      fmt.dirDump.push(inPg(`pg_dump -U postgres -Fd -j ${jobs} -Z ${z} -f /tmp/lg-fmt/app.dir app`));
      fmt.dirRestore.push(
        inPg(`pg_restore -U postgres --exit-on-error -j ${jobs} -d fmt_restore /tmp/lg-fmt/app.dir`),
      );
      log(
        `format round ${i + 1}: -Fc dump ${fmt.customDump[i]} ms restore -j${jobs} ${fmt.customRestore[i]} ms; -Fd -j${jobs} dump ${fmt.dirDump[i]} ms restore ${fmt.dirRestore[i]} ms`,
      );
    }
    inPg("rm -rf /tmp/lg-fmt; dropdb -U postgres --if-exists fmt_restore");
    const [cd, cr, dd, dr] = [fmt.customDump, fmt.customRestore, fmt.dirDump, fmt.dirRestore].map(median) as [
      number,
      number,
      number,
      number,
    ];

    const [dump, plainDump, drill, plainRestore] = [dumpMs, plainMs, drillMs, plainRestoreMs].map(median) as [
      number,
      number,
      number,
      number,
    ];

    const db = `${(dbBytes / 1e6).toFixed(0)} MB DB, median of ${REPEAT}`;
    return [
      {
        figure: `backup: component dump (-Fc, globals, snapshot counts, verified whole), ${db}`,
        ours: `${secs(dump)} = ${mbps(dbBytes, dump)}, file ${(dumpBytes / 1e6).toFixed(1)} MB`,
        baselineWhat: "seed: pg_dump > file.sql",
        baseline: `${secs(plainDump)} = ${mbps(dbBytes, plainDump)}, file ${(plainBytes / 1e6).toFixed(1)} MB`,
        ratio: ratio(dump, plainDump),
      },
      {
        figure: `restore drill (scratch cluster: roles first, owners and grants, counts, app-role reads), ${db}`,
        ours: `${secs(drill)} = ${mbps(dbBytes, drill)}, verified ok`,
        baselineWhat: "seed: psql < file.sql (unverified)",
        baseline: `${secs(plainRestore)} = ${mbps(dbBytes, plainRestore)}`,
        ratio: ratio(drill, plainRestore),
      },
      {
        figure: `format: pg_dump -Fd -j ${jobs} + pg_restore -j ${jobs} (PG ${major}, -Z ${z}), ${db}`,
        ours: `dump ${secs(dd)} + restore ${secs(dr)} = ${secs(dd + dr)}`,
        baselineWhat: `custom format as the component dumps (-Fc -Z ${z}), restored -j ${jobs} as the drill does`,
        baseline: `dump ${secs(cd)} + restore ${secs(cr)} = ${secs(cd + cr)}`,
        ratio: ratio(dd + dr, cd + cr),
      },
    ];
  } finally {
    pg.stop();
    host.remove();
  }
}
