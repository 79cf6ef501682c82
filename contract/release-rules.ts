/**
 * Rules the program, the policy pack and the tools must agree on, each written once here.
 * No dependencies: the pack (policies/) loads this file as it is.
 */

/**
 * Whether an alert target counts as configured: an https URL (a Slack-style incoming webhook).
 * Monitoring reports it as the `alerting` output and Release puts it in the gate manifest, where
 * the `monitoring-configured` gate refuses production without it.
 */
export function alertTargetConfigured(target: string | undefined): boolean {
  return /^https:\/\/\S+$/.test(target ?? "");
}

/**
 * How old (hours) staging's passed smoke tests may be when production takes its release: the
 * default of the `staging-verified` gate's `maxAgeHours` (policies/gates.ts); a stack's pack
 * config (policies/config/<stack>.json) may set another value, which `npm run promote` reads too.
 */
export const STAGING_MAX_AGE_HOURS = 72;

/** Name of the `staging-verified` gate, whose pack config holds the staging age limit. */
export const STAGING_VERIFIED_POLICY = "staging-verified";

/** What to do about a resource that does not wait for the release gate (pack and checker messages). */
export const UNGATED_FIX =
  "declare them after the gate's stack transformation (components/release/gate.ts) or add dependsOn: [release.gate]";
