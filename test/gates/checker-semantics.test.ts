/**
 * The checker copies the engine's semantics: unknown values at preview become the advisory
 * "can't run … during preview" (not a violation), enforcement comes from the pack config,
 * program errors refuse, and the evidence loader/Release feed the gate what policies read.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { loadEvidence } from "../../components/release/evidence";
import { GATE_ENV_KEY } from "../../contract/manifest";
import { tempDir } from "../fixtures/evidence";
import { runProgram } from "../../tools/checker/record";
import { serializedInputs } from "../../tools/checker/serialized-inputs";
import { loadStackConfig } from "../../tools/checker/stack-config";
import { ProductionFixture, REAL_PROGRAM, ROOT, check, refusedBy, stopPack } from "./support";

after(stopPack);

describe("engine semantics", () => {
  it("the pack gets each registration's inputs as the SDK serialized them: the same values as recorded", async () => {
    const run = await runProgram({
      programPath: REAL_PROGRAM,
      projectDir: ROOT,
      stack: "production",
      config: loadStackConfig(ROOT, "production"),
    });
    const registered = run.resources.filter((r) => !r.read);
    assert.ok(registered.length > 50, `${registered.length} registrations`);
    for (const r of registered) {
      const struct = serializedInputs.get(r);
      assert.ok(struct, `${r.urn}: the SDK's Struct is kept`);
      assert.deepEqual(struct.toJavaScript(), r.inputs, r.urn);
    }
    // Reads (StackReference, get) carry no request Struct: converted from `inputs` as before.
    for (const r of run.resources.filter((x) => x.read)) assert.equal(serializedInputs.get(r), undefined);
  });

  it("a value unknown at preview makes type-scoped policies advisory 'can't run', not violations", async () => {
    // The API image becomes a computed value (as if it came from another resource's output).
    const transform: pulumi.ResourceTransformation = (a) =>
      a.name === "app-api" && a.type === "docker:index/container:Container"
        ? { props: { ...a.props, image: new random.RandomPet("api-image-tag", {}).id }, opts: a.opts }
        : undefined;
    const r = await check({ stack: "staging", programPath: REAL_PROGRAM, transform });
    const onApi = r.findings.filter((f) => f.resourceName === "app-api" && f.policyName === "images-pinned");
    assert.equal(onApi.length, 1);
    assert.equal(onApi[0]!.enforcementLevel, "advisory");
    assert.match(
      onApi[0]!.message,
      /^can't run policy 'images-pinned' from policy pack 'launchgate@v0\.1\.0' during preview: string value at \.image can't be known during preview/,
    );
  });

  it("takes enforcement from the pack config (a disabled policy reports nothing)", async () => {
    const fx = await new ProductionFixture().init();
    fx.write({ ...fx.validEvidence(), drill: null });
    assert.deepEqual(refusedBy(await fx.check()), ["backups-tested"]);
    const r = await fx.check({
      packConfigOverrides: { ...fx.packConfigOverrides(), "backups-tested": "disabled" },
    });
    assert.deepEqual(refusedBy(r), []);
    assert.equal(r.enforcement["backups-tested"], "disabled");
  });

  it("refuses when the program itself fails (invalid config), naming the key", async () => {
    const r = await check({
      stack: "staging",
      programPath: REAL_PROGRAM,
      configOverrides: { domain: "not a domain" },
    });
    assert.equal(r.passed, false);
    assert.ok(
      r.programErrors.some((e) => e.includes("launchgate:domain")),
      r.programErrors.join("\n"),
    );
  });

  it("rejects a pack config naming an unknown policy", async () => {
    await assert.rejects(
      check({
        stack: "local",
        programPath: REAL_PROGRAM,
        packConfigOverrides: { "no-such-policy": "mandatory" },
      }),
      /unknown policy "no-such-policy"/,
    );
  });
});

describe("evidence loader and gate", () => {
  it("reads attestations, picks the newest restore drill and reports unreadable files", () => {
    const root = tempDir();
    const dir = path.join(root, "production");
    fs.mkdirSync(path.join(dir, "restore-drill"), { recursive: true });
    fs.mkdirSync(path.join(dir, "attestations"), { recursive: true });
    fs.writeFileSync(
      path.join(dir, "restore-drill/a.json"),
      JSON.stringify({ ok: false, finishedAt: "2026-11-20T00:00:00Z" }),
    );
    fs.writeFileSync(
      path.join(dir, "restore-drill/b.json"),
      JSON.stringify({ ok: true, finishedAt: "2026-11-23T00:00:00Z" }),
    );
    fs.writeFileSync(path.join(dir, "restore-drill/c.json"), "{ not json");
    fs.writeFileSync(path.join(dir, "attestations/qa.attestation.json"), JSON.stringify({ format: "x" }));
    const e = loadEvidence(root, "production");
    assert.equal(e.restoreDrill?.ok, true);
    assert.equal(e.restoreDrill?.finishedAt, "2026-11-23T00:00:00Z");
    assert.equal(e.attestations.length, 1);
    assert.equal(e.errors.length, 1);
    assert.match(e.errors[0]!, /c\.json/);
  });

  it("the gate is registered first, carries the manifest in its environment and a hash trigger", async () => {
    const r = await check({ stack: "production", programPath: REAL_PROGRAM });
    assert.ok(r.gate);
    const m = r.gate.manifest;
    assert.equal(m.stack, "production");
    assert.equal(m.commit, "4f9c2b7e8a1d3c5b6e7f8091a2b3c4d5e6f70819");
    assert.deepEqual(Object.keys(m.images).sort(), [
      "app:admin",
      "app:api",
      "app:worker",
      "pgbouncer",
      "postgres",
      "proxy",
      "redis",
    ]);
    assert.equal(m.flags.REAL_MONEY_ENABLED?.requiresAttestation, "legal-counsel");
    assert.ok(
      !r.findings.some((f) => f.policyName === "checker/gate-first"),
      "gate registered first and awaited by all",
    );
    assert.ok(GATE_ENV_KEY.length > 0);
  });
});
