/** The release gate's own create script: the run-time re-check when the gate is (re)created. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { GATE_CREATE_SCRIPT } from "../../components/release/Release";
import { GATE_ENV_KEY } from "../../contract/manifest";
import { attest, makeSigner } from "../fixtures/evidence";

const BINDING = {
  stack: "production",
  commit: "a".repeat(40),
  images: { api: `api@sha256:${"b".repeat(64)}` },
};

function runGate(manifest: unknown): { code: number; out: string; err: string } {
  const env = { ...process.env, [GATE_ENV_KEY]: manifest === undefined ? "" : JSON.stringify(manifest) };
  const r = spawnSync("sh", ["-c", GATE_CREATE_SCRIPT], { env, encoding: "utf8" });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe("release-gate create script", () => {
  const signer = makeSigner("release-board");
  const manifest = (expiresHours: number) => ({
    version: 1,
    stack: "production",
    commit: BINDING.commit,
    attestations: [
      {
        file: "evidence/production/attestations/qa.attestation.json",
        content: attest(signer, "qa", BINDING, { expiresHours, issuedHours: -100 }),
      },
    ],
  });

  it("opens for unexpired attestations", () => {
    const r = runGate(manifest(5));
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), `release gate open for production@${BINDING.commit}`);
  });
  it("fails when an attestation expired between preview and up", () => {
    const r = runGate(manifest(-1));
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /release gate: expired or unreadable attestations: evidence\/production\/attestations\/qa\.attestation\.json/,
    );
  });
  it("fails without a manifest", () => {
    const r = runGate(undefined);
    assert.equal(r.code, 1);
    assert.match(r.err, /release gate: no manifest/);
  });
});
