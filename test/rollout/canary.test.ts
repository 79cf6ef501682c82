/**
 * Progressive delivery on the real engine (issue 15, seed 004): the `local` stack's services as
 * declared (test/rollout/lab.ts), client traffic through the proxy the whole time, and the
 * rollout driver (tools/promote/canary.ts) stepping the canary's weight through the program's
 * own declarations and judging each window from the proxy's JSON access log.
 *
 * 1. A release whose app fails half its requests is stopped at its first step — weight back to 0,
 *    alert sent, stable untouched — and clients saw failures only from the canary, only during
 *    that first window.
 * 2. A healthy release reaches 100 % and becomes the only version without a failed request.
 * 3. The steps and verdicts appear in the release report.
 * Bounded: short windows (6 s), ~30 requests/s; about two minutes warm. Everything it creates is
 * named lg-svc-<id>-… and removed at the end, also on failure.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { RESOLVER_VALID_SECONDS, UPSTREAM_DRAIN_SECONDS } from "../../components/edge/Proxy";
import type { RolloutConfig } from "../../stacks/config";
import { rolloutSchema } from "../../stacks/config";
import { runRollout, type RolloutRun } from "../../tools/promote/canary";
import { rolloutLines } from "../../tools/promote/rollout";
import { renderRolloutMarkdown } from "../../tools/report/markdown";
import { CANARY_COMMIT, RolloutLab, STABLE_COMMIT, type CanaryImage, type Sample } from "./lab";

const ROLLOUT = {
  steps: [20, 50, 100],
  stepSeconds: 6,
  analysis: { maxErrorRatePercent: 5, maxP95Ms: 5000, minRequests: 10, maxInconclusiveWindows: 1 },
};
const rollout: RolloutConfig = rolloutSchema.parse(ROLLOUT);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const summary: string[] = [];
const note = (l: string) => {
  summary.push(l);
  console.log(`# ${l}`);
};

let lab: RolloutLab;
let BAD: CanaryImage;
let GOOD: CanaryImage;
const runs: RolloutRun[] = [];

before(async () => {
  const t0 = Date.now();
  const apiRef = "ghcr.io/blazetv/api";
  BAD = { ref: `${apiRef}:1.5.0-broken`, version: "1.5.0-broken", env: { FAIL_PERCENT: "50" } };
  GOOD = { ref: `${apiRef}:1.5.0`, version: "1.5.0" };
  lab = await RolloutLab.start({ rollout: ROLLOUT, canaries: [BAD, GOOD] });
  note(`lab up (local stack, rollout on) in ${secs(Date.now() - t0)}`);
});

after(async () => {
  await lab?.cleanup();
  console.log(`\n==== rollout summary ====\n${summary.join("\n")}\n`);
});

/** Stable container identity: same id, same start, no restarts. */
async function identity(declared: string): Promise<string> {
  const st = await lab.harness.inspect(lab.harness.container(declared));
  return `${st.Id} ${st.State.StartedAt} restarts=${st.RestartCount}`;
}

function stableName(): string {
  const apiName = lab.api.name;
  return lab.declared().find((n) => n.startsWith(`${apiName}-`) && !/-canary-|-migrate-/.test(n))!;
}

const failed = (s: Sample) => s.status === 0 || s.status >= 500;

/** No container crashed (restarted): a crashed app fails requests whatever the proxy does. */
function assertNoCrash(crashed: Record<string, string>): void {
  for (const [name, account] of Object.entries(crashed)) console.log(`${name} ${account}`);
  assert.deepEqual(Object.keys(crashed), [], "containers crashed (restarted) during the rollout");
}

describe("canary rollout on the real engine", () => {
  it("a canary failing a share of requests is stopped at its first step; stable untouched", async () => {
    const stable = stableName();
    const before = await identity(stable);
    const alerts: unknown[] = [];
    await lab.prepare(BAD, rollout.steps);
    const restarts = await lab.harness.restartCounts();
    const load = lab.load();
    await new Promise((r) => setTimeout(r, 2_000));
    const t0 = Date.now();
    let abortDone = 0;
    const fx = lab.effects(BAD, (l) => console.log(`  ${l}`), alerts);
    const run = await runRollout(
      { stack: "local", commit: CANARY_COMMIT, previousCommit: STABLE_COMMIT, apps: [lab.api.name], rollout },
      {
        ...fx,
        applyWeight: async (w) => {
          await fx.applyWeight(w);
          if (w === 0) abortDone = Date.now();
        },
      },
    );
    await new Promise((r) => setTimeout(r, 3_000));
    await load.stop();
    runs.push(run);
    assertNoCrash(await lab.harness.crashedSince(restarts));
    const first = run.steps[0]!;
    console.log(`canary aborted at ${first.weight} %: ${run.reason}`);
    assert.equal(run.outcome, "aborted");
    assert.equal(run.steps.length, 1, "stopped at its first step");
    assert.equal(first.weight, 20);
    assert.equal(first.verdict, "fail");
    assert.match(first.reasons.join(";"), /error rate .* > 5 %/);
    assert.ok(first.canary.requests >= 10, `${first.canary.requests} canary requests judged`);
    assert.equal(first.stable.errors, 0, "the stable version never failed");
    assert.equal(await identity(stable), before, "the stable container is the same, never restarted");
    assert.equal(alerts.length, 1);
    assert.match(JSON.stringify(alerts[0]), /canary-aborted.*aborted at 20 %/);

    // Clients: failures only from the canary, only between its first weight and the abort.
    const failures = load.samples.filter(failed);
    const stepStart = Date.parse(first.startedAt);
    // The canary takes traffic once the step's weights are applied (end of its `up`).
    const windowStart = stepStart + first.upSeconds * 1000;
    assert.ok(abortDone > 0, "weight 0 applied");
    assert.deepEqual(
      failures.filter((s) => s.version !== BAD.version),
      [],
      "every failed request was answered by the canary (no proxy errors, no dropped connections)",
    );
    assert.deepEqual(
      failures.filter((s) => s.t < windowStart - 500 || s.t > abortDone + 1_000),
      [],
      "no failure outside the canary's first window",
    );
    const during = load.samples.filter((s) => s.t >= windowStart && s.t <= abortDone);
    const share = failures.length / Math.max(1, during.length);
    // 20 % of requests to a canary failing 50 % of them: about 10 % of the window's requests.
    assert.ok(share > 0.04 && share < 0.18, `failed share in the window ${(share * 100).toFixed(1)} %`);
    const afterAbort = load.samples.filter((s) => s.t > abortDone + 1_000);
    assert.ok(
      afterAbort.length > 20 && afterAbort.every((s) => s.status === 200 && s.version !== BAD.version),
    );
    note(
      `abort: ${load.samples.length} client requests, ${failures.length} failed (${(share * 100).toFixed(1)} % of the ` +
        `${during.length} in the canary's window, all from the canary), 0 after the abort; step up ${first.upSeconds.toFixed(1)} s, ` +
        `window ${secs(Date.parse(first.finishedAt) - stepStart - first.upSeconds * 1000)}, weight 0 in ${run.abortSeconds!.toFixed(1)} s, ` +
        `abort total ${secs(Date.now() - t0)}`,
    );
    for (const l of rolloutLines(run)) note(l);
  });

  it("a healthy canary reaches 100 % and becomes the only version; no client request fails", async () => {
    await lab.prepare(GOOD, rollout.steps);
    const restarts = await lab.harness.restartCounts();
    const load = lab.load();
    await new Promise((r) => setTimeout(r, 1_000));
    const t0 = Date.now();
    const run = await runRollout(
      { stack: "local", commit: CANARY_COMMIT, previousCommit: STABLE_COMMIT, apps: [lab.api.name], rollout },
      lab.effects(GOOD, (l) => console.log(`  ${l}`), []),
    );
    const total = Date.now() - t0;
    // Past nginx's resolver cache (RESOLVER_VALID_SECONDS, render.ts): the alias then names only the new container.
    await new Promise((r) => setTimeout(r, (RESOLVER_VALID_SECONDS + 2) * 1000));
    // The steady state: the answers from here on (a loaded machine answers slowly, so wait for at
    // least 6 of them, bounded, rather than counting a fixed stretch of time).
    const settledAt = Date.now() - 1_500;
    const settled = () => load.samples.filter((s) => s.t > settledAt);
    for (const until = Date.now() + 15_000; settled().length < 6 && Date.now() < until;)
      await new Promise((r) => setTimeout(r, 200));
    await load.stop();
    runs.push(run);
    assertNoCrash(await lab.harness.crashedSince(restarts));
    assert.equal(run.outcome, "promoted", run.reason);
    assert.deepEqual(
      run.steps.map((s) => [s.weight, s.verdict]),
      [
        [20, "pass"],
        [50, "pass"],
        [100, "pass"],
      ],
    );
    // The split follows the weight (per-request, so within a few points of it).
    for (const s of run.steps) {
      const share = (100 * s.canary.requests) / Math.max(1, s.canary.requests + s.stable.requests);
      assert.ok(Math.abs(share - s.weight) <= 15, `${s.weight} %: canary got ${share.toFixed(1)} %`);
    }
    const failures = load.samples.filter(failed);
    assert.deepEqual(failures, [], "no client request failed during the rollout");
    const last = settled();
    const seen = [...new Set(last.map((s) => s.version))];
    assert.ok(last.length > 5, `${last.length} answers in the steady state`);
    assert.deepEqual(seen, [GOOD.version], "only the new version answers");
    const oldAfter = load.samples.filter((s) => s.t > t0 + total && s.version !== GOOD.version).length;
    note(
      `after the final up: ${oldAfter} answers from the previous version (the old container drains ${UPSTREAM_DRAIN_SECONDS} s, nginx's resolver keeps an address ${RESOLVER_VALID_SECONDS} s)`,
    );
    const names = lab.declared();
    assert.ok(!names.some((n) => n.includes("-canary-")), `no canary container left: ${names.join(", ")}`);
    note(
      `promote: ${load.samples.length} client requests, 0 failed; ${run.steps
        .map(
          (s) =>
            `${s.weight} % (up ${s.upSeconds.toFixed(1)} s, ${s.canary.requests}/${s.canary.requests + s.stable.requests} to canary)`,
        )
        .join(", ")}, final up ${run.finalSeconds!.toFixed(1)} s; rollout total ${secs(total)}`,
    );
    for (const l of rolloutLines(run)) note(l);
  });

  it("the steps and verdicts appear in the release report", () => {
    assert.equal(runs.length, 2);
    const md = renderRolloutMarkdown(runs);
    assert.match(md, /Progressive delivery/);
    assert.match(md, /aborted/);
    assert.match(md, /\| 20 % \| ❌ fail \|/);
    assert.match(md, /promoted/);
    assert.match(md, /\| 100 % \| ✅ pass \|/);
    assert.match(md, /killswitch/i);
    console.log(md);
  });
});
