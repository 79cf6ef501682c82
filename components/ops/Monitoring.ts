/**
 * Monitoring: host-side probes on a timer: every service's health, container health, backup
 * freshness, CPU/memory/disk thresholds and error rate, alerting a webhook.
 * STUB: contract only; implementation pending.
 */
import * as pulumi from "@pulumi/pulumi";
import { LaunchgateComponent, LaunchgateComponentOptions } from "../base";
import type { MonitoringConfig } from "../../stacks/config";
import type { SshConnection } from "../host/HardenedHost";

export interface HealthProbe {
  /** Name shown in alerts. */
  readonly name: string;
  /** Container whose docker health status is checked. */
  readonly container: pulumi.Input<string>;
}

export interface MonitoringArgs {
  readonly config: MonitoringConfig;
  readonly connection: pulumi.Input<SshConnection>;
  /** Alert target (webhook URL, secret). */
  readonly alertWebhookUrl: pulumi.Input<string>;
  readonly probes: HealthProbe[];
  /** Public URL probed end to end through the proxy. */
  readonly publicUrl: pulumi.Input<string>;
  /** Directory of backups whose newest file must be fresh. */
  readonly backupDir: pulumi.Input<string>;
}

export class Monitoring extends LaunchgateComponent {
  /** Whether an alert target is configured (policies require it). */
  public readonly alerting: pulumi.Output<boolean>;

  constructor(name: string, args: MonitoringArgs, opts?: LaunchgateComponentOptions) {
    super("launchgate:ops:Monitoring", name, opts);
    this.alerting = pulumi.output(args.alertWebhookUrl).apply((u) => u.length > 0);
    this.registerOutputs({ alerting: this.alerting });
  }
}
