/**
 * Timeline and summary of the end-to-end run: each phase's seconds and outcome, plus notes,
 * printed for a person and written as JSON under artifacts/. Pure apart from `write`.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export interface Phase {
  readonly name: string;
  readonly seconds: number;
  readonly outcome: "passed" | "failed" | "not run";
  readonly error?: string;
}

export class Timeline {
  readonly phases: Phase[] = [];
  readonly notes: string[] = [];
  private readonly t0: number;

  constructor(private readonly now: () => number = Date.now) {
    this.t0 = now();
  }

  note(line: string): void {
    this.notes.push(line);
    console.log(`# ${line}`);
  }

  /**
   * Runs `fn` as phase `name`, timing it; a failure is recorded and rethrown. After a failed
   * phase the next ones are recorded "not run" and throw at once (they build on it), except
   * `always` phases (teardown).
   */
  async phase<T>(name: string, fn: () => Promise<T> | T, opts: { always?: boolean } = {}): Promise<T> {
    const failed = this.phases.find((p) => p.outcome !== "passed");
    if (failed && !opts.always) {
      this.phases.push({ name, seconds: 0, outcome: "not run" });
      throw new Error(`not run: phase "${failed.name}" did not pass`);
    }
    const t = this.now();
    try {
      const v = await fn();
      this.phases.push({ name, seconds: (this.now() - t) / 1000, outcome: "passed" });
      return v;
    } catch (e) {
      this.phases.push({
        name,
        seconds: (this.now() - t) / 1000,
        outcome: "failed",
        error: (e as Error).message.split("\n")[0],
      });
      throw e;
    }
  }

  /** Marks phases that never ran (an earlier one failed). */
  notRun(names: readonly string[]): void {
    for (const n of names)
      if (!this.phases.some((p) => p.name === n))
        this.phases.push({ name: n, seconds: 0, outcome: "not run" });
  }

  /** Sorts the phases into `names` order (unknown names last). */
  order(names: readonly string[]): void {
    const at = (n: string) => (names.includes(n) ? names.indexOf(n) : names.length);
    this.phases.sort((a, b) => at(a.name) - at(b.name));
  }

  totalSeconds(): number {
    return (this.now() - this.t0) / 1000;
  }

  /** The glanceable text: one line per phase, then the notes. */
  render(title: string): string {
    const width = Math.max(...this.phases.map((p) => p.name.length), 8);
    const mark = { passed: "ok  ", failed: "FAIL", "not run": "--  " } as const;
    const lines = this.phases.map(
      (p) =>
        `${mark[p.outcome]} ${p.name.padEnd(width)} ${p.seconds.toFixed(1).padStart(7)} s${p.error ? `  ${p.error}` : ""}`,
    );
    const failed = this.phases.filter((p) => p.outcome !== "passed").length;
    return [
      `==== ${title}: ${failed === 0 ? "PASSED" : `${failed} phase(s) not passed`} in ${this.totalSeconds().toFixed(1)} s ====`,
      ...lines,
      ...(this.notes.length ? ["", ...this.notes.map((n) => `- ${n}`)] : []),
    ].join("\n");
  }

  /** Writes `{ title, totalSeconds, phases, notes }` as JSON; returns the file. */
  write(dir: string, file: string, title: string): string {
    fs.mkdirSync(dir, { recursive: true });
    const out = path.join(dir, file);
    fs.writeFileSync(
      out,
      `${JSON.stringify({ title, totalSeconds: this.totalSeconds(), phases: this.phases, notes: this.notes }, null, 2)}\n`,
    );
    return out;
  }
}
