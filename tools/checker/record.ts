/**
 * Runs the Pulumi program under the SDK's mock runtime and records every registration with
 * what the engine would see: the raw serialized inputs (secret signatures and preview unknowns
 * intact), parent, dependencies, property dependencies and options.
 *
 * `setMocks` only passes type/name/inputs to `newResource`, so this subclasses the runtime's
 * MockMonitor (which receives the whole RegisterResourceRequest), installs it with
 * `setMockOptions` and sets the store's feature flags exactly as `setMocks` does
 * (node_modules/@pulumi/pulumi/runtime/mocks.js, 3.248).
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import * as settings from "@pulumi/pulumi/runtime/settings";
import * as state from "@pulumi/pulumi/runtime/state";
import { runInPulumiStack } from "@pulumi/pulumi/runtime/stack";
import { setAllConfig } from "@pulumi/pulumi/runtime/config";
import type { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { serializedInputs } from "./serialized-inputs";
import type { StackConfig } from "./stack-config";

/** One registration as the engine would get it. */
export interface RecordedResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly custom: boolean;
  /** Order of registration (0 = first). */
  readonly index: number;
  /** Raw serialized inputs: secrets as signature objects, unknowns as the preview sentinel. */
  readonly inputs: Record<string, unknown>;
  readonly parent: string;
  readonly dependencies: string[];
  readonly propertyDependencies: Record<string, string[]>;
  readonly provider: string;
  readonly protect: boolean;
  readonly retainOnDelete: boolean;
  readonly deleteBeforeReplace?: boolean;
  readonly ignoreChanges: string[];
  readonly aliases: string[];
  readonly additionalSecretOutputs: string[];
  readonly customTimeouts?: { create: number; update: number; delete: number };
  /** True for `read` resources (StackReference, get()). */
  readonly read: boolean;
}

/** Answers StackReference reads: fully qualified stack name → its outputs. */
export type StackOutputsLookup = (stackName: string) => Record<string, unknown> | undefined;

export interface RunOptions {
  readonly programPath: string;
  /** Project root: its modules (outside node_modules) are re-loaded on every run. */
  readonly projectDir: string;
  readonly stack: string;
  readonly config: StackConfig;
  /** Preview (unknown computed outputs) as `pulumi preview` and the start of `pulumi up`. @default true */
  readonly preview?: boolean;
  readonly stackOutputs?: StackOutputsLookup;
  /** Program changes for tests: a stack transformation applied to every resource, after the program's own. */
  readonly transform?: pulumi.ResourceTransformation;
  /** Called with each registration as it is recorded (the engine analyzes resources as they register). */
  readonly onRecord?: (r: RecordedResource) => void;
}

export interface RunResult {
  readonly resources: RecordedResource[];
  /** Program errors (config validation, exceptions in applies …). */
  readonly errors: string[];
  /** Config keys the program read with getSecret/requireSecret. */
  readonly secretReads: string[];
}

// Internal runtime pieces `setMocks` itself uses (marked @internal, so absent from the .d.ts).
const runtimeSettings = settings as unknown as {
  setMockOptions: (monitor: unknown, project: string, stack: string, preview: boolean) => void;
  waitForRPCs: () => Promise<void>;
};
const runtimeState = state as unknown as {
  getStore: () => Record<string, unknown>;
  getStackResource: () => { __transformations?: pulumi.ResourceTransformation[] } | undefined;
};

/**
 * Registers `t` as a stack transformation that stays after every one the program registers
 * itself (e.g. the release gate's): a test's program change is the program's last word, so it
 * can model a resource that ends up without the gate.
 */
function registerLastStackTransformation(t: pulumi.ResourceTransformation): void {
  const stack = runtimeState.getStackResource();
  if (!stack) throw new Error("no stack resource to register a transformation on");
  let program = stack.__transformations ?? [];
  Object.defineProperty(stack, "__transformations", {
    configurable: true,
    get: () => [...program, t],
    set: (v: pulumi.ResourceTransformation[]) => (program = v.filter((x) => x !== t)),
  });
}

/* eslint-disable @typescript-eslint/no-explicit-any -- the MockMonitor's gRPC request objects are untyped JS */
class RecordingMonitor extends MockMonitor {
  readonly recorded: RecordedResource[] = [];

  constructor(
    mocks: pulumi.runtime.Mocks,
    private readonly onRecord: (r: RecordedResource) => void = () => undefined,
  ) {
    super(mocks);
  }

  private record(r: RecordedResource, struct?: Struct): void {
    if (struct) serializedInputs.set(r, struct);
    this.recorded.push(r);
    this.onRecord(r);
  }

  private urnOf(req: any): string {
    return (this as any).newUrn(req.getParent(), req.getType(), req.getName());
  }

  override async registerResource(req: any, callback: (err: any, resp?: any) => void): Promise<void> {
    const timeouts = req.getCustomtimeouts?.();
    const propertyDependencies: Record<string, string[]> = {};
    const object = req.getObject();
    req
      .getPropertydependenciesMap()
      .forEach((v: any, k: string) => (propertyDependencies[k] = v.getUrnsList()));
    this.record(
      {
        urn: this.urnOf(req),
        type: req.getType(),
        name: req.getName(),
        custom: req.getCustom(),
        index: this.recorded.length,
        inputs: (object?.toJavaScript() ?? {}) as Record<string, unknown>,
        parent: req.getParent(),
        dependencies: req.getDependenciesList(),
        propertyDependencies,
        provider: req.getProvider(),
        protect: req.getProtect() === true,
        retainOnDelete: req.getRetainondelete() === true,
        deleteBeforeReplace: req.getDeletebeforereplacedefined() ? req.getDeletebeforereplace() : undefined,
        ignoreChanges: req.getIgnorechangesList(),
        aliases: (req.getAliasesList?.() ?? []).map((a: any) => a.getUrn?.() ?? "").filter((u: string) => u),
        additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
        customTimeouts: timeouts
          ? {
              create: parseDuration(timeouts.getCreate()),
              update: parseDuration(timeouts.getUpdate()),
              delete: parseDuration(timeouts.getDelete()),
            }
          : undefined,
        read: false,
      },
      object,
    );
    // Give the event loop an I/O turn: mocked registrations resolve as microtasks, which would
    // otherwise starve I/O until the program ends (the policy pack's port, its Analyze replies),
    // so the pack could only start analyzing after the program.
    await new Promise((r) => setImmediate(r));
    return super.registerResource(req, callback);
  }

  override async readResource(req: any, callback: (err: any, resp?: any) => void): Promise<void> {
    this.record({
      urn: this.urnOf(req),
      type: req.getType(),
      name: req.getName(),
      custom: true,
      index: this.recorded.length,
      inputs: (req.getProperties()?.toJavaScript() ?? {}) as Record<string, unknown>,
      parent: req.getParent(),
      dependencies: req.getDependenciesList(),
      propertyDependencies: {},
      provider: req.getProvider(),
      protect: false,
      retainOnDelete: false,
      ignoreChanges: [],
      aliases: [],
      additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
      read: true,
    });
    return super.readResource(req, callback);
  }
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** "10m", "1h30m", "45s" → seconds (Pulumi's custom timeout strings); 0 when empty. */
function parseDuration(s: string): number {
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(h|m|s)/g))
    total += Number(m[1]) * { h: 3600, m: 60, s: 1 }[m[2] as "h" | "m" | "s"];
  return total;
}

/** Mocked provider behaviour: preview echoes inputs only (computed outputs stay unknown). */
function mocks(o: RunOptions): pulumi.runtime.Mocks {
  return {
    newResource(args) {
      if (args.type === "pulumi:pulumi:StackReference") {
        const name = String(args.inputs.name ?? args.id ?? args.name);
        const outputs = o.stackOutputs?.(name) ?? {};
        return { id: name, state: { name, outputs, secretOutputNames: [] } };
      }
      return { id: o.preview === false ? `${args.name}-id` : "", state: args.inputs };
    },
    call() {
      return {};
    },
  };
}

/** Forgets the project's modules (not node_modules) so the next run re-executes the program. */
function clearProgramModules(projectDir: string): void {
  for (const key of Object.keys(require.cache)) {
    if (
      key.startsWith(projectDir) &&
      !key.includes(`${path.sep}node_modules${path.sep}`) &&
      !key.includes(`${path.sep}tools${path.sep}checker${path.sep}`)
    ) {
      delete require.cache[key];
    }
  }
}

/** Records which config keys the program reads as secrets. */
function watchSecretReads(): { reads: Set<string>; restore: () => void } {
  const proto = pulumi.Config.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const names = [
    "getSecret",
    "requireSecret",
    "getSecretObject",
    "requireSecretObject",
    "getSecretNumber",
    "requireSecretNumber",
    "getSecretBoolean",
    "requireSecretBoolean",
  ];
  const reads = new Set<string>();
  const originals = names.map((n) => [n, proto[n]!] as const);
  for (const [n, fn] of originals) {
    proto[n] = function (this: pulumi.Config, key: unknown, ...rest: unknown[]) {
      reads.add(`${this.name}:${String(key)}`);
      return fn.call(this, key, ...rest);
    };
  }
  return { reads, restore: () => originals.forEach(([n, fn]) => (proto[n] = fn)) };
}

/**
 * Program errors surface as unhandled rejections (failed applies, a throwing program), some
 * after the run settles (the same error again through the stack's outputs). One process-wide
 * handler routes them to the running check; late repeats of an already reported error are
 * dropped, anything else late is printed, never silently lost.
 */
const rejections: { current?: (e: unknown) => void; reported: Set<string>; installed: boolean } = {
  reported: new Set(),
  installed: false,
};

function routeRejections(): void {
  if (rejections.installed) return;
  rejections.installed = true;
  process.on("unhandledRejection", (e: unknown) => {
    const message = e instanceof Error ? e.message : String(e);
    if (rejections.current) rejections.current(e);
    else if (!rejections.reported.has(message)) console.error(`checker: late program error: ${message}`);
  });
}

/** Runs the program once and returns every registration. */
export async function runProgram(o: RunOptions): Promise<RunResult> {
  const monitor = new RecordingMonitor(mocks(o), o.onRecord);
  runtimeSettings.setMockOptions(monitor, o.config.project, o.stack, o.preview ?? true);
  // The feature flags `setMocks` sets; with supportsSecrets the raw inputs keep secret signatures.
  const store = runtimeState.getStore();
  Object.assign(store, {
    supportsSecrets: true,
    supportsResourceReferences: true,
    supportsOutputValues: false,
    supportsDeletedWith: true,
    supportsReplaceWith: true,
    supportsAliasSpecs: true,
    supportsTransforms: false,
    supportsParameterization: true,
    supportsResourceHooks: true,
    supportsErrorHooks: true,
  });
  setAllConfig(o.config.config, o.config.secureKeys);
  const errors: string[] = [];
  routeRejections();
  const onRejection = (e: unknown) => errors.push(e instanceof Error ? e.message : String(e));
  rejections.current = onRejection;
  const secretReads = watchSecretReads();
  clearProgramModules(path.resolve(o.projectDir));
  try {
    await runInPulumiStack(async () => {
      if (o.transform) registerLastStackTransformation(o.transform);
      // A throwing program (e.g. invalid config) is a finding, not a crash: caught here so it
      // does not also reject the stack resource's promises.
      try {
        // The program is CommonJS loaded by path at run time, as the Node language host loads it.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        return require(path.resolve(o.programPath));
      } catch (e) {
        onRejection(e);
        return undefined;
      }
    });
  } catch (e) {
    onRejection(e);
  }
  try {
    await runtimeSettings.waitForRPCs();
  } catch (e) {
    onRejection(e);
  }
  // Let rejections raised in the last applies surface before detaching the handler.
  await new Promise((r) => setImmediate(r));
  rejections.current = undefined;
  errors.forEach((e) => rejections.reported.add(e));
  secretReads.restore();
  return { resources: monitor.recorded, errors: [...new Set(errors)], secretReads: [...secretReads.reads] };
}
