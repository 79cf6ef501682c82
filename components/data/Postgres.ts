/**
 * Postgres: PostgreSQL container on the internal network with a protected, retained volume,
 * tuning from config, a pg_isready healthcheck and a random superuser password; least-privilege
 * roles and databases through @pulumi/postgresql; PgBouncer in front for pooling.
 * STUB: contract only; implementation pending.
 */
import * as pulumi from "@pulumi/pulumi";
import { LaunchgateComponent, LaunchgateComponentOptions } from "../base";
import type { PostgresConfig } from "../../stacks/config";

export interface PostgresArgs {
  /** Image, memory, tuning, databases/roles and PgBouncer settings from config. */
  readonly config: PostgresConfig;
  /** Internal network the server and PgBouncer join; no host port is published. */
  readonly internalNetwork: pulumi.Input<string>;
  /** Fixed address of the server on the internal network (the DB admin endpoint). */
  readonly ipAddress: string;
  /**
   * Where the @pulumi/postgresql provider reaches the server for role/database management
   * (an SSH local forward to `ipAddress:5432`).
   */
  readonly adminEndpoint: { readonly host: pulumi.Input<string>; readonly port: pulumi.Input<number> };
  /** Resources the admin endpoint needs (e.g. the SSH tunnel) before roles are managed. */
  readonly adminDependsOn?: pulumi.Resource[];
}

export class Postgres extends LaunchgateComponent {
  /** Container name of the server (used by backups via `docker exec`). */
  public readonly containerName: pulumi.Output<string>;
  /** Named volume holding PGDATA (protected, retained on delete). */
  public readonly volumeName: pulumi.Output<string>;
  /** Superuser password (secret). */
  public readonly superuserPassword: pulumi.Output<string>;
  /** Per database: postgres:// URL through PgBouncer for its role (secret). */
  public readonly databaseUrls: pulumi.Output<Record<string, string>>;
  /** Network alias apps use to reach PgBouncer. */
  public readonly poolerHost: pulumi.Output<string>;

  constructor(name: string, args: PostgresArgs, opts?: LaunchgateComponentOptions) {
    super("launchgate:data:Postgres", name, opts);
    void args;
    this.containerName = pulumi.output(`${name}`);
    this.volumeName = pulumi.output(`${name}-data`);
    this.superuserPassword = pulumi.secret("stub");
    this.databaseUrls = pulumi.secret<Record<string, string>>({});
    this.poolerHost = pulumi.output(`${name}-pgbouncer`);
    this.registerOutputs({
      containerName: this.containerName,
      volumeName: this.volumeName,
      superuserPassword: this.superuserPassword,
      databaseUrls: this.databaseUrls,
      poolerHost: this.poolerHost,
    });
  }
}
