/**
 * OpenSSH known_hosts lines for pinned host keys (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): the
 * host as `addr` on port 22 and `[addr]:port` on any other port, then the key. The one place
 * this rule lives: the bootstrap runner, the DB admin tunnel and the docker provider's
 * known_hosts file all get their lines from here.
 */

import { sshHostKeyProblem } from "../../contract/ssh-host-key";

/**
 * The known_hosts line pinning `key` for `host:port`. Throws when `key` is not one host public
 * key (a whole ssh-keyscan line, a comment or two keys would pin nothing or the wrong thing).
 */
export function knownHostsLine(host: string, port: number, key: string): string {
  const k = key.trim();
  if (sshHostKeyProblem(k))
    throw new Error(
      `SSH host key for ${host}:${port}: got "${key}"; expected one key such as "ssh-ed25519 AAAA…"`,
    );
  return `${port === 22 ? host : `[${host}]:${port}`} ${k}`;
}
