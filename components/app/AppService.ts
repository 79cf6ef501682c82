/**
 * AppService: one application container (API, worker/bot, admin web), pinned image, hardened
 * runtime (non-root, cap_drop ALL, no-new-privileges, read-only root), healthcheck-gated
 * create-before-delete replacement, and an optional one-shot migration after a pre-migration backup.
 * STUB: contract only; implementation pending.
 */
import * as pulumi from "@pulumi/pulumi";
import { LaunchgateComponent, LaunchgateComponentOptions } from "../base";
import type { AppConfig } from "../../stacks/config";

export interface AppServiceArgs {
  /** The app's config entry: image, port, health path, limits, env, route, migration. */
  readonly app: AppConfig;
  /** Networks: `edge` if the app has a route, always `internal` for data access. */
  readonly edgeNetwork: pulumi.Input<string>;
  readonly internalNetwork: pulumi.Input<string>;
  /** Plain env plus resolved secrets (DATABASE_URL, REDIS_URL, app secrets) — secret values stay secret. */
  readonly secretEnv: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Feature flags rendered into env (e.g. REAL_MONEY_ENABLED=false). */
  readonly flags: Record<string, boolean>;
  /** Resource that takes the pre-migration backup; the migration job runs after it. */
  readonly preMigrationBackup?: pulumi.Resource;
}

export class AppService extends LaunchgateComponent {
  /** Stable network alias the proxy uses as upstream (`<app>`), independent of the release. */
  public readonly alias: pulumi.Output<string>;
  /** Port the app listens on. */
  public readonly port: pulumi.Output<number>;
  /** Name of the running container (changes per release for create-before-delete). */
  public readonly containerName: pulumi.Output<string>;

  constructor(name: string, args: AppServiceArgs, opts?: LaunchgateComponentOptions) {
    super("launchgate:app:AppService", name, opts);
    this.alias = pulumi.output(args.app.name);
    this.port = pulumi.output(args.app.port);
    this.containerName = pulumi.output(name);
    this.registerOutputs({ alias: this.alias, port: this.port, containerName: this.containerName });
  }
}
