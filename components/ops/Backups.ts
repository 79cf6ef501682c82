/**
 * Backups: host-side scheduled backups (systemd timers): daily `pg_dump -Fc`, incremental dumps
 * every N hours, retention, Redis RDB and storage copies, optional off-site rsync, and the
 * restore drill whose result file the backups gate reads.
 *
 * Every dump has the cluster's globals (`pg_dumpall --globals-only`: roles, memberships) beside it
 * and is verified whole at backup time (every block read back with `pg_restore -f /dev/null`; a
 * truncated dump is refused, not kept) and byte for byte (dump and globals hashed with sha256 in
 * the server container as they are written, compared with the files on disk, the hashes kept as
 * `<dump>.sha256`: a same-size change of the uncompressed table of contents reads back fine). The
 * drill first checks those hashes and that the globals are complete, then restores as a recovery
 * would: into a scratch cluster (a throwaway container of the server's image, no network), roles
 * first, then the dump with owners and grants (`pg_restore --create`, parallel jobs), then checks
 * row counts against the dump's snapshot, reads every table and checks every sequence is usable
 * as the database's owning app role; the result names what it checked. Compression is the best the server's pg_dump has (zstd from PostgreSQL 16;
 * gzip level 1 before). The dump stays a single custom-format stream through `docker exec`:
 * directory format with `pg_dump -j` would need a dump directory inside the server container,
 * whose root is read-only and whose only volume is PGDATA; the drill restores in parallel from a
 * copy inside its own scratch container instead. Measured (`npm run bench`, 78 MB database,
 * PostgreSQL 15, 2 shared cores, medians of 3): `pg_dump -Fd -j 2` + `pg_restore -j 2` took
 * 4.09 s against 4.30 s for `-Fc` restored with `-j 2` (0.95×: dump 1.38 s vs 1.55 s, restore
 * equal), within the rounds' spread, so the custom format stays.
 *
 * On a swarm (`placement: "swarm"`) the scripts run on the node Postgres is pinned to and reach its
 * task container, found at run time by its service's label (scripts/lib-workload.sh, shared with
 * monitoring). Ops for a store run on the node holding it: when Redis is pinned to another node
 * (`redisNode`), its RDB copies are installed there (`<name>-redis`, role `backup`, its own daily
 * timer, retention and off-site copy) and the Postgres node's daily run leaves Redis out.
 *
 * Every script lives in `scripts/` and is rendered with its configuration (remote-script.ts);
 * one `install` command writes them and the units to the host (replaced delete-first, so an
 * update never uninstalls what it just installed), `preMigrationBackup` runs one verified dump
 * per release.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { roleTrigger } from "../../contract/roles";
import type { SshConnection } from "../host/HardenedHost";
import {
  HostFile,
  ScriptValue,
  dailyCalendar,
  everyHoursCalendar,
  renderInstall,
  renderScript,
  serviceUnit,
  timerUnit,
} from "./remote-script";

/** Shell libraries spliced into every backup script (remote-script.ts), in order. */
export const BACKUP_LIBS = ["lib-common.sh", "lib-workload.sh", "lib-backup.sh"];

/** Where the rendered host scripts are installed. */
export const HOST_LIB_DIR = "/usr/local/lib/launchgate";
const UNIT_DIR = "/etc/systemd/system";
const LOCK_FILE = "/run/lock/launchgate-backup.lock";

/** When backups run, how long they are kept, where copies go. */
export interface BackupsSettings {
  /** Time of the daily full `pg_dump`, `HH:MM` (24 h, UTC); the restore drill runs an hour later. */
  readonly dailyAt: string;
  /** Hours between the intermediate dumps (1–24). */
  readonly incrementalEveryHours: number;
  /** Days a backup file is kept. */
  readonly retentionDays: number;
  /** rsync-over-ssh destination for off-site copies (`user@host:/path`); none when absent. */
  readonly offsiteTarget?: string;
  /** Hours between restore drills. */
  readonly drillEveryHours: number;
}

export interface BackupsArgs {
  readonly config: BackupsSettings;
  /** Deploy-user SSH connection to the host. */
  readonly connection: pulumi.Input<SshConnection>;
  /** Root of persistent storage; dumps go to `<storagePath>/backups`. */
  readonly storagePath: pulumi.Input<string>;
  /**
   * Postgres server container and the databases to dump; with `placement: "swarm"`, the Swarm
   * service, whose task container on this host the scripts find at run time (lib-workload.sh).
   */
  readonly postgresContainer: pulumi.Input<string>;
  readonly databases: string[];
  /** Redis containers (Swarm services with `placement: "swarm"`) whose RDB snapshots are copied. */
  readonly redisContainers: pulumi.Input<string>[];
  /**
   * The node holding Redis when it is not this one (a swarm whose Redis is pinned elsewhere): the
   * RDB copies are installed and run there, under its own `storagePath`. @default this host
   */
  readonly redisNode?: {
    readonly connection: pulumi.Input<SshConnection>;
    readonly storagePath: pulumi.Input<string>;
  };
  /**
   * How the workloads above are named: `single-host` (container names) or `swarm` (service names;
   * their tasks must run on this host, the node their placement pins them to). @default "single-host"
   */
  readonly placement?: "single-host" | "swarm";
  /** Superuser `pg_dump`/`pg_restore` run as inside the container (local socket). @default "postgres" */
  readonly postgresUser?: pulumi.Input<string>;
  /**
   * Release the pre-migration backup protects (commit or image digest). A new value re-runs the
   * backup, so every migration has a fresh verified dump. @default "" (runs once, on create)
   */
  readonly releaseId?: pulumi.Input<string>;
}

/** The systemd schedules the component installs (UTC `OnCalendar` values). */
export interface BackupSchedules {
  readonly full: string;
  readonly incremental: string;
  readonly drill: string;
}

/** Pure: the three `OnCalendar` values for a config. The drill runs an hour after the daily dump. */
export function backupSchedules(config: BackupsSettings): BackupSchedules {
  const [hh, mm] = config.dailyAt.split(":").map(Number) as [number, number];
  const named = (key: string, f: () => string) => {
    try {
      return f();
    } catch (e) {
      throw new Error(`launchgate:backups.${key}: ${(e as Error).message}`);
    }
  };
  return {
    full: named("dailyAt", () => dailyCalendar(config.dailyAt)),
    incremental: named("incrementalEveryHours", () => everyHoursCalendar(config.incrementalEveryHours, 0, 0)),
    drill: named("drillEveryHours", () => everyHoursCalendar(config.drillEveryHours, (hh + 1) % 24, mm)),
  };
}

export class Backups extends pulumi.ComponentResource {
  /** Directory holding dumps on the host. */
  public readonly backupDir: pulumi.Output<string>;
  /** Path of the restore-drill result file (JSON) on the host. */
  public readonly drillResultPath: pulumi.Output<string>;
  /** Retention in days (policies check ≥ 30). */
  public readonly retentionDays: number;
  /** Runs one backup now; migrations depend on it (pre-migration backup). */
  public readonly preMigrationBackup: pulumi.Resource;
  /** Installs the scripts, units and timers. */
  public readonly install: command.remote.Command;
  /** Installs the restore drill's script, unit and timer (its own scheduled resource). */
  public readonly drill: command.remote.Command;
  /** Installs the Redis RDB copies on Redis' own node (`redisNode` given). */
  public readonly redisInstall?: command.remote.Command;
  /** systemd `OnCalendar` values of the full, incremental and drill timers (UTC). */
  public readonly schedules: BackupSchedules;

  constructor(name: string, args: BackupsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("launchgate:ops:Backups", name, {}, opts);
    const cfg = args.config;
    this.backupDir = pulumi.interpolate`${args.storagePath}/backups`;
    this.drillResultPath = pulumi.interpolate`${args.storagePath}/backups/restore-drill.json`;
    this.retentionDays = cfg.retentionDays;
    this.schedules = backupSchedules(cfg);

    // The environment the scripts of one node are rendered with.
    const envOn = (storagePath: pulumi.Input<string>, redis: pulumi.Input<string>[]) => ({
      LG_STORAGE_PATH: storagePath,
      LG_BACKUP_DIR: pulumi.interpolate`${storagePath}/backups`,
      LG_DRILL_RESULT: this.drillResultPath,
      LG_PG_CONTAINER: args.postgresContainer,
      LG_PG_USER: args.postgresUser ?? "postgres",
      LG_DATABASES: args.databases,
      LG_REDIS_CONTAINERS: pulumi.all(redis),
      LG_RETENTION_DAYS: cfg.retentionDays,
      LG_OFFSITE_TARGET: cfg.offsiteTarget ?? "",
      LG_LOCK_FILE: LOCK_FILE,
      LG_LOCK_WAIT_SECONDS: 3600,
      LG_PLACEMENT: args.placement ?? "single-host",
    });
    const redisHere = args.redisNode === undefined;
    const env: Record<string, pulumi.Input<ScriptValue>> = envOn(
      args.storagePath,
      redisHere ? args.redisContainers : [],
    );
    const scripts = [
      "backup-postgres.sh",
      "backup-redis.sh",
      "backup-storage.sh",
      "backup-retention.sh",
      "backup-offsite.sh",
      "restore-drill.sh",
    ].map((file) => ({ file, rendered: renderScript(file, env, BACKUP_LIBS) }));
    const bin = (file: string) => `${HOST_LIB_DIR}/${file}`;

    // Retention and the off-site copy run only after a successful dump (ExecStartPost).
    const post = [`ExecStartPost=${bin("backup-retention.sh")}`];
    if (cfg.offsiteTarget) post.push(`ExecStartPost=${bin("backup-offsite.sh")}`);
    const limits = ["TimeoutStartSec=4h"];
    const units: Record<string, string> = {
      "launchgate-backup-full.service": serviceUnit(
        `launchgate: daily full pg_dump${redisHere ? ", Redis RDB" : ""} and storage copies`,
        [
          `${bin("backup-postgres.sh")} full`,
          ...(redisHere ? [bin("backup-redis.sh")] : []),
          bin("backup-storage.sh"),
        ],
        [...post, ...limits],
      ),
      "launchgate-backup-full.timer": timerUnit("launchgate: daily full backup", [
        `OnCalendar=${this.schedules.full}`,
        "Persistent=true",
      ]),
      "launchgate-backup-incremental.service": serviceUnit(
        `launchgate: pg_dump every ${cfg.incrementalEveryHours} h`,
        [`${bin("backup-postgres.sh")} incremental`],
        [...post, ...limits],
      ),
      "launchgate-backup-incremental.timer": timerUnit("launchgate: incremental backup", [
        `OnCalendar=${this.schedules.incremental}`,
        "Persistent=true",
      ]),
    };
    // The restore drill is its own scheduled resource (role `drill`), so removing or breaking it
    // is visible on its own and the backups install cannot take it along.
    const drillUnits: Record<string, string> = {
      "launchgate-restore-drill.service": serviceUnit(
        "launchgate: restore drill (latest dump into a scratch database)",
        [bin("restore-drill.sh")],
        limits,
      ),
      "launchgate-restore-drill.timer": timerUnit("launchgate: restore drill", [
        `OnCalendar=${this.schedules.drill}`,
        "Persistent=true",
      ]),
    };
    const timers = Object.keys(units).filter((u) => u.endsWith(".timer"));
    const drillTimers = Object.keys(drillUnits).filter((u) => u.endsWith(".timer"));
    const unitFiles = (u: Record<string, string>): HostFile[] =>
      Object.entries(u).map(([unit, content]) => ({ path: `${UNIT_DIR}/${unit}`, mode: "0644", content }));
    const isDrill = (file: string) => file === "restore-drill.sh";
    const files: HostFile[] = [
      ...scripts
        .filter((s) => !isDrill(s.file))
        .map((s) => ({ path: bin(s.file), mode: "0755", content: s.rendered.text })),
      ...unitFiles(units),
    ];
    const drillFiles: HostFile[] = [
      ...scripts
        .filter((s) => isDrill(s.file))
        .map((s) => ({ path: bin(s.file), mode: "0755", content: s.rendered.text })),
      ...unitFiles(drillUnits),
    ];
    // One install command: writes `files`, enables `timers`; its delete removes exactly those.
    const installOn = (
      resource: string,
      role: "backup" | "drill",
      connection: pulumi.Input<SshConnection>,
      dirs: [string, pulumi.Input<string>][],
      installed: HostFile[],
      enabled: string[],
      rendered: { trigger: pulumi.Input<string> }[],
      dependsOn?: pulumi.Resource[],
    ) => {
      const text = renderInstall({ dirs, files: installed, timers: enabled });
      const uninstallText = renderScript("uninstall-files.sh", {
        LG_TIMERS: enabled,
        LG_PATHS: installed.map((f) => f.path),
      });
      return new command.remote.Command(
        resource,
        {
          connection,
          create: text.text,
          delete: uninstallText.text,
          triggers: [
            roleTrigger(role),
            text.trigger,
            uninstallText.trigger,
            ...rendered.map((r) => r.trigger),
          ],
        },
        // Replaced (new triggers) delete-first: Pulumi's default create-first would run the old
        // version's delete after the new create and remove what the new one just installed.
        { parent: this, deleteBeforeReplace: true, ...(dependsOn ? { dependsOn } : {}) },
      );
    };
    // 0711: the deploy user (and the gate reading the drill result) can open known paths but not
    // list dumps; dumps themselves are 0600.
    const backupDirs = (dir: pulumi.Input<string>): [string, pulumi.Input<string>][] => [
      ["0755", HOST_LIB_DIR],
      ["0711", dir],
    ];
    this.install = installOn(
      `${name}-install`,
      "backup",
      args.connection,
      backupDirs(this.backupDir),
      files,
      timers,
      scripts.filter((s) => !isDrill(s.file)).map((s) => s.rendered),
    );
    // The drill reads the dumps and libraries the backups install puts in place.
    this.drill = installOn(
      `${name}-drill`,
      "drill",
      args.connection,
      [["0755", HOST_LIB_DIR]],
      drillFiles,
      drillTimers,
      scripts.filter((s) => isDrill(s.file)).map((s) => s.rendered),
      [this.install],
    );

    if (args.redisNode) {
      // Redis' node: its RDB copies daily (with the full dump's schedule), retention, off-site.
      const {
        LG_DRILL_RESULT: _d,
        LG_PG_CONTAINER: _c,
        LG_PG_USER: _u,
        LG_DATABASES: _b,
        ...redisEnv
      } = envOn(args.redisNode.storagePath, args.redisContainers);
      const redisScripts = ["backup-redis.sh", "backup-retention.sh", "backup-offsite.sh"]
        .filter((f) => f !== "backup-offsite.sh" || cfg.offsiteTarget)
        .map((file) => ({ file, rendered: renderScript(file, redisEnv, BACKUP_LIBS) }));
      const redisUnits: Record<string, string> = {
        "launchgate-backup-redis.service": serviceUnit(
          "launchgate: daily Redis RDB copies",
          [bin("backup-redis.sh")],
          [...post, ...limits],
        ),
        "launchgate-backup-redis.timer": timerUnit("launchgate: daily Redis backup", [
          `OnCalendar=${this.schedules.full}`,
          "Persistent=true",
        ]),
      };
      this.redisInstall = installOn(
        `${name}-redis`,
        "backup",
        args.redisNode.connection,
        backupDirs(redisEnv.LG_BACKUP_DIR),
        [
          ...redisScripts.map((s) => ({ path: bin(s.file), mode: "0755", content: s.rendered.text })),
          ...unitFiles(redisUnits),
        ],
        ["launchgate-backup-redis.timer"],
        redisScripts.map((s) => s.rendered),
      );
    }

    const backupPostgres = scripts.find((s) => s.file === "backup-postgres.sh")!.rendered;
    const preMigration = renderScript("pre-migration-backup.sh", {
      LG_LIB_DIR: HOST_LIB_DIR,
      LG_RELEASE_ID: args.releaseId ?? "",
    });
    this.preMigrationBackup = new command.remote.Command(
      `${name}-pre-migration`,
      {
        connection: args.connection,
        create: preMigration.text,
        // A new release, or a changed backup script, takes a new dump before migrations run.
        triggers: [
          args.releaseId ?? "",
          preMigration.trigger,
          backupPostgres.trigger,
          roleTrigger("pre-migration-backup"),
        ],
      },
      { parent: this, dependsOn: [this.install] },
    );

    this.registerOutputs({
      backupDir: this.backupDir,
      drillResultPath: this.drillResultPath,
      retentionDays: this.retentionDays,
      preMigrationBackup: this.preMigrationBackup,
      install: this.install,
      drill: this.drill,
      schedules: this.schedules,
    });
  }
}
