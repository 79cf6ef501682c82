/**
 * Bounds of the monitors' thresholds, shared by the config schema (stacks/config.ts
 * `monitoring`) and the monitoring-installed policy, which judges the values as installed.
 */

/** Max age of the newest backup before an alert, in hours: a missed daily dump must page someone. */
export const MAX_BACKUP_AGE_HOURS = 48;

/**
 * Longest time between two probes, in seconds (the monitor timer's `OnUnitActiveSec`): an outage
 * is noticed within minutes, not when the next daily probe runs.
 */
export const MAX_PROBE_INTERVAL_SECONDS = 300;

/** Warn/critical percent pairs the Monitoring component installs: 0 ≤ warn < critical ≤ 100. */
export const MONITOR_PERCENT_PAIRS: readonly (readonly [string, string])[] = [
  ["LG_CPU_WARN", "LG_CPU_CRIT"],
  ["LG_MEM_WARN", "LG_MEM_CRIT"],
  ["LG_DISK_WARN", "LG_DISK_CRIT"],
  ["LG_ERR_WARN", "LG_ERR_CRIT"],
];
