/**
 * Progressive delivery (seed 004) on the services harness (test/rollout/lab.ts): a 4-step canary
 * rollout (10/25/50/100 %, 5 s windows) of a healthy release and the abort of a release failing
 * half its requests, with client traffic through the proxy; beside the same releases deployed all
 * at once (the program without `release.canaryWeight`: create-before-delete of the app).
 * Docker objects: harness run `lg-svc-bench-<hex>-*`, removed at the end, also on failure.
 */
import * as crypto from "node:crypto";
import { rolloutSchema } from "../stacks/config";
import { runRollout } from "../tools/promote/canary";
import { CANARY_COMMIT, RolloutLab, STABLE_COMMIT, type CanaryImage, type Load } from "../test/rollout/lab";
import { Row, ratio, secs } from "./table";

const ROLLOUT = {
  steps: [10, 25, 50, 100],
  stepSeconds: 5,
  analysis: { minRequests: 5, maxInconclusiveWindows: 1 },
};

const failedOf = (l: Load) => l.samples.filter((s) => s.status === 0 || s.status >= 500).length;
const errors = (l: Load) => `${failedOf(l)}/${l.samples.length} failed`;

export async function measureRollout(log: (l: string) => void): Promise<Row[]> {
  const api = "ghcr.io/blazetv/api";
  const good: CanaryImage = { ref: `${api}:1.5.0`, version: "1.5.0" };
  const bad: CanaryImage = {
    ref: `${api}:1.5.0-broken`,
    version: "1.5.0-broken",
    env: { FAIL_PERCENT: "50" },
  };
  const lab = await RolloutLab.start({
    rollout: ROLLOUT,
    canaries: [good, bad],
    runId: `lg-svc-bench-${crypto.randomBytes(3).toString("hex")}`,
    log: () => undefined,
  });
  const rollout = rolloutSchema.parse(ROLLOUT);
  const input = {
    stack: "local",
    commit: CANARY_COMMIT,
    previousCommit: STABLE_COMMIT,
    apps: [lab.api.name],
    rollout,
  };
  try {
    const base = lab.base;
    const timed = async (fn: () => Promise<void>) => {
      const load = lab.load();
      const t0 = Date.now();
      await fn();
      const ms = Date.now() - t0;
      await new Promise((r) => setTimeout(r, 1_000));
      await load.stop();
      return { ms, load };
    };

    // Baseline 1: the broken release all at once, then back to stable the same way.
    await lab.prepare(bad, rollout.steps);
    const badAllAtOnce = await timed(async () => {
      await lab.converge(await lab.recording(bad, "final"));
      await new Promise((r) => setTimeout(r, ROLLOUT.stepSeconds * 1000));
    });
    const back = await timed(() => lab.converge(base));
    log(`broken release all at once: ${errors(badAllAtOnce.load)}; back in ${secs(back.ms)}`);

    // Ours: the broken release as a canary, aborted at its first step.
    let abortSeconds = 0;
    const abort = await timed(async () => {
      const run = await runRollout(input, lab.effects(bad, log, []));
      abortSeconds = run.abortSeconds ?? 0;
    });
    await lab.converge(base);

    // Baseline 2: the healthy release all at once.
    await lab.prepare(good, rollout.steps);
    const goodAllAtOnce = await timed(async () => lab.converge(await lab.recording(good, "final")));
    await lab.converge(base);

    // Ours: the healthy release through the 4 steps.
    let steps = "";
    const promote = await timed(async () => {
      const run = await runRollout(input, lab.effects(good, log, []));
      steps = run.steps.map((s) => `${s.weight}% ${s.upSeconds.toFixed(1)} s`).join(", ");
    });
    log(`rollout steps (up time): ${steps}`);
    return [
      {
        figure: "rollout: 4 steps, 5 s windows (total)",
        ours: secs(promote.ms),
        baselineWhat: "same release all at once",
        baseline: secs(goodAllAtOnce.ms),
        ratio: ratio(promote.ms, goodAllAtOnce.ms),
      },
      {
        figure: "rollout: client-visible errors (healthy)",
        ours: errors(promote.load),
        baselineWhat: "same release all at once",
        baseline: errors(goodAllAtOnce.load),
      },
      {
        figure: "abort: client-visible errors (50 % failing)",
        ours: `${errors(abort.load)} (weight 0 in ${abortSeconds.toFixed(1)} s)`,
        baselineWhat: `same release all at once for one window, then redeploy stable`,
        baseline: `${failedOf(badAllAtOnce.load) + failedOf(back.load)}/${badAllAtOnce.load.samples.length + back.load.samples.length} failed`,
      },
      {
        figure: "abort: back to stable",
        ours: secs(abortSeconds * 1000),
        baselineWhat: "redeploy the stable release",
        baseline: secs(back.ms),
        ratio: ratio(abortSeconds * 1000, back.ms),
      },
    ];
  } finally {
    await lab.cleanup();
  }
}
