/**
 * The runtime config the Pulumi CLI would hand the program: `Pulumi.yaml` defaults, then
 * `Pulumi.<stack>.yaml` values (`secure:` values replaced by a marker the checker can trace),
 * then test/CLI overrides. Also which keys are declared secret, to verify they are `secure:`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { PlainLeaf, plainLeavesOf, readStackFile, stripSecure } from "../../stacks/stack-file";

/**
 * Stands in for every secret value (only the CLI can decrypt them); finding it in a non-secret
 * input means a secret leaked. URL-shaped so a secret alert webhook reads as "configured": offline,
 * a set `secure:` key is all that can be known about a secret.
 */
export const SECRET_MARKER = "https://lg-secret-placeholder-7f3a9c.invalid/secret";

export interface StackConfig {
  readonly project: string;
  /** `namespace:key` → value as the language host passes it (objects JSON-encoded). */
  readonly config: Record<string, string>;
  /** Keys holding `secure:` values (full `namespace:key`). */
  readonly secureKeys: string[];
  /** Keys Pulumi.yaml declares `secret: true`. */
  readonly declaredSecret: string[];
  /** Plain (not `secure:`) leaves of the stack file and overrides, keys as `namespace:key`. */
  readonly plainLeaves: PlainLeaf[];
}

interface ProjectFile {
  name: string;
  config?: Record<string, { default?: unknown; secret?: boolean } | unknown>;
}

function encode(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/**
 * @param overrides `namespace:key` → value (objects allowed); replaces the stack file's value
 *   (use `release.evidenceDir`-style deep keys at the caller by passing the whole object).
 */
export function loadStackConfig(
  projectDir: string,
  stack: string,
  overrides: Record<string, unknown> = {},
): StackConfig {
  const projectFile = path.join(projectDir, "Pulumi.yaml");
  const project = parse(fs.readFileSync(projectFile, "utf8")) as ProjectFile;
  const config: Record<string, string> = {};
  const declaredSecret: string[] = [];
  for (const [key, decl] of Object.entries(project.config ?? {})) {
    const d = decl as { default?: unknown; secret?: boolean } | null;
    if (d && typeof d === "object" && "default" in d) config[key] = encode(d.default);
    if (d && typeof d === "object" && d.secret === true) declaredSecret.push(key);
  }
  const file = readStackFile(projectDir, stack, SECRET_MARKER);
  const ns = project.name;
  for (const [key, value] of Object.entries(file.values)) config[`${ns}:${key}`] = encode(value);
  for (const [key, value] of Object.entries(file.foreign)) config[key] = encode(value);
  const secureKeys = new Set([...file.secureKeys].map((k) => `${ns}:${k}`));
  const withNs = (k: string) => (k.includes(":") ? k : `${ns}:${k}`);
  let plainLeaves = file.plainLeaves.map((l) => ({ ...l, key: withNs(l.key) }));
  for (const [key, value] of Object.entries(overrides)) {
    const full = key.includes(":") ? key : `${ns}:${key}`;
    // An override is plain text except its `{ secure: … }` leaves, as in the stack file.
    const stripped = stripSecure(value, SECRET_MARKER);
    const secure = stripped.secure;
    config[full] = encode(stripped.value);
    if (secure) secureKeys.add(full);
    else secureKeys.delete(full);
    plainLeaves = [...plainLeaves.filter((l) => l.key !== full), ...plainLeavesOf(full, value)];
  }
  return { project: project.name, config, secureKeys: [...secureKeys], declaredSecret, plainLeaves };
}
