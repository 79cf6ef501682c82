/**
 * Monitoring: host-side probes on a timer: every service's health, container health, backup
 * freshness, CPU/memory/disk thresholds and error rate, alerting a webhook.
 *
 * `monitor-probe.sh` measures; `monitor-evaluate.sh` (pure, tested alone) turns measurements and
 * thresholds into ok/warn/crit; the probe de-duplicates and posts JSON to the webhook. The
 * webhook URL is a secret: it travels on the install command's `stdin` (a secret input, encrypted
 * in state) into a root-only file, never in script text, so the command's `create` stays plain
 * and reviewable in diffs without leaking the URL.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { alertTargetConfigured } from "../../contract/release-rules";
import { roleTrigger } from "../../contract/roles";
import type { SshConnection } from "../host/HardenedHost";
import { HOST_LIB_DIR } from "./Backups";
import { ScriptValue, renderInstall, renderScript, serviceUnit, timerUnit } from "./remote-script";

/** Shell libraries spliced into the probe (remote-script.ts), in order. */
export const MONITOR_LIBS = ["lib-common.sh", "lib-workload.sh"];

/** Root-only file holding the alert webhook URL on the host. */
export const WEBHOOK_FILE = "/etc/launchgate/alert-webhook";
const STATE_DIR = "/var/lib/launchgate/monitoring";

export interface HealthProbe {
  /** Name shown in alerts. */
  readonly name: string;
  /**
   * Container whose docker health status is checked; with `placement: "swarm"`, a Swarm service:
   * its running/desired replicas (as a manager counts them) and its task's health on this node.
   */
  readonly container: pulumi.Input<string>;
}

/** Probe interval and alert thresholds; percentages are 0–100, each warn below its crit. */
export interface MonitoringSettings {
  /** Seconds between probes. */
  readonly probeIntervalSeconds: number;
  readonly cpuWarnPercent: number;
  readonly cpuCritPercent: number;
  readonly memoryWarnPercent: number;
  readonly memoryCritPercent: number;
  /** Disk usage warning (the critical level is `MonitoringArgs.diskCritPercent`). */
  readonly diskWarnPercent: number;
  /** Share of 5xx answers among the proxy's requests since the last probe. */
  readonly errorRateWarnPercent: number;
  readonly errorRateCritPercent: number;
  /** Hours the newest backup may be old before an alert. */
  readonly backupMaxAgeHours: number;
}

export interface MonitoringArgs {
  readonly config: MonitoringSettings;
  readonly connection: pulumi.Input<SshConnection>;
  /** Alert target (webhook URL, secret). */
  readonly alertWebhookUrl: pulumi.Input<string>;
  readonly probes: HealthProbe[];
  /** Public URL probed end to end through the proxy. */
  readonly publicUrl: pulumi.Input<string>;
  /** Directory of backups whose newest file must be fresh. */
  readonly backupDir: pulumi.Input<string>;
  /** Proxy access log on the host; its 5xx share is the error rate. @default none (no error-rate check) */
  readonly accessLogPath?: pulumi.Input<string>;
  /** Filesystem whose usage is checked. @default "/" */
  readonly diskPath?: pulumi.Input<string>;
  /** Disk usage that is critical (config has the warning level). @default 90 */
  readonly diskCritPercent?: number;
  /** Below this many requests since the last probe the error rate is not judged. @default 20 */
  readonly minRequestsForErrorRate?: number;
  /** A still-failing check is re-sent after this many minutes. @default 60 */
  readonly realertMinutes?: number;
  /** Accept a self-signed certificate on `publicUrl` (the `local` stack's internal CA). @default false */
  readonly insecureTls?: boolean;
  /** Name of this host in alerts. @default the component name */
  readonly hostLabel?: pulumi.Input<string>;
  /** How probes name their workloads: containers (`single-host`) or Swarm services. @default "single-host" */
  readonly placement?: "single-host" | "swarm";
}

export class Monitoring extends pulumi.ComponentResource {
  /** Whether the alert target counts as configured (contract/release-rules.ts: an https URL), as the gate judges it. */
  public readonly alerting: pulumi.Output<boolean>;
  /** Installs the probe, its timer and the webhook file. */
  public readonly install: command.remote.Command;
  /** Seconds between probes (the timer's `OnUnitActiveSec`). */
  public readonly probeIntervalSeconds: number;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("launchgate:ops:Monitoring", name, {}, opts);
    const cfg = args.config;
    const diskCrit = args.diskCritPercent ?? 90;
    if (diskCrit <= cfg.diskWarnPercent) {
      throw new Error(
        `diskCritPercent: ${diskCrit} must be above monitoring.diskWarnPercent (${cfg.diskWarnPercent})`,
      );
    }
    this.alerting = pulumi.output(args.alertWebhookUrl).apply(alertTargetConfigured);
    this.probeIntervalSeconds = cfg.probeIntervalSeconds;

    const evaluatePath = `${HOST_LIB_DIR}/monitor-evaluate.sh`;
    const thresholds: Record<string, pulumi.Input<ScriptValue>> = {
      LG_CPU_WARN: cfg.cpuWarnPercent,
      LG_CPU_CRIT: cfg.cpuCritPercent,
      LG_MEM_WARN: cfg.memoryWarnPercent,
      LG_MEM_CRIT: cfg.memoryCritPercent,
      LG_DISK_WARN: cfg.diskWarnPercent,
      LG_DISK_CRIT: diskCrit,
      LG_ERR_WARN: cfg.errorRateWarnPercent,
      LG_ERR_CRIT: cfg.errorRateCritPercent,
      LG_ERR_MIN_REQUESTS: args.minRequestsForErrorRate ?? 20,
      LG_BACKUP_MAX_AGE_HOURS: cfg.backupMaxAgeHours,
    };
    const evaluate = renderScript("monitor-evaluate.sh", thresholds);
    const probe = renderScript(
      "monitor-probe.sh",
      {
        LG_PROBE_CONTAINERS: pulumi.all(args.probes.map((p) => pulumi.interpolate`${p.name}=${p.container}`)),
        LG_PUBLIC_URL: args.publicUrl,
        LG_BACKUP_DIR: args.backupDir,
        LG_DISK_PATH: args.diskPath ?? "/",
        LG_ACCESS_LOG: args.accessLogPath ?? "",
        LG_STATE_DIR: STATE_DIR,
        LG_WEBHOOK_FILE: WEBHOOK_FILE,
        LG_EVALUATE: evaluatePath,
        LG_REALERT_MINUTES: args.realertMinutes ?? 60,
        LG_HOST_LABEL: args.hostLabel ?? name,
        LG_HTTP_TIMEOUT: 10,
        LG_INSECURE_TLS: args.insecureTls ?? false,
        LG_PLACEMENT: args.placement ?? "single-host",
      },
      MONITOR_LIBS,
    );
    const units: Record<string, string> = {
      "launchgate-monitor.service": serviceUnit(
        "launchgate: health, backup freshness and resource probe",
        [`${HOST_LIB_DIR}/monitor-probe.sh`],
        [`TimeoutStartSec=${Math.max(60, cfg.probeIntervalSeconds)}`],
        { requiresDocker: false },
      ),
      "launchgate-monitor.timer": timerUnit("launchgate: probe", [
        "OnBootSec=2min",
        `OnUnitActiveSec=${cfg.probeIntervalSeconds}s`,
        "AccuracySec=5s",
      ]),
    };
    const files = [
      { path: evaluatePath, mode: "0755", content: evaluate.text },
      { path: `${HOST_LIB_DIR}/monitor-probe.sh`, mode: "0755", content: probe.text },
      ...Object.entries(units).map(([unit, content]) => ({
        path: `/etc/systemd/system/${unit}`,
        mode: "0644",
        content,
      })),
    ];
    const timers = ["launchgate-monitor.timer"];
    const install = renderInstall({
      dirs: [
        ["0755", HOST_LIB_DIR],
        ["0755", "/etc/launchgate"],
        ["0700", STATE_DIR],
      ],
      files,
      timers,
      stdinFile: WEBHOOK_FILE,
    });
    const uninstall = renderScript("uninstall-files.sh", {
      LG_TIMERS: timers,
      LG_PATHS: [...files.map((f) => f.path), WEBHOOK_FILE],
    });

    this.install = new command.remote.Command(
      `${name}-install`,
      {
        connection: args.connection,
        create: install.text,
        delete: uninstall.text,
        // The URL only ever travels here: a secret input (encrypted in state), written by the
        // installer to a 0600 root file. A new URL changes this input and re-runs the install.
        stdin: pulumi.secret(pulumi.output(args.alertWebhookUrl).apply((u) => `${u}\n`)),
        triggers: [
          roleTrigger("monitoring"),
          install.trigger,
          uninstall.trigger,
          evaluate.trigger,
          probe.trigger,
        ],
      },
      // Replaced (new triggers) delete-first: Pulumi's default create-first would run the old
      // version's delete after the new create and remove what the new one just installed.
      { parent: this, additionalSecretOutputs: ["stdin"], deleteBeforeReplace: true },
    );

    this.registerOutputs({
      alerting: this.alerting,
      install: this.install,
      probeIntervalSeconds: this.probeIntervalSeconds,
    });
  }
}
