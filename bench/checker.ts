/**
 * Checker time per stack, split into the program run and the policy evaluation (the checker's
 * own timings; the policy share includes starting the pack server), beside the program alone
 * (the same recorder, no policy pack) measured in the same warm process right after.
 */
import * as path from "node:path";
import { runCheck } from "../tools/checker/check";
import { collectResources } from "../tools/report";
import { REPEAT, Row, median, notMeasured, ratio, secs } from "./table";

const ROOT = path.resolve(__dirname, "..");

export async function measureChecker(log: (l: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  for (const stack of ["local", "staging", "production"]) {
    const figure = `checker: ${stack} (npm run check)`;
    const what = "program alone, no policy pack";
    try {
      await collectResources(stack, ROOT); // warm-up: module loading is not what we compare
      const walls: number[] = [];
      const programs: number[] = [];
      const policies: number[] = [];
      const alone: number[] = [];
      let count = 0;
      for (let i = 0; i < REPEAT; i++) {
        const t0 = performance.now();
        const r = await runCheck({ stack, projectDir: ROOT });
        walls.push(performance.now() - t0);
        programs.push(r.timingsMs.program);
        policies.push(r.timingsMs.policies);
        const p0 = performance.now();
        count = (await collectResources(stack, ROOT)).length;
        alone.push(performance.now() - p0);
        if (i === 0)
          log(
            `checker ${stack}: ${r.resourceCount} resources, ${r.findings.length} findings, passed=${r.passed}`,
          );
      }
      const wall = median(walls);
      rows.push({
        figure: `${figure}, median of ${REPEAT}`,
        ours: `${secs(wall)} (program ${secs(median(programs))} + policies ${secs(median(policies))}; ${count} res.)`,
        baselineWhat: what,
        baseline: `${secs(median(alone))}`,
        ratio: ratio(wall, median(alone)),
      });
    } catch (e) {
      rows.push(notMeasured(figure, what, (e as Error).message));
    }
  }
  return rows;
}
