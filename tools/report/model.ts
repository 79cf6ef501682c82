/**
 * The release report's data: built by one pure function from the checker's result (its
 * `CheckResult`, gate rows and finding texts are reused from tools/checker/report.ts) plus the
 * recorded resources (for the component picture). Renderers (./html.ts) only format this.
 */
import type { CheckResult, Finding } from "../checker/check";
import { fix, gateRows } from "../checker/report";
import type { RolloutRecord, VerifyRecord } from "../promote/rollout";

/** The part of a recorded resource the report needs (tools/checker/record.ts RecordedResource). */
export interface ReportResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly parent: string;
  readonly dependencies: readonly string[];
  /**
   * For a Swarm secret (`docker:index/secret:Secret`): its content-hashed name when known at
   * preview (a hash of a generated value is known only at apply). Never its data.
   */
  readonly secretName?: string;
}

/** Type token of a Swarm secret. */
export const SWARM_SECRET_TYPE = "docker:index/secret:Secret";

/** A Swarm secret the release mounts: the resource and its name, never the value. */
export interface SecretView {
  readonly resource: string;
  /** The content-hashed Swarm name, or "" when it is computed at apply. */
  readonly name: string;
}

export type Status = "pass" | "refused" | "advisory" | "disabled" | "not-run";

export interface GateView {
  readonly gate: string;
  readonly policy: string;
  readonly status: Status;
  readonly verdict: string;
  readonly evidence: string;
  readonly signers: string[];
  /** Age of the evidence (smoke tests, drill, oldest sign-off), e.g. `3.0 h`; "" if none. */
  readonly age: string;
  /** What the policy said, when it did not pass. */
  readonly messages: string[];
}

export interface SignOffView {
  readonly file: string;
  readonly kind: string;
  readonly signer: string;
  readonly issuedAt: string;
  readonly age: string;
  readonly expiresAt: string;
  readonly expired: boolean;
  /** Bound to this release's commit and stack. */
  readonly bound: boolean;
}

export interface FindingView {
  readonly policy: string;
  readonly resource: string;
  readonly resourceType: string;
  readonly message: string;
}

export interface ComponentView {
  readonly name: string;
  readonly type: string;
  readonly resources: { name: string; type: string; depth: number }[];
  /** Components this one depends on (besides the release gate). */
  readonly dependsOn: string[];
  /** Layer in the dependency picture (0 = no dependencies). */
  readonly layer: number;
}

export interface ReleaseReport {
  readonly stack: string;
  readonly generatedAt: string;
  readonly passed: boolean;
  readonly pack: string;
  readonly resourceCount: number;
  readonly timingsMs: CheckResult["timingsMs"];
  readonly programErrors: string[];
  readonly release: {
    readonly commit: string;
    readonly images: { role: string; repo: string; digest: string }[];
    readonly flags: { name: string; enabled: boolean; requiresAttestation?: string }[];
    readonly previous: { commit: string; images: { role: string; ref: string }[] } | null;
  } | null;
  readonly gates: GateView[];
  readonly signOffs: SignOffView[];
  /** Severity → findings, mandatory first. */
  readonly findings: { severity: string; items: FindingView[] }[];
  readonly counts: { mandatory: number; advisory: number; notRun: number };
  readonly components: ComponentView[];
  /** Resources that depend directly on the release gate. */
  readonly gatedResources: number;
  /** Swarm secrets (placement swarm), by resource name; names only, never values. */
  readonly secrets: SecretView[];
  /** Progressive delivery (seed 004): this release's rollout and verification marks (./delivery.ts). */
  readonly delivery?: { rollouts: RolloutRecord[]; verifications: VerifyRecord[] };
}

function statusOf(verdict: string): Status {
  if (verdict === "pass") return "pass";
  if (verdict === "REFUSED") return "refused";
  if (verdict === "advisory") return "advisory";
  if (verdict === "disabled") return "disabled";
  return "not-run";
}

/** Hours as `3.0 h` / `2.5 d`; "" when unparseable. */
export function ageText(iso: string | undefined, now: Date): string {
  if (!iso) return "";
  const h = (now.getTime() - Date.parse(iso)) / 3_600_000;
  if (Number.isNaN(h)) return "";
  return Math.abs(h) < 48 ? `${h.toFixed(1)} h` : `${(h / 24).toFixed(1)} d`;
}

interface Payload {
  kind?: string;
  signer?: string;
  stack?: string;
  commit?: string;
  issuedAt?: string;
  expiresAt?: string;
}

const NOT_RUN = /^can't run|unknown at preview/i;

function componentOf(
  urnToRes: Map<string, ReportResource>,
  stackUrn: string | undefined,
  urn: string,
): string {
  let cur = urnToRes.get(urn);
  while (cur && cur.parent && cur.parent !== stackUrn && urnToRes.has(cur.parent))
    cur = urnToRes.get(cur.parent);
  return cur?.urn ?? urn;
}

/** Groups resources under their top-level component and lays the components out in layers. */
export function componentsOf(resources: readonly ReportResource[]): {
  components: ComponentView[];
  gated: number;
} {
  const stack = resources.find((r) => r.type === "pulumi:pulumi:Stack");
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const gate = resources.find((r) => r.name === "release-gate");
  const gateComp = gate ? componentOf(byUrn, stack?.urn, gate.urn) : undefined;
  const top = resources.filter((r) => r !== stack && (r.parent === stack?.urn || !r.parent));
  const members = new Map<string, { name: string; type: string; depth: number }[]>(
    top.map((t) => [t.urn, []]),
  );
  const deps = new Map<string, Set<string>>(top.map((t) => [t.urn, new Set<string>()]));
  let gated = 0;
  for (const r of resources) {
    if (r === stack) continue;
    const comp = componentOf(byUrn, stack?.urn, r.urn);
    if (r.urn !== comp) {
      let depth = 0;
      for (let p = byUrn.get(r.parent); p && p.urn !== comp; p = byUrn.get(p.parent)) depth++;
      members.get(comp)?.push({ name: r.name, type: r.type, depth });
    }
    if (gate && r.dependencies.includes(gate.urn)) gated++;
    for (const d of r.dependencies) {
      const dc = componentOf(byUrn, stack?.urn, d);
      if (dc !== comp && dc !== gateComp && byUrn.has(dc)) deps.get(comp)?.add(dc);
    }
  }
  const layer = new Map<string, number>();
  const visiting = new Set<string>();
  const layerOf = (urn: string): number => {
    const known = layer.get(urn);
    if (known !== undefined) return known;
    if (visiting.has(urn)) return 0; // a cycle: should not happen in a Pulumi graph
    visiting.add(urn);
    const l =
      urn === gateComp
        ? 0
        : Math.max(gateComp ? 1 : 0, ...[...(deps.get(urn) ?? [])].map((d) => layerOf(d) + 1));
    visiting.delete(urn);
    layer.set(urn, l);
    return l;
  };
  const components = top.map((t) => ({
    name: t.name,
    type: t.type,
    resources: members.get(t.urn) ?? [],
    dependsOn: [...(deps.get(t.urn) ?? [])].map((u) => byUrn.get(u)!.name),
    layer: layerOf(t.urn),
  }));
  return { components, gated };
}

function splitImage(ref: string): { repo: string; digest: string } {
  const at = ref.indexOf("@");
  return at < 0 ? { repo: ref, digest: "" } : { repo: ref.slice(0, at), digest: ref.slice(at + 1) };
}

/** Builds the report. `now` fixes every age shown. */
export function buildReport(
  result: CheckResult,
  resources: readonly ReportResource[],
  now: Date,
): ReleaseReport {
  const m = result.gate?.manifest;
  const payloads: (Payload & { file: string })[] = (m?.attestations ?? []).map((a) => ({
    file: a.file,
    ...(((a.content as { payload?: Payload } | null)?.payload ?? {}) as Payload),
  }));
  const signOffs: SignOffView[] = payloads.map((p) => ({
    file: p.file,
    kind: p.kind ?? "(unreadable)",
    signer: p.signer ?? "(unknown)",
    issuedAt: p.issuedAt ?? "",
    age: ageText(p.issuedAt, now),
    expiresAt: p.expiresAt ?? "",
    expired: p.expiresAt ? Date.parse(p.expiresAt) < now.getTime() : true,
    bound: !!m && p.commit === m.commit && (p.stack === m.stack || p.stack === result.stack),
  }));
  const messagesOf = (policy: string) =>
    result.findings.filter((f) => f.policyName === policy).map((f) => fix(f).replace(/\s+/g, " ").trim());
  const gates: GateView[] = gateRows(result).map((g) => {
    let signers: string[] = [];
    let age = "";
    if (m) {
      if (g.policy === "staging-verified")
        age = ageText(m.staging.verifiedRelease?.smokeTests.finishedAt, now);
      if (g.policy === "backups-tested") age = ageText(m.restoreDrill?.finishedAt, now);
      if (g.policy === "sign-offs-attested") {
        signers = signOffs.map((s) => `${s.signer} (${s.kind})`);
        const oldest = payloads
          .map((p) => p.issuedAt)
          .filter((x): x is string => !!x)
          .sort()[0];
        age = ageText(oldest, now);
      }
      if (g.policy === "flags-attested") {
        const kinds = new Set(
          Object.values(m.flags)
            .filter((f) => f.enabled)
            .map((f) => f.requiresAttestation),
        );
        signers = signOffs.filter((s) => kinds.has(s.kind)).map((s) => `${s.signer} (${s.kind})`);
      }
    }
    return {
      gate: g.gate,
      policy: g.policy,
      status: statusOf(g.verdict),
      verdict: g.verdict,
      evidence: g.evidence,
      signers,
      age,
      messages: g.verdict === "pass" ? [] : messagesOf(g.policy),
    };
  });
  const view = (f: Finding): FindingView => ({
    policy: f.policyName,
    resource: f.resourceName,
    resourceType: f.resourceType,
    message: fix(f).replace(/\s+/g, " ").trim(),
  });
  const notRun = result.findings.filter((f) => NOT_RUN.test(f.message));
  const real = result.findings.filter((f) => !NOT_RUN.test(f.message));
  const levels = [...new Set(real.map((f) => f.enforcementLevel))].sort((a, b) =>
    a === "mandatory" ? -1 : b === "mandatory" ? 1 : a.localeCompare(b),
  );
  const findings: { severity: string; items: FindingView[] }[] = levels.map((severity) => ({
    severity,
    items: real.filter((f) => f.enforcementLevel === severity).map(view),
  }));
  if (notRun.length) findings.push({ severity: "not run at preview", items: notRun.map(view) });
  const { components, gated } = componentsOf(resources);
  return {
    stack: result.stack,
    generatedAt: now.toISOString(),
    passed: result.passed,
    pack: `${result.pack.name}@${result.pack.version}`,
    resourceCount: result.resourceCount,
    timingsMs: result.timingsMs,
    programErrors: result.programErrors,
    release: m
      ? {
          commit: m.commit,
          images: Object.entries(m.images).map(([role, ref]) => ({ role, ...splitImage(ref) })),
          flags: Object.entries(m.flags).map(([name, f]) => ({
            name,
            enabled: f.enabled,
            requiresAttestation: f.requiresAttestation,
          })),
          previous: m.previous
            ? {
                commit: m.previous.commit,
                images: Object.entries(m.previous.images).map(([role, ref]) => ({ role, ref })),
              }
            : null,
        }
      : null,
    gates,
    signOffs,
    findings,
    counts: {
      mandatory: real.filter((f) => f.enforcementLevel === "mandatory").length,
      advisory: real.filter((f) => f.enforcementLevel === "advisory").length,
      notRun: notRun.length,
    },
    components,
    gatedResources: gated,
    secrets: resources
      .filter((r) => r.type === SWARM_SECRET_TYPE)
      .map((r) => ({ resource: r.name, name: r.secretName ?? "" }))
      .sort((a, b) => a.resource.localeCompare(b.resource)),
  };
}
