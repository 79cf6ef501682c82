/**
 * A policy's config with its configSchema defaults filled in: the schema is the one place a
 * policy default is written (the CLI fills them too; this keeps a direct call, e.g. from a test
 * without pack config, on the same values).
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";

type PolicyConfigSchema = ResourceValidationPolicy["configSchema"];

export function configWithDefaults<C>(given: Partial<C> | undefined, schema: PolicyConfigSchema): C {
  const defaults = Object.fromEntries(
    Object.entries(schema?.properties ?? {})
      .filter(([, s]) => typeof s === "object" && s !== null && "default" in s)
      .map(([k, s]) => [k, (s as { default: unknown }).default]),
  );
  const present = Object.fromEntries(Object.entries(given ?? {}).filter(([, v]) => v !== undefined));
  return { ...defaults, ...present } as C;
}
