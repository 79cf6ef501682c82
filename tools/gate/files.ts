/** Reading and writing attestation-related files for the gate CLI, with errors that say what to do. */
import * as fs from "node:fs";
import * as path from "node:path";
import type { SignerAllowList } from "../../policies/lib/attestation";

export class GateCliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GateCliError";
  }
}

export function readText(file: string, what: string, hint: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    throw new GateCliError(`${what} not found: ${file}\n  ${hint}`);
  }
}

export function readJson(file: string, what: string, hint: string): unknown {
  const text = readText(file, what, hint);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new GateCliError(`${what} is not valid JSON: ${file}: ${(e as Error).message}`);
  }
}

/** Writes a file, creating its folder; `secret` files get mode 0600. */
export function writeFile(file: string, text: string, secret = false): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode: secret ? 0o600 : 0o644 });
}

/**
 * The allow-list from a pack config file (`policies/config/<stack>.json`): the
 * `sign-offs-attested.allowedSigners` object. A bare `{ signer: { publicKey } }` map is accepted too.
 */
export function readAllowList(file: string): SignerAllowList {
  const json = readJson(file, "pack config", "pass --pack-config policies/config/<stack>.json") as Record<
    string,
    unknown
  >;
  const policy = json["sign-offs-attested"] as Record<string, unknown> | undefined;
  const list = (policy?.allowedSigners ?? json) as Record<string, unknown>;
  for (const [signer, entry] of Object.entries(list)) {
    if (typeof (entry as { publicKey?: unknown })?.publicKey !== "string") {
      throw new GateCliError(`allow-list entry "${signer}" in ${file} has no publicKey`);
    }
  }
  return list as unknown as SignerAllowList;
}

/** Parses `7d`, `12h`, `30m` into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([dhm])$/.exec(text);
  if (!m) throw new GateCliError(`duration must look like 7d, 12h or 30m, got "${text}"`);
  const unit = { d: 86_400_000, h: 3_600_000, m: 60_000 }[m[2] as "d" | "h" | "m"];
  return Number(m[1]) * unit;
}

/** `name=repo@sha256:…` pairs into a map. */
export function parseImages(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const i = pair.indexOf("=");
    if (i <= 0) throw new GateCliError(`--image must be name=reference, got "${pair}"`);
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}
