/**
 * What a secret looks like, by name and by value (known token formats, entropy). No imports: the
 * policies use it on text a secret must never be in (command text, labels), the checker on every
 * plain (non-secret) input and on the stack file's plain leaves.
 */
import { SECRET_NAME } from "./patterns";

/** Names that hold secrets, plus connection URLs and webhooks (they embed credentials). */
export const SECRET_INPUT = new RegExp(
  `${SECRET_NAME.source}|(DATABASE_URL|REDIS(_[A-Z0-9]+)?_URL|WEBHOOK_URL)$`,
  "i",
);

/** Well-known credential formats (provider documentation / gitleaks rule families). */
export const SECRET_FORMATS: readonly [string, RegExp][] = [
  ["private key", /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/],
  ["AWS access key id", /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/],
  ["Stripe secret key", /\b(?:sk|rk)_(?:live|test)_[0-9a-zA-Z]{10,}\b/],
  ["GitHub token", /\b(?:ghp|gho|ghu|ghs|ghr)_[0-9A-Za-z]{30,}\b|\bgithub_pat_[0-9A-Za-z_]{40,}\b/],
  ["Slack token", /\bxox[abposr]-[0-9A-Za-z-]{10,}\b/],
  ["Slack webhook", /hooks\.slack\.com\/services\/T[0-9A-Z]+\/B[0-9A-Z]+\/[0-9A-Za-z]+/],
  ["Google API key", /\bAIza[0-9A-Za-z_-]{35}\b/],
  ["SendGrid key", /\bSG\.[0-9A-Za-z_-]{22}\.[0-9A-Za-z_-]{43}\b/],
  ["JSON web token", /\beyJ[0-9A-Za-z_-]{10,}\.eyJ[0-9A-Za-z_-]{10,}\.[0-9A-Za-z_-]{10,}/],
  ["URL with a password", /\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:[^\s:/@]{3,}@/i],
];

/** Command-line flags that take a credential (redis-server/redis-cli, curl-style tools, CLIs). */
const CREDENTIAL_FLAG =
  /(?:^|[\s'"])(--(?:password|passwd|pass|token|secret|api-?key|access-?key|requirepass|masterauth|auth)|(?<=redis-cli\b[^\n;&|]*)-a)(?:=|['"]?\s+['"]?)([^\s'"]+)/gi;
/** A shell assignment or `key=value` argument, for the names in SECRET_NAME. */
const SECRET_ASSIGNMENT = /(?:^|[\s;&|('"])([A-Za-z_][A-Za-z0-9_]*)=(?:'([^']*)'|"([^"]*)"|([^\s;&|)'"]+))/g;

/** A value written in the text itself, not a reference (`$VAR`, `${VAR}`, `$(…)`, `%s`, `-`, a file path). */
function isLiteralValue(v: string): boolean {
  const t = v.trim();
  return t.length >= 4 && !/^[$%@<-]|^\/|^file:/.test(t) && !t.includes("$");
}

/**
 * A credential written as a literal in command text (visible in `ps`, `docker inspect` and the
 * state): `NAME=value` for a secret-looking NAME, or a credential flag (`--requirepass X`,
 * `redis-cli -a X`, `--password=X`) with a literal value. Returns what was found, or undefined.
 */
export function credentialArgumentIn(text: string): string | undefined {
  for (const m of text.matchAll(SECRET_ASSIGNMENT)) {
    const value = m[2] ?? m[3] ?? m[4] ?? "";
    if (SECRET_NAME.test(m[1]!) && isLiteralValue(value)) return `${m[1]}=…`;
  }
  for (const m of text.matchAll(CREDENTIAL_FLAG)) if (isLiteralValue(m[2]!)) return `${m[1]} …`;
  return undefined;
}

/**
 * Public key material, never a secret whatever its name (`HOST_KEY`, `deployerPublicKey`): one
 * OpenSSH public key (`ssh-ed25519 AAAA… [user@host]`: a comment of one short word, so no text
 * can ride along after a key; sshd(8) AUTHORIZED_KEYS FILE FORMAT key
 * types) or PEM blocks that are all `PUBLIC KEY` / `CERTIFICATE` (RFC 7468). A private key never
 * matches.
 */
export function isPublicKeyMaterial(value: string): boolean {
  const v = value.trim();
  if (
    /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) AAAA[A-Za-z0-9+/]+={0,3}( [\w.@+-]{1,64})?$/.test(
      v,
    )
  )
    return true;
  const blocks = [...v.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[A-Za-z0-9+/=\s]+-----END \1-----/g)];
  return (
    blocks.length > 0 &&
    blocks.every((b) => /^(PUBLIC KEY|CERTIFICATE)$/.test(b[1]!)) &&
    v.replace(/-----BEGIN ([A-Z0-9 ]+)-----[A-Za-z0-9+/=\s]+-----END \1-----/g, "").trim() === ""
  );
}

/** The name of the first known credential format in `s`, if any. */
export function secretFormatIn(s: string): string | undefined {
  return SECRET_FORMATS.find(([, re]) => re.test(s))?.[0];
}

/** Shannon entropy of `s`, bits per character. */
export function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) h -= (n / s.length) * Math.log2(n / s.length);
  return h;
}

/**
 * Whether a single value looks like a generated credential: one token of ≥ 20 characters with
 * letters and digits and ≥ 4.0 bits of entropy per character (base64/alphanumeric keys), or ≥ 32
 * hex characters with ≥ 3.5 bits. Content digests (`sha256:…`) and SSH public keys are not secrets.
 */
export function looksGenerated(value: string): boolean {
  const v = value.trim();
  // One token of key characters (base64/base64url/hex), not a path, URL, JSON or digest.
  if (v.length < 20 || !/^[A-Za-z0-9+/=_.~-]+$/.test(v) || /^[/.]|\/\/|\/.*\/.*\//.test(v)) return false;
  if (/(^|@)sha256:[a-f0-9]{64}$/.test(v)) return false;
  if (!/[A-Za-z]/.test(v) || !/[0-9]/.test(v)) return false;
  if (/^[a-f0-9]+$/i.test(v)) return v.length >= 32 && entropy(v) >= 3.5;
  return entropy(v) >= 4.0;
}
