/**
 * Reads `Pulumi.<stack>.yaml` without the Pulumi CLI (for `npm run check`, tests and tools):
 * the `launchgate:` keys with the namespace stripped, and which keys hold `secure:` values.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { NAMESPACE } from "./config";

export interface StackFile {
  /** Plain values by key (namespace stripped); `secure:` leaves are replaced by `placeholder`. */
  readonly values: Record<string, unknown>;
  /** Keys whose value is or contains a `secure:` leaf. */
  readonly secureKeys: Set<string>;
  /** Other namespaces' keys (e.g. `cloudflare:apiToken`) as written. */
  readonly foreign: Record<string, unknown>;
  /** Every plain (not `secure:`) leaf value, by key (full key for other namespaces) and path. */
  readonly plainLeaves: PlainLeaf[];
}

/** A plain leaf of a config value: `path` like `apps[0].env.DATABASE_PASSWORD` (empty for a scalar key). */
export interface PlainLeaf {
  readonly key: string;
  readonly path: string;
  readonly value: string | number | boolean | null;
}

/** The plain leaves of a config value (a `{ secure: … }` object is a secret leaf and skipped). */
export function plainLeavesOf(key: string, v: unknown, at = ""): PlainLeaf[] {
  if (isSecure(v)) return [];
  if (Array.isArray(v)) return v.flatMap((x, i) => plainLeavesOf(key, x, `${at}[${i}]`));
  if (typeof v === "object" && v !== null)
    return Object.entries(v).flatMap(([k, x]) => plainLeavesOf(key, x, at ? `${at}.${k}` : k));
  return [{ key, path: at, value: v as PlainLeaf["value"] }];
}

function isSecure(v: unknown): v is { secure: string } {
  return (
    typeof v === "object" &&
    v !== null &&
    Object.keys(v).length === 1 &&
    typeof (v as { secure?: unknown }).secure === "string"
  );
}

/** Replaces `secure:` leaves with `placeholder`, reporting whether any were found. */
export function stripSecure(v: unknown, placeholder: string): { value: unknown; secure: boolean } {
  if (isSecure(v)) return { value: placeholder, secure: true };
  if (Array.isArray(v)) {
    const parts = v.map((x) => stripSecure(x, placeholder));
    return { value: parts.map((p) => p.value), secure: parts.some((p) => p.secure) };
  }
  if (typeof v === "object" && v !== null) {
    const entries = Object.entries(v).map(([k, x]) => [k, stripSecure(x, placeholder)] as const);
    return {
      value: Object.fromEntries(entries.map(([k, p]) => [k, p.value])),
      secure: entries.some(([, p]) => p.secure),
    };
  }
  return { value: v, secure: false };
}

/**
 * Loads `<dir>/Pulumi.<stack>.yaml`.
 * @param placeholder stands in for secret values (they are encrypted and only the CLI can decrypt them).
 * @throws Error naming the file when it is missing or not valid YAML with a `config:` map.
 */
export function readStackFile(dir: string, stack: string, placeholder = "[secret]"): StackFile {
  const file = path.join(dir, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file))
    throw new Error(`${file}: no such stack file (expected Pulumi.${stack}.yaml beside Pulumi.yaml)`);
  let doc: unknown;
  try {
    doc = parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: not valid YAML: ${(e as Error).message}`);
  }
  const config = (doc as { config?: unknown } | null)?.config ?? {};
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new Error(`${file}: expected a \`config:\` map of key: value`);
  }
  const values: Record<string, unknown> = {};
  const foreign: Record<string, unknown> = {};
  const secureKeys = new Set<string>();
  const plainLeaves: PlainLeaf[] = [];
  for (const [fullKey, raw] of Object.entries(config)) {
    const [ns, key] = fullKey.includes(":") ? fullKey.split(/:(.*)/s) : [NAMESPACE, fullKey];
    if (ns !== NAMESPACE) {
      foreign[fullKey] = raw;
      plainLeaves.push(...plainLeavesOf(fullKey, raw));
      continue;
    }
    plainLeaves.push(...plainLeavesOf(key!, raw));
    const { value, secure } = stripSecure(raw, placeholder);
    values[key!] = value;
    if (secure) secureKeys.add(key!);
  }
  return { values, secureKeys, foreign, plainLeaves };
}
