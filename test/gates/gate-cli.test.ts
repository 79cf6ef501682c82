/**
 * `npm run gate`: keygen → sign → verify → status round trip, and the errors a release manager
 * meets (missing key, bad signature, wrong binding, expired, unknown signer), by running the CLI.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { tempDir } from "../fixtures/evidence";
import { ROOT } from "./support";

const COMMIT = "4f9c2b7e8a1d3c5b6e7f8091a2b3c4d5e6f70819";
const IMAGE = `app:api=ghcr.io/blazetv/api@sha256:${"2".repeat(64)}`;

function gate(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "tools/gate/cli.ts"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe("gate CLI", () => {
  const dir = tempDir("launchgate-gate-cli-");
  const keys = path.join(dir, "keys");
  const evidence = path.join(dir, "evidence");
  const release = ["--stack", "production", "--commit", COMMIT, "--image", IMAGE];
  const file = path.join(evidence, "production/attestations/qa.attestation.json");
  const packConfig = path.join(dir, "production.json");

  it("keygen writes a private key (0600) and prints the allow-list entry", () => {
    const r = gate("keygen", "--signer", "qa-lead", "--out", keys);
    assert.equal(r.code, 0, r.err);
    assert.equal(fs.statSync(path.join(keys, "qa-lead.key")).mode & 0o777, 0o600);
    const publicKey = fs.readFileSync(path.join(keys, "qa-lead.pub"), "utf8").trim();
    assert.ok(r.out.includes(publicKey));
    fs.writeFileSync(
      packConfig,
      JSON.stringify({
        "sign-offs-attested": {
          requiredKinds: ["qa", "tech-lead"],
          allowedSigners: { "qa-lead": { publicKey } },
        },
      }),
    );
  });

  it("sign refuses a missing key with how to create one", () => {
    const r = gate(
      "sign",
      "--kind",
      "qa",
      "--signer",
      "qa-lead",
      "--key",
      path.join(keys, "nope.key"),
      ...release,
      "--evidence",
      evidence,
    );
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /signing key not found: .*nope\.key\n\s+create one with: npm run gate -- keygen --signer qa-lead/,
    );
  });

  it("sign + verify round-trips", () => {
    const s = gate(
      "sign",
      "--kind",
      "qa",
      "--signer",
      "qa-lead",
      "--key",
      path.join(keys, "qa-lead.key"),
      ...release,
      "--evidence",
      evidence,
    );
    assert.equal(s.code, 0, s.err);
    const v = gate("verify", file, "--pack-config", packConfig, ...release);
    assert.equal(v.code, 0, v.err);
    assert.match(v.out, /^OK .*qa by qa-lead, expires in 16[78]\.\d h/);
  });

  it("verify refuses the wrong binding, a bad signature, an unknown signer", () => {
    const other = gate(
      "verify",
      file,
      "--pack-config",
      packConfig,
      "--stack",
      "production",
      "--commit",
      "0".repeat(40),
      "--image",
      IMAGE,
    );
    assert.equal(other.code, 2);
    assert.match(other.err, /REFUSED .*wrong-commit: signed for commit 4f9c2b7e/);

    const forged = JSON.parse(fs.readFileSync(file, "utf8"));
    forged.payload.expiresAt = "2099-01-01T00:00:00.000Z";
    const forgedFile = path.join(dir, "forged.json");
    fs.writeFileSync(forgedFile, JSON.stringify(forged));
    assert.match(
      gate("verify", forgedFile, "--pack-config", packConfig, ...release).err,
      /REFUSED .*bad-signature/,
    );

    const nobody = path.join(dir, "nobody.json");
    fs.writeFileSync(
      packConfig.replace(".json", "-empty.json"),
      JSON.stringify({ "sign-offs-attested": { allowedSigners: {} } }),
    );
    fs.copyFileSync(file, nobody);
    assert.match(
      gate("verify", nobody, "--pack-config", packConfig.replace(".json", "-empty.json"), ...release).err,
      /REFUSED .*unknown-signer/,
    );
  });

  it("verify refuses an expired attestation", () => {
    const s = gate(
      "sign",
      "--kind",
      "tech-lead",
      "--signer",
      "qa-lead",
      "--key",
      path.join(keys, "qa-lead.key"),
      ...release,
      "--evidence",
      evidence,
      "--valid-for",
      "1h",
    );
    assert.equal(s.code, 0, s.err);
    const tl = path.join(evidence, "production/attestations/tech-lead.attestation.json");
    assert.equal(gate("verify", tl, "--pack-config", packConfig, ...release).code, 0);
    const later = new Date(Date.now() + 2 * 3_600_000).toISOString();
    const r = gate("verify", tl, "--pack-config", packConfig, ...release, "--at", later);
    assert.equal(r.code, 2);
    assert.match(r.err, /REFUSED .*expired: expired at /);
  });

  it("status lists each file and the missing sign-offs, exit 1 until complete", () => {
    const r = gate("status", "--pack-config", packConfig, ...release, "--evidence", evidence);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /OK .*qa by qa-lead/);
    assert.match(r.out, /all required sign-offs present/);
    fs.rmSync(path.join(evidence, "production/attestations/tech-lead.attestation.json"));
    const missing = gate("status", "--pack-config", packConfig, ...release, "--evidence", evidence);
    assert.equal(missing.code, 1);
    assert.match(missing.out, /missing sign-offs: tech-lead/);
  });
});
