/**
 * Small helpers the policies share: type-scoped validation (with the `__pulumiType` tag the
 * engine uses to skip non-matching resources, as `validateResourceOfType` attaches), the stack
 * name from a URN, and walking every string of a resource's props.
 */
import { UnknownValueError } from "@pulumi/policy";
import type { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";

export const TYPES = {
  container: "docker:index/container:Container",
  service: "docker:index/service:Service",
  volume: "docker:index/volume:Volume",
  network: "docker:index/network:Network",
  remoteImage: "docker:index/remoteImage:RemoteImage",
  remoteCommand: "command:remote:Command",
  localCommand: "command:local:Command",
  pgDatabase: "postgresql:index/database:Database",
} as const;

type Validate = NonNullable<
  Extract<ResourceValidationPolicy["validateResource"], (...a: never[]) => unknown>
>;

/** A validateResource that runs `fn` only for `type` and is tagged so the engine skips others. */
export function onType<P>(
  type: string,
  fn: (props: P, args: ResourceValidationArgs, report: ReportViolation) => void,
): Validate {
  const v: Validate = (args, report) => {
    if (args.type !== type) return args.notApplicable(`Policy only applies to resources of type '${type}'`);
    return fn(args.props as P, args, report);
  };
  (v as unknown as { __pulumiType: string }).__pulumiType = type;
  return v;
}

/** Stack name from a URN (`urn:pulumi:<stack>::<project>::<type>::<name>`), as the engine names it. */
export function stackOfUrn(urn: string): string {
  return urn.split("::")[0]!.replace(/^urn:pulumi:/, "");
}

/**
 * `read()`, or undefined when it touches a value unknown at preview. Reads run without stack
 * capture: the proxy's UnknownValueError is caught here (thousands per preview) and its stack
 * never read; a property read's other errors keep their message.
 */
export function known<T>(read: () => T): T | undefined {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return read();
  } catch (e) {
    if (e instanceof UnknownValueError) return undefined;
    throw e;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * Every KNOWN string inside a value, depth first. Scanning policies look for literals written in
 * the program; a value unknown at preview is computed by another resource (a generated password,
 * a certificate), so it cannot be such a literal, and `pulumi up` analyzes it again once known.
 */
export function* strings(value: unknown): Generator<string> {
  if (typeof value === "string") yield value;
  else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = known(() => value[i] as unknown);
      if (v !== undefined) yield* strings(v);
    }
  } else if (value !== null && typeof value === "object") {
    for (const k of Object.keys(value)) {
      const v = known(() => (value as Record<string, unknown>)[k]);
      if (v !== undefined) yield* strings(v);
    }
  }
}
