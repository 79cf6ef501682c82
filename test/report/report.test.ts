/**
 * The release report as a person sees it: rendered by headless Chromium (Debian's `chromium`),
 * asserting on the rendered DOM (gate names and statuses, the release commit, violation counts,
 * signers and ages) and keeping screenshots under artifacts/ (gitignored) for a human to look at.
 * One refused report comes end to end from `npm run check -- --stack production --report *.html`;
 * one passing report from the gate tests' production fixture with valid signed evidence.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import type { CheckResult } from "../../tools/checker/check";
import { dependencySvg, esc, renderHtml } from "../../tools/report/html";
import { collectResources, renderHtmlReport } from "../../tools/report";
import { deliveryView } from "../../tools/report/delivery";
import { cell, renderMarkdown } from "../../tools/report/markdown";
import { ReportResource, buildReport, componentsOf } from "../../tools/report/model";
import { ProductionFixture, stopPack } from "../gates/support";

const ROOT = path.join(__dirname, "..", "..");
const ARTIFACTS = path.join(ROOT, "artifacts");
// Debian's chromium here; GitHub's ubuntu runners ship google-chrome.
const CHROMIUM = ["chromium", "chromium-browser", "google-chrome"].find(
  (c) => spawnSync("which", [c]).status === 0,
);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lg-report-"));

after(async () => {
  await stopPack();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A passed check of `stack` with `resourceCount` resources and no findings. */
function passedCheck(stack: string, resourceCount: number): CheckResult {
  return {
    stack,
    pack: { name: "launchgate", version: "0.1.0" },
    resourceCount,
    programErrors: [],
    findings: [],
    gate: null,
    enforcement: {},
    timingsMs: { program: 1, policies: 1, total: 2 },
    passed: true,
    exceptions: [],
  };
}

function chromium(args: string[]): string {
  const profile = fs.mkdtempSync(path.join(tmp, "profile-"));
  const r = spawnSync(
    CHROMIUM!,
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
      ...args,
    ],
    { encoding: "utf8", timeout: 90_000, maxBuffer: 32 * 1024 * 1024 },
  );
  assert.equal(r.status, 0, `chromium failed: ${r.error?.message ?? ""} ${r.stderr.slice(-500)}`);
  return r.stdout;
}

/** Renders `html` in Chromium: the DOM after layout, and a screenshot kept under artifacts/. */
function render(html: string, name: string): { dom: string; text: string } {
  const file = path.join(tmp, `${name}.html`);
  fs.writeFileSync(file, html);
  const dom = chromium(["--dump-dom", `file://${file}`]);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const png = path.join(ARTIFACTS, `${name}.png`);
  fs.rmSync(png, { force: true });
  chromium([`--screenshot=${png}`, "--window-size=1280,2000", `file://${file}`]);
  const head = fs.readFileSync(png);
  assert.equal(head.subarray(1, 4).toString(), "PNG");
  assert.equal(head.readUInt32BE(16), 1280, "screenshot width");
  assert.ok(head.length > 30_000, `a screenshot with content (${head.length} bytes)`);
  const text = dom
    .replace(/<style[\s\S]*?<\/style>/g, "")
    .replace(/<[^>]+>/g, " ")
    .replace(/&amp;/g, "&")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/\s+/g, " ");
  return { dom, text };
}

/** Gate row statuses as rendered: policy → data-status of its badge. */
function gateStatuses(dom: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of dom.matchAll(
    /<tr class="gate [a-z-]+" data-policy="([a-z-]+)">\s*<td><span class="badge [a-z-]+" data-status="([a-z-]+)">/g,
  )) {
    out[m[1]!] = m[2]!;
  }
  return out;
}

function selfContained(html: string): void {
  assert.ok(!/<script/i.test(html), "no script");
  assert.ok(!/<link/i.test(html), "no stylesheet link");
  assert.ok(!/(src|href)=["']?(https?:|\/\/)/i.test(html), "no external asset");
  assert.ok(!/url\((?!#)/.test(html), "no CSS url() other than in-page references");
}

describe(
  "release report in headless Chromium",
  { skip: CHROMIUM ? false : "chromium is not installed (apt-get install chromium)" },
  () => {
    test("refused production: `npm run check -- --report release.html` end to end", () => {
      const out = path.join(tmp, "release.html");
      const r = spawnSync(
        "npm",
        ["run", "--silent", "check", "--", "--stack", "production", "--json", "--report", out],
        {
          cwd: ROOT,
          encoding: "utf8",
          timeout: 180_000,
          maxBuffer: 32 * 1024 * 1024,
        },
      );
      assert.equal(r.status, 1, `production without evidence is refused (exit 1): ${r.stderr.slice(-400)}`);
      const result = JSON.parse(r.stdout.slice(r.stdout.indexOf("{"))) as CheckResult;
      const html = fs.readFileSync(out, "utf8");
      selfContained(html);
      const { dom, text } = render(html, "release-report-production-refused");
      const mandatory = result.findings.filter(
        (f) => f.enforcementLevel === "mandatory" && !/^can't run/.test(f.message),
      ).length;
      assert.ok(mandatory > 0);
      assert.match(text, /Release refused/);
      assert.match(text, new RegExp(`${mandatory} mandatory`));
      assert.match(text, /Commit 4f9c2b7e8a1d3c5b6e7f8091a2b3c4d5e6f70819/);
      assert.match(text, /REAL_MONEY_ENABLED on legal-counsel/);
      assert.match(
        text,
        /app:api ghcr\.io\/blazetv\/api sha256:89372259109eefefa44d3695375cac96ea8656383a9e2ab84b18def78d2ba6c0/,
      );
      const statuses = gateStatuses(dom);
      for (const g of ["staging-verified", "backups-tested", "sign-offs-attested", "flags-attested"]) {
        assert.equal(statuses[g], "refused", `${g} shown refused`);
      }
      for (const g of ["monitoring-configured", "rollback-ready", "release-gate-first"]) {
        assert.ok(["pass", "refused"].includes(statuses[g]!), `${g} shown with a status`);
      }
      assert.equal(statuses["rollback-ready"], "pass");
      for (const gate of ["staging verified", "backups tested", "sign-offs (signed)", "rollback ready"])
        assert.ok(text.includes(gate), gate);
      // every mandatory finding's "how to fix" text is on the page
      for (const f of result.findings.filter((x) => x.enforcementLevel === "mandatory")) {
        const fixText = (
          f.message.startsWith(f.description) ? f.message.slice(f.description.length) : f.message
        )
          .replace(/\s+/g, " ")
          .trim();
        assert.ok(text.includes(fixText), `shown: ${fixText}`);
      }
      assert.match(text, /legal-counsel\.attestation\.json/);
      // planned resources grouped by component, with the picture
      assert.match(text, new RegExp(`${result.resourceCount} resources in \\d+ components`));
      assert.match(dom, /<svg[^>]*aria-label="component dependencies"/);
      for (const c of ["release", "host", "postgres", "app-api", "proxy", "backups", "monitoring"]) {
        assert.match(dom, new RegExp(`<g class="component" data-name="${c}">`), `component ${c} drawn`);
      }
    });

    test("passing production with signed evidence: every gate PASS, signers and ages shown", async () => {
      const fx = await new ProductionFixture().init();
      fx.write();
      const result = await fx.check();
      assert.equal(
        result.passed,
        true,
        result.findings.map((f) => `${f.policyName}: ${f.message}`).join("\n"),
      );
      const html = await renderHtmlReport(result, { resources: await collectResources("production", ROOT) });
      selfContained(html);
      const { dom, text } = render(html, "release-report-production-passing");
      assert.match(text, /Release may proceed/);
      assert.match(text, /0 mandatory/);
      const statuses = gateStatuses(dom);
      assert.deepEqual(Object.keys(statuses).sort(), [
        "backups-tested",
        "flags-attested",
        "monitoring-configured",
        "release-gate-first",
        "rollback-ready",
        "running-release-verified",
        "sign-offs-attested",
        "staging-verified",
      ]);
      for (const [g, s] of Object.entries(statuses)) assert.equal(s, "pass", `${g} shown as pass`);
      assert.match(text, /release-board \(legal-counsel\)/);
      assert.match(text, /smoke passed/);
      // ages: staging smoke tests 6 h ago, drill 20 h ago (the fixture's evidence)
      assert.match(dom, /<td>6\.0 h<\/td>/);
      assert.match(dom, /<td>20\.0 h<\/td>/);
      assert.match(text, /legal-counsel release-board .* this release/);
    });
  },
);

describe("report model and renderer (pure)", () => {
  const S = "urn:pulumi:p::launchgate::pulumi:pulumi:Stack::launchgate-p";
  const u = (t: string, n: string) => `urn:pulumi:p::launchgate::${t}::${n}`;
  const res = (type: string, name: string, parent: string, deps: string[] = []): ReportResource => ({
    urn: u(type, name),
    type,
    name,
    parent,
    dependencies: deps,
  });
  const gate = u("command:local:Command", "release-gate");
  const resources: ReportResource[] = [
    { urn: S, type: "pulumi:pulumi:Stack", name: "launchgate-p", parent: "", dependencies: [] },
    res("launchgate:release:Release", "release", S),
    res("command:local:Command", "release-gate", u("launchgate:release:Release", "release")),
    res("launchgate:network:Network", "net", S),
    res("docker:index/network:Network", "net-edge", u("launchgate:network:Network", "net"), [gate]),
    res("launchgate:app:AppService", "app-api", S),
    res("docker:index/container:Container", "app-api", u("launchgate:app:AppService", "app-api"), [
      gate,
      u("docker:index/network:Network", "net-edge"),
    ]),
  ];

  test("components: members by top-level ancestor, dependencies between components, layers", () => {
    const { components, gated } = componentsOf(resources);
    assert.equal(gated, 2);
    assert.deepEqual(
      components.map((c) => [c.name, c.layer, c.dependsOn, c.resources.map((r) => r.name)]),
      [
        ["release", 0, [], ["release-gate"]],
        ["net", 1, [], ["net-edge"]],
        ["app-api", 2, ["net"], ["app-api"]],
      ],
    );
    const svg = dependencySvg(components, gated);
    assert.equal((svg.match(/<g class="component"/g) ?? []).length, 3);
    assert.equal((svg.match(/marker-end/g) ?? []).length, 1, "one arrow: app-api needs net");
  });

  test("text from findings and evidence is escaped", () => {
    assert.equal(
      esc(`<script>alert("x")</script>&'`),
      "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;",
    );
    const result: CheckResult = {
      stack: "production",
      pack: { name: "launchgate", version: "0.1.0" },
      resourceCount: resources.length,
      programErrors: [],
      findings: [
        {
          policyName: "no-latest-tag",
          description: "Checks whether images are pinned.",
          message: "Checks whether images are pinned. image <img src=x onerror=alert(1)> uses :latest",
          enforcementLevel: "mandatory",
          urn: u("docker:index/container:Container", "app-api"),
          resourceName: "app-api",
          resourceType: "docker:index/container:Container",
          source: "pack",
        } as CheckResult["findings"][number],
      ],
      gate: null,
      enforcement: {},
      timingsMs: { program: 1, policies: 1, total: 2 },
      passed: false,
      exceptions: [],
    };
    const html = renderHtml(buildReport(result, resources, new Date("2026-11-24T12:00:00Z")));
    selfContained(html);
    assert.ok(!html.includes("<img"), "markup in a finding is not rendered");
    assert.ok(html.includes("image &lt;img src=x onerror=alert(1)&gt; uses :latest"));
    assert.match(html, /id="count-mandatory">1 mandatory/);
    assert.match(html, /No release gate found in the plan/);
    const md = renderMarkdown(buildReport(result, resources, new Date("2026-11-24T12:00:00Z")));
    assert.match(md, /❌ \*\*Release refused\*\* — 1 mandatory, 0 advisory/);
    assert.match(
      md,
      /\| `no-latest-tag` \| app-api \| image &lt;img src=x onerror=alert\(1\)&gt; uses :latest \|/,
    );
    assert.match(md, /- \*\*app-api\*\* `launchgate:app:AppService` · 1 resources · needs net/);
  });

  test("progressive delivery: HTML and markdown show the same steps, verdicts, marks and ways back", () => {
    const stats = (requests: number, errors: number, p95Ms: number) => ({
      requests,
      errors,
      errorRatePercent: requests ? (100 * errors) / requests : 0,
      p95Ms,
    });
    const step = (
      weight: number,
      verdict: "pass" | "fail",
      canary: ReturnType<typeof stats>,
      reasons: string[] = [],
    ) => ({
      weight,
      startedAt: "2026-11-24T11:00:00.000Z",
      finishedAt: "2026-11-24T11:01:00.000Z",
      upSeconds: 3.25,
      canary,
      stable: stats(400, 0, 12),
      verdict,
      reasons,
    });
    const aborted = {
      stack: "production",
      commit: "a".repeat(40),
      previousCommit: "b".repeat(40),
      apps: ["api"],
      startedAt: "2026-11-24T11:00:00.000Z",
      finishedAt: "2026-11-24T11:01:30.000Z",
      outcome: "aborted" as const,
      steps: [step(10, "fail", stats(50, 12, 30), ["error rate 24 % (12/50) > 5 % <b>|x</b>"])],
      reason: "analysis at 10 %: error rate 24 % (12/50) > 5 % <b>|x</b>",
      abortSeconds: 0.5,
    };
    const promoted = {
      ...aborted,
      commit: "c".repeat(40),
      outcome: "promoted" as const,
      steps: [step(10, "pass", stats(60, 0, 20)), step(100, "pass", stats(500, 1, 25))],
      reason: undefined,
      abortSeconds: undefined,
    };
    const mark = {
      stack: "production",
      commit: "c".repeat(40),
      after: "30m",
      passed: false,
      reasons: ["p95 2100 ms is not below 2000 ms"],
      fromIso: "2026-11-24T11:02:00.000Z",
      toIso: "2026-11-24T11:32:00.000Z",
      stats: stats(1000, 2, 2100),
      checkedAt: "2026-11-24T11:33:00.000Z",
    };
    const view = deliveryView([aborted, promoted], [mark], {
      stack: "production",
      flags: [{ name: "REAL_MONEY_ENABLED", enabled: true }],
    });
    assert.deepEqual(
      view.rollouts.map((r) => r.steps.rows.map((row) => [row[0], row[1], row[3]])),
      [
        [["10 %", "fail", "24.00 %"]],
        [
          ["10 %", "pass", "0.00 %"],
          ["100 %", "pass", "0.20 %"],
        ],
      ],
    );
    assert.match(view.rollouts[0]!.headline, /^aborted a{12} \(api\) .* canary weight 0 in 0\.5 s$/);
    assert.deepEqual(view.verifications?.rows[0]?.slice(0, 2), [
      "30m (cccccccccccc)",
      "fail: p95 2100 ms is not below 2000 ms",
    ]);
    assert.equal(
      view.waysBack[0]!.title,
      "Feature-flag killswitch (seed 004 option 1)",
      "the killswitch comes first",
    );
    assert.match(view.waysBack[0]!.text, /on now: REAL_MONEY_ENABLED/);

    const result = passedCheck("production", resources.length);
    const report = {
      ...buildReport(result, resources, new Date("2026-11-24T12:00:00Z")),
      delivery: { rollouts: [aborted, promoted], verifications: [mark] },
    };
    const html = renderHtml(report);
    selfContained(html);
    assert.match(html, /<h2>Progressive delivery<\/h2>/);
    assert.match(html, /<table id="rollout-0">.*<td class="bad">fail<\/td>.*<\/table>/s);
    assert.equal((html.match(/<td class="ok">pass<\/td>/g) ?? []).length, 2, "two passed steps");
    assert.match(
      html,
      /<table id="verification-marks">.*<td class="bad">fail: p95 2100 ms is not below 2000 ms<\/td>/s,
    );
    assert.ok(!html.includes("<b>|x</b>"), "markup in a reason is escaped");
    assert.match(html, /&lt;b&gt;\|x&lt;\/b&gt;/);
    assert.match(html, /<ol id="ways-back"><li><strong>Feature-flag killswitch/);
    assert.match(html, /<code>npm run rollback -- --stack production --yes<\/code>/);
    const md = renderMarkdown(report);
    assert.match(md, /\| 10 % \| ❌ fail \| 50 \| 24\.00 % \|/);
    assert.match(md, /\| 100 % \| ✅ pass \| 500 \| 0\.20 % \|/);
    assert.match(md, /\| 30m \(cccccccccccc\) \| ❌ fail: p95 2100 ms is not below 2000 ms \|/);
    assert.match(md, /&lt;b&gt;\\\|x&lt;\/b&gt;/, "markdown escapes the pipe and the markup");
    assert.match(md, /1\. \*\*Feature-flag killswitch/);
    const noDelivery = renderHtml(buildReport(result, resources, new Date("2026-11-24T12:00:00Z")));
    assert.ok(!noDelivery.includes("Progressive delivery"), "no section without delivery evidence");
  });

  test("Swarm secrets are listed by name, never by value", () => {
    const SECRET = "docker:index/secret:Secret";
    const resources: ReportResource[] = [
      {
        urn: "urn:a",
        type: SECRET,
        name: "app-api-secret-jwt-secret",
        parent: "",
        dependencies: [],
        secretName: "app-api-jwt-secret-0123456789ab",
      },
      { urn: "urn:b", type: SECRET, name: "redis-queue-secret-redis-password", parent: "", dependencies: [] },
    ];
    const result = passedCheck("staging", 2);
    const report = buildReport(result, resources, new Date("2026-11-24T12:00:00Z"));
    assert.deepEqual(report.secrets, [
      { resource: "app-api-secret-jwt-secret", name: "app-api-jwt-secret-0123456789ab" },
      { resource: "redis-queue-secret-redis-password", name: "" },
    ]);
    const html = renderHtml(report);
    assert.match(
      html,
      /<table id="secrets">.*app-api-jwt-secret-0123456789ab.*content hash, computed at apply/s,
    );
    assert.match(
      renderMarkdown(report),
      /\| app-api-secret-jwt-secret \| `app-api-jwt-secret-0123456789ab` \|/,
    );
  });

  test("markdown cells: pipes, newlines and markup cannot break the table", () => {
    assert.equal(cell("a|b\nc <x>"), "a\\|b c &lt;x&gt;");
  });
});
