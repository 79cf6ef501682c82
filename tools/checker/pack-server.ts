/**
 * Runs the policy pack exactly as the Pulumi CLI does — as its own process (`policies/index.ts`,
 * which constructs the unmodified @pulumi/policy `PolicyPack` and serves the Analyzer gRPC
 * service, printing its port) — and talks to it over the engine's Analyzer protocol
 * (GetAnalyzerInfo, Configure, Analyze, AnalyzeStack). So deserialization (secrets unwrapped),
 * the unknown-checking proxy, `UnknownValueError` → advisory "can't run during preview",
 * remediate → mandatory, type-scoped "not applicable" and violation messages are @pulumi/policy's
 * own code, not a re-implementation.
 */
import type { ChildProcess } from "node:child_process";
import * as grpc from "@grpc/grpc-js";
import * as analyzerpb from "@pulumi/pulumi/proto/analyzer_pb";
import * as analyzerrpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import type { RecordedResource } from "./record";
import { serializedInputs } from "./serialized-inputs";
import type { SpawnedPack } from "./spawn-pack";
import { spawnPack } from "./spawn-pack";

export type EnforcementLevel = "advisory" | "mandatory" | "remediate" | "disabled";
const LEVELS: EnforcementLevel[] = ["advisory", "mandatory", "disabled", "remediate"]; // proto enum order

export interface PolicyInfo {
  readonly name: string;
  readonly description: string;
  readonly enforcementLevel: EnforcementLevel;
  readonly configSchema?: { properties?: Record<string, { default?: unknown }>; required?: string[] };
}

export interface Diagnostic {
  readonly policyName: string;
  readonly description: string;
  readonly message: string;
  readonly enforcementLevel: EnforcementLevel;
  /** Resource the violation is about (resource policies: the analyzed one). */
  readonly urn: string;
}

export interface ResolvedPolicyConfig {
  readonly enforcementLevel: EnforcementLevel;
  readonly properties: Record<string, unknown>;
}

function unary<Req, Res>(client: analyzerrpc.AnalyzerClient, method: string, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    (
      client as unknown as Record<
        string,
        (r: Req, cb: (e: grpc.ServiceError | null, res: Res) => void) => void
      >
    )[method]!.call(client, req, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

function options(r: RecordedResource): analyzerpb.AnalyzerResourceOptions {
  const o = new analyzerpb.AnalyzerResourceOptions();
  o.setProtect(r.protect);
  o.setIgnorechangesList(r.ignoreChanges);
  o.setAliasesList(r.aliases);
  o.setAdditionalsecretoutputsList(r.additionalSecretOutputs);
  if (r.deleteBeforeReplace !== undefined) {
    o.setDeletebeforereplacedefined(true);
    o.setDeletebeforereplace(r.deleteBeforeReplace);
  }
  if (r.customTimeouts) {
    const t = new analyzerpb.AnalyzerResourceOptions.CustomTimeouts();
    t.setCreate(r.customTimeouts.create);
    t.setUpdate(r.customTimeouts.update);
    t.setDelete(r.customTimeouts.delete);
    o.setCustomtimeouts(t);
  }
  if (r.parent) o.setParent(r.parent);
  return o;
}

function toDiagnostics(res: analyzerpb.AnalyzeResponse, fallbackUrn: string): Diagnostic[] {
  return res.getDiagnosticsList().map((d) => ({
    policyName: d.getPolicyname(),
    description: d.getDescription(),
    message: d.getMessage(),
    enforcementLevel: LEVELS[d.getEnforcementlevel()] ?? "advisory",
    urn: d.getUrn() || fallbackUrn,
  }));
}

/** A running policy pack and a client to it. */
export class PackServer {
  /** Each resource's inputs as a Struct, built once for Analyze and reused by AnalyzeStack. */
  private readonly structs = new WeakMap<RecordedResource, Struct>();

  private constructor(
    private readonly child: ChildProcess,
    private readonly client: analyzerrpc.AnalyzerClient,
  ) {}

  /** Starts `<packDir>/index.ts` the way the CLI starts a TypeScript pack and connects to it. */
  static async start(packDir: string): Promise<PackServer> {
    return PackServer.connect(spawnPack(packDir));
  }

  /** Connects to a pack started with `spawnPack` once it prints its port. */
  static async connect(pack: SpawnedPack): Promise<PackServer> {
    const port = await pack.port;
    const client = new analyzerrpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    return new PackServer(pack.child, client);
  }

  async info(): Promise<{ name: string; version: string; policies: PolicyInfo[] }> {
    const res = await unary<Empty, analyzerpb.AnalyzerInfo>(this.client, "getAnalyzerInfo", new Empty());
    return {
      name: res.getName(),
      version: res.getVersion(),
      policies: res.getPoliciesList().map((p) => ({
        name: p.getName(),
        description: p.getDescription(),
        enforcementLevel: LEVELS[p.getEnforcementlevel()] ?? "advisory",
        configSchema: p.getConfigschema()
          ? {
              properties: p.getConfigschema()!.getProperties()?.toJavaScript() as Record<
                string,
                { default?: unknown }
              >,
              required: p.getConfigschema()!.getRequiredList(),
            }
          : undefined,
      })),
    };
  }

  /** Sends the resolved per-policy config, as the engine does before analyzing. */
  async configure(config: Record<string, ResolvedPolicyConfig>): Promise<void> {
    const req = new analyzerpb.ConfigureAnalyzerRequest();
    for (const [name, c] of Object.entries(config)) {
      const pc = new analyzerpb.PolicyConfig();
      pc.setEnforcementlevel(LEVELS.indexOf(c.enforcementLevel) as analyzerpb.EnforcementLevel);
      pc.setProperties(Struct.fromJavaScript(c.properties as Record<string, never>));
      req.getPolicyconfigMap().set(name, pc);
    }
    await unary(this.client, "configure", req);
  }

  /** Resource-level policies on one resource's inputs (called per registration, before its step). */
  async analyze(r: RecordedResource): Promise<Diagnostic[]> {
    const req = new analyzerpb.AnalyzeRequest();
    req.setType(r.type);
    req.setUrn(r.urn);
    req.setName(r.name);
    req.setProperties(this.propertiesOf(r));
    req.setOptions(options(r));
    return toDiagnostics(await unary(this.client, "analyze", req), r.urn);
  }

  /**
   * Stack policies over every resource with parents and dependencies resolved, and, as the engine
   * sends it, the provider each was registered with (when that provider is a recorded resource:
   * explicit providers; the engine's default providers are not registered by a program).
   */
  async analyzeStack(resources: RecordedResource[]): Promise<Diagnostic[]> {
    const req = new analyzerpb.AnalyzeStackRequest();
    const byUrn = new Map(resources.map((r) => [r.urn, r]));
    const providers = new Map<string, analyzerpb.AnalyzerProviderResource>();
    // A provider reference is `<provider urn>::<provider id>`.
    const providerOf = (ref: string): analyzerpb.AnalyzerProviderResource | undefined => {
      const urn = ref.slice(0, Math.max(0, ref.lastIndexOf("::")));
      const p = byUrn.get(urn);
      if (!p) return undefined;
      let msg = providers.get(urn);
      if (!msg) {
        msg = new analyzerpb.AnalyzerProviderResource();
        msg.setType(p.type);
        msg.setUrn(p.urn);
        msg.setName(p.name);
        msg.setProperties(this.propertiesOf(p));
        providers.set(urn, msg);
      }
      return msg;
    };
    req.setResourcesList(
      resources.map((r) => {
        const a = new analyzerpb.AnalyzerResource();
        a.setType(r.type);
        a.setUrn(r.urn);
        a.setName(r.name);
        a.setProperties(this.propertiesOf(r));
        const provider = r.provider ? providerOf(r.provider) : undefined;
        if (provider) a.setProvider(provider);
        a.setOptions(options(r));
        a.setParent(r.parent);
        a.setDependenciesList(r.dependencies);
        for (const [k, urns] of Object.entries(r.propertyDependencies)) {
          const pd = new analyzerpb.AnalyzerPropertyDependencies();
          pd.setUrnsList(urns);
          a.getPropertydependenciesMap().set(k, pd);
        }
        return a;
      }),
    );
    return toDiagnostics(await unary(this.client, "analyzeStack", req), "");
  }

  /** The SDK's own serialization of the inputs when recorded by ./record, else built from `inputs`. */
  private propertiesOf(r: RecordedResource): Struct {
    let s = this.structs.get(r) ?? serializedInputs.get(r);
    if (!s) s = Struct.fromJavaScript(r.inputs as Record<string, never>);
    this.structs.set(r, s);
    return s;
  }

  close(): void {
    this.client.close();
    this.child.kill();
  }
}
