/**
 * Checks only the program run can make (the engine's policies cannot): which inputs are secret
 * (policies see secrets unwrapped), registration order, and whether secret config is `secure:`.
 * Reported like policies, under `checker/…` names.
 */
import { specialSecretSig, specialSigKey, unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { GATE_RESOURCE_NAME, GATE_RESOURCE_TYPE } from "../../contract/manifest";
import { UNGATED_FIX } from "../../contract/release-rules";
import {
  SECRET_INPUT,
  credentialArgumentIn,
  isPublicKeyMaterial,
  looksGenerated,
  secretFormatIn,
} from "../../policies/lib/secret-values";
import { configWithDefaults } from "../../policies/lib/config";
// Not ../../policies/data: that would load the pack's own copy of the SDKs into the checker.
import { DATA_VOLUMES_PROTECTED_CONFIG } from "../../policies/lib/data-volumes";
import { ROLE_LABEL, commandRoleOf } from "../../contract/roles";
import type { RecordedResource } from "./record";
import { SECRET_MARKER, StackConfig } from "./stack-config";

export interface ProgramFinding {
  readonly policyName: string;
  readonly message: string;
  readonly urn: string;
}

function isSecretValue(v: unknown): boolean {
  return (
    typeof v === "object" && v !== null && (v as Record<string, unknown>)[specialSigKey] === specialSecretSig
  );
}

/** Paths of plain (non-secret) strings inside `v` that satisfy `bad`. */
function plainHits(v: unknown, bad: (s: string, key: string) => boolean, at = "", key = ""): string[] {
  if (isSecretValue(v)) return [];
  // Unknown at preview (computed by another resource): nothing plain to judge yet.
  if (v === unknownValue) return [];
  if (typeof v === "string") return bad(v, key) ? [at] : [];
  if (Array.isArray(v)) return v.flatMap((x, i) => plainHits(x, bad, `${at}[${i}]`, key));
  if (v !== null && typeof v === "object")
    return Object.entries(v).flatMap(([k, x]) => plainHits(x, bad, at ? `${at}.${k}` : k, k));
  return [];
}

/** Inputs of a resource type that are secrets whatever their value (type token → input names). */
const SECRET_BY_TYPE: Readonly<Record<string, readonly string[]>> = {
  "docker:index/secret:Secret": ["data"],
};

/** Secret config values (traced by their marker) or secret-named env entries in plain inputs. */
export function plaintextSecretInputs(resources: readonly RecordedResource[]): ProgramFinding[] {
  const out: ProgramFinding[] = [];
  for (const r of resources.filter((x) => x.custom && !x.read)) {
    const leaked = plainHits(r.inputs, (s) => s.includes(SECRET_MARKER));
    const envLike = plainHits(r.inputs, (s, key) => {
      // Env entries and env-like keys, whatever their case (`db_password=…`, `{session_secret: …}`);
      // public key material is public whatever its name (`HOST_KEY=ssh-ed25519 AAAA…`).
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.+)$/s.exec(s);
      return (
        // A reference (`NAME="$VAR" cmd`) passes the value on; it is not the value.
        (m !== null &&
          SECRET_INPUT.test(m[1]!) &&
          key !== "" &&
          !/^["']?\$/.test(m[2]!) &&
          !isPublicKeyMaterial(m[2]!)) ||
        (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) &&
          SECRET_INPUT.test(key) &&
          s.length > 0 &&
          !isPublicKeyMaterial(s))
      );
    });
    // By value: a known credential format anywhere, or a generated-looking token as an env value.
    const byValue = plainHits(r.inputs, (s, key) => {
      // A credential written into plain text (command text, a host step's script on stdin).
      if (secretFormatIn(s) || credentialArgumentIn(s) !== undefined) return true;
      const m = /^[A-Za-z_][A-Za-z0-9_]*=(.+)$/s.exec(s);
      return (m !== null && looksGenerated(m[1]!)) || (/^[A-Z][A-Z0-9_]*$/.test(key) && looksGenerated(s));
    });
    // Inputs that are secrets by what they are, whatever their value (the provider stores them
    // in state as given): a Swarm secret's data.
    const byType = (SECRET_BY_TYPE[r.type] ?? []).filter(
      (k) => r.inputs[k] !== undefined && r.inputs[k] !== unknownValue && !isSecretValue(r.inputs[k]),
    );
    for (const p of new Set([...leaked, ...envLike, ...byValue, ...byType])) {
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
  const out: ProgramFinding[] = [];
  const finding = (message: string) => out.push({ policyName: "checker/secure-config", message, urn: "" });
  for (const k of [...expected].sort()) {
    if (!(k in config.config)) continue;
    // `secure:` is per leaf: one plain value inside a secret object is stored in clear.
    const plain = config.plainLeaves.filter((l) => l.key === k && l.value !== null && l.value !== "");
    if (!config.secureKeys.includes(k))
      finding(
        `${k} is a secret but Pulumi.${stack}.yaml holds it in plain text; run \`pulumi config set --secret ${k} …\`.`,
      );
    else
      for (const l of plain.filter((x) => x.path))
        finding(
          `${k}.${l.path} is plain text inside the secret ${k} in Pulumi.${stack}.yaml; every value must be secure: run \`pulumi config set --secret --path '${k}.${l.path}' …\`.`,
        );
  }
  // Any other plain leaf that is a secret by name or by value.
  for (const l of config.plainLeaves) {
    if (expected.has(l.key) || typeof l.value !== "string" || l.value === "") continue;
    const name =
      l.path
        .split(/[.[\]]/)
        .filter((x) => x)
        .pop() ?? l.key.split(":").pop()!;
    const format = secretFormatIn(l.value);
    const why = SECRET_INPUT.test(name)
      ? `its name (${name}) says secret`
      : format
        ? `it holds a ${format}`
        : /(^|\.)env\./.test(l.path) && looksGenerated(l.value)
          ? "it looks like a generated credential"
          : undefined;
    if (why)
      finding(
        `${l.key}${l.path ? `.${l.path}` : ""} is plain text in Pulumi.${stack}.yaml but ${why}; move it to a secret (e.g. launchgate:appSecrets + apps[].secretEnv, \`pulumi config set --secret\`).`,
      );
  }
  return out;
}

/** Data resources the engine's policies cannot see `retainOnDelete` on (it is not a policy option). */
const RETAINED_TYPES = new Set(["docker:index/volume:Volume", "postgresql:index/database:Database"]);

/** Data volumes (labelled `launchgate.data`, not regenerable) and databases are retained on delete. */
export function dataRetained(
  resources: readonly RecordedResource[],
  regenerableKinds: readonly string[] = configWithDefaults<{ regenerableKinds: string[] }>(
    {},
    { properties: DATA_VOLUMES_PROTECTED_CONFIG },
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

const CONTAINER = "docker:index/container:Container";
const COMMANDS = new Set(["command:local:Command", "command:remote:Command"]);
/** Docker's embedded DNS answers with this TTL; nginx keeps it when `resolver` has no `valid=`. */
const DOCKER_DNS_TTL_SECONDS = 600;

const plainString = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const roleLabelOf = (r: RecordedResource): string | undefined =>
  ((r.inputs.labels as { label?: unknown; value?: unknown }[] | undefined) ?? []).find(
    (l) => l.label === ROLE_LABEL,
  )?.value as string | undefined;

/**
 * Zero-downtime replacement of what the proxy forwards to (release, rollback, canary promotion):
 * every container an nginx proxy names as an upstream (`alias:port` or `name:port` in its
 * uploaded config) has a `drain` command depending on it whose delete waits (`sleep N`) longer
 * than the proxy keeps a resolved address (`resolver … valid=`, + 1 s for nginx's whole-second
 * clock). Otherwise the old container can go while a worker still holds only its address: 502s
 * and 504s for up to that validity (found by the end-to-end test, issue 13).
 */
export function upstreamDrain(resources: readonly RecordedResource[]): ProgramFinding[] {
  const live = resources.filter((r) => r.custom && !r.read);
  const containers = live.filter((r) => r.type === CONTAINER);
  const out: ProgramFinding[] = [];
  for (const proxy of containers.filter((r) => roleLabelOf(r) === "proxy")) {
    const uploads = (proxy.inputs.uploads as { content?: unknown }[] | undefined) ?? [];
    const text = uploads.map((u) => plainString(u.content) ?? "").join("\n");
    if (!/\bproxy_pass\b/.test(text)) continue; // not an nginx config the check can read
    const resolver = /^\s*resolver\s[^;]*/m.exec(text)?.[0];
    const validMatch = resolver === undefined ? null : /\bvalid=(\d+)s?\b/.exec(resolver);
    const valid = validMatch ? Number(validMatch[1]) : DOCKER_DNS_TTL_SECONDS;
    const hosts = new Set([...text.matchAll(/\b([a-z0-9][a-z0-9.-]*):\d{1,5}\b/g)].map((m) => m[1]!));
    const upstreams = containers.filter((c) => {
      if (c === proxy) return false;
      const nets = (c.inputs.networksAdvanced as { aliases?: unknown[] }[] | undefined) ?? [];
      const names = [plainString(c.inputs.name), ...nets.flatMap((n) => (n.aliases ?? []).map(plainString))];
      return names.some((n) => n !== undefined && hosts.has(n));
    });
    for (const c of upstreams) {
      const waits = live
        .filter(
          (d) =>
            COMMANDS.has(d.type) &&
            d.dependencies.includes(c.urn) &&
            commandRoleOf(d.inputs.triggers as unknown[] | undefined) === "drain",
        )
        .map((d) => /^\s*sleep\s+(\d+)\s*$/.exec(plainString(d.inputs.delete) ?? "")?.[1])
        .map((n) => (n === undefined ? 0 : Number(n)));
      const longest = Math.max(0, ...waits);
      if (longest > valid + 1) continue;
      out.push({
        policyName: "checker/upstream-drain",
        message: `${c.type} ${c.name}: the proxy ${proxy.name} keeps its address for ${valid} s (resolver valid=${resolver === undefined || !validMatch ? `unset: Docker's DNS TTL ${DOCKER_DNS_TTL_SECONDS} s` : `${valid}s`}) but a replaced container ${waits.length ? `drains only ${longest} s` : "is stopped without a drain"}; give it a drain longer than ${valid + 1} s (AppService drainSeconds) so requests never reach a container that is gone.`,
        urn: c.urn,
      });
    }
  }
  return out;
}
