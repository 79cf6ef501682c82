/**
 * Resolves a `--policy-pack-config` file the way the CLI does before calling Configure: `all`
 * sets every policy's level; a policy entry is a level string or `{ enforcementLevel?, …props }`;
 * props get the policy's configSchema defaults; unknown policy names and missing required
 * properties are errors.
 */
import type { EnforcementLevel, PolicyInfo, ResolvedPolicyConfig } from "./pack-server";

const LEVELS = new Set(["advisory", "mandatory", "remediate", "disabled"]);

export class PackConfigError extends Error {}

function level(v: unknown, where: string): EnforcementLevel | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !LEVELS.has(v))
    throw new PackConfigError(
      `${where}: enforcement level must be one of ${[...LEVELS].join(", ")}, got ${JSON.stringify(v)}`,
    );
  return v as EnforcementLevel;
}

export function resolvePackConfig(
  file: Record<string, unknown>,
  policies: readonly PolicyInfo[],
  packDefault: EnforcementLevel = "advisory",
): Record<string, ResolvedPolicyConfig> {
  const known = new Set(policies.map((p) => p.name));
  for (const key of Object.keys(file)) {
    if (key !== "all" && !known.has(key))
      throw new PackConfigError(`policy pack config names unknown policy "${key}"`);
  }
  const all = level(file.all, "all");
  const out: Record<string, ResolvedPolicyConfig> = {};
  for (const p of policies) {
    const entry = file[p.name];
    const given =
      typeof entry === "object" && entry !== null ? { ...(entry as Record<string, unknown>) } : {};
    const explicit = typeof entry === "string" ? level(entry, p.name) : level(given.enforcementLevel, p.name);
    delete given.enforcementLevel;
    const defaults = Object.fromEntries(
      Object.entries(p.configSchema?.properties ?? {})
        .filter(([, s]) => s && typeof s === "object" && "default" in s)
        .map(([k, s]) => [k, s.default]),
    );
    const properties = { ...defaults, ...given };
    for (const req of p.configSchema?.required ?? []) {
      if (!(req in properties))
        throw new PackConfigError(`policy "${p.name}" needs config property "${req}"`);
    }
    out[p.name] = { enforcementLevel: explicit ?? all ?? p.enforcementLevel ?? packDefault, properties };
  }
  return out;
}
