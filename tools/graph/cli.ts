/**
 * `npm run graph [-- --update] [-- --stack <name>]`
 * Records each stack's resource graph (tools/graph/graph.ts) and compares it with the committed
 * snapshot in test/gates/resource-graphs/; exits 1 listing every difference. `--update` rewrites
 * the snapshots instead: run it when a change is meant to alter the deployment, and commit the
 * snapshot with the change (the diff shows reviewers which resources and inputs changed).
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { GRAPH_STACKS, diffGraphs, readSnapshot, recordGraph, snapshotFile, writeSnapshot } from "./graph";

async function main(): Promise<number> {
  const { values: v } = parseArgs({
    options: { update: { type: "boolean", default: false }, stack: { type: "string", multiple: true } },
  });
  const stacks = v.stack?.length ? v.stack : [...GRAPH_STACKS];
  const projectDir = path.resolve(__dirname, "../..");
  let failed = false;
  for (const stack of stacks) {
    const graph = await recordGraph(stack, projectDir);
    const file = path.relative(process.cwd(), snapshotFile(stack));
    if (v.update) {
      if (graph.errors.length > 0) {
        console.error(
          `graph: ${stack}: program errors, snapshot not written:\n  ${graph.errors.join("\n  ")}`,
        );
        failed = true;
        continue;
      }
      writeSnapshot(graph);
      console.log(`graph: ${stack}: ${graph.resources.length} resources written to ${file}`);
      continue;
    }
    const before = readSnapshot(stack);
    if (!before) {
      console.error(`graph: ${stack}: no snapshot ${file} (npm run graph -- --update)`);
      failed = true;
      continue;
    }
    const diff = diffGraphs(before, graph);
    if (diff.length === 0) console.log(`graph: ${stack}: ${graph.resources.length} resources, identical`);
    else {
      failed = true;
      console.error(`graph: ${stack}: ${diff.length} difference(s) from ${file}:\n  ${diff.join("\n  ")}`);
    }
  }
  if (failed && !v.update)
    console.error(
      "graph: if the change is intended, run `npm run graph -- --update` and commit the snapshots",
    );
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`graph: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(2);
  },
);
