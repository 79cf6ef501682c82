/**
 * Where evidence lives on disk, relative to the evidence root (`launchgate:release.evidenceDir`):
 *   <stack>/attestations/<kind>.attestation.json   signed sign-offs (tools/gate)
 *   <stack>/restore-drill/<anything>.json          restore-drill records; the newest `finishedAt` wins
 *   <stack>/stack-outputs.json                     a stack's recorded outputs (the offline checker
 *                                                  answers StackReferences from it)
 *   <stack>/rollout/<commit>.json                  canary rollout steps and verdicts (npm run promote)
 *   <stack>/verify/<commit>-<after>.json           post-deploy verification marks (npm run verify)
 * Path helpers only; no I/O, so the policy pack can share them.
 */
export const ATTESTATION_DIR = "attestations";
export const RESTORE_DRILL_DIR = "restore-drill";
export const STACK_OUTPUTS_FILE = "stack-outputs.json";
export const ATTESTATION_SUFFIX = ".attestation.json";
/** `<stack>/rollout/<commit>.json`: a canary rollout's steps and verdicts (npm run promote). */
export const ROLLOUT_DIR = "rollout";
/** `<stack>/verify/<commit>-<after>.json`: a post-deploy verification mark (npm run verify). */
export const VERIFY_DIR = "verify";

export function rolloutFileName(commit: string): string {
  return `${commit}.json`;
}

export function verifyFileName(commit: string, after: string): string {
  return `${commit}-${after}.json`;
}

/** Last segment of a fully qualified stack name (`org/project/staging` → `staging`). */
export function shortStackName(stack: string): string {
  return stack.split("/").pop() ?? stack;
}

export function attestationFileName(kind: string): string {
  return `${kind}${ATTESTATION_SUFFIX}`;
}
