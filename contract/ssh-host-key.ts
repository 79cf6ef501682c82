/**
 * What a pinned SSH host public key is (config `host.hostKey`, the command provider's
 * `connection.hostKey`, the known_hosts lines): one key as `ssh-keyscan` prints it after the
 * host name, `<type> <base64>`, whose base64 decodes to an SSH wire-format key blob of that same
 * type (RFC 4253 §6.6: string type, then the key's fields). Shared by the config schema, the
 * components and the policy pack.
 */

/** Key type, one space, base64; nothing else (no host name, no comment). */
export const SSH_HOST_KEY = /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}$/;

/**
 * Why `key` is not one host public key, or undefined when it is: the shape (SSH_HOST_KEY), then
 * the blob: it must name the same type it is written as, and an ed25519 blob must hold 32 key
 * bytes (a truncated paste otherwise pins a key no server can present).
 */
export function sshHostKeyProblem(key: string): string | undefined {
  const m = SSH_HOST_KEY.exec(key);
  if (!m) return "not `<type> <base64>` with type ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa";
  const blob = Buffer.from(key.slice(m[1]!.length + 1), "base64");
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  const type = len >= 0 && 4 + len <= blob.length ? blob.subarray(4, 4 + len).toString("latin1") : undefined;
  if (type !== m[1])
    return `its base64 does not decode to a ${m[1]} key${type ? ` (it holds a ${type} key)` : ""}`;
  if (type === "ssh-ed25519" && !(blob.length === 51 && blob.readUInt32BE(15) === 32))
    return "its base64 is not a whole ed25519 key (32 key bytes)";
  return undefined;
}
