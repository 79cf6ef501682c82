/**
 * tsx tools/report/cli.ts --stack <s> [--html FILE] [--md FILE] [--stack-outputs DIR] [--pack-config FILE]
 * Runs the offline check once and writes the release report as HTML and/or Markdown (the PR
 * comment). `npm run check -- --stack <s> --report FILE.html` writes the same HTML page.
 * Exit 0 when the release may proceed, 1 when it is refused, 2 on a usage or program error.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { runCheck } from "../checker/check";
import { collectResources } from ".";
import { loadDelivery } from "./delivery";
import { renderHtml } from "./html";
import { renderMarkdown } from "./markdown";
import { buildReport } from "./model";

async function main(): Promise<number> {
  const { values: v } = parseArgs({
    options: {
      stack: { type: "string" },
      html: { type: "string" },
      md: { type: "string" },
      "stack-outputs": { type: "string" },
      "pack-config": { type: "string" },
    },
  });
  if (!v.stack || (!v.html && !v.md)) {
    console.error(
      "usage: tsx tools/report/cli.ts --stack <stack> [--html FILE] [--md FILE] [--stack-outputs DIR]",
    );
    return 2;
  }
  const result = await runCheck({
    stack: v.stack,
    stackOutputsDir: v["stack-outputs"],
    packConfigPath: v["pack-config"],
  });
  const built = buildReport(result, await collectResources(v.stack), new Date());
  const evidenceDir = result.gate?.manifest.evidenceDir ?? "evidence";
  const report = built.release
    ? { ...built, delivery: loadDelivery(path.resolve(evidenceDir), v.stack, built.release.commit) }
    : built;
  if (v.html) fs.writeFileSync(v.html, renderHtml(report));
  if (v.md) fs.writeFileSync(v.md, renderMarkdown(report));
  console.log(
    `${report.passed ? "release may proceed" : "release refused"}: ${report.counts.mandatory} mandatory, ${report.counts.advisory} advisory` +
      `${v.html ? `; ${v.html}` : ""}${v.md ? `; ${v.md}` : ""}`,
  );
  return report.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`report: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(2);
  },
);
