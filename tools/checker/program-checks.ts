/**
 * Checks only the program run can make (the engine's policies cannot): which inputs are secret
 * (policies see secrets unwrapped), registration order, and whether secret config is `secure:`.
 * Reported like policies, under `checker/…` names.
 */
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { GATE_RESOURCE_NAME, GATE_RESOURCE_TYPE } from "../../contract/manifest";
import { UNGATED_FIX } from "../../contract/release-rules";
import { SECRET_NAME } from "../../policies/lib/patterns";
import { configWithDefaults } from "../../policies/lib/config";
import { dataVolumesProtected } from "../../policies/data";
import type { RecordedResource } from "./record";
import { SECRET_MARKER, StackConfig } from "./stack-config";

export interface ProgramFinding {
  readonly policyName: string;
  readonly message: string;
  readonly urn: string;
}

/** Secret-named inputs plus connection URLs and webhooks (they embed credentials). */
const SECRET_INPUT = new RegExp(`${SECRET_NAME.source}|(DATABASE_URL|REDIS(_[A-Z0-9]+)?_URL|WEBHOOK_URL)$`);

function isSecretValue(v: unknown): boolean {
  return (
    typeof v === "object" && v !== null && (v as Record<string, unknown>)[specialSigKey] === specialSecretSig
  );
}

/** Paths of plain (non-secret) strings inside `v` that satisfy `bad`. */
function plainHits(v: unknown, bad: (s: string, key: string) => boolean, at = "", key = ""): string[] {
  if (isSecretValue(v)) return [];
  if (typeof v === "string") return bad(v, key) ? [at] : [];
  if (Array.isArray(v)) return v.flatMap((x, i) => plainHits(x, bad, `${at}[${i}]`, key));
  if (v !== null && typeof v === "object")
    return Object.entries(v).flatMap(([k, x]) => plainHits(x, bad, at ? `${at}.${k}` : k, k));
  return [];
}

/** Secret config values (traced by their marker) or secret-named env entries in plain inputs. */
export function plaintextSecretInputs(resources: readonly RecordedResource[]): ProgramFinding[] {
  const out: ProgramFinding[] = [];
  for (const r of resources.filter((x) => x.custom && !x.read)) {
    const leaked = plainHits(r.inputs, (s) => s.includes(SECRET_MARKER));
    const envLike = plainHits(r.inputs, (s, key) => {
      const m = /^([A-Z][A-Z0-9_]*)=(.+)$/.exec(s);
      return (
        (m !== null && SECRET_INPUT.test(m[1]!) && key !== "") ||
        (/^[A-Z][A-Z0-9_]*$/.test(key) && SECRET_INPUT.test(key) && s.length > 0)
      );
    });
    for (const p of new Set([...leaked, ...envLike])) {
      out.push({
        policyName: "checker/secret-inputs",
        message: `${r.type} ${r.name}: input ${p} holds a secret as plain text; pass it as a Pulumi secret (pulumi.secret / config.requireSecret) so it is encrypted in state.`,
        urn: r.urn,
      });
    }
  }
  return out;
}

/** The release gate is the first custom resource registered (its inputs aside) and everything waits for it. */
export function gateFirst(resources: readonly RecordedResource[]): ProgramFinding[] {
  const gate = resources.find((r) => r.type === GATE_RESOURCE_TYPE && r.name === GATE_RESOURCE_NAME);
  const managed = resources.filter(
    (r) => r.custom && !r.read && !r.type.startsWith("pulumi:providers:") && r !== gate,
  );
  if (!gate) {
    return managed.length === 0
      ? []
      : [
          {
            policyName: "checker/gate-first",
            message: "no release-gate resource; construct the Release component before any other resource.",
            urn: "",
          },
        ];
  }
  const out: ProgramFinding[] = [];
  const earlier = managed.filter((r) => r.index < gate.index);
  if (earlier.length > 0) {
    out.push({
      policyName: "checker/gate-first",
      message: `registered before the release gate: ${earlier.map((r) => r.name).join(", ")}; construct Release first.`,
      urn: gate.urn,
    });
  }
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const waits = (r: RecordedResource, seen = new Set<string>()): boolean =>
    r.dependencies.some(
      (d) => d === gate.urn || (!seen.has(d) && (seen.add(d), byUrn.has(d)) && waits(byUrn.get(d)!, seen)),
    );
  const ungated = managed.filter((r) => !waits(r));
  if (ungated.length > 0) {
    out.push({
      policyName: "checker/gate-first",
      message: `not waiting for the release gate: ${ungated.map((r) => r.name).join(", ")}; ${UNGATED_FIX}.`,
      urn: gate.urn,
    });
  }
  return out;
}

/** Keys read or declared as secrets must be `secure:` in the stack file when set there. */
export function secureConfig(
  config: StackConfig,
  secretReads: readonly string[],
  stack: string,
): ProgramFinding[] {
  const expected = new Set([...config.declaredSecret, ...secretReads]);
  return [...expected]
    .filter((k) => k in config.config && !config.secureKeys.includes(k))
    .sort()
    .map((k) => ({
      policyName: "checker/secure-config",
      message: `${k} is a secret but Pulumi.${stack}.yaml holds it in plain text; run \`pulumi config set --secret ${k} …\`.`,
      urn: "",
    }));
}

/** Data resources the engine's policies cannot see `retainOnDelete` on (it is not a policy option). */
const RETAINED_TYPES = new Set(["docker:index/volume:Volume", "postgresql:index/database:Database"]);

/** Data volumes (labelled `launchgate.data`, not regenerable) and databases are retained on delete. */
export function dataRetained(
  resources: readonly RecordedResource[],
  regenerableKinds: readonly string[] = configWithDefaults<{ regenerableKinds: string[] }>(
    {},
    dataVolumesProtected.configSchema,
  ).regenerableKinds,
): ProgramFinding[] {
  return resources
    .filter((r) => r.custom && RETAINED_TYPES.has(r.type) && !r.retainOnDelete)
    .filter((r) => {
      if (r.type !== "docker:index/volume:Volume") return true;
      const labels = (r.inputs.labels as { label?: string; value?: string }[] | undefined) ?? [];
      const kind = labels.find((l) => l.label === "launchgate.data")?.value;
      return kind !== undefined && !regenerableKinds.includes(kind);
    })
    .map((r) => ({
      policyName: "checker/retain-on-delete",
      message: `${r.type} ${r.name} holds data but is not retained on delete; add { retainOnDelete: true } so \`pulumi destroy\` or a replacement cannot drop it.`,
      urn: r.urn,
    }));
}
