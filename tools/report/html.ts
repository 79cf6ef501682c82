/**
 * One self-contained HTML page for a release (inline CSS and SVG, no script, no external asset):
 * verdict, release, gates, sign-offs, policy results by severity, planned resources by component
 * with a dependency picture. Pure: ReleaseReport in, string out.
 */
import { deliveryView, type TableView } from "./delivery";
import type { ComponentView, ReleaseReport, Status } from "./model";

export function esc(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const STATUS_LABEL: Record<Status, string> = {
  pass: "PASS",
  refused: "REFUSED",
  advisory: "ADVISORY",
  disabled: "DISABLED",
  "not-run": "NOT RUN",
};

const CSS = `
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--mute:#57606a;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1f2328;margin:0;background:#fff}
main{max-width:1200px;margin:0 auto;padding:24px 32px 48px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:32px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
.sub{color:var(--mute);margin:0 0 16px}
code,.mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,monospace;font-size:12.5px}
.verdict{display:flex;gap:16px;align-items:center;padding:14px 18px;border-radius:8px;margin:12px 0 8px;border:1px solid}
.verdict.pass{background:#dafbe1;border-color:#4ac26b}
.verdict.refused{background:#ffebe9;border-color:#ff8182}
.verdict strong{font-size:20px}
.counts{display:flex;gap:10px;flex-wrap:wrap}
.count{padding:2px 10px;border-radius:12px;background:var(--bg);border:1px solid var(--line)}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{text-align:left;vertical-align:top;padding:6px 10px;border-bottom:1px solid var(--line)}
th{background:var(--bg);font-weight:600}
.badge{display:inline-block;min-width:78px;text-align:center;padding:2px 8px;border-radius:12px;font-weight:700;font-size:12px;color:#fff}
.badge.pass{background:var(--ok)}.badge.refused{background:var(--bad)}.badge.advisory{background:var(--warn)}
.badge.disabled,.badge.not-run{background:var(--mute)}
.msg{color:var(--bad);font-size:12.5px;margin-top:4px}
.advisory .msg{color:var(--warn)}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:24px;align-items:start}
.grid > div{min-width:0}
td.mono{word-break:break-all}
details{margin:4px 0}
summary{cursor:pointer}
ul.tree{margin:4px 0 8px 0;padding-left:18px}
ul.tree li{margin:1px 0}
.type{color:var(--mute)}
.sev{margin-top:12px}
.sev h3{font-size:15px;margin:12px 0 4px}
.empty{color:var(--mute)}
td.ok{color:var(--ok);font-weight:600}td.bad{color:var(--bad);font-weight:600}td.warn{color:var(--warn);font-weight:600}
svg text{font:12px system-ui,"DejaVu Sans",sans-serif}
`;

function badge(status: Status): string {
  return `<span class="badge ${status}" data-status="${status}">${STATUS_LABEL[status]}</span>`;
}

function releaseSection(r: ReleaseReport): string {
  if (!r.release) return `<h2>Release</h2><p class="empty">No release gate found in the plan.</p>`;
  const rel = r.release;
  const images = rel.images
    .map(
      (i) =>
        `<tr><td>${esc(i.role)}</td><td class="mono">${esc(i.repo)}</td><td class="mono">${esc(i.digest)}</td></tr>`,
    )
    .join("");
  const flags = rel.flags.length
    ? rel.flags
        .map(
          (f) =>
            `<tr><td class="mono">${esc(f.name)}</td><td>${f.enabled ? "<strong>on</strong>" : "off"}</td><td>${esc(f.requiresAttestation ?? "")}</td></tr>`,
        )
        .join("")
    : `<tr><td colspan="3" class="empty">no flags</td></tr>`;
  const prev = rel.previous
    ? `<p>Rollback target: <code>${esc(rel.previous.commit)}</code> (${rel.previous.images.length} images) — <code>npm run rollback -- --stack ${esc(r.stack)} --yes</code></p>`
    : `<p class="empty">No previous release recorded.</p>`;
  return `<h2>Release</h2>
<p>Commit <code id="release-commit">${esc(rel.commit)}</code></p>
<table id="images"><thead><tr><th>image</th><th>repository</th><th>digest</th></tr></thead><tbody>${images}</tbody></table>
<div class="grid"><div>
<table id="flags"><thead><tr><th>flag</th><th>state</th><th>needs sign-off</th></tr></thead><tbody>${flags}</tbody></table>
</div><div>${prev}</div></div>`;
}

function secretsSection(r: ReleaseReport): string {
  if (r.secrets.length === 0) return "";
  const rows = r.secrets
    .map(
      (x) =>
        `<tr><td class="mono">${esc(x.resource)}</td><td class="mono">${x.name ? esc(x.name) : '<span class="empty">content hash, computed at apply</span>'}</td></tr>`,
    )
    .join("");
  return `<h2>Swarm secrets</h2>
<p class="sub">Mounted as files (<code>/run/secrets/&lt;NAME&gt;</code>, <code>&lt;NAME&gt;_FILE</code> in env); names are content hashes, so a rotation is a new secret and a rolling update. Values are never shown.</p>
<table id="secrets"><thead><tr><th>resource</th><th>Swarm secret name</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function gatesSection(r: ReleaseReport): string {
  const rows = r.gates
    .map(
      (g) => `<tr class="gate ${g.status}" data-policy="${esc(g.policy)}">
<td>${badge(g.status)}</td>
<td><strong>${esc(g.gate)}</strong><br><code class="type">${esc(g.policy)}</code></td>
<td>${esc(g.evidence)}${g.messages.map((m) => `<div class="msg">${esc(m)}</div>`).join("")}</td>
<td>${g.signers.length ? g.signers.map(esc).join("<br>") : '<span class="empty">—</span>'}</td>
<td>${g.age ? esc(g.age) : '<span class="empty">—</span>'}</td></tr>`,
    )
    .join("\n");
  return `<h2>Gates</h2>
<table id="gates"><thead><tr><th>status</th><th>gate</th><th>evidence</th><th>signer</th><th>age</th></tr></thead><tbody>
${rows}
</tbody></table>`;
}

function signOffSection(r: ReleaseReport): string {
  if (r.signOffs.length === 0)
    return `<h2>Sign-offs</h2><p class="empty">No signed attestation files found.</p>`;
  const rows = r.signOffs
    .map(
      (s) =>
        `<tr><td>${esc(s.kind)}</td><td>${esc(s.signer)}</td><td>${esc(s.issuedAt)} (${esc(s.age)} ago)</td><td>${esc(s.expiresAt)}${s.expired ? " <strong>expired</strong>" : ""}</td><td>${s.bound ? "this release" : "<strong>another release</strong>"}</td><td class="mono">${esc(s.file)}</td></tr>`,
    )
    .join("");
  return `<h2>Sign-offs</h2><p class="sub">Signatures are verified by the policy pack against the allow-list; this table shows what the files claim.</p>
<table><thead><tr><th>kind</th><th>signer</th><th>issued</th><th>expires</th><th>bound to</th><th>file</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function findingsSection(r: ReleaseReport): string {
  if (r.findings.length === 0) return `<h2>Policy results</h2><p>No policy violations.</p>`;
  const groups = r.findings
    .map((g) => {
      const cls = g.severity === "mandatory" ? "refused" : g.severity === "advisory" ? "advisory" : "not-run";
      const byPolicy = new Map<string, typeof g.items>();
      for (const f of g.items) byPolicy.set(f.policy, [...(byPolicy.get(f.policy) ?? []), f]);
      const rows = [...byPolicy.entries()]
        .map(
          ([policy, items]) =>
            `<tr><td><code>${esc(policy)}</code><br><span class="type">${items.length} finding(s)</span></td><td>${items
              .map(
                (f) =>
                  `<div><strong>${esc(f.resource)}</strong> <span class="type">${esc(f.resourceType)}</span><div class="msg">${esc(f.message)}</div></div>`,
              )
              .join("")}</td></tr>`,
        )
        .join("");
      return `<div class="sev ${cls}" data-severity="${esc(g.severity)}"><h3>${badge(cls as Status)} ${esc(g.severity)}: ${g.items.length}</h3>
<table><thead><tr><th style="width:28%">policy</th><th>resources and how to fix</th></tr></thead><tbody>${rows}</tbody></table></div>`;
    })
    .join("\n");
  return `<h2>Policy results</h2>${groups}`;
}

const BOX_W = 176;
const BOX_H = 40;
const COL_GAP = 18;
const ROW_GAP = 34;

/** Components as boxes in dependency layers (top: no dependencies), arrows from what each needs. */
export function dependencySvg(components: readonly ComponentView[], gatedResources: number): string {
  const layers = new Map<number, ComponentView[]>();
  for (const c of components) layers.set(c.layer, [...(layers.get(c.layer) ?? []), c]);
  const maxLayer = Math.max(0, ...components.map((c) => c.layer));
  const maxCols = Math.max(1, ...[...layers.values()].map((l) => l.length));
  const width = 20 + maxCols * (BOX_W + COL_GAP);
  const height = 40 + (maxLayer + 1) * (BOX_H + ROW_GAP);
  const pos = new Map<string, { x: number; y: number }>();
  for (const [layer, cs] of layers) {
    cs.forEach((c, i) =>
      pos.set(c.name, { x: 10 + i * (BOX_W + COL_GAP), y: 30 + layer * (BOX_H + ROW_GAP) }),
    );
  }
  const edges = components
    .flatMap((c) =>
      c.dependsOn.map((d) => {
        const a = pos.get(d);
        const b = pos.get(c.name);
        if (!a || !b) return "";
        const x1 = a.x + BOX_W / 2;
        const y1 = a.y + BOX_H;
        const x2 = b.x + BOX_W / 2;
        const y2 = b.y - 3;
        const my = (y1 + y2) / 2;
        return `<path d="M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2}" fill="none" stroke="#8c959f" stroke-width="1.2" marker-end="url(#arrow)"/>`;
      }),
    )
    .join("");
  const boxes = components
    .map((c) => {
      const p = pos.get(c.name)!;
      const short = c.type.split(":").pop() ?? c.type;
      const fill = c.type.startsWith("launchgate:release") ? "#fff8c5" : "#ddf4ff";
      return `<g class="component" data-name="${esc(c.name)}"><rect x="${p.x}" y="${p.y}" width="${BOX_W}" height="${BOX_H}" rx="6" fill="${fill}" stroke="#54aeff"/>
<text x="${p.x + 8}" y="${p.y + 16}" font-weight="600">${esc(c.name)}</text><text x="${p.x + 8}" y="${p.y + 32}" fill="#57606a">${esc(short)} · ${c.resources.length} res.</text></g>`;
    })
    .join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="component dependencies">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8c959f"/></marker></defs>
<text x="10" y="16" fill="#57606a">top → bottom: each component below what it needs · ${gatedResources} resources depend directly on the release gate (top left)</text>
${edges}
${boxes}
</svg>`;
}

function resourcesSection(r: ReleaseReport): string {
  const list = r.components
    .map((c) => {
      const items = c.resources
        .map(
          (x) =>
            `<li style="margin-left:${x.depth * 14}px">${esc(x.name)} <span class="type">${esc(x.type)}</span></li>`,
        )
        .join("");
      const deps = c.dependsOn.length ? ` — needs ${c.dependsOn.map(esc).join(", ")}` : "";
      return `<details><summary><strong>${esc(c.name)}</strong> <span class="type">${esc(c.type)} · ${c.resources.length} resources${deps}</span></summary><ul class="tree">${items || '<li class="empty">no children</li>'}</ul></details>`;
    })
    .join("\n");
  return `<h2>Planned resources</h2>
<p class="sub">${r.resourceCount} resources in ${r.components.length} components.</p>
<div style="overflow-x:auto">${dependencySvg(r.components, r.gatedResources)}</div>
${list}`;
}

function htmlTable(
  t: TableView,
  id: string,
  cls: (cellText: string, col: number) => string = () => "",
): string {
  const head = t.head.map((h) => `<th>${esc(h)}</th>`).join("");
  const rows = t.rows
    .map(
      (r) =>
        `<tr>${r.map((c, i) => `<td${cls(c, i) ? ` class="${cls(c, i)}"` : ""}>${esc(c)}</td>`).join("")}</tr>`,
    )
    .join("");
  return `<table id="${esc(id)}"><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>`;
}

/** Progressive delivery (seed 004): the same view as the markdown report (./delivery.ts). */
function deliverySection(r: ReleaseReport): string {
  if (!r.delivery) return "";
  const view = deliveryView(r.delivery.rollouts, r.delivery.verifications, {
    stack: r.stack,
    flags: r.release?.flags,
  });
  const verdictClass = (c: string) => (c === "pass" ? "ok" : c.startsWith("fail") ? "bad" : "warn");
  const rollouts = view.rollouts.length
    ? view.rollouts
        .map(
          (ro, i) =>
            `<p class="rollout ${ro.outcome}">${badge(ro.outcome === "promoted" ? "pass" : "refused")} ${esc(ro.headline)}</p>` +
            htmlTable(ro.steps, `rollout-${i}`, (c, col) => (col === 1 ? verdictClass(c) : "")),
        )
        .join("\n")
    : `<p class="empty">No rollout recorded for this release.</p>`;
  const marks = view.verifications
    ? htmlTable(view.verifications, "verification-marks", (c, col) => (col === 1 ? verdictClass(c) : ""))
    : `<p class="empty">No verification mark recorded yet.</p>`;
  const ways = view.waysBack
    .map(
      (w) =>
        `<li><strong>${esc(w.title)}</strong>: ${w.command ? `<code>${esc(w.command)}</code> — ` : ""}${esc(w.text)}</li>`,
    )
    .join("");
  return `<h2>Progressive delivery</h2>
${rollouts}
${marks}
<p>Ways back, fastest first:</p><ol id="ways-back">${ways}</ol>`;
}

/** The whole page. */
export function renderHtml(r: ReleaseReport): string {
  const status: Status = r.passed ? "pass" : "refused";
  const headline = r.passed ? "Release may proceed" : "Release refused";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>launchgate release report — ${esc(r.stack)}${r.release ? ` — ${esc(r.release.commit.slice(0, 12))}` : ""}</title>
<style>${CSS}</style></head>
<body><main>
<h1>launchgate release report: <code>${esc(r.stack)}</code></h1>
<p class="sub">Policy pack ${esc(r.pack)} · generated ${esc(r.generatedAt)} · offline check (preview semantics): program ${r.timingsMs.program} ms, policies ${r.timingsMs.policies} ms</p>
<div class="verdict ${status}" id="verdict">${badge(status)}<strong>${headline}</strong>
<div class="counts"><span class="count" id="count-mandatory">${r.counts.mandatory} mandatory</span><span class="count" id="count-advisory">${r.counts.advisory} advisory</span><span class="count">${r.counts.notRun} not run at preview</span></div></div>
${r.programErrors.map((e) => `<p class="msg">Program error: ${esc(e)}</p>`).join("")}
${releaseSection(r)}
${secretsSection(r)}
${gatesSection(r)}
${signOffSection(r)}
${findingsSection(r)}
${deliverySection(r)}
${resourcesSection(r)}
</main></body></html>
`;
}
