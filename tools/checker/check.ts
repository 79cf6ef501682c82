/**
 * `npm run check`'s engine: run the program under the mock runtime (preview), evaluate the
 * policy pack over the Analyzer protocol with the stack's pack config, add the program-side
 * checks, and summarize the gates.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { STACK_OUTPUTS_FILE, shortStackName } from "../../contract/evidence-files";
import { GATE_RESOURCE_NAME, GATE_RESOURCE_TYPE, GateManifest, manifestOf } from "../../contract/manifest";
import { Diagnostic, EnforcementLevel, PackServer } from "./pack-server";
import { resolvePackConfig } from "./pack-config";
import {
  dataRetained,
  gateFirst,
  plaintextSecretInputs,
  secureConfig,
  upstreamDrain,
} from "./program-checks";
import { RecordedResource, runProgram } from "./record";
import { loadStackConfig } from "./stack-config";

export interface CheckOptions {
  readonly stack: string;
  /** Folder with Pulumi.yaml. @default process.cwd() */
  readonly projectDir?: string;
  /** @default <projectDir>/index.ts */
  readonly programPath?: string;
  /** @default <projectDir>/policies */
  readonly packDir?: string;
  /** @default <packDir>/config/<stack>.json */
  readonly packConfigPath?: string;
  /** Merged over the pack config file (per policy, shallow). */
  readonly packConfigOverrides?: Record<string, unknown>;
  /** `key` or `namespace:key` → value, over the stack file. */
  readonly configOverrides?: Record<string, unknown>;
  /** Evidence root replacing `release.evidenceDir` (absolute or relative to projectDir). */
  readonly evidenceDir?: string;
  /** Where StackReference outputs are read (`<dir>/<stack>/stack-outputs.json`). @default the evidence dir */
  readonly stackOutputsDir?: string;
  readonly preview?: boolean;
  /** A program change applied to every resource (tests). */
  readonly transform?: pulumi.ResourceTransformation;
  /** A running pack to reuse (tests run many checks), or one still starting (the CLI: the program runs meanwhile). */
  readonly server?: PackServer | Promise<PackServer>;
}

export interface Finding extends Diagnostic {
  readonly resourceName: string;
  readonly resourceType: string;
  readonly source: "pack" | "checker";
}

export interface CheckResult {
  readonly stack: string;
  readonly pack: { name: string; version: string };
  readonly resourceCount: number;
  readonly programErrors: string[];
  readonly findings: Finding[];
  readonly gate: { readonly urn: string; readonly manifest: GateManifest } | null;
  readonly enforcement: Record<string, EnforcementLevel>;
  readonly timingsMs: { program: number; policies: number; total: number };
  /** Documented exceptions from the pack config (`<policy>.exceptions`: resource → reason). */
  readonly exceptions: { policy: string; resource: string; reason: string }[];
  /** No program error and no mandatory finding. */
  readonly passed: boolean;
}

function readJsonFile(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
}

/** Shallow per-policy merge of pack config objects. */
export function mergePackConfig(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = typeof b === "object" && b !== null && typeof v === "object" && v !== null ? { ...b, ...v } : v;
  }
  return out;
}

/** Points `<project>:release.evidenceDir` at `dir` in the runtime config. */
function withEvidenceDir(config: Record<string, string>, project: string, dir: string): void {
  const key = `${project}:release`;
  const release = JSON.parse(config[key] ?? "{}") as Record<string, unknown>;
  config[key] = JSON.stringify({ ...release, evidenceDir: dir });
}

function evidenceRoot(config: Record<string, string>, project: string, projectDir: string): string {
  let dir = "evidence";
  try {
    dir = (JSON.parse(config[`${project}:release`] ?? "{}") as { evidenceDir?: string }).evidenceDir ?? dir;
  } catch {
    // an invalid release key is reported by the program's own validation
  }
  return path.resolve(projectDir, dir);
}

function stackOutputsReader(dir: string): (name: string) => Record<string, unknown> | undefined {
  return (name) => {
    const file = path.join(dir, shortStackName(name), STACK_OUTPUTS_FILE);
    return fs.existsSync(file) ? readJsonFile(file) : undefined;
  };
}

/** Resources the engine sends to Analyze (all but the stack and provider resources). */
function analyzedByEngine(r: RecordedResource): boolean {
  return r.type !== "pulumi:pulumi:Stack" && !r.type.startsWith("pulumi:providers:");
}

/**
 * The pack's side of a check, in the engine's order: GetAnalyzerInfo and Configure once the pack
 * is up, Analyze for each resource as it registers (so the pack evaluates while the program is
 * still running, as under `pulumi preview`), AnalyzeStack after the program finished.
 */
class PackEvaluation {
  private readonly configured: Promise<{
    server: PackServer;
    info: Awaited<ReturnType<PackServer["info"]>>;
    resolved: ReturnType<typeof resolvePackConfig>;
  }>;
  private readonly analyses: Promise<Diagnostic[]>[] = [];

  constructor(server: Promise<PackServer>, packConfig: Record<string, unknown>) {
    this.configured = server.then(async (s) => {
      const info = await s.info();
      const resolved = resolvePackConfig(packConfig, info.policies);
      await s.configure(resolved);
      return { server: s, info, resolved };
    });
    this.configured.catch(() => undefined); // surfaced by finish()
  }

  /** Analyze one registration (queued until the pack is configured). */
  readonly onRecord = (r: RecordedResource): void => {
    if (!analyzedByEngine(r)) return;
    const analysis = this.configured.then(({ server }) => server.analyze(r));
    // Awaited in finish(); until then a failure must not look like a program error (unhandled rejection).
    analysis.catch(() => undefined);
    this.analyses.push(analysis);
  };

  /**
   * Every resource's diagnostics (registration order), then the stack policies'. AnalyzeStack is
   * sent at once, behind the Analyze calls still in flight (the pack is stateless between calls):
   * the checker encodes it while the pack finishes those, instead of after.
   */
  async finish(resources: RecordedResource[]) {
    const { server, info, resolved } = await this.configured;
    const stack = server.analyzeStack(resources);
    stack.catch(() => undefined); // awaited below, after the per-resource analyses
    const perResource = await Promise.all(this.analyses);
    const stackLevel = await stack;
    const enforcement = Object.fromEntries(Object.entries(resolved).map(([k, v]) => [k, v.enforcementLevel]));
    return { info, diagnostics: [...perResource.flat(), ...stackLevel], enforcement, resolved };
  }
}

/** Every `{ policy: { exceptions: { resource: reason } } }` entry of a pack config, sorted. */
export function packExceptions(packConfig: Record<string, unknown>): CheckResult["exceptions"] {
  return Object.entries(packConfig)
    .flatMap(([policy, v]) => {
      const ex = (v as { exceptions?: Record<string, unknown> } | null)?.exceptions;
      return typeof ex === "object" && ex !== null
        ? Object.entries(ex).map(([resource, reason]) => ({ policy, resource, reason: String(reason) }))
        : [];
    })
    .sort((a, b) => a.policy.localeCompare(b.policy) || a.resource.localeCompare(b.resource));
}

/** Runs one check. Starts (and stops) a pack server unless `o.server` is given. */
export async function runCheck(o: CheckOptions): Promise<CheckResult> {
  const t0 = performance.now();
  const projectDir = path.resolve(o.projectDir ?? process.cwd());
  const packDir = path.resolve(o.packDir ?? path.join(projectDir, "policies"));
  const packConfigPath = o.packConfigPath ?? path.join(packDir, "config", `${o.stack}.json`);
  const packConfig = mergePackConfig(readJsonFile(packConfigPath), o.packConfigOverrides ?? {});
  // Start the pack while the program runs; it analyzes each resource as the program registers it.
  const serverPromise = o.server ? Promise.resolve(o.server) : PackServer.start(packDir);
  const evaluation = new PackEvaluation(serverPromise, packConfig);
  try {
    const config = loadStackConfig(projectDir, o.stack, o.configOverrides);
    if (o.evidenceDir)
      withEvidenceDir(config.config, config.project, path.resolve(projectDir, o.evidenceDir));
    const outputsDir = o.stackOutputsDir ?? evidenceRoot(config.config, config.project, projectDir);
    const run = await runProgram({
      programPath: o.programPath ?? path.join(projectDir, "index.ts"),
      projectDir,
      stack: o.stack,
      config,
      preview: o.preview ?? true,
      stackOutputs: stackOutputsReader(outputsDir),
      transform: o.transform,
      onRecord: evaluation.onRecord,
    });
    const tProgram = performance.now();
    const { info, diagnostics, enforcement, resolved } = await evaluation.finish(run.resources);
    const checkerLevel: EnforcementLevel = packConfig.all === "mandatory" ? "mandatory" : "advisory";
    const byUrn = new Map(run.resources.map((r) => [r.urn, r]));
    const programFindings = [
      ...gateFirst(run.resources),
      ...upstreamDrain(run.resources),
      ...plaintextSecretInputs(run.resources),
      ...secureConfig(config, run.secretReads, o.stack),
      // The data-volumes-protected policy's regenerable kinds (its config, schema defaults filled).
      ...dataRetained(
        run.resources,
        resolved["data-volumes-protected"]?.properties.regenerableKinds as string[] | undefined,
      ),
    ];
    const findings: Finding[] = [
      ...diagnostics.map((d) => ({ ...d, source: "pack" as const })),
      ...programFindings.map((f) => ({
        ...f,
        description: "program-side check",
        enforcementLevel: checkerLevel,
        source: "checker" as const,
      })),
    ].map((d) => ({
      ...d,
      resourceName: byUrn.get(d.urn)?.name ?? "(stack)",
      resourceType: byUrn.get(d.urn)?.type ?? "",
    }));
    const gateRes = run.resources.find((r) => r.type === GATE_RESOURCE_TYPE && r.name === GATE_RESOURCE_NAME);
    const manifest = gateRes ? manifestOrNull(gateRes) : undefined;
    const t1 = performance.now();
    return {
      stack: o.stack,
      pack: { name: info.name, version: info.version },
      resourceCount: run.resources.length,
      programErrors: run.errors,
      findings,
      gate: gateRes && manifest ? { urn: gateRes.urn, manifest } : null,
      enforcement,
      timingsMs: {
        program: Math.round(tProgram - t0),
        policies: Math.round(t1 - tProgram),
        total: Math.round(t1 - t0),
      },
      exceptions: packExceptions(packConfig),
      passed: run.errors.length === 0 && !findings.some((f) => f.enforcementLevel === "mandatory"),
    };
  } finally {
    if (!o.server) (await serverPromise.catch(() => undefined))?.close();
  }
}

/** The gate manifest from raw inputs (secret-wrapped environment allowed), or null. */
function manifestOrNull(r: RecordedResource): GateManifest | undefined {
  const env = r.inputs.environment as Record<string, unknown> | undefined;
  const unwrap = (v: unknown) =>
    typeof v === "object" && v !== null && "value" in v ? (v as { value: unknown }).value : v;
  const environment = unwrap(env) as Record<string, unknown> | undefined;
  try {
    return manifestOf({
      environment: Object.fromEntries(Object.entries(environment ?? {}).map(([k, v]) => [k, unwrap(v)])),
    });
  } catch {
    return undefined;
  }
}
