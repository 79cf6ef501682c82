/**
 * Table tests of the rollout decisions (tools/promote/rollout.ts): log parsing, window stats,
 * the canary analysis (seed 004: roll back above 5 % errors or p95 above 5 s) and the
 * verification marks (below 1 %, p95 below 2 s). Every instant comes from the fixed T0 below.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseConfig } from "../../stacks/config";
import {
  AccessRecord,
  WindowStats,
  abortAlert,
  canaryApps,
  dueVerifications,
  judgeCanary,
  judgeVerification,
  parseAccessLog,
  percentile,
  proxyLogCommand,
  rolloutLines,
  stepAction,
  windowStats,
} from "../../tools/promote/rollout";

const T0 = Date.parse("2026-03-01T10:00:00Z");
const analysis = { maxErrorRatePercent: 5, maxP95Ms: 5000, minRequests: 20, maxInconclusiveWindows: 2 };
const check = { after: "30m", maxErrorRatePercent: 1, maxP95Ms: 2000 };

/** `n` canary requests, `errors` of them 5xx, latencies from `ms(i)`. */
function stats(n: number, errors: number, ms: (i: number) => number = () => 50): WindowStats {
  const recs: AccessRecord[] = Array.from({ length: n }, (_, i) => ({
    timeMs: T0 + i,
    app: "api",
    variant: "canary",
    status: i < errors ? 500 : 200,
    requestMs: ms(i),
  }));
  return windowStats(recs, { app: "api", variant: "canary", fromMs: T0, toMs: T0 + n });
}

describe("judgeCanary (seed 004 rollback thresholds)", () => {
  const cases: [string, WindowStats, string, RegExp[]][] = [
    ["too few requests", stats(19, 0), "inconclusive", [/19 canary requests, fewer than minRequests 20/]],
    ["no requests at all", stats(0, 0), "inconclusive", [/0 canary requests/]],
    ["all errors", stats(40, 40), "fail", [/error rate 100 % \(40\/40\) > 5 %/]],
    ["latency only", stats(40, 0, () => 6000), "fail", [/p95 6000 ms > 5000 ms/]],
    ["errors and latency", stats(40, 10, () => 9000), "fail", [/error rate 25 %/, /p95 9000 ms/]],
    ["exactly 5 % errors passes", stats(100, 5), "pass", []],
    ["just above 5 % fails", stats(99, 5), "fail", [/error rate 5\.05 % \(5\/99\) > 5 %/]],
    ["p95 exactly 5000 ms passes", stats(100, 0, () => 5000), "pass", []],
    ["p95 just above fails", stats(100, 0, (i) => (i < 94 ? 10 : 5001)), "fail", [/p95 5001 ms > 5000 ms/]],
    ["slow tail under the 95th percentile passes", stats(100, 0, (i) => (i < 95 ? 10 : 60000)), "pass", []],
    ["exactly minRequests is judged", stats(20, 0), "pass", []],
    ["healthy", stats(200, 1, () => 120), "pass", []],
  ];
  for (const [name, s, result, reasons] of cases) {
    it(name, () => {
      const v = judgeCanary(s, analysis);
      assert.equal(v.result, result);
      assert.equal(v.reasons.length, reasons.length, v.reasons.join("; "));
      reasons.forEach((r, i) => assert.match(v.reasons[i]!, r));
    });
  }
  it("thresholds come from config", () => {
    assert.equal(judgeCanary(stats(100, 2), { ...analysis, maxErrorRatePercent: 1 }).result, "fail");
    assert.equal(judgeCanary(stats(5, 0), { ...analysis, minRequests: 5 }).result, "pass");
  });
});

describe("stepAction: inconclusive windows are extended, then abort", () => {
  const inconclusive = { result: "inconclusive" as const, reasons: ["few"] };
  const cases: [string, Parameters<typeof stepAction>[0], number, string][] = [
    ["pass goes on", { result: "pass", reasons: [] }, 0, "next"],
    ["fail aborts at once", { result: "fail", reasons: ["x"] }, 0, "abort"],
    ["first inconclusive extends", inconclusive, 0, "extend"],
    ["second inconclusive extends", inconclusive, 1, "extend"],
    ["third inconclusive aborts", inconclusive, 2, "abort"],
  ];
  for (const [name, v, n, want] of cases) it(name, () => assert.equal(stepAction(v, n, analysis), want));
  it("maxInconclusiveWindows 0 aborts the first inconclusive window", () =>
    assert.equal(stepAction(inconclusive, 0, { ...analysis, maxInconclusiveWindows: 0 }), "abort"));
});

describe("judgeVerification (seed 004 post-deployment marks: strictly below)", () => {
  const cases: [string, WindowStats, boolean, RegExp[]][] = [
    ["healthy", stats(1000, 5, () => 300), true, []],
    ["exactly 1 % fails", stats(100, 1), false, [/error rate 1 % is not below 1 %/]],
    ["exactly 2000 ms fails", stats(100, 0, () => 2000), false, [/p95 2000 ms is not below 2000 ms/]],
    ["no requests fails (nothing proves it)", stats(0, 0), false, [/no requests in the window/]],
    ["latency only", stats(100, 0, () => 2500), false, [/p95 2500 ms/]],
  ];
  for (const [name, s, passed, reasons] of cases) {
    it(name, () => {
      const v = judgeVerification(s, check);
      assert.equal(v.passed, passed);
      assert.equal(v.reasons.length, reasons.length, v.reasons.join("; "));
      reasons.forEach((r, i) => assert.match(v.reasons[i]!, r));
    });
  }
});

describe("access log and windows", () => {
  const line = (o: Record<string, unknown>) =>
    JSON.stringify({ lg: 1, app: "api", variant: "canary", status: "200", request_time: "0.012", ...o });
  it("parses the proxy's JSON lines and skips everything else", () => {
    const text = [
      line({ msec: String(T0 / 1000) }),
      "2026/03/01 10:00:00 [warn] 7#7: something",
      line({ msec: String(T0 / 1000 + 1), variant: "stable", status: "502", request_time: "1.500" }),
      line({ msec: "x" }),
      line({ msec: String(T0 / 1000), variant: "" }),
      line({ msec: String(T0 / 1000), app: "" }),
      '{"not":"ours"}',
      "{broken json",
    ].join("\n");
    assert.deepEqual(parseAccessLog(text), [
      { timeMs: T0, app: "api", variant: "canary", status: 200, requestMs: 12 },
      { timeMs: T0 + 1000, app: "api", variant: "stable", status: 502, requestMs: 1500 },
    ]);
  });
  it("a window is half-open and per app and variant; 4xx are not errors", () => {
    const recs: AccessRecord[] = [
      { timeMs: T0 - 1, app: "api", variant: "canary", status: 500, requestMs: 1 },
      { timeMs: T0, app: "api", variant: "canary", status: 404, requestMs: 1 },
      { timeMs: T0 + 5, app: "api", variant: "canary", status: 503, requestMs: 3 },
      { timeMs: T0 + 5, app: "api", variant: "stable", status: 500, requestMs: 1 },
      { timeMs: T0 + 5, app: "admin", variant: "canary", status: 500, requestMs: 1 },
      { timeMs: T0 + 10, app: "api", variant: "canary", status: 500, requestMs: 1 },
    ];
    assert.deepEqual(windowStats(recs, { app: "api", variant: "canary", fromMs: T0, toMs: T0 + 10 }), {
      requests: 2,
      errors: 1,
      errorRatePercent: 50,
      p95Ms: 3,
    });
    assert.equal(windowStats(recs, { app: "api", fromMs: T0, toMs: T0 + 10 }).requests, 3);
  });
  it("percentile is nearest-rank", () => {
    assert.equal(percentile([], 95), 0);
    assert.equal(percentile([7], 95), 7);
    assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20], 95), 19);
    assert.equal(percentile([3, 1, 2], 50), 2);
  });
});

describe("verification marks due", () => {
  const deployed = new Date(T0);
  const marks = [
    { after: "30m", maxErrorRatePercent: 1, maxP95Ms: 2000 },
    { after: "1h", maxErrorRatePercent: 1, maxP95Ms: 2000 },
    { after: "24h", maxErrorRatePercent: 1, maxP95Ms: 2000 },
  ];
  const at = (min: number) => new Date(T0 + min * 60_000);
  it("none before 30 minutes", () => assert.deepEqual(dueVerifications(deployed, marks, [], at(29)), []));
  it("30m at 30 minutes, covering the deploy to the mark", () =>
    assert.deepEqual(dueVerifications(deployed, marks, [], at(30)), [
      { check: marks[0], fromMs: T0, toMs: T0 + 30 * 60_000 },
    ]));
  it("1h covers 30m..1h; recorded marks are not due again", () =>
    assert.deepEqual(dueVerifications(deployed, marks, ["30m"], at(61)), [
      { check: marks[1], fromMs: T0 + 30 * 60_000, toMs: T0 + 60 * 60_000 },
    ]));
  it("everything after a day", () =>
    assert.deepEqual(
      dueVerifications(deployed, marks, [], at(24 * 60)).map((d) => d.check.after),
      ["30m", "1h", "24h"],
    ));
});

describe("the rest of the rollout decisions", () => {
  it("canaries only for routed apps whose image differs from the previous release", () => {
    const apps = [
      { name: "api", image: "api:2", route: "/" },
      { name: "admin", image: "admin:1", route: "/admin" },
      { name: "worker", image: "worker:2" },
      { name: "new", image: "new:1", route: "/new" },
    ];
    const prev = { "app:api": "api:1", "app:admin": "admin:1", "app:worker": "worker:1" };
    assert.deepEqual(canaryApps(apps, prev), ["api"]);
    assert.deepEqual(canaryApps(apps, undefined), []);
  });
  it("the log is read over SSH as the deploy user, with since/until", () => {
    const argv = proxyLogCommand({
      host: "203.0.113.7",
      port: 2222,
      user: "deployer",
      identityFile: ".launchgate/production/id_deployer",
      knownHostsFile: ".launchgate/production/known_hosts",
      hostKeys: "accept-new",
      container: "proxy",
      since: new Date(T0),
      until: new Date(T0 + 60_000),
    });
    assert.equal(argv[0], "ssh");
    const remoteAt = argv.indexOf("--");
    assert.equal(
      argv[remoteAt - 1],
      "deployer@203.0.113.7",
      "the target comes right before the remote command",
    );
    assert.deepEqual(argv.slice(remoteAt + 1), [
      "docker",
      "logs",
      "--since",
      "2026-03-01T10:00:00.000Z",
      "--until",
      "2026-03-01T10:01:00.000Z",
      "proxy",
    ]);
    const opts = argv.slice(1, remoteAt - 1).join(" ");
    assert.match(opts, /-p 2222\b/);
    assert.match(opts, /-i \.launchgate\/production\/id_deployer -o IdentitiesOnly=yes/);
    assert.match(opts, /-o BatchMode=yes/, "never prompts in CI");
    assert.match(opts, /-o StrictHostKeyChecking=accept-new/);
    assert.match(
      opts,
      /-o UserKnownHostsFile=\.launchgate\/production\/known_hosts/,
      "host keys in the stack's own file, not the operator's ~/.ssh/known_hosts",
    );
  });
  it("the abort alert names stack, commit, weight and reasons", () => {
    const a = abortAlert({
      stack: "production",
      commit: "a".repeat(40),
      weight: 10,
      reasons: ["error rate 30 %"],
    });
    assert.equal(a.event, "canary-aborted");
    assert.match(
      a.text,
      /canary aaaaaaaaaaaa on production aborted at 10 %: error rate 30 %; canary weight set to 0/,
    );
  });
  it("summary lines list every step with its verdict", () => {
    const s = stats(100, 0);
    const lines = rolloutLines({
      stack: "production",
      commit: "b".repeat(40),
      previousCommit: "c".repeat(40),
      apps: ["api"],
      startedAt: new Date(T0).toISOString(),
      finishedAt: new Date(T0 + 1).toISOString(),
      outcome: "aborted",
      reason: "error rate 30 %",
      steps: [
        {
          weight: 10,
          startedAt: "",
          finishedAt: "",
          upSeconds: 2,
          canary: s,
          stable: s,
          verdict: "fail",
          reasons: ["error rate 30 %"],
        },
      ],
    });
    assert.match(lines[0]!, /rollout of bbbbbbbbbbbb on production \(api\): aborted — error rate 30 %/);
    assert.match(lines[1]!, /10 %\s+fail\s+canary 100 req, 0 % errors, p95 50 ms \| stable 100 req/);
  });
});

describe("config: release.rollout, release.verify, release.canaryWeight", () => {
  const base = {
    domain: "app.localhost",
    tls: "internal-ca",
    host: { address: "127.0.0.1" },
    postgres: { image: "postgres:16.4", pgbouncer: { image: "edoburu/pgbouncer:v1" } },
    redis: { image: "redis:7.2", instances: [{ name: "queue", role: "queue" }] },
    apps: [{ name: "api", image: "api:1.0", port: 3000, route: "/" }],
    proxy: { image: "nginx:1.27" },
  };
  const commit = "a".repeat(40);
  const parse = (release: Record<string, unknown>) =>
    parseConfig({ ...base, release: { commit, ...release } }, "local");
  it("defaults from seed 004", () => {
    const r = parse({ rollout: {} }).release;
    assert.deepEqual(r.rollout, {
      steps: [10, 25, 50, 100],
      stepSeconds: 300,
      analysis: { maxErrorRatePercent: 5, maxP95Ms: 5000, minRequests: 20, maxInconclusiveWindows: 2 },
    });
    assert.deepEqual(
      r.verify.map((v) => [v.after, v.maxErrorRatePercent, v.maxP95Ms]),
      [
        ["30m", 1, 2000],
        ["1h", 1, 2000],
        ["24h", 1, 2000],
      ],
    );
    assert.equal(parse({}).release.rollout, undefined);
  });
  const bad: [string, Record<string, unknown>, string][] = [
    [
      "steps not increasing",
      { rollout: { steps: [10, 50, 25, 100] } },
      "launchgate:release.rollout.steps: got [10,50,25,100]; expected strictly increasing weights",
    ],
    [
      "steps not ending at 100",
      { rollout: { steps: [10, 50] } },
      "launchgate:release.rollout.steps: got [10,50]; expected weights ending at 100",
    ],
    [
      "weight above 100",
      { rollout: { steps: [10, 150] } },
      "launchgate:release.rollout.steps[1]: got 150; expected a value <= 100",
    ],
    [
      "error rate above 100",
      { rollout: { analysis: { maxErrorRatePercent: 120 } } },
      "launchgate:release.rollout.analysis.maxErrorRatePercent: got 120; expected a value <= 100",
    ],
    [
      "a typo in analysis",
      { rollout: { analysis: { maxP95: 100 } } },
      "launchgate:release.rollout.analysis.maxP95: got 100; expected no such key (a typo? known: maxErrorRatePercent, maxP95Ms, minRequests, maxInconclusiveWindows)",
    ],
    [
      "verify mark not a duration",
      { verify: [{ after: "half an hour" }] },
      'launchgate:release.verify[0].after: got "half an hour"; expected a duration such as 30m, 1h, 24h',
    ],
    [
      "verify marks out of order",
      { verify: [{ after: "1h" }, { after: "30m" }] },
      'launchgate:release.verify: got [{"after":"1h"},{"after":"30m"}]; expected marks in increasing order of `after`',
    ],
    [
      "canaryWeight without rollout or previous",
      { canaryWeight: 10 },
      "launchgate:release.canaryWeight: got 10; expected no canaryWeight without launchgate:release.rollout",
    ],
    [
      "canaryWeight above 100",
      { rollout: {}, canaryWeight: 101 },
      "launchgate:release.canaryWeight: got 101; expected a value <= 100",
    ],
  ];
  for (const [name, release, message] of bad) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => parse(release),
        (e: Error & { problems?: string[] }) => {
          assert.ok(e.problems?.includes(message), `${message}\nnot in\n${e.problems?.join("\n")}`);
          return true;
        },
      );
    });
  }
});
