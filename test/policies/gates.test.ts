/**
 * Gate policies on the release-gate resource: a manifest that passes every gate, then one
 * changed field per unmet prerequisite, asserting the exact message.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as gates from "../../policies/gates";
import { GATE_ENV_KEY, GateManifest } from "../../contract/manifest";
import { TYPES } from "../../policies/lib/resources";
import { REQUIRED_KINDS, Signer, allowListOf, attest, hoursAgo, makeSigner } from "../fixtures/evidence";
import { ResourceInput, runResourcePolicy, runStackPolicy } from "./harness";

const COMMIT = "4f9c2b7e8a1d3c5b6e7f8091a2b3c4d5e6f70819";
const PREVIOUS = "3e8b1a6d7c0f2e4a5b6c7d8e9f0a1b2c3d4e5f60";
const d = (c: string) => `sha256:${c.repeat(64)}`;
const IMAGES = { postgres: `postgres@${d("1")}`, "app:api": `ghcr.io/blazetv/api@${d("2")}` };
const BINDING = { stack: "production", commit: COMMIT, images: IMAGES };

let signer: Signer;
let outsider: Signer;
before(() => {
  signer = makeSigner("release-board");
  outsider = makeSigner("mallory");
});

const file = (kind: string) => `evidence/production/attestations/${kind}.attestation.json`;

/** A manifest meeting every gate. */
function manifest(over: Partial<GateManifest> = {}): GateManifest {
  return {
    version: 1,
    stack: "production",
    environment: "production",
    evidenceDir: "evidence",
    commit: COMMIT,
    images: IMAGES,
    flags: { REAL_MONEY_ENABLED: { enabled: true, requiresAttestation: "legal-counsel" } },
    staging: {
      stack: "blazetv/launchgate/staging",
      verifiedRelease: {
        commit: COMMIT,
        images: IMAGES,
        smokeTests: { passed: true, finishedAt: hoursAgo(5) },
      },
    },
    restoreDrill: {
      ok: true,
      finishedAt: hoursAgo(20),
      file: "evidence/production/restore-drill/latest.json",
    },
    backups: { retentionDays: 30, drillEveryHours: 24 },
    monitoring: { alertTargetConfigured: true },
    previous: { commit: PREVIOUS, images: { "app:api": `ghcr.io/blazetv/api@${d("3")}` } },
    attestations: REQUIRED_KINDS.map((k) => ({ file: file(k), content: attest(signer, k, BINDING) })),
    verifications: [{ commit: PREVIOUS, after: "30m", passed: true, checkedAt: hoursAgo(30), file: MARK }],
    loadErrors: [],
    ...over,
  };
}

const MARK = `evidence/production/verify/${PREVIOUS}-30m.json`;

describe("running-release-verified", () => {
  const cases: [string, Partial<GateManifest>, Record<string, unknown>, string[]][] = [
    ["no previous release (first release)", { previous: null, verifications: [] }, {}, []],
    [
      "a manifest from before progressive delivery, first release",
      { previous: null, verifications: undefined },
      {},
      [],
    ],
    [
      "no mark recorded",
      { verifications: [] },
      {},
      [
        "the running release 3e8b1a6d7c0f has no 30m verification mark in evidence/production/verify/; run npm run verify -- --stack production once it is due, commit the record, then retry.",
      ],
    ],
    [
      "only this release's mark, not the running one's",
      { verifications: [{ commit: COMMIT, after: "30m", passed: true, checkedAt: hoursAgo(1), file: "x" }] },
      {},
      [
        "the running release 3e8b1a6d7c0f has no 30m verification mark in evidence/production/verify/; run npm run verify -- --stack production once it is due, commit the record, then retry.",
      ],
    ],
    [
      "the mark failed",
      {
        verifications: [
          { commit: PREVIOUS, after: "30m", passed: false, checkedAt: hoursAgo(30), file: MARK },
        ],
      },
      {},
      [
        `the running release 3e8b1a6d7c0f failed its 30m verification mark (${MARK}); fix or roll it back (npm run rollback -- --stack production --yes) before releasing on top of it.`,
      ],
    ],
    [
      "the pack asks for the 1h mark",
      {},
      { mark: "1h" },
      [
        "the running release 3e8b1a6d7c0f has no 1h verification mark in evidence/production/verify/; run npm run verify -- --stack production once it is due, commit the record, then retry.",
      ],
    ],
  ];
  for (const [name, over, config, messages] of cases)
    it(name, async () =>
      assert.deepEqual(
        await runResourcePolicy(gates.runningReleaseVerified, gate(manifest(over)), config),
        messages,
      ),
    );
});

const gate = (m: GateManifest, stack = "production"): ResourceInput => ({
  type: TYPES.localCommand,
  name: "release-gate",
  stack,
  props: { create: "node -e …", environment: { [GATE_ENV_KEY]: JSON.stringify(m) } },
});

const signOffConfig = () => ({ requiredKinds: [...REQUIRED_KINDS], allowedSigners: allowListOf(signer) });
const flagsConfig = () => ({ allowedSigners: allowListOf(signer) });

/** The manifest with one attestation replaced. */
function withAttestation(kind: string, content: unknown): GateManifest {
  const m = manifest();
  return {
    ...m,
    attestations: m.attestations.map((a) => (a.file === file(kind) ? { file: a.file, content } : a)),
  };
}

describe("every gate passes the compliant manifest", () => {
  for (const [policy, config] of [
    [gates.stagingVerified, {}],
    [gates.backupsTested, {}],
    [gates.monitoringConfigured, {}],
    [gates.rollbackReady, {}],
    [gates.runningReleaseVerified, {}],
    [gates.signOffsAttested, "signoffs"],
    [gates.flagsAttested, "flags"],
  ] as const) {
    it(policy.name, async () => {
      const cfg = config === "signoffs" ? signOffConfig() : config === "flags" ? flagsConfig() : config;
      assert.deepEqual(await runResourcePolicy(policy, gate(manifest()), cfg), []);
    });
  }
  it("is not applicable to other commands", async () => {
    const other: ResourceInput = {
      type: TYPES.localCommand,
      name: "deployer-identity-write",
      props: { create: "true" },
    };
    assert.equal(await runResourcePolicy(gates.stagingVerified, other), "not-applicable");
  });
});

describe("staging-verified", () => {
  const fix = "deploy this release to staging, run the smoke tests (npm run promote), then retry";
  const v = manifest().staging.verifiedRelease!;
  const staging = (verifiedRelease: typeof v | null, stack: string | null = "blazetv/launchgate/staging") =>
    manifest({ staging: { stack, verifiedRelease } });
  const cases: [string, GateManifest, string[]][] = [
    [
      "no staging stack",
      staging(null, null),
      [`no staging stack to compare with; set launchgate:release.stagingStack, then ${fix}.`],
    ],
    [
      "no verified release",
      staging(null),
      [`staging stack blazetv/launchgate/staging has no verifiedRelease output; ${fix}.`],
    ],
    [
      "other commit",
      staging({ ...v, commit: PREVIOUS }),
      [`staging verified commit ${PREVIOUS}, not ${COMMIT}; ${fix}.`],
    ],
    [
      "other digest",
      staging({ ...v, images: { ...IMAGES, "app:api": `ghcr.io/blazetv/api@${d("9")}` } }),
      ["image digests differ from staging for app:api; release the digests staging verified."],
    ],
    [
      "smoke failed",
      staging({ ...v, smokeTests: { passed: false, finishedAt: hoursAgo(1) } }),
      ["staging smoke tests did not pass; fix the release on staging first."],
    ],
    [
      "too old",
      staging({ ...v, smokeTests: { passed: true, finishedAt: hoursAgo(100) } }),
      ["staging verification is 100.0 h old (max 72 h); re-run the staging smoke tests."],
    ],
  ];
  for (const [what, m, messages] of cases) {
    it(`refuses ${what}`, async () =>
      assert.deepEqual(await runResourcePolicy(gates.stagingVerified, gate(m)), messages));
  }
  it("takes the age limit from the pack config", async () => {
    const m = staging({ ...v, smokeTests: { passed: true, finishedAt: hoursAgo(100) } });
    assert.deepEqual(await runResourcePolicy(gates.stagingVerified, gate(m), { maxAgeHours: 120 }), []);
  });
});

describe("backups-tested", () => {
  const drill = manifest().restoreDrill!;
  const cases: [string, Partial<GateManifest>, string[]][] = [
    [
      "no drill record",
      { restoreDrill: null },
      [
        "no restore-drill record in evidence/production/restore-drill/; fetch the host's latest drill result (npm run gate -- fetch-drill --stack production --host deployer@<vps>) and commit it.",
      ],
    ],
    [
      "failed drill",
      { restoreDrill: { ...drill, ok: false } },
      [`the latest restore drill (${drill.file}) failed; fix backups and re-run the drill.`],
    ],
    [
      "stale drill",
      { restoreDrill: { ...drill, finishedAt: hoursAgo(240) } },
      [`the latest restore drill (${drill.file}) is 10.0 days old (max 7); re-run the drill.`],
    ],
    [
      "short retention",
      { backups: { retentionDays: 7, drillEveryHours: 24 } },
      ["backups are kept 7 days (min 30); set launchgate:backups.retentionDays to 30 or more."],
    ],
  ];
  for (const [what, over, messages] of cases) {
    it(`refuses ${what}`, async () =>
      assert.deepEqual(await runResourcePolicy(gates.backupsTested, gate(manifest(over))), messages));
  }
});

describe("monitoring-configured", () => {
  it("refuses a release without an alert target", async () => {
    assert.deepEqual(
      await runResourcePolicy(
        gates.monitoringConfigured,
        gate(manifest({ monitoring: { alertTargetConfigured: false } })),
      ),
      [
        "no alert target; set launchgate:alertWebhookUrl (secret https URL) and pass it to Release as `alertTarget`.",
      ],
    );
  });
});

describe("rollback-ready", () => {
  const cases: [string, GateManifest["previous"], string[]][] = [
    [
      "no previous release",
      null,
      [
        "no previous release recorded; set launchgate:release.previous {commit, images} to the release running now.",
      ],
    ],
    [
      "previous = this release",
      { commit: COMMIT, images: { "app:api": IMAGES["app:api"] } },
      [
        "the previous release is this release; record the release running now in launchgate:release.previous.",
      ],
    ],
    [
      "no images",
      { commit: PREVIOUS, images: {} },
      ["the previous release lists no images; record its digests in launchgate:release.previous.images."],
    ],
    [
      "tag-only previous image",
      { commit: PREVIOUS, images: { "app:api": "ghcr.io/blazetv/api:1.3.0" } },
      ["previous images app:api are not pinned by digest; record repo@sha256:<digest>."],
    ],
  ];
  for (const [what, previous, messages] of cases) {
    it(`refuses ${what}`, async () =>
      assert.deepEqual(await runResourcePolicy(gates.rollbackReady, gate(manifest({ previous }))), messages));
  }
});

describe("sign-offs-attested", () => {
  const refused = (kind: string, reason: string) =>
    `${kind} sign-off refused: ${reason} in ${file(kind)}; have an allow-listed signer re-sign this release: npm run gate -- sign --kind ${kind} --stack production …`;
  const run = (m: GateManifest, config = signOffConfig()) =>
    runResourcePolicy(gates.signOffsAttested, gate(m), config);

  it("names every missing sign-off", async () => {
    assert.deepEqual(
      await run(manifest({ attestations: [] })),
      REQUIRED_KINDS.map(
        (k) =>
          `missing ${k} sign-off: no evidence/production/attestations/${k}.attestation.json; npm run gate -- sign --kind ${k} --stack production …`,
      ),
    );
  });
  it("refuses a forged (edited after signing) attestation", async () => {
    const forged = attest(signer, "qa", BINDING, {
      tamper: (p) => ({ ...p, expiresAt: "2099-01-01T00:00:00.000Z" }),
    });
    assert.deepEqual(await run(withAttestation("qa", forged)), [
      refused(
        "qa",
        "bad-signature (signature does not match the payload and release-board's allow-listed key (forged or edited))",
      ),
    ]);
  });
  it("refuses an unknown signer", async () => {
    assert.deepEqual(await run(withAttestation("qa", attest(outsider, "qa", BINDING))), [
      refused("qa", 'unknown-signer (signer "mallory" is not on the allow-list (allowedSigners))'),
    ]);
  });
  it("refuses a signer not allowed for the kind", async () => {
    const config = {
      ...signOffConfig(),
      allowedSigners: { "release-board": { publicKey: signer.publicKey, kinds: ["qa"] } },
    };
    const out = await run(manifest(), config);
    assert.equal((out as string[]).length, REQUIRED_KINDS.length - 1);
    assert.equal(
      (out as string[])[0],
      refused(
        "legal-counsel",
        'signer-not-allowed-for-kind (signer "release-board" may attest only qa, not "legal-counsel")',
      ),
    );
  });
  it("refuses an expired attestation", async () => {
    const expired = attest(signer, "tech-lead", BINDING, { issuedHours: -100, expiresHours: -2 });
    assert.deepEqual(await run(withAttestation("tech-lead", expired)), [
      refused("tech-lead", `expired (expired at ${expired.payload.expiresAt})`),
    ]);
  });
  it("refuses an attestation valid longer than the pack allows", async () => {
    const long = attest(signer, "qa", BINDING, { expiresHours: 24 * 60 });
    assert.deepEqual(
      await run(withAttestation("qa", long), { ...signOffConfig(), maxValidityDays: 14 } as ReturnType<
        typeof signOffConfig
      >),
      [refused("qa", "validity-too-long (valid 60.0 days, more than 14)")],
    );
  });
  it("refuses attestations bound to another commit, digest or stack", async () => {
    assert.deepEqual(
      await run(withAttestation("qa", attest(signer, "qa", { ...BINDING, commit: PREVIOUS }))),
      [refused("qa", `wrong-commit (signed for commit ${PREVIOUS}, releasing ${COMMIT})`)],
    );
    const otherDigest = { ...BINDING, images: { ...IMAGES, postgres: `postgres@${d("7")}` } };
    assert.deepEqual(await run(withAttestation("qa", attest(signer, "qa", otherDigest))), [
      refused(
        "qa",
        `wrong-images (signed for other image digests (postgres: attested postgres@${d("7")}, releasing ${IMAGES.postgres}))`,
      ),
    ]);
    assert.deepEqual(
      await run(withAttestation("qa", attest(signer, "qa", { ...BINDING, stack: "staging" }))),
      [refused("qa", 'wrong-stack (signed for stack "staging", deploying "production")')],
    );
  });
  it("binds to the stack in the gate's URN, not the one the manifest claims", async () => {
    const out = await runResourcePolicy(gates.signOffsAttested, gate(manifest(), "staging"), signOffConfig());
    assert.equal((out as string[]).length, REQUIRED_KINDS.length);
  });
});

describe("flags-attested", () => {
  it("passes a disabled flag without attestation", async () => {
    const m = manifest({
      attestations: [],
      flags: { REAL_MONEY_ENABLED: { enabled: false, requiresAttestation: "legal-counsel" } },
    });
    assert.deepEqual(await runResourcePolicy(gates.flagsAttested, gate(m), flagsConfig()), []);
  });
  it("refuses REAL_MONEY_ENABLED without counsel's attestation, even when config drops requiresAttestation", async () => {
    const m = manifest({ attestations: [], flags: { REAL_MONEY_ENABLED: { enabled: true } } });
    assert.deepEqual(await runResourcePolicy(gates.flagsAttested, gate(m), flagsConfig()), [
      "REAL_MONEY_ENABLED is enabled without a valid legal-counsel attestation (missing legal-counsel sign-off: no evidence/production/attestations/legal-counsel.attestation.json; npm run gate -- sign --kind legal-counsel --stack production …); or set launchgate:flags.REAL_MONEY_ENABLED.enabled to false.",
    ]);
  });
  it("requires the kind a flag names in config", async () => {
    const m = manifest({ flags: { PAYOUTS_ENABLED: { enabled: true, requiresAttestation: "cfo" } } });
    assert.deepEqual(await runResourcePolicy(gates.flagsAttested, gate(m), flagsConfig()), [
      "PAYOUTS_ENABLED is enabled without a valid cfo attestation (missing cfo sign-off: no evidence/production/attestations/cfo.attestation.json; npm run gate -- sign --kind cfo --stack production …); or set launchgate:flags.PAYOUTS_ENABLED.enabled to false.",
    ]);
  });
});

describe("release-gate-first", () => {
  const g = { type: TYPES.localCommand, name: "release-gate", props: {} };
  const vol = (dependsOn: string[]) => ({ type: TYPES.volume, name: "postgres-data", props: {}, dependsOn });
  it("passes when every resource waits for the gate (transitively)", async () => {
    const net = { type: TYPES.network, name: "net-internal", props: {}, dependsOn: ["release-gate"] };
    assert.deepEqual(await runStackPolicy(gates.releaseGateFirst, [g, net, vol(["net-internal"])]), []);
  });
  it("refuses a resource that does not wait for the gate, and a stack without a gate", async () => {
    assert.deepEqual(await runStackPolicy(gates.releaseGateFirst, [g, vol([])]), [
      "1 resource(s) do not wait for the release gate: postgres-data; declare them after the gate's stack transformation (components/release/gate.ts) or add dependsOn: [release.gate].",
    ]);
    assert.deepEqual(await runStackPolicy(gates.releaseGateFirst, [vol([])]), [
      "no release-gate resource; create the Release component first and pass gate: release.gate to every component.",
    ]);
  });
});
