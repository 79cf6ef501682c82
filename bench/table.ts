/**
 * The one table `npm run bench` prints: each figure beside its baseline from the same run, or
 * "not measured: <reason>" — never an invented number.
 */
export interface Row {
  /** What is measured, e.g. `checker: production`. */
  readonly figure: string;
  /** Our figure (formatted), or "not measured: …". */
  readonly ours: string;
  /** What the baseline is, e.g. `program alone (no policies)`. */
  readonly baselineWhat: string;
  /** The baseline figure (formatted), or "not measured: …". */
  readonly baseline: string;
  /** ours / baseline, when both are plain durations. */
  readonly ratio?: string;
}

export const secs = (ms: number): string =>
  ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;

export function ratio(ours: number, baseline: number): string {
  return baseline > 0 ? `${(ours / baseline).toFixed(2)}x` : "";
}

/** A row for a section that could not run. */
export function notMeasured(figure: string, baselineWhat: string, reason: string): Row {
  const r = `not measured: ${reason.split("\n")[0]!.slice(0, 140)}`;
  return { figure, ours: r, baselineWhat, baseline: r };
}

/** Renders rows as one plain-text table (fixed-width columns). */
export function renderTable(rows: readonly Row[]): string {
  const head = ["figure", "launchgate", "baseline (same run)", "baseline", "ratio"];
  const cells = rows.map((r) => [r.figure, r.ours, r.baselineWhat, r.baseline, r.ratio ?? ""]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(" | ")} |`;
  const sep = `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`;
  return [line(head), sep, ...cells.map(line)].join("\n");
}

/** Median of the values (the middle one of an odd count). */
export function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** How many times the cheap figures are repeated (median reported). */
export const REPEAT = 3;
