/**
 * Small helpers the policies share: type-scoped validation (with the `__pulumiType` tag the
 * engine uses to skip non-matching resources, as `validateResourceOfType` attaches), the stack
 * name from a URN, and walking every string of a resource's props.
 */
import type { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";

export const TYPES = {
  container: "docker:index/container:Container",
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

/** Every string inside a value, depth first. */
export function* strings(value: unknown): Generator<string> {
  if (typeof value === "string") yield value;
  else if (Array.isArray(value)) for (const v of value) yield* strings(v);
  else if (value !== null && typeof value === "object")
    for (const v of Object.values(value)) yield* strings(v);
}

/** Docker container props as policies see them (resolved inputs). */
export interface ContainerProps {
  readonly name?: string;
  readonly image?: string;
  readonly user?: string;
  readonly envs?: string[];
  readonly command?: string[];
  readonly ports?: { internal?: number; external?: number }[];
  readonly networksAdvanced?: { name: string }[];
  readonly networkMode?: string;
  readonly healthcheck?: { tests?: string[] };
  readonly memory?: number;
  readonly restart?: string;
  readonly capabilities?: { drops?: string[]; adds?: string[] };
  readonly securityOpts?: string[];
  readonly privileged?: boolean;
  readonly labels?: { label: string; value: string }[];
  readonly uploads?: { file: string; content?: string }[];
}

const DATA_STORE = /(^|[/_-])(postgres|postgresql|redis|pgbouncer)([:@_-]|$)/;

/** Which data store a container runs (by image or name), if any. */
export function dataStoreKind(c: ContainerProps): "postgres" | "redis" | "pgbouncer" | undefined {
  for (const s of [c.image ?? "", c.name ?? ""]) {
    const m = DATA_STORE.exec(s.split("/").pop() ?? s);
    if (m) return (m[2] === "postgresql" ? "postgres" : m[2]) as "postgres" | "redis" | "pgbouncer";
  }
  return undefined;
}

export function labelOf(c: { labels?: { label: string; value: string }[] }, key: string): string | undefined {
  return c.labels?.find((l) => l.label === key)?.value;
}
