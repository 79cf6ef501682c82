/**
 * Records the resource options the engine would receive (protect, retainOnDelete,
 * deleteBeforeReplace, dependencies), which `setMocks`' `newResource` does not pass
 * (DESIGN §4). Wraps the installed MockMonitor's `registerResource`; call right after
 * `installMocks` and before declaring resources.
 */
import * as pulumi from "@pulumi/pulumi";

export interface RecordedOptions {
  readonly type: string;
  readonly name: string;
  readonly protect: boolean;
  readonly retainOnDelete: boolean | undefined;
  readonly deleteBeforeReplace: boolean | undefined;
  /** URNs of explicit dependencies (dependsOn, including the release gate). */
  readonly dependencies: string[];
}

/* eslint-disable @typescript-eslint/no-explicit-any */
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

/** Pulumi's wire signature for a secret value (`{ [SIG]: SECRET, value }`). */
const SIG = "4dabf18193072939515e22adb298388d";
const SECRET = "1b47061264138c4ac30d75fd1eb44270";

/** Whether a recorded input value arrived as a secret. */
export function isSecretInput(v: unknown): boolean {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG] === SECRET;
}

/** A recorded input with every secret wrapper removed, for asserting on the values. */
export function reveal<T = any>(v: unknown): T {
  if (isSecretInput(v)) return reveal((v as { value: unknown }).value);
  if (Array.isArray(v)) return v.map((x) => reveal(x)) as T;
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reveal(x)])) as T;
  }
  return v as T;
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
