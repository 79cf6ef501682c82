/**
 * Policies with their rationale as data (the cdk-nag pattern): each states what it protects
 * against, the benchmark item or documented failure it implements, and the fix. The README's
 * policy table is generated from these (`npm run policies:readme`; a test fails when it drifts).
 *
 * Exceptions: every policy accepts `exceptions: { "<resource name>": "<reason>" }` in the pack
 * config, so the pack config holds one `{ policy: { exceptions: { resource: reason } } }` map; a
 * listed resource is not reported (an empty reason does not count) and the checker's report lists
 * every exception with its reason.
 */
import type {
  Policy,
  PolicyResource,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { validateResourceOfType } from "@pulumi/policy";
import type { Resource } from "@pulumi/pulumi";
import { configWithDefaults } from "./config";

/** Why a policy exists, as data. */
export interface Rationale {
  /** The failure it prevents, in one sentence. */
  readonly protectsAgainst: string;
  /** Benchmark item(s) or documented source, e.g. "CIS Docker 1.6 §5.5". */
  readonly benchmark: string;
  /** How to fix a violation, in one line. */
  readonly fix: string;
}

export interface PolicyMeta extends Rationale {
  readonly name: string;
  /** "Checks whether …" */
  readonly description: string;
  /** Extra config (thresholds) besides `exceptions`. */
  readonly config?: Record<string, { type: string; default?: unknown; items?: unknown }>;
}

/** Every policy's rationale, by policy name (filled as policies are defined). */
export const RATIONALE = new Map<string, Rationale & { readonly description: string }>();

type Config = { exceptions?: Record<string, string> } & Record<string, unknown>;

function schema(meta: PolicyMeta) {
  return {
    properties: {
      // resource name → why this policy does not apply to it (reviewed in the pack config).
      exceptions: { type: "object", default: {} },
      ...(meta.config ?? {}),
    },
  } as NonNullable<ResourceValidationPolicy["configSchema"]>;
}

function excepted(config: Config, resourceName: string): boolean {
  const reason = config.exceptions?.[resourceName];
  return typeof reason === "string" && reason.trim().length > 0;
}

function register(meta: PolicyMeta): void {
  if (RATIONALE.has(meta.name)) throw new Error(`policy ${meta.name} defined twice`);
  RATIONALE.set(meta.name, {
    description: meta.description,
    protectsAgainst: meta.protectsAgainst,
    benchmark: meta.benchmark,
    fix: meta.fix,
  });
}

/** Reads of a resource policy: its typed props, the engine's args and the config. */
export type Check<P> = (props: P, args: ResourceValidationArgs, config: Config) => Iterable<string>;

/**
 * A resource policy for one provider class (`validateResourceOfType`): `check` yields one message
 * per violation; resources named in `exceptions` are skipped.
 */
export function typedPolicy<R extends Resource>(
  meta: PolicyMeta,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  resourceClass: { new (...rest: any[]): R },
  check: Check<Record<string, unknown>>,
): ResourceValidationPolicy {
  register(meta);
  return {
    name: meta.name,
    description: meta.description,
    configSchema: schema(meta),
    validateResource: validateResourceOfType(resourceClass, (props, args, report) => {
      const config = configWithDefaults<Config>(args.getConfig<Config>(), schema(meta));
      if (excepted(config, args.name)) return;
      for (const m of check(props as unknown as Record<string, unknown>, args, config)) report(m);
    }),
  };
}

/** The engine's type token of a provider class (its `__pulumiType`), as `validateResourceOfType` reads it. */
function pulumiTypeOf(resourceClass: unknown): string {
  const t = (resourceClass as { __pulumiType?: unknown }).__pulumiType;
  if (typeof t !== "string") throw new Error("a policy's resource class has no __pulumiType");
  return t;
}

/**
 * `args.notApplicable(reason)` without capturing a stack trace: the engine's NotApplicableError
 * is thrown for every resource of another type (thousands per check) and its stack is never read.
 */
function notApplicable(args: ResourceValidationArgs, reason: string): void {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    args.notApplicable(reason);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * A resource policy over several provider classes (same check for each). One validation
 * function, not one per class: the engine deserializes a resource's properties once per
 * validation function, and answers "not applicable" for the other types as each
 * `validateResourceOfType` would.
 */
export function typedPolicies(
  meta: PolicyMeta,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  resourceClasses: { new (...rest: any[]): Resource }[],
  check: Check<Record<string, unknown>>,
): ResourceValidationPolicy {
  register(meta);
  const types = new Set(resourceClasses.map(pulumiTypeOf));
  const reason = `Policy only applies to resources of type ${[...types].map((t) => `'${t}'`).join(", ")}`;
  return {
    name: meta.name,
    description: meta.description,
    configSchema: schema(meta),
    validateResource: (args, report) => {
      if (!types.has(args.type)) return notApplicable(args, reason);
      const config = configWithDefaults<Config>(args.getConfig<Config>(), schema(meta));
      if (excepted(config, args.name)) return;
      for (const m of check(args.props as Record<string, unknown>, args, config)) report(m);
    },
  };
}

/** A stack policy: `check` yields `[message, resource?]`; resources named in `exceptions` are skipped. */
export function stackPolicy(
  meta: PolicyMeta,
  check: (args: StackValidationArgs, config: Config) => Iterable<[string, PolicyResource?]>,
): StackValidationPolicy {
  register(meta);
  return {
    name: meta.name,
    description: meta.description,
    configSchema: schema(meta),
    validateStack: (args, report) => {
      const config = configWithDefaults<Config>(args.getConfig<Config>(), schema(meta));
      for (const [message, r] of check(args, config)) {
        if (r && excepted(config, r.name)) continue;
        report(message, r?.urn);
      }
    },
  };
}

/** A policy defined without these helpers (the gates) still carries its rationale. */
export function withRationale<P extends Policy>(policy: P, rationale: Rationale): P {
  register({ name: policy.name, description: policy.description, ...rationale });
  return policy;
}
