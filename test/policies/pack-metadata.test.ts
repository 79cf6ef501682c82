/**
 * The pack's metadata stays true: the README's policy table is generated from the pack (drift
 * fails), every policy has a rationale, and every input of the docker provider's Container schema
 * is governed by a policy or classified as not security-relevant (a provider upgrade that adds an
 * input fails here until it is classified).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as ts from "typescript";
import { policies, RATIONALE } from "../../policies/pack";
import { CONTAINER_INPUTS } from "../../policies/lib/coverage";
import { README, withTable } from "../../tools/policies-readme";

/** Property names of an exported interface in a .d.ts file. */
function interfaceProperties(file: string, name: string): string[] {
  const src = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const found = src.statements.find(
    (s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === name,
  );
  assert.ok(found, `${name} in ${file}`);
  return found.members.filter(ts.isPropertySignature).map((m) => (m.name as ts.Identifier).text);
}

describe("pack metadata", () => {
  it("policies/README.md's table is generated from the pack (run `npm run policies:readme`)", async () => {
    const current = fs.readFileSync(README, "utf8");
    assert.equal(await withTable(current), current);
  });

  it("every policy carries its rationale (protects against, benchmark, fix)", () => {
    for (const p of policies) {
      const r = RATIONALE.get(p.name);
      assert.ok(r && r.protectsAgainst && r.benchmark && r.fix, p.name);
    }
  });

  it("every input of @pulumi/docker's Container is governed by a policy or classified", () => {
    const dts = path.join(
      path.dirname(
        require.resolve("@pulumi/docker/package.json", { paths: [path.join(__dirname, "../../policies")] }),
      ),
      "container.d.ts",
    );
    const inputs = interfaceProperties(dts, "ContainerArgs");
    assert.ok(inputs.length > 50, `${inputs.length} inputs read`);
    const unclassified = inputs.filter((k) => !(k in CONTAINER_INPUTS));
    assert.deepEqual(unclassified, [], "Container inputs with no policy and no classification");
    const names = new Set(policies.map((p) => p.name));
    for (const [k, v] of Object.entries(CONTAINER_INPUTS))
      if ("policy" in v) assert.ok(names.has(v.policy), `${k} → ${v.policy} is not a policy of the pack`);
  });

  it("the security-relevant inputs each have a policy (not just a classification)", () => {
    for (const k of [
      "privileged",
      "capabilities",
      "securityOpts",
      "networkMode",
      "pidMode",
      "ipcMode",
      "usernsMode",
      "devices",
      "volumes",
      "mounts",
      "readOnly",
      "memory",
      "cpus",
      "restart",
      "healthcheck",
      "ports",
      "image",
      "user",
    ])
      assert.ok("policy" in CONTAINER_INPUTS[k]!, k);
  });
});
