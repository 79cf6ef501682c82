/**
 * The whole program per stack through the offline checker: compliant stacks pass, production
 * without evidence is refused naming every missing gate, valid evidence passes, forged /
 * expired / mis-bound attestations are refused.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { REQUIRED_KINDS, attest, makeSigner, tempDir } from "../fixtures/evidence";
import { readStackFile } from "../../stacks/stack-file";
import {
  ProductionFixture,
  REAL_PROGRAM,
  ROOT,
  check,
  productionRelease,
  refusedBy,
  stopPack,
} from "./support";

after(stopPack);

describe("compliant stacks pass", () => {
  for (const stack of ["local", "staging"]) {
    it(`${stack}: no mandatory finding, no program error`, async () => {
      const r = await check({ stack, programPath: REAL_PROGRAM });
      assert.deepEqual(r.programErrors, []);
      assert.deepEqual(refusedBy(r), []);
      assert.equal(r.passed, true);
      assert.ok(r.gate, "the release gate is registered");
      assert.ok(r.resourceCount > 50, `the whole program ran (${r.resourceCount} resources)`);
    });
  }
});

describe("production without evidence", () => {
  it("is refused, naming every missing gate and sign-off", async () => {
    const empty = tempDir();
    const r = await check({
      stack: "production",
      programPath: REAL_PROGRAM,
      configOverrides: { release: { ...productionRelease(), evidenceDir: empty } },
    });
    assert.equal(r.passed, false);
    for (const gate of ["staging-verified", "backups-tested", "sign-offs-attested", "flags-attested"]) {
      assert.ok(refusedBy(r).includes(gate), `${gate} refused (got ${refusedBy(r).join(", ")})`);
    }
    const signOffs = r.findings.filter((f) => f.policyName === "sign-offs-attested").map((f) => f.message);
    for (const kind of REQUIRED_KINDS)
      assert.ok(
        signOffs.some((m) => m.includes(`missing ${kind} sign-off`)),
        `names ${kind}`,
      );
    assert.ok(
      r.findings.every((f) => f.enforcementLevel !== "mandatory" || f.resourceName === "release-gate"),
      "only the gate refuses",
    );
  });
});

describe("production with evidence", () => {
  let fx: ProductionFixture;
  before(async () => {
    fx = await new ProductionFixture().init();
  });

  it("passes with valid evidence", async () => {
    fx.write();
    const r = await fx.check();
    assert.deepEqual(r.programErrors, []);
    assert.deepEqual(
      refusedBy(r),
      [],
      JSON.stringify(
        r.findings.filter((f) => f.enforcementLevel === "mandatory"),
        null,
        1,
      ),
    );
    assert.equal(r.passed, true);
  });

  it("passes with a pinned host key: a public key is not a secret (host.hostKey → the tunnel's HOST_KEY)", async () => {
    fx.write();
    const host = readStackFile(ROOT, "production").values.host as Record<string, unknown>;
    const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMRIJUe0qd/LT6VoV3WpbcHsq/cBA4ZNNABax+EAQNLg";
    const r = await fx.check({ configOverrides: { host: { ...host, hostKey } } });
    assert.deepEqual(r.programErrors, []);
    // The key reaching the tunnel is test/unit/stacks.test.ts's; here: no policy mistakes it for a secret.
    assert.deepEqual(refusedBy(r), [], JSON.stringify(r.findings, null, 1));
  });

  const refusals: [string, (f: ProductionFixture) => ReturnType<typeof attest>, RegExp][] = [
    [
      "forged",
      (f) =>
        attest(f.signer, "qa", f.binding, {
          tamper: (p) => ({ ...p, expiresAt: "2099-01-01T00:00:00.000Z" }),
        }),
      /qa sign-off refused: bad-signature/,
    ],
    [
      "expired",
      (f) => attest(f.signer, "qa", f.binding, { issuedHours: -48, expiresHours: -1 }),
      /qa sign-off refused: expired/,
    ],
    [
      "bound to another commit",
      (f) => attest(f.signer, "qa", { ...f.binding, commit: "0".repeat(40) }),
      /qa sign-off refused: wrong-commit/,
    ],
    [
      "bound to another digest",
      (f) =>
        attest(f.signer, "qa", {
          ...f.binding,
          images: { ...f.binding.images, "app:api": `ghcr.io/blazetv/api@sha256:${"e".repeat(64)}` },
        }),
      /qa sign-off refused: wrong-images/,
    ],
    [
      "signed by a key not on the allow-list",
      () => attest(makeSigner("release-board"), "qa", fxBinding()),
      /qa sign-off refused: bad-signature/,
    ],
  ];
  const fxBinding = () => fx.binding;
  for (const [what, make, message] of refusals) {
    it(`refuses a ${what} attestation`, async () => {
      const e = fx.validEvidence();
      fx.write({ ...e, attestations: e.attestations.map((a) => (a.payload.kind === "qa" ? make(fx) : a)) });
      const r = await fx.check();
      assert.deepEqual(refusedBy(r), ["sign-offs-attested"]);
      assert.match(r.findings.find((f) => f.policyName === "sign-offs-attested")!.message, message);
    });
  }
});
