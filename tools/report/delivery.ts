/**
 * Progressive-delivery evidence for the release report: the rollout record and the verification
 * marks of one commit, read from `<evidenceDir>/<stack>/rollout/` and `verify/`
 * (policies/lib/evidence-files.ts). Unreadable files are skipped: the gate loader reports them.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ROLLOUT_DIR, VERIFY_DIR, rolloutFileName } from "../../contract/evidence-files";
import type { RolloutRecord, VerifyRecord } from "../promote/rollout";

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

export function loadDelivery(
  evidenceRoot: string,
  stack: string,
  commit: string,
): { rollouts: RolloutRecord[]; verifications: VerifyRecord[] } {
  const dir = path.join(evidenceRoot, stack.split("/").pop()!);
  const rollout = readJson<RolloutRecord>(path.join(dir, ROLLOUT_DIR, rolloutFileName(commit)));
  const verifyDir = path.join(dir, VERIFY_DIR);
  const verifications = fs.existsSync(verifyDir)
    ? fs
        .readdirSync(verifyDir)
        .filter((f) => f.startsWith(`${commit}-`) && f.endsWith(".json"))
        .sort()
        .map((f) => readJson<VerifyRecord>(path.join(verifyDir, f)))
        .filter((v): v is VerifyRecord => !!v && v.commit === commit)
    : [];
  return { rollouts: rollout && Array.isArray(rollout.steps) ? [rollout] : [], verifications };
}

/** A table: a header row and body rows, every cell plain text (each renderer escapes it). */
export interface TableView {
  readonly head: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** One rollout as the report shows it: a headline and its steps. */
export interface RolloutView {
  readonly outcome: RolloutRecord["outcome"];
  /** `promoted` / `aborted`, commit (12 hex), apps, start → finish, reason, abort time. */
  readonly headline: string;
  readonly steps: TableView;
}

/** A way back from a bad release, fastest first; `command` is what a person runs (absent: automatic). */
export interface WayBack {
  readonly title: string;
  readonly command?: string;
  readonly text: string;
}

/** The progressive-delivery section, renderer-neutral: markdown.ts and html.ts draw the same view. */
export interface DeliveryView {
  readonly rollouts: readonly RolloutView[];
  /** Absent when no verification mark was recorded. */
  readonly verifications?: TableView;
  readonly waysBack: readonly WayBack[];
}

const VERDICT_TEXT: Record<string, string> = { pass: "pass", fail: "fail", inconclusive: "inconclusive" };

/**
 * Builds the progressive-delivery view (seed 004): each rollout's steps with their analysis
 * verdicts, the post-deploy verification marks, and the ways back — the feature-flag killswitch
 * first (seed 004 option 1), then the automatic canary abort, then the deployment rollback.
 * Pure: records in, strings out (percentages to 2 decimals, p95 in whole ms, seconds to 0.1).
 */
export function deliveryView(
  rollouts: readonly (RolloutRecord & { abortSeconds?: number })[],
  verifications: readonly VerifyRecord[] = [],
  opts: { stack?: string; flags?: readonly { name: string; enabled: boolean }[] } = {},
): DeliveryView {
  const stack = opts.stack ?? rollouts[0]?.stack ?? "<stack>";
  const pct = (n: number) => `${n.toFixed(2)} %`;
  const views: RolloutView[] = rollouts.map((r) => ({
    outcome: r.outcome,
    headline:
      `${r.outcome} ${r.commit.slice(0, 12)} (${r.apps.join(", ")}) ${r.startedAt} → ${r.finishedAt}` +
      `${r.reason ? ` — ${r.reason}` : ""}` +
      `${r.abortSeconds !== undefined ? ` · canary weight 0 in ${r.abortSeconds.toFixed(1)} s` : ""}`,
    steps: {
      head: [
        "weight",
        "verdict",
        "canary requests",
        "canary errors",
        "canary p95",
        "stable requests",
        "stable errors",
        "up",
        "why",
      ],
      rows: r.steps.map((st) => [
        `${st.weight} %`,
        VERDICT_TEXT[st.verdict] ?? st.verdict,
        String(st.canary.requests),
        pct(st.canary.errorRatePercent),
        `${Math.round(st.canary.p95Ms)} ms`,
        String(st.stable.requests),
        pct(st.stable.errorRatePercent),
        `${st.upSeconds.toFixed(1)} s`,
        st.reasons.join("; ") || "—",
      ]),
    },
  }));
  const marks: TableView | undefined = verifications.length
    ? {
        head: ["verification mark", "result", "requests", "errors", "p95", "window"],
        rows: verifications.map((v) => [
          `${v.after} (${v.commit.slice(0, 12)})`,
          v.passed ? "pass" : `fail: ${v.reasons.join("; ")}`,
          String(v.stats.requests),
          pct(v.stats.errorRatePercent),
          `${Math.round(v.stats.p95Ms)} ms`,
          `${v.fromIso} → ${v.toIso}`,
        ]),
      }
    : undefined;
  const on = (opts.flags ?? []).filter((f) => f.enabled).map((f) => f.name);
  const waysBack: WayBack[] = [
    {
      title: "Feature-flag killswitch (seed 004 option 1)",
      command: `launchgate:flags.<FLAG>.enabled: false, then npm run promote -- --to ${stack} --yes`,
      text: `the apps restart with the flag off, nothing else changes${on.length ? ` (on now: ${on.join(", ")})` : ""}.`,
    },
    {
      title: "Canary abort (automatic)",
      text: "a failed analysis window sets the canary's weight to 0 by an nginx reload; the stable version was never stopped.",
    },
    {
      title: "Deployment rollback (seed 004 option 2)",
      command: `npm run rollback -- --stack ${stack} --yes`,
      text: "re-deploys the recorded previous release.",
    },
  ];
  return { rollouts: views, ...(marks ? { verifications: marks } : {}), waysBack };
}
