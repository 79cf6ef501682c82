/**
 * Release report entry point: `npm run check -- --stack <s> --report release.html` lands here
 * (tools/checker/cli.ts dispatches `.html`). The checker's result has no resource list, so the
 * resources for the component picture come from a second run of the same program under the
 * checker's own recorder (the graph does not depend on StackReference values).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { CheckResult } from "../checker/check";
import { runProgram } from "../checker/record";
import { loadStackConfig } from "../checker/stack-config";
import { renderHtml } from "./html";
import { ReportResource, SWARM_SECRET_TYPE, buildReport } from "./model";

/** The SDK's preview sentinel for an unknown value. */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Records the program's resources for `stack` (preview semantics). */
export async function collectResources(stack: string, dir = process.cwd()): Promise<ReportResource[]> {
  const projectDir = path.resolve(dir);
  const config = loadStackConfig(projectDir, stack);
  const run = await runProgram({
    programPath: path.join(projectDir, "index.ts"),
    projectDir,
    stack,
    config,
    preview: true,
    stackOutputs: () => undefined,
  });
  return run.resources.map((r) => ({
    urn: r.urn,
    type: r.type,
    name: r.name,
    parent: r.parent,
    dependencies: r.dependencies,
    // Only a Swarm secret's name: its `data` never leaves the recorder.
    ...(r.type === SWARM_SECRET_TYPE && typeof r.inputs.name === "string" && r.inputs.name !== UNKNOWN
      ? { secretName: r.inputs.name }
      : {}),
  }));
}

/** Renders the HTML report for a check result. */
export async function renderHtmlReport(
  result: CheckResult,
  opts: { projectDir?: string; now?: Date; resources?: ReportResource[] } = {},
): Promise<string> {
  const withResources = result as CheckResult & { resources?: ReportResource[] };
  const resources =
    opts.resources ?? withResources.resources ?? (await collectResources(result.stack, opts.projectDir));
  return renderHtml(buildReport(result, resources, opts.now ?? new Date()));
}

/** Writes `file` (.html) for a check result. */
export async function writeHtmlReport(
  file: string,
  result: CheckResult,
  opts: { projectDir?: string } = {},
): Promise<void> {
  fs.writeFileSync(file, await renderHtmlReport(result, opts));
}
