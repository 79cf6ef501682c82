/**
 * The canary rollout loop (seed 004 "Gradual Rollout Plan" + "When to Rollback"): for each weight,
 * apply it (a `pulumi up`), hold for `stepSeconds`, read the proxy's access log for the window and
 * judge it with the pure functions in ./rollout.ts. A failed window sets the canary's weight to 0,
 * calls the alert webhook and returns an `aborted` record; after the last step the canary becomes
 * the only version. Every effect (up, log, alert, clock, sleep) is injected: ./flow.ts passes the
 * Automation API and SSH, the real-engine test and the bench pass the services harness.
 */
import type { RolloutConfig } from "../../stacks/config";
import {
  AnalysisVerdict,
  RolloutRecord,
  StepRecord,
  WindowStats,
  abortAlert,
  judgeCanary,
  parseAccessLog,
  stepAction,
  windowStats,
} from "./rollout";

export interface RolloutEffects {
  /** Applies a canary weight (0..100), or `final`: the canary becomes the only version. */
  applyWeight(weight: number | "final"): Promise<void>;
  /** The proxy's log text covering [since, until). */
  readLog(since: Date, until: Date): Promise<string>;
  /** Sends the alert (webhook); a failure is logged by the caller, never undoes the rollback. */
  alert(payload: ReturnType<typeof abortAlert>): Promise<void>;
  now(): Date;
  sleep(ms: number): Promise<void>;
  log(line: string): void;
}

export interface RolloutInput {
  readonly stack: string;
  readonly commit: string;
  readonly previousCommit: string | null;
  /** Apps with a canary (./rollout.ts canaryApps). */
  readonly apps: readonly string[];
  readonly rollout: RolloutConfig;
}

/** The rollout record plus the time the abort (weight 0) took, for the report and the bench. */
export interface RolloutRun extends RolloutRecord {
  /** Seconds from the failed verdict until weight 0 was applied (absent when promoted). */
  readonly abortSeconds?: number;
  /** Seconds of the final `up` that made the canary the only version (absent when aborted). */
  readonly finalSeconds?: number;
}

const RANK = { pass: 0, inconclusive: 1, fail: 2 } as const;

/** Judges every canary app of one window; the worst verdict counts, reasons name the app. */
function judgeApps(
  text: string,
  apps: readonly string[],
  fromMs: number,
  toMs: number,
  rollout: RolloutConfig,
): { verdict: AnalysisVerdict; canary: WindowStats; stable: WindowStats } {
  const recs = parseAccessLog(text);
  let verdict: AnalysisVerdict = { result: "pass", reasons: [] };
  const sum = (variant: "canary" | "stable"): WindowStats => {
    const all = apps.map((app) => windowStats(recs, { app, variant, fromMs, toMs }));
    // One line per step in the record: exact for one app (the usual case); for several, summed
    // counts and the worst app's p95 (each app is judged on its own above).
    if (all.length === 1) return all[0]!;
    const requests = all.reduce((n, s) => n + s.requests, 0);
    const errors = all.reduce((n, s) => n + s.errors, 0);
    return {
      requests,
      errors,
      errorRatePercent: requests ? (100 * errors) / requests : 0,
      p95Ms: Math.max(0, ...all.map((s) => s.p95Ms)),
    };
  };
  for (const app of apps) {
    const v = judgeCanary(windowStats(recs, { app, variant: "canary", fromMs, toMs }), rollout.analysis);
    const reasons = [...verdict.reasons, ...v.reasons.map((r) => (apps.length > 1 ? `${app}: ${r}` : r))];
    verdict = { result: RANK[v.result] > RANK[verdict.result] ? v.result : verdict.result, reasons };
  }
  if (verdict.result === "pass") verdict = { result: "pass", reasons: [] };
  return { verdict, canary: sum("canary"), stable: sum("stable") };
}

/** Runs the rollout; resolves with what happened (never throws on a failed analysis). */
export async function runRollout(input: RolloutInput, fx: RolloutEffects): Promise<RolloutRun> {
  const { rollout } = input;
  const iso = (d: Date) => d.toISOString();
  const startedAt = fx.now();
  const steps: StepRecord[] = [];
  const run = (
    end: Pick<RolloutRun, "outcome" | "reason" | "abortSeconds" | "finalSeconds">,
  ): RolloutRun => ({
    stack: input.stack,
    commit: input.commit,
    previousCommit: input.previousCommit,
    apps: [...input.apps],
    startedAt: iso(startedAt),
    finishedAt: iso(fx.now()),
    steps,
    ...end,
  });
  for (const weight of rollout.steps) {
    const stepStart = fx.now();
    fx.log(`canary ${input.apps.join(", ")} → ${weight} %`);
    await fx.applyWeight(weight);
    const windowStart = fx.now();
    const upSeconds = (windowStart.getTime() - stepStart.getTime()) / 1000;
    let inconclusive = 0;
    for (;;) {
      await fx.sleep(rollout.stepSeconds * 1000);
      const windowEnd = fx.now();
      const text = await fx.readLog(windowStart, windowEnd);
      const j = judgeApps(text, input.apps, windowStart.getTime(), windowEnd.getTime(), rollout);
      const action = stepAction(j.verdict, inconclusive, rollout.analysis);
      fx.log(
        `  window ${((windowEnd.getTime() - windowStart.getTime()) / 1000).toFixed(1)} s at ${weight} %: ` +
          `canary ${j.canary.requests} req, ${j.canary.errorRatePercent.toFixed(2)} % errors, p95 ${Math.round(j.canary.p95Ms)} ms → ${j.verdict.result}` +
          `${j.verdict.reasons.length ? ` (${j.verdict.reasons.join("; ")})` : ""}`,
      );
      if (action === "extend") {
        inconclusive++;
        continue;
      }
      steps.push({
        weight,
        startedAt: iso(stepStart),
        finishedAt: iso(windowEnd),
        upSeconds,
        canary: j.canary,
        stable: j.stable,
        verdict: j.verdict.result,
        reasons: j.verdict.reasons,
      });
      if (action === "abort") {
        const reason = `analysis at ${weight} %: ${j.verdict.reasons.join("; ")}`;
        const t = fx.now();
        await fx.applyWeight(0);
        const abortSeconds = (fx.now().getTime() - t.getTime()) / 1000;
        fx.log(
          `canary aborted at ${weight} %: ${j.verdict.reasons.join("; ")}; weight 0 in ${abortSeconds.toFixed(1)} s`,
        );
        try {
          await fx.alert(
            abortAlert({ stack: input.stack, commit: input.commit, weight, reasons: j.verdict.reasons }),
          );
        } catch (e) {
          fx.log(`alert webhook failed: ${(e as Error).message} (the rollback is done)`);
        }
        return run({ outcome: "aborted", reason, abortSeconds });
      }
      break;
    }
  }
  const t = fx.now();
  await fx.applyWeight("final");
  const finalSeconds = (fx.now().getTime() - t.getTime()) / 1000;
  fx.log(`canary ${input.apps.join(", ")} is the only version (final up ${finalSeconds.toFixed(1)} s)`);
  return run({ outcome: "promoted", finalSeconds });
}
