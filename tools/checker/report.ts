/** Renders a CheckResult: gates first (evidence, age, verdict), then violations grouped by policy. */
import type { CheckResult, Finding } from "./check";
import { ageHours, GateManifest } from "../../contract/manifest";

/** The gate policies in runbook order, with how to describe their evidence. */
const GATES: [string, string, (m: GateManifest, now: Date) => string][] = [
  [
    "staging-verified",
    "staging verified",
    (m, now) => {
      const v = m.staging.verifiedRelease;
      if (!m.staging.stack) return "no staging stack configured";
      if (!v) return `${m.staging.stack}: no verifiedRelease output`;
      return `${m.staging.stack}: commit ${v.commit.slice(0, 12)}, smoke ${v.smokeTests.passed ? "passed" : "FAILED"} ${age(v.smokeTests.finishedAt, now)}`;
    },
  ],
  [
    "backups-tested",
    "backups tested",
    (m, now) =>
      m.restoreDrill
        ? `drill ${m.restoreDrill.ok ? "ok" : "FAILED"} ${age(m.restoreDrill.finishedAt, now)} (${m.restoreDrill.file}); retention ${m.backups.retentionDays} d`
        : `no restore-drill record; retention ${m.backups.retentionDays} d`,
  ],
  [
    "monitoring-configured",
    "monitoring + alerting",
    (m) => `alert target ${m.monitoring.alertTargetConfigured ? "configured" : "missing"}`,
  ],
  [
    "rollback-ready",
    "rollback ready",
    (m) =>
      m.previous
        ? `previous ${m.previous.commit.slice(0, 12)} (${Object.keys(m.previous.images).length} images)`
        : "no previous release",
  ],
  [
    "running-release-verified",
    "running release verified",
    (m) => {
      if (!m.previous) return "nothing running before this release";
      const marks = (m.verifications ?? []).filter((v) => v.commit === m.previous!.commit);
      return marks.length
        ? `${m.previous.commit.slice(0, 12)}: ${marks.map((v) => `${v.after} ${v.passed ? "passed" : "FAILED"}`).join(", ")}`
        : `${m.previous.commit.slice(0, 12)}: no verification mark recorded`;
    },
  ],
  [
    "sign-offs-attested",
    "sign-offs (signed)",
    (m, now) => {
      // What each file claims (verification is the policy's verdict): kind, signer, issue age.
      const claims = m.attestations.map((a) => {
        const p = (a.content as { payload?: { kind?: string; signer?: string; issuedAt?: string } })?.payload;
        return p?.kind
          ? `${p.kind} by ${p.signer ?? "?"} ${age(p.issuedAt ?? "", now)}`
          : `${a.file} (unreadable)`;
      });
      return claims.length ? claims.join("; ") : "no attestation files";
    },
  ],
  [
    "flags-attested",
    "flags needing approval",
    (m) => {
      const on = Object.entries(m.flags).filter(([, f]) => f.enabled);
      return on.length
        ? on
            .map(([k, f]) => `${k}=on${f.requiresAttestation ? ` (needs ${f.requiresAttestation})` : ""}`)
            .join(", ")
        : "none enabled";
    },
  ],
  ["release-gate-first", "every resource gated", () => "dependency graph"],
];

function age(iso: string, now: Date): string {
  const h = ageHours(iso, now);
  if (Number.isNaN(h)) return "(no time)";
  return h < 48 ? `${h.toFixed(1)} h ago` : `${(h / 24).toFixed(1)} d ago`;
}

function verdict(r: CheckResult, policy: string): string {
  const hits = r.findings.filter((f) => f.policyName === policy && !f.message.startsWith("can't run"));
  if (r.enforcement[policy] === "disabled") return "disabled";
  if (hits.length === 0)
    return r.findings.some((f) => f.policyName === policy) ? "not run (unknown at preview)" : "pass";
  return hits.some((h) => h.enforcementLevel === "mandatory") ? "REFUSED" : "advisory";
}

/** Finding message without the policy description the engine prepends. */
export function fix(f: Finding): string {
  return f.message.startsWith(f.description) ? f.message.slice(f.description.length).trim() : f.message;
}

export function gateRows(
  r: CheckResult,
): { gate: string; policy: string; evidence: string; verdict: string }[] {
  const now = new Date();
  return GATES.map(([policy, gate, evidence]) => ({
    gate,
    policy,
    evidence: r.gate ? evidence(r.gate.manifest, now) : "(no release gate)",
    verdict: verdict(r, policy),
  }));
}

function grouped(r: CheckResult): Map<string, Finding[]> {
  const m = new Map<string, Finding[]>();
  for (const f of r.findings) m.set(f.policyName, [...(m.get(f.policyName) ?? []), f]);
  return m;
}

function summary(r: CheckResult): string {
  const mandatory = r.findings.filter((f) => f.enforcementLevel === "mandatory").length;
  const advisory = r.findings.length - mandatory;
  const head = r.passed ? "PASSED" : "REFUSED";
  return `${head}: ${mandatory} mandatory, ${advisory} advisory finding(s); ${r.resourceCount} resources; program ${r.timingsMs.program} ms, policies ${r.timingsMs.policies} ms, total ${r.timingsMs.total} ms`;
}

export function renderText(r: CheckResult): string {
  const lines = [`launchgate check — stack ${r.stack} — pack ${r.pack.name}@${r.pack.version} (preview)`, ""];
  for (const e of r.programErrors) lines.push(`PROGRAM ERROR: ${e}`);
  lines.push("Gates:");
  for (const g of gateRows(r)) lines.push(`  ${g.verdict.padEnd(9)} ${g.gate.padEnd(24)} ${g.evidence}`);
  lines.push("", "Findings by policy:");
  for (const [policy, fs] of grouped(r)) {
    lines.push(`  ${policy} [${fs[0]!.enforcementLevel}]`);
    for (const f of fs)
      lines.push(`    - ${f.resourceName}${f.resourceType ? ` (${f.resourceType})` : ""}: ${fix(f)}`);
  }
  if (r.findings.length === 0) lines.push("  none");
  if (r.exceptions.length > 0) {
    lines.push("", "Exceptions (pack config; not reported):");
    for (const e of r.exceptions) lines.push(`  ${e.policy} / ${e.resource}: ${e.reason}`);
  }
  lines.push("", summary(r));
  return lines.join("\n");
}

export function renderMarkdown(r: CheckResult): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
  const lines = [`# launchgate check: \`${r.stack}\``, "", `**${summary(r)}**`, ""];
  for (const e of r.programErrors) lines.push(`- program error: ${esc(e)}`);
  lines.push("## Gates", "", "| gate | policy | evidence | verdict |", "|---|---|---|---|");
  for (const g of gateRows(r))
    lines.push(`| ${g.gate} | \`${g.policy}\` | ${esc(g.evidence)} | ${g.verdict} |`);
  lines.push("", "## Findings", "", "| policy | level | resource | how to fix |", "|---|---|---|---|");
  for (const [policy, fs] of grouped(r))
    for (const f of fs)
      lines.push(`| \`${policy}\` | ${f.enforcementLevel} | ${esc(f.resourceName)} | ${esc(fix(f))} |`);
  if (r.exceptions.length > 0) {
    lines.push("", "## Exceptions (pack config)", "", "| policy | resource | reason |", "|---|---|---|");
    for (const e of r.exceptions) lines.push(`| \`${e.policy}\` | ${esc(e.resource)} | ${esc(e.reason)} |`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The checker's speed line (tools/checker/cli.ts): `work` from the checker's start and `wall` from
 * the process start, both to the verdict (ms since the process started); `cpu` is this process's
 * user + system CPU time in ms (the policy pack's own process is not included).
 */
export function speedLine(workStartMs: number, verdictMs: number, cpuMs: number): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  return (
    `checker: work ${s(verdictMs - workStartMs)} (checker start to verdict), ` +
    `wall ${s(verdictMs)} (process start to verdict), cpu ${s(cpuMs)} (checker process)`
  );
}

/** Parses a speedLine back into seconds (bench, tests); undefined when `text` has none. */
export function parseSpeedLine(text: string): { workS: number; wallS: number; cpuS: number } | undefined {
  const m = /^checker: work (\d+\.\d+) s .*, wall (\d+\.\d+) s .*, cpu (\d+\.\d+) s /m.exec(text);
  return m ? { workS: Number(m[1]), wallS: Number(m[2]), cpuS: Number(m[3]) } : undefined;
}
