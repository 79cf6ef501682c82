/**
 * Checker time per stack, split into the program run and the policy evaluation (the checker's
 * own timings; the policy share includes starting the pack server), beside the program alone
 * (the same recorder, no policy pack) measured in the same warm process right after.
 */
import * as path from "node:path";
import { runCheck } from "../tools/checker/check";
import { collectResources } from "../tools/report";
import { Row, notMeasured, ratio, secs } from "./table";

const ROOT = path.resolve(__dirname, "..");

export async function measureChecker(log: (l: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  for (const stack of ["local", "staging", "production"]) {
    const figure = `checker: ${stack} (npm run check)`;
    const what = "program alone, no policy pack";
    try {
      await collectResources(stack, ROOT); // warm-up: module loading is not what we compare
      const t0 = performance.now();
      const r = await runCheck({ stack, projectDir: ROOT });
      const wall = performance.now() - t0;
      const p0 = performance.now();
      const resources = await collectResources(stack, ROOT);
      const programOnly = performance.now() - p0;
      log(
        `checker ${stack}: ${r.resourceCount} resources, ${r.findings.length} findings, passed=${r.passed}`,
      );
      rows.push({
        figure,
        ours: `${secs(wall)} (program ${secs(r.timingsMs.program)} + policies ${secs(r.timingsMs.policies)}; ${r.resourceCount} res.)`,
        baselineWhat: what,
        baseline: `${secs(programOnly)} (${resources.length} res.)`,
        ratio: ratio(wall, programOnly),
      });
    } catch (e) {
      rows.push(notMeasured(figure, what, (e as Error).message));
    }
  }
  return rows;
}
