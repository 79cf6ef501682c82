/**
 * Backups: host-side scheduled backups (systemd timers): daily `pg_dump -Fc`, incremental dumps
 * every N hours, retention, Redis RDB and storage copies, optional off-site rsync, and the
 * restore drill whose result file the backups gate reads.
 * STUB: contract only; implementation pending.
 */
import * as pulumi from "@pulumi/pulumi";
import { LaunchgateComponent, LaunchgateComponentOptions } from "../base";
import type { BackupsConfig } from "../../stacks/config";
import type { SshConnection } from "../host/HardenedHost";

export interface BackupsArgs {
  readonly config: BackupsConfig;
  /** Deploy-user SSH connection to the host. */
  readonly connection: pulumi.Input<SshConnection>;
  /** Root of persistent storage; dumps go to `<storagePath>/backups`. */
  readonly storagePath: pulumi.Input<string>;
  /** Postgres server container and the databases to dump. */
  readonly postgresContainer: pulumi.Input<string>;
  readonly databases: string[];
  /** Redis containers whose RDB snapshots are copied. */
  readonly redisContainers: pulumi.Input<string>[];
}

export class Backups extends LaunchgateComponent {
  /** Directory holding dumps on the host. */
  public readonly backupDir: pulumi.Output<string>;
  /** Path of the restore-drill result file (JSON) on the host. */
  public readonly drillResultPath: pulumi.Output<string>;
  /** Retention in days (policies check ≥ 30). */
  public readonly retentionDays: number;
  /** Runs one backup now; migrations depend on it (pre-migration backup). */
  public readonly preMigrationBackup: pulumi.Resource;

  constructor(name: string, args: BackupsArgs, opts?: LaunchgateComponentOptions) {
    super("launchgate:ops:Backups", name, opts);
    this.backupDir = pulumi.interpolate`${args.storagePath}/backups`;
    this.drillResultPath = pulumi.interpolate`${args.storagePath}/backups/restore-drill.json`;
    this.retentionDays = args.config.retentionDays;
    this.preMigrationBackup = this;
    this.registerOutputs({ backupDir: this.backupDir, drillResultPath: this.drillResultPath });
  }
}
