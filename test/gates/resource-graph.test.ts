/**
 * The recorded resource graph of every stack matches the committed snapshot
 * (test/gates/resource-graphs/): a refactor proves it changed nothing; an intended change updates
 * the snapshot with `npm run graph -- --update` and shows up in review.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GRAPH_STACKS, StackGraph, diffGraphs, readSnapshot, recordGraph } from "../../tools/graph/graph";
import { ROOT } from "./support";

describe("resource graphs match the snapshots", () => {
  for (const stack of GRAPH_STACKS) {
    it(`${stack}: identical to test/gates/resource-graphs/${stack}.json`, async () => {
      const before = readSnapshot(stack);
      assert.ok(before, `no snapshot for ${stack}: run npm run graph -- --update`);
      const after = await recordGraph(stack, ROOT);
      assert.deepEqual(after.errors, [], "the program runs without errors");
      assert.ok(after.resources.length > 50, `the whole program ran (${after.resources.length} resources)`);
      const diff = diffGraphs(before, after);
      assert.deepEqual(
        diff,
        [],
        `${stack} graph changed (if intended: npm run graph -- --update):\n  ${diff.join("\n  ")}`,
      );
    });
  }
});

describe("diffGraphs", () => {
  const graph = (resources: Record<string, unknown>[]): StackGraph => ({ stack: "t", errors: [], resources });
  const a = { urn: "urn:a", type: "t:a", dependencies: ["urn:g"], inputs: { x: 1 } };

  it("names an added, a removed and a changed resource, field by field", () => {
    const before = graph([a, { urn: "urn:b" }]);
    const after = graph([{ ...a, dependencies: [], inputs: { x: 2 } }, { urn: "urn:c" }]);
    assert.deepEqual(diffGraphs(before, after), [
      "removed urn:b",
      "added urn:c",
      'urn:a.dependencies: ["urn:g"] → []',
      "urn:a.inputs.x: 1 → 2",
    ]);
  });

  it("is empty for identical graphs", () => {
    assert.deepEqual(diffGraphs(graph([a]), graph([structuredClone(a)])), []);
  });
});
