/** The attestation library the pack and the gate CLI share: canonical bytes, keys, verification order. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodePublicKey, publicKeyOfPrivate, verifyAttestation } from "../../policies/lib/attestation";
import { canonicalJson } from "../../policies/lib/canonical";
import { allowListOf, attest, makeSigner } from "../fixtures/evidence";

const BINDING = {
  stack: "production",
  commit: "a".repeat(40),
  images: { api: `api@sha256:${"c".repeat(64)}` },
};

describe("canonicalJson", () => {
  it("sorts keys at every depth and drops undefined", () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [true, null], c: "x" }, u: undefined }),
      '{"a":{"c":"x","d":[true,null]},"b":1}',
    );
  });
});

describe("keys", () => {
  it("round-trips the allow-list key format and rejects other keys", () => {
    const s = makeSigner("qa-lead");
    assert.equal(publicKeyOfPrivate(s.privateKeyPem), s.publicKey);
    assert.match(s.publicKey, /^ed25519:[A-Za-z0-9+/]{43}=$/);
    assert.throws(() => decodePublicKey("rsa:AAAA"), /public key must be "ed25519:<base64 of 32 bytes>"/);
  });
});

describe("verifyAttestation", () => {
  const s = makeSigner("qa-lead");
  const opts = { allowList: allowListOf(s), binding: BINDING, now: new Date() };
  it("accepts a good attestation regardless of key order in the file", () => {
    const a = attest(s, "qa", BINDING);
    const reordered = JSON.parse(
      JSON.stringify({ signature: a.signature, payload: { ...a.payload }, format: a.format }),
    );
    const r = verifyAttestation(reordered, opts);
    assert.equal(r.ok, true);
  });
  it("reports malformed files", () => {
    const r = verifyAttestation({ format: "launchgate-attestation/v1", payload: {}, signature: "x" }, opts);
    assert.deepEqual(r, {
      ok: false,
      problem: "malformed",
      detail: "payload.kind must be a non-empty string",
    });
  });
  it("checks the signature before the binding (a forged binding is 'bad-signature')", () => {
    const a = attest(s, "qa", BINDING, { tamper: (p) => ({ ...p, commit: "b".repeat(40) }) });
    const r = verifyAttestation(a, opts);
    assert.equal(r.ok ? "ok" : r.problem, "bad-signature");
  });
  it("refuses an attestation issued in the future", () => {
    const r = verifyAttestation(attest(s, "qa", BINDING, { issuedHours: 2 }), opts);
    assert.equal(r.ok ? "ok" : r.problem, "not-yet-valid");
  });
});
