/**
 * Shared Pulumi mocks for unit tests: records every resource registered (type, name, inputs)
 * and fails on any provider function call not explicitly allowed.
 *
 * Usage:
 *   const rec = await installMocks("local");
 *   const c = new Redis("queue", args);
 *   await settle();
 *   const box = rec.one("docker:index/container:Container", "queue");
 */
import * as pulumi from "@pulumi/pulumi";

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  /** Inputs as the provider would receive them (secrets unwrapped). */
  readonly inputs: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** URNs of the resources it depends on (`dependsOn` plus those of its inputs), from the monitor request. */
  readonly dependencies?: string[];
  /** Reference of the provider it is created with (`<provider urn>::<id>`), when not the default. */
  readonly provider?: string;
}

export class Recorder {
  readonly resources: RecordedResource[] = [];

  /** All resources of a type (token as in the provider, e.g. `docker:index/container:Container`). */
  ofType(type: string): RecordedResource[] {
    return this.resources.filter((r) => r.type === type);
  }

  /** The single resource with this type and name; throws with what exists otherwise. */
  one(type: string, name: string): RecordedResource {
    const hits = this.resources.filter((r) => r.type === type && r.name === name);
    if (hits.length !== 1) {
      const names = this.ofType(type).map((r) => r.name);
      throw new Error(
        `expected one ${type} named ${name}, found ${hits.length} (have: ${names.join(", ") || "none"})`,
      );
    }
    return hits[0]!;
  }
}

/** The part of the engine's RegisterResourceRequest the recorder reads. */
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getDependenciesList(): string[];
}

/** Provider functions tests may call, with canned results. Anything else fails the test. */
export type CallHandler = (args: pulumi.runtime.MockCallArgs) => Record<string, unknown>;

/**
 * Installs recording mocks for `project`/`stack`. Resource ids are `<name>-id`; outputs echo the
 * inputs plus `state` overrides, so component outputs can be asserted.
 */
export async function installMocks(
  stack = "local",
  opts: {
    calls?: Record<string, CallHandler>;
    state?: (r: RecordedResource) => Record<string, unknown>;
  } = {},
): Promise<Recorder> {
  const rec = new Recorder();
  // setMocks hands newResource no dependencies; the monitor's request has them.
  const deps = new Map<string, string[]>();
  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        const dependencies = deps.get(`${args.type}::${args.name}`) ?? [];
        const r: RecordedResource = {
          type: args.type,
          name: args.name,
          inputs: args.inputs,
          dependencies,
          provider: args.provider,
        };
        rec.resources.push(r);
        return { id: `${args.name}-id`, state: { ...args.inputs, ...(opts.state?.(r) ?? {}) } };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        const handler = opts.calls?.[args.token];
        if (!handler)
          throw new Error(`unexpected provider call ${args.token} (${JSON.stringify(args.inputs)})`);
        return handler(args);
      },
    },
    "launchgate",
    stack,
    false,
  );
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: RegisterRequest, cb: unknown): unknown;
  };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    deps.set(`${req.getType()}::${req.getName()}`, req.getDependenciesList());
    return register(req, cb);
  };
  return rec;
}

/** Resolves an Output (or plain value) for assertions. */
export function unwrap<T>(o: pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(o).apply((v) => resolve(v as T)));
}

/** Whether an Output is marked secret. */
export function isSecret(o: pulumi.Output<unknown>): Promise<boolean> {
  return pulumi.isSecret(o);
}

/** Waits until every pending resource registration has been recorded. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 20));
}

/** Pulumi's wire marker for a secret value: `{ [SECRET_SIG_KEY]: SECRET_SIG, value }`. */
const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** Whether a recorded input value is marked secret (an object holding a secret, too, is sent as one). */
export function isSecretInput(v: unknown): boolean {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG;
}

/** A recorded input with every secret marker removed (the plaintext a provider would see). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function reveal<T = any>(v: unknown): T {
  if (isSecretInput(v)) return reveal<T>((v as { value: unknown }).value);
  if (Array.isArray(v)) return v.map((x) => reveal(x)) as T;
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reveal(x)])) as T;
  }
  return v as T;
}

/**
 * Records the resource options the engine would receive (protect, retainOnDelete,
 * deleteBeforeReplace, dependencies), which `setMocks`' `newResource` does not pass.
 * Wraps the installed MockMonitor's `registerResource`; call right after
 * `installMocks` and before declaring resources.
 */
export interface RecordedOptions {
  readonly type: string;
  readonly name: string;
  readonly protect: boolean;
  readonly retainOnDelete: boolean | undefined;
  readonly deleteBeforeReplace: boolean | undefined;
  /** URNs of explicit dependencies (dependsOn, including the release gate). */
  readonly dependencies: string[];
  /** `additionalSecretOutputs`: outputs the engine stores as secrets. */
  readonly additionalSecretOutputs: string[];
}

/* eslint-disable @typescript-eslint/no-explicit-any -- the monitor's gRPC requests are untyped JS */
export function recordOptions(): { of(type: string, name: string): RecordedOptions; all: RecordedOptions[] } {
  const monitor = pulumi.runtime.getMonitor() as any;
  const all: RecordedOptions[] = [];
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, cb: unknown) => {
    all.push({
      type: req.getType(),
      name: req.getName(),
      protect: req.getProtect(),
      retainOnDelete: req.hasRetainondelete() ? req.getRetainondelete() : undefined,
      deleteBeforeReplace: req.getDeletebeforereplacedefined() ? req.getDeletebeforereplace() : undefined,
      dependencies: req.getDependenciesList(),
      additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
    });
    return original(req, cb);
  };
  return {
    all,
    of(type: string, name: string): RecordedOptions {
      const hit = all.filter((o) => o.type === type && o.name === name);
      if (hit.length !== 1) throw new Error(`expected one ${type} ${name}, found ${hit.length}`);
      return hit[0]!;
    },
  };
}

class FakeResource extends pulumi.CustomResource {
  constructor(type: string, name: string) {
    super(type, name, {});
  }
}

/** A plain custom resource to stand in for a dependency (release gate, tunnel, backup). */
export function fakeResource(type: string, name: string): pulumi.Resource {
  return new FakeResource(type, name);
}
