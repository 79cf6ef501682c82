/**
 * How launchgate's tools reach a host as the deploy user: one `ssh` argv for every caller
 * (`npm run gate -- fetch-drill`, the rollout driver's proxy-log read), so their options cannot
 * drift apart.
 */

export interface SshTarget {
  /** `user@host` of the deploy user. */
  readonly target: string;
  /** sshd port. */
  readonly port: number;
  /** Private key file; when set, only this key is offered (`IdentitiesOnly=yes`). */
  readonly identity?: string;
  /**
   * Host-key policy (always passed, so no ssh_config can loosen it): `"known"` (default,
   * `StrictHostKeyChecking=yes`) accepts only keys already in known_hosts;
   * `"accept-new"` records an unknown host's key on first contact and refuses a changed one
   * (OpenSSH `StrictHostKeyChecking=accept-new`).
   */
  readonly hostKeys?: "known" | "accept-new";
  /**
   * The known_hosts file to check the host key against (and, with `"accept-new"`, to record it
   * in) instead of the user's `~/.ssh/known_hosts` (OpenSSH `UserKnownHostsFile`). Note that
   * OpenSSH finds `~` from the password database, not `$HOME`: this option is the only way to
   * keep a tool's host keys apart from the operator's. @default the user's known_hosts
   */
  readonly knownHostsFile?: string;
  /** Seconds allowed to connect (`ConnectTimeout`). @default 15 */
  readonly connectTimeoutSeconds?: number;
}

/**
 * The arguments after `ssh` that run `remote` on `t` without ever prompting (`BatchMode=yes`: a
 * missing key or unknown host fails at once instead of hanging a CI job): options, the target,
 * `--`, then the remote words (quoted by the caller where the remote shell must not split them).
 */
export function sshArgs(t: SshTarget, remote: readonly string[]): string[] {
  return [
    "-p",
    String(t.port),
    ...(t.identity ? ["-i", t.identity, "-o", "IdentitiesOnly=yes"] : []),
    // Set either way: the operator's ssh_config must not be able to turn the check off.
    "-o",
    t.hostKeys === "accept-new" ? "StrictHostKeyChecking=accept-new" : "StrictHostKeyChecking=yes",
    ...(t.knownHostsFile ? ["-o", `UserKnownHostsFile=${t.knownHostsFile}`] : []),
    "-o",
    "BatchMode=yes",
    "-o",
    `ConnectTimeout=${t.connectTimeoutSeconds ?? 15}`,
    t.target,
    "--",
    ...remote,
  ];
}
