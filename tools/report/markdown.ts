/**
 * The release report as GitHub-flavoured Markdown for PR comments: the same ReleaseReport as the
 * HTML page, compact (gates first, details folded). Pure.
 */
import type { RolloutRecord, VerifyRecord } from "../promote/rollout";
import { deliveryView, type TableView } from "./delivery";
import type { ReleaseReport, Status } from "./model";

const ICON: Record<Status, string> = {
  pass: "✅ pass",
  refused: "❌ REFUSED",
  advisory: "⚠️ advisory",
  disabled: "➖ disabled",
  "not-run": "❔ not run",
};

/** Escapes text for a Markdown table cell. */
export function cell(s: string): string {
  return s
    .replace(/\\/g, "\\\\")
    .replace(/\|/g, "\\|")
    .replace(/[<>]/g, (c) => (c === "<" ? "&lt;" : "&gt;"))
    .replace(/\s*\n\s*/g, " ");
}

export function renderMarkdown(r: ReleaseReport): string {
  const out: string[] = [];
  const verdict = r.passed ? "✅ **Release may proceed**" : "❌ **Release refused**";
  out.push(`## launchgate release report: \`${r.stack}\``, "");
  out.push(
    `${verdict} — ${r.counts.mandatory} mandatory, ${r.counts.advisory} advisory, ${r.counts.notRun} not run at preview · ` +
      `${r.resourceCount} resources · pack ${r.pack} · ${r.generatedAt}`,
    "",
  );
  for (const e of r.programErrors) out.push(`- program error: ${cell(e)}`);
  if (r.release) {
    out.push(`**Release** \`${r.release.commit}\``, "");
    out.push("| image | repository | digest |", "|---|---|---|");
    for (const i of r.release.images)
      out.push(`| ${cell(i.role)} | \`${cell(i.repo)}\` | \`${cell(i.digest)}\` |`);
    const flags = r.release.flags.map(
      (f) =>
        `\`${f.name}\`=${f.enabled ? "**on**" : "off"}${f.requiresAttestation ? ` (needs ${f.requiresAttestation})` : ""}`,
    );
    out.push("", `Flags: ${flags.length ? flags.join(", ") : "none"}`);
    out.push(
      r.release.previous
        ? `Rollback target: \`${r.release.previous.commit}\` — \`npm run rollback -- --stack ${r.stack} --yes\``
        : "Rollback target: none recorded",
      "",
    );
  }
  if (r.secrets.length > 0) {
    out.push("### Swarm secrets (names only)", "", "| resource | Swarm secret name |", "|---|---|");
    for (const x of r.secrets)
      out.push(
        `| ${cell(x.resource)} | ${x.name ? `\`${cell(x.name)}\`` : "content hash, computed at apply"} |`,
      );
    out.push("");
  }
  out.push("### Gates", "", "| status | gate | evidence | signer | age |", "|---|---|---|---|---|");
  for (const g of r.gates) {
    const evidence = cell(g.evidence) + g.messages.map((m) => `<br>↳ ${cell(m)}`).join("");
    out.push(
      `| ${ICON[g.status]} | ${cell(g.gate)} | ${evidence} | ${cell(g.signers.join(", ")) || "—"} | ${g.age || "—"} |`,
    );
  }
  out.push("");
  if (r.signOffs.length) {
    out.push(
      "<details><summary>Sign-offs</summary>",
      "",
      "| kind | signer | issued | expires | bound to |",
      "|---|---|---|---|---|",
    );
    for (const s of r.signOffs)
      out.push(
        `| ${cell(s.kind)} | ${cell(s.signer)} | ${cell(s.issuedAt)} (${s.age} ago) | ${cell(s.expiresAt)}${s.expired ? " **expired**" : ""} | ${s.bound ? "this release" : "**another release**"} |`,
      );
    out.push("", "</details>", "");
  }
  out.push("### Policy results", "");
  if (r.findings.length === 0) out.push("No policy violations.", "");
  for (const g of r.findings) {
    out.push(
      `<details${g.severity === "mandatory" ? " open" : ""}><summary><b>${cell(g.severity)}</b>: ${g.items.length}</summary>`,
      "",
    );
    out.push("| policy | resource | how to fix |", "|---|---|---|");
    for (const f of g.items) out.push(`| \`${cell(f.policy)}\` | ${cell(f.resource)} | ${cell(f.message)} |`);
    out.push("", "</details>", "");
  }
  if (r.delivery)
    out.push(
      renderRolloutMarkdown(r.delivery.rollouts, r.delivery.verifications, {
        stack: r.stack,
        flags: r.release?.flags,
      }),
    );
  out.push("<details><summary>Planned resources by component</summary>", "");
  for (const c of [...r.components].sort((a, b) => a.layer - b.layer)) {
    out.push(
      `- **${cell(c.name)}** \`${c.type}\` · ${c.resources.length} resources${c.dependsOn.length ? ` · needs ${c.dependsOn.join(", ")}` : ""}`,
    );
    for (const x of c.resources) out.push(`${"  ".repeat(x.depth + 1)}- ${cell(x.name)} \`${x.type}\``);
  }
  out.push("", `${r.gatedResources} resources depend directly on the release gate.`, "", "</details>", "");
  return out.join("\n");
}

const ICON_OF: Record<string, string> = { pass: "✅ pass", fail: "❌ fail", inconclusive: "❔ inconclusive" };

function markdownTable(
  t: TableView,
  decorate: (cellText: string, col: number) => string = (c) => cell(c),
): string[] {
  return [
    `| ${t.head.join(" | ")} |`,
    `|${t.head.map(() => "---").join("|")}|`,
    ...t.rows.map((r) => `| ${r.map((c, i) => decorate(c, i)).join(" | ")} |`),
  ];
}

/**
 * The progressive-delivery section (seed 004), drawn from ./delivery.ts `deliveryView`: each
 * rollout's steps with their analysis verdicts, the post-deploy verification marks, and the ways
 * back — the feature-flag killswitch first.
 */
export function renderRolloutMarkdown(
  rollouts: readonly (RolloutRecord & { abortSeconds?: number })[],
  verifications: readonly VerifyRecord[] = [],
  opts: { stack?: string; flags?: { name: string; enabled: boolean }[] } = {},
): string {
  const view = deliveryView(rollouts, verifications, opts);
  const out: string[] = ["### Progressive delivery", ""];
  if (view.rollouts.length === 0) out.push("No rollout recorded for this release.", "");
  for (const r of view.rollouts) {
    const [word, ...rest] = r.headline.split(" ");
    out.push(`**${r.outcome === "promoted" ? "✅" : "❌"} ${word}** ${cell(rest.join(" "))}`, "");
    out.push(...markdownTable(r.steps, (c, i) => (i === 1 ? (ICON_OF[c] ?? cell(c)) : cell(c))), "");
  }
  if (view.verifications)
    out.push(
      ...markdownTable(view.verifications, (c, i) =>
        i === 1 ? (c === "pass" ? "✅ pass" : `❌ ${cell(c)}`) : cell(c),
      ),
      "",
    );
  out.push("Ways back, fastest first:", "");
  view.waysBack.forEach((w, i) =>
    out.push(`${i + 1}. **${w.title}**: ${w.command ? `\`${w.command}\` — ` : ""}${cell(w.text)}`),
  );
  out.push("");
  return out.join("\n");
}
