/**
 * Runs one policy the way @pulumi/policy's analyzer does (props behind `unknownCheckingProxy`,
 * `notApplicable` throws, `UnknownValueError` means "can't run during preview") and returns the
 * messages it reported, so tests assert the exact text (the pulumi-policy-aws pattern).
 */
import type {
  PolicyResource,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { UnknownValueError, unknownCheckingProxy } from "../../policies/lib/policy-sdk";

export const STACK = "production";
export const urnOf = (type: string, name: string, stack = STACK) =>
  `urn:pulumi:${stack}::launchgate::${type}::${name}`;

class NotApplicable extends Error {}

/** The type token a provider class carries (what `isType` compares). */
const typeOf = (cls: unknown) => (cls as { __pulumiType?: string } | undefined)?.__pulumiType;

export type Outcome = string[] | "not-applicable" | "unknown-at-preview";

/** Config as the engine passes it: the policy's schema defaults overlaid with `config`. */
function configFor(
  policy: { configSchema?: { properties?: Record<string, unknown> } },
  config: Record<string, unknown>,
) {
  const defaults = Object.fromEntries(
    Object.entries(policy.configSchema?.properties ?? {}).map(([k, s]) => [
      k,
      (s as { default?: unknown }).default,
    ]),
  );
  return { ...defaults, ...config };
}

async function outcome(run: () => unknown, messages: string[]): Promise<Outcome> {
  try {
    await run();
    return messages;
  } catch (e) {
    if (e instanceof NotApplicable) return "not-applicable";
    if (e instanceof UnknownValueError) return "unknown-at-preview";
    throw e;
  }
}

export interface ResourceInput {
  readonly type: string;
  readonly name: string;
  readonly props: Record<string, unknown>;
  readonly protect?: boolean;
  readonly stack?: string;
}

export async function runResourcePolicy(
  policy: ResourceValidationPolicy,
  r: ResourceInput,
  config: Record<string, unknown> = {},
): Promise<Outcome> {
  const messages: string[] = [];
  const props = unknownCheckingProxy(r.props) as Record<string, unknown>;
  const args = {
    type: r.type,
    name: r.name,
    urn: urnOf(r.type, r.name, r.stack),
    props,
    opts: {
      protect: r.protect ?? false,
      ignoreChanges: [],
      aliases: [],
      additionalSecretOutputs: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    },
    getConfig: () => configFor(policy, config),
    notApplicable: (reason?: string) => {
      throw new NotApplicable(reason);
    },
    isType: (cls: unknown) => typeOf(cls) === r.type,
    asType: (cls: unknown) => (typeOf(cls) === r.type ? props : undefined),
    stackTags: new Map(),
  } as unknown as ResourceValidationArgs;
  const validations = Array.isArray(policy.validateResource)
    ? policy.validateResource
    : [policy.validateResource!];
  // As the engine does: each validation on its own; not applicable only when none applied.
  const outcomes: Outcome[] = [];
  for (const v of validations)
    outcomes.push(await outcome(() => v(args, (m) => messages.push(m ?? "")), messages));
  if (outcomes.every((o) => o === "not-applicable")) return "not-applicable";
  if (outcomes.includes("unknown-at-preview")) return "unknown-at-preview";
  return messages;
}

export interface StackResourceInput extends ResourceInput {
  /** Names of resources this one depends on. */
  readonly dependsOn?: string[];
  /** Per input property, names of the resources it depends on (as the engine records them). */
  readonly propertyDependsOn?: Record<string, string[]>;
  /** The provider it is registered with, as the engine sends it (type, name and inputs). */
  readonly provider?: {
    readonly type: string;
    readonly name: string;
    readonly props: Record<string, unknown>;
  };
}

export async function runStackPolicy(
  policy: StackValidationPolicy,
  rs: StackResourceInput[],
  config: Record<string, unknown> = {},
): Promise<Outcome> {
  const messages: string[] = [];
  const resources: PolicyResource[] = rs.map((r) => ({
    type: r.type,
    name: r.name,
    urn: urnOf(r.type, r.name, r.stack),
    props: unknownCheckingProxy(r.props) as Record<string, unknown>,
    opts: {
      protect: r.protect ?? false,
      ignoreChanges: [],
      aliases: [],
      additionalSecretOutputs: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    },
    dependencies: [],
    propertyDependencies: {},
    isType: (cls: unknown) => typeOf(cls) === r.type,
    asType: () => undefined,
    ...(r.provider
      ? {
          provider: {
            type: r.provider.type,
            name: r.provider.name,
            urn: urnOf(r.provider.type, r.provider.name, r.stack),
            props: unknownCheckingProxy(r.provider.props),
          },
        }
      : {}),
  })) as unknown as PolicyResource[];
  rs.forEach((r, i) => {
    (resources[i] as { dependencies: PolicyResource[] }).dependencies = (r.dependsOn ?? []).map(
      (n) => resources[rs.findIndex((x) => x.name === n)]!,
    );
    (resources[i] as { propertyDependencies: Record<string, PolicyResource[]> }).propertyDependencies =
      Object.fromEntries(
        Object.entries(r.propertyDependsOn ?? {}).map(([k, names]) => [
          k,
          names.map((n) => resources[rs.findIndex((x) => x.name === n)]!),
        ]),
      );
  });
  const args = {
    resources,
    getConfig: () => configFor(policy, config),
    notApplicable: (reason?: string) => {
      throw new NotApplicable(reason);
    },
    stackTags: new Map(),
  } as unknown as StackValidationArgs;
  return outcome(() => policy.validateStack(args, (m) => messages.push(m ?? "")), messages);
}

/** The engine's unknown sentinel: what a computed value looks like at preview. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
