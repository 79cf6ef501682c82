/**
 * Progressive delivery decisions (seed 004), as pure functions over plain data: the proxy's
 * structured access log, the rollout and verification config, a clock value. The driver
 * (./flow.ts) only fetches the log over SSH, runs `pulumi up` per step and records what these
 * functions decide.
 *
 * Thresholds (stacks/config.ts):
 * - canary analysis — seed 004 "When to Rollback": the window fails when the canary's error rate
 *   is **above** `maxErrorRatePercent` (default 5) or its p95 **above** `maxP95Ms` (default
 *   5000); exactly at a threshold passes. Fewer than `minRequests` canary requests: inconclusive.
 * - verification marks — seed 004 "Post-Deployment Validation": the mark passes only when the
 *   error rate is **below** `maxErrorRatePercent` (default 1) and p95 **below** `maxP95Ms`
 *   (default 2000); exactly at a threshold fails.
 * An error is a 5xx answer (the proxy's own 502/504 included); 4xx are the client's.
 */
import type { AnalysisConfig, RolloutConfig, VerifyCheck } from "../../stacks/config";
import { durationMs, rolloutSchema } from "../../stacks/config";
import { sshArgs } from "../ssh";

/** Which version answered: the running release or the one being rolled out. */
export type Variant = "stable" | "canary";

/** One request as the proxy logged it (components/edge/nginx/render.ts `log_format launchgate`). */
export interface AccessRecord {
  /** Epoch milliseconds when the request finished. */
  readonly timeMs: number;
  /** App (route) that served it. */
  readonly app: string;
  readonly variant: Variant;
  readonly status: number;
  /** nginx `$request_time` in milliseconds. */
  readonly requestMs: number;
}

/**
 * Parses `docker logs` output of the proxy: one JSON object per line with `"lg":1`; every other
 * line (error log, other formats) is skipped.
 */
export function parseAccessLog(text: string): AccessRecord[] {
  const out: AccessRecord[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line.startsWith("{") || !line.includes('"lg"')) continue;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (v.lg !== 1) continue;
    const timeMs = Number(v.msec) * 1000;
    const status = Number(v.status);
    const requestMs = Number(v.request_time) * 1000;
    const variant = v.variant === "canary" ? "canary" : v.variant === "stable" ? "stable" : undefined;
    if (!variant || typeof v.app !== "string" || !v.app) continue;
    if (![timeMs, status, requestMs].every(Number.isFinite)) continue;
    out.push({ timeMs, app: v.app, variant, status, requestMs });
  }
  return out;
}

/** Request count, 5xx count, error rate (percent) and p95 (ms) of one variant in one window. */
export interface WindowStats {
  readonly requests: number;
  readonly errors: number;
  /** 0 when there were no requests. */
  readonly errorRatePercent: number;
  /** Nearest-rank 95th percentile; 0 when there were no requests. */
  readonly p95Ms: number;
}

/** Nearest-rank percentile (`p` in 0..100) of `values`; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export function isError(status: number): boolean {
  return status >= 500;
}

/** Stats of `variant` of `app` over records with `from <= timeMs < to`. */
export function windowStats(
  records: readonly AccessRecord[],
  /** `app` absent: every app (a verification mark judges the whole site). */
  sel: { app?: string; variant?: Variant; fromMs: number; toMs: number },
): WindowStats {
  const hits = records.filter(
    (r) =>
      (sel.app === undefined || r.app === sel.app) &&
      (sel.variant === undefined || r.variant === sel.variant) &&
      r.timeMs >= sel.fromMs &&
      r.timeMs < sel.toMs,
  );
  const errors = hits.filter((r) => isError(r.status)).length;
  return {
    requests: hits.length,
    errors,
    errorRatePercent: hits.length ? (100 * errors) / hits.length : 0,
    p95Ms: percentile(
      hits.map((r) => r.requestMs),
      95,
    ),
  };
}

export type AnalysisResult = "pass" | "fail" | "inconclusive";

export interface AnalysisVerdict {
  readonly result: AnalysisResult;
  /** Why, one line per threshold crossed (empty on pass). */
  readonly reasons: string[];
}

const pct = (n: number) => `${Number(n.toFixed(2))} %`;

/** Judges one canary window against the rollout's analysis thresholds (rules in the header). */
export function judgeCanary(canary: WindowStats, a: AnalysisConfig): AnalysisVerdict {
  if (canary.requests < a.minRequests)
    return {
      result: "inconclusive",
      reasons: [`${canary.requests} canary requests, fewer than minRequests ${a.minRequests}`],
    };
  const reasons: string[] = [];
  if (canary.errorRatePercent > a.maxErrorRatePercent)
    reasons.push(
      `error rate ${pct(canary.errorRatePercent)} (${canary.errors}/${canary.requests}) > ${a.maxErrorRatePercent} %`,
    );
  if (canary.p95Ms > a.maxP95Ms) reasons.push(`p95 ${Math.round(canary.p95Ms)} ms > ${a.maxP95Ms} ms`);
  return { result: reasons.length ? "fail" : "pass", reasons };
}

/** What the driver does after a window: hold longer (inconclusive, retries left), go on, or abort. */
export type StepAction = "next" | "extend" | "abort";

export function stepAction(v: AnalysisVerdict, inconclusiveSoFar: number, a: AnalysisConfig): StepAction {
  if (v.result === "pass") return "next";
  if (v.result === "inconclusive" && inconclusiveSoFar < a.maxInconclusiveWindows) return "extend";
  return "abort";
}

/**
 * The config edits of one rollout step (keys as `pulumi config set --path` takes them):
 * a weight below 100 sets `release.canaryWeight`; the last step (100) first sends everything to
 * the canary, then `final` removes the key so the canary becomes the only version.
 */
export function stepConfig(weight: number): { set: Record<string, string>; remove: string[] } {
  return { set: { "launchgate:release.canaryWeight": String(weight) }, remove: [] };
}
export const FINAL_CONFIG = { set: {}, remove: ["launchgate:release.canaryWeight"] };

/** One step as recorded in the rollout evidence and report. */
export interface StepRecord {
  readonly weight: number;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** Seconds the `pulumi up` of the step took. */
  readonly upSeconds: number;
  readonly canary: WindowStats;
  readonly stable: WindowStats;
  readonly verdict: AnalysisResult;
  readonly reasons: string[];
}

/** `evidence/<stack>/rollout/<commit>.json`: what the rollout did, step by step. */
export interface RolloutRecord {
  readonly stack: string;
  readonly commit: string;
  readonly previousCommit: string | null;
  readonly apps: string[];
  readonly startedAt: string;
  readonly finishedAt: string;
  /** `promoted`: the canary is the only version; `aborted`: canary weight 0, stable serves all. */
  readonly outcome: "promoted" | "aborted";
  readonly steps: StepRecord[];
  /** The abort reason (absent when promoted). */
  readonly reason?: string;
}

/** The apps that get a canary: routed apps whose image differs from the recorded previous release. */
export function canaryApps(
  apps: readonly { name: string; image: string; route?: string }[],
  previousImages: Readonly<Record<string, string>> | undefined,
): string[] {
  if (!previousImages) return [];
  return apps
    .filter((a) => a.route !== undefined)
    .filter(
      (a) => previousImages[`app:${a.name}`] !== undefined && previousImages[`app:${a.name}`] !== a.image,
    )
    .map((a) => a.name);
}

/** The alert sent to the webhook when a canary is aborted (Slack-compatible `text`). */
export function abortAlert(r: { stack: string; commit: string; weight: number; reasons: string[] }): {
  text: string;
  stack: string;
  commit: string;
  event: "canary-aborted";
} {
  return {
    event: "canary-aborted",
    stack: r.stack,
    commit: r.commit,
    text: `launchgate: canary ${r.commit.slice(0, 12)} on ${r.stack} aborted at ${r.weight} %: ${r.reasons.join("; ")}; canary weight set to 0, stable serves all traffic`,
  };
}

// ---------------------------------------------------------------------------------------------
// Post-deploy verification marks

/** `evidence/<stack>/verify/<commit>-<after>.json`. */
export interface VerifyRecord {
  readonly stack: string;
  readonly commit: string;
  readonly after: string;
  readonly passed: boolean;
  readonly reasons: string[];
  /** The window judged: from the previous mark (or the deploy) to this mark. */
  readonly fromIso: string;
  readonly toIso: string;
  readonly stats: WindowStats;
  readonly checkedAt: string;
}

/** Judges one verification mark (rules in the header: strictly below both thresholds). */
export function judgeVerification(
  stats: WindowStats,
  check: VerifyCheck,
): { passed: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (stats.requests === 0) reasons.push("no requests in the window");
  if (stats.errorRatePercent >= check.maxErrorRatePercent)
    reasons.push(`error rate ${pct(stats.errorRatePercent)} is not below ${check.maxErrorRatePercent} %`);
  if (stats.p95Ms >= check.maxP95Ms)
    reasons.push(`p95 ${Math.round(stats.p95Ms)} ms is not below ${check.maxP95Ms} ms`);
  return { passed: reasons.length === 0, reasons };
}

/**
 * Marks that are due and not yet recorded, with their windows: mark k covers
 * [deployedAt + after(k-1), deployedAt + after(k)) (the first from the deploy).
 */
export function dueVerifications(
  deployedAt: Date,
  checks: readonly VerifyCheck[],
  recorded: readonly string[],
  now: Date,
): { check: VerifyCheck; fromMs: number; toMs: number }[] {
  const t0 = deployedAt.getTime();
  const out: { check: VerifyCheck; fromMs: number; toMs: number }[] = [];
  let prev = t0;
  for (const c of checks) {
    const to = t0 + durationMs(c.after);
    if (to <= now.getTime() && !recorded.includes(c.after)) out.push({ check: c, fromMs: prev, toMs: to });
    prev = to;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading the proxy's log over SSH (no new server: the deploy user's docker)

/**
 * The `ssh` argv that prints the proxy's access log between two instants
 * (`docker logs --since/--until`, RFC 3339), as the deploy user with the stack's identity file.
 * Host keys are checked against `knownHostsFile`: `"known"` (a file holding the pinned key) or
 * `"accept-new"` (the stack's own file, first use recorded, so a rebuilt host on a reused
 * address fails loudly for that stack, never for the operator's other ssh use).
 */
export function proxyLogCommand(o: {
  host: string;
  port: number;
  user: string;
  identityFile: string;
  knownHostsFile: string;
  hostKeys: "known" | "accept-new";
  container: string;
  since: Date;
  until: Date;
}): string[] {
  return [
    "ssh",
    ...sshArgs(
      {
        target: `${o.user}@${o.host}`,
        port: o.port,
        identity: o.identityFile,
        hostKeys: o.hostKeys,
        knownHostsFile: o.knownHostsFile,
      },
      ["docker", "logs", "--since", o.since.toISOString(), "--until", o.until.toISOString(), o.container],
    ),
  ];
}

/** Plain-text summary lines of a rollout, for the driver's log and the Markdown report. */
export function rolloutLines(r: RolloutRecord): string[] {
  const s = (w: WindowStats) =>
    `${w.requests} req, ${pct(w.errorRatePercent)} errors, p95 ${Math.round(w.p95Ms)} ms`;
  return [
    `rollout of ${r.commit.slice(0, 12)} on ${r.stack} (${r.apps.join(", ")}): ${r.outcome}${r.reason ? ` — ${r.reason}` : ""}`,
    ...r.steps.map(
      (st) =>
        `  ${String(st.weight).padStart(3)} %  ${st.verdict.padEnd(12)} canary ${s(st.canary)} | stable ${s(st.stable)}` +
        ` | up ${st.upSeconds.toFixed(1)} s${st.reasons.length ? ` | ${st.reasons.join("; ")}` : ""}`,
    ),
  ];
}

/**
 * Whether a release goes out as a canary: the target has `release.rollout`, a previous release is
 * recorded, and some routed app's image changes. The raw config value is validated with the
 * schema (defaults from seed 004). Returns null for an all-at-once deployment.
 */
export function planCanary(input: {
  rawRollout: unknown;
  apps: readonly { name: string; image: string; route?: string }[];
  images: Readonly<Record<string, string>>;
  previous: { commit: string; images: Readonly<Record<string, string>> } | null;
}): { ok: true; value: { rollout: RolloutConfig; apps: string[] } | null } | { ok: false; reason: string } {
  if (input.rawRollout === undefined || !input.previous) return { ok: true, value: null };
  const parsed = rolloutSchema.safeParse(input.rawRollout);
  if (!parsed.success)
    return {
      ok: false,
      reason: `launchgate:release.rollout is invalid: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    };
  const next = input.apps.map((a) => ({ ...a, image: input.images[`app:${a.name}`] ?? a.image }));
  const apps = canaryApps(next, input.previous.images);
  return { ok: true, value: apps.length ? { rollout: parsed.data, apps } : null };
}

export type { RolloutConfig };
