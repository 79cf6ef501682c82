/**
 * Promotion decisions, table-tested: staging's verified release (fresh, passed, same commit,
 * digests only), the config plan for production (exact digests, commit, previous release,
 * stale verification removed), rollback, the verification record and the smoke-test spec.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ConfigMap,
  OutputMap,
  decideSourceMatchesGate,
  decideSourceVerified,
  maxSourceAgeHours,
  needsVerification,
  planCommitted,
  planRecordVerification,
  planRelease,
  planRollback,
  policyArgs,
  ROLLBACK_ADVISORY_GATES,
  rollbackPackConfig,
  rollbackCommand,
} from "../../tools/promote/decisions";
import { expandEnv, judgeResponse, planSmokeTests, smokeSpecSchema } from "../../tools/promote/smoke";

const d = (c: string) => c.repeat(64);
const NEW = "4f9c2b7e8a1d3c5b6e7f8091a2b3c4d5e6f70819";
const OLD = "3e8b1a6d7c0f2e4a5b6c7d8e9f0a1b2c3d4e5f60";
const OLDER = "1111111111111111111111111111111111111111";
const NOW = new Date("2026-11-24T12:00:00Z");

const stagingImages = {
  postgres: `postgres@sha256:${d("a")}`,
  pgbouncer: `edoburu/pgbouncer@sha256:${d("b")}`,
  redis: `redis@sha256:${d("c")}`,
  proxy: `nginx@sha256:${d("d")}`,
  "app:api": `ghcr.io/blazetv/api@sha256:${d("1")}`,
  "app:admin": `ghcr.io/blazetv/admin@sha256:${d("2")}`,
};

function stagingOutputs(
  over: Record<string, unknown> = {},
  smoke: Record<string, unknown> | null = {},
): OutputMap {
  return {
    verifiedRelease: {
      value: {
        commit: NEW,
        images: stagingImages,
        smokeTests:
          smoke === null ? null : { commit: NEW, passed: true, finishedAt: "2026-11-24T09:00:00Z", ...smoke },
        ...over,
      },
    },
  };
}

describe("decideSourceVerified", () => {
  const cases: [string, OutputMap, RegExp | null][] = [
    ["fresh, passed, same commit", stagingOutputs(), null],
    ["no verifiedRelease output", {}, /exports no verifiedRelease/],
    [
      "no smoke-test result",
      stagingOutputs({}, null),
      /no smoke-test result for 4f9c2b7e8a1d; it is not verified/,
    ],
    ["smoke tests failed", stagingOutputs({}, { passed: false }), /did not pass/],
    [
      "smoke tests for another commit",
      stagingOutputs({}, { commit: OLD }),
      /passed for 3e8b1a6d7c0f but the deployed release is 4f9c2b7e8a1d/,
    ],
    [
      "too old (73h)",
      stagingOutputs({}, { finishedAt: "2026-11-21T11:00:00Z" }),
      /passed 3d 1h ago, older than the 72h limit/,
    ],
    ["in the future", stagingOutputs({}, { finishedAt: "2026-11-24T13:00:00Z" }), /in the future/],
    ["not a date", stagingOutputs({}, { finishedAt: "yesterday" }), /is not a date/],
    [
      "a tag instead of a digest",
      stagingOutputs({ images: { ...stagingImages, "app:api": "ghcr.io/blazetv/api:1.2" } }),
      /image app:api is "ghcr.io\/blazetv\/api:1.2", not pinned by digest/,
    ],
    ["short commit", stagingOutputs({ commit: "4f9c2b7" }), /expected 40 hex digits/],
    ["no images", stagingOutputs({ images: {} }), /images is empty/],
  ];
  for (const [name, outputs, reason] of cases) {
    test(name, () => {
      const r = decideSourceVerified(outputs, { now: NOW, maxAgeHours: 72, stack: "staging" });
      if (reason === null) {
        assert.ok(r.ok, r.ok ? "" : r.reason);
        assert.equal(r.value.commit, NEW);
        assert.deepEqual(r.value.images, stagingImages);
        assert.equal(r.value.ageMs, 3 * 3_600_000);
      } else {
        assert.ok(!r.ok, "expected a refusal");
        assert.match(r.reason, reason);
        assert.match(r.reason, /^stack staging/);
      }
    });
  }
  test("the age limit comes from the target's staging-verified gate config, then the flag", () => {
    const cfg = { "staging-verified": { enforcementLevel: "mandatory", maxAgeHours: 2 } };
    assert.equal(maxSourceAgeHours(cfg), 2);
    assert.equal(maxSourceAgeHours(cfg, 10), 10);
    assert.equal(maxSourceAgeHours({}), 72);
    assert.equal(maxSourceAgeHours(undefined), 72);
    const r = decideSourceVerified(stagingOutputs(), {
      now: NOW,
      maxAgeHours: maxSourceAgeHours(cfg),
      stack: "staging",
    });
    assert.ok(!r.ok && /older than the 2h limit/.test(r.reason));
  });
});

const prodApps = [
  { name: "api", image: `ghcr.io/blazetv/api@sha256:${d("e")}`, port: 3000, route: "/" },
  { name: "admin", image: `ghcr.io/blazetv/admin@sha256:${d("f")}`, port: 3002, route: "/admin" },
];
function prodConfig(extra: Record<string, unknown> = {}): ConfigMap {
  const base: Record<string, unknown> = {
    apps: prodApps,
    release: {
      commit: OLD,
      stagingStack: "blazetv/launchgate/staging",
      previous: { commit: OLDER, images: { "app:api": `x@sha256:${d("9")}` } },
    },
    ...extra,
  };
  return Object.fromEntries(
    Object.entries(base).map(([k, v]) => [`launchgate:${k}`, { value: JSON.stringify(v), secret: false }]),
  );
}
const prodImages = {
  ...stagingImages,
  "app:api": prodApps[0]!.image,
  "app:admin": prodApps[1]!.image,
};
const prodOutputs: OutputMap = {
  release: { value: { commit: OLD, images: prodImages, flags: {}, previous: { commit: OLDER, images: {} } } },
};

test("the source must be the stack production's staging gate reads", () => {
  const cfg = prodConfig();
  assert.deepEqual(decideSourceMatchesGate("staging", cfg), {
    ok: true,
    value: "blazetv/launchgate/staging",
  });
  assert.deepEqual(decideSourceMatchesGate("blazetv/launchgate/staging", cfg), {
    ok: true,
    value: "blazetv/launchgate/staging",
  });
  const r = decideSourceMatchesGate("qa", cfg);
  assert.ok(!r.ok);
  assert.match(
    r.reason,
    /the target's staging gate reads blazetv\/launchgate\/staging \(launchgate:release.stagingStack\), not qa/,
  );
  assert.deepEqual(decideSourceMatchesGate("qa", prodConfig({ release: { commit: OLD } })), {
    ok: true,
    value: "qa",
  });
});

describe("planRelease", () => {
  test("sets every image to exactly staging's digest, the commit, and production's current release as previous", () => {
    const r = planRelease({
      release: { commit: NEW, images: stagingImages },
      targetConfig: prodConfig({
        verification: { commit: OLD, passed: true, finishedAt: "2026-11-20T00:00:00Z" },
      }),
      targetOutputs: prodOutputs,
      requireAllRoles: true,
    });
    assert.ok(r.ok, r.ok ? "" : r.reason);
    assert.equal(r.value.kind, "change");
    assert.deepEqual(r.value.config.remove, ["launchgate:release.previous", "launchgate:verification"]);
    assert.deepEqual(r.value.config.set, {
      "launchgate:postgres.image": stagingImages.postgres,
      "launchgate:postgres.pgbouncer.image": stagingImages.pgbouncer,
      "launchgate:redis.image": stagingImages.redis,
      "launchgate:proxy.image": stagingImages.proxy,
      "launchgate:apps[0].image": stagingImages["app:api"],
      "launchgate:apps[1].image": stagingImages["app:admin"],
      "launchgate:release.commit": NEW,
      "launchgate:release.previous.commit": OLD,
      'launchgate:release.previous.images["app:api"]': prodApps[0]!.image,
      'launchgate:release.previous.images["app:admin"]': prodApps[1]!.image,
    });
    for (const v of Object.values(r.value.config.set))
      assert.ok(!/:latest|:\d/.test(v.split("@")[0]!.replace(/^[^/]*\//, "")));
    assert.deepEqual(r.value.summary.slice(0, 1), [`commit: ${OLD} -> ${NEW}`]);
    assert.ok(r.value.summary.includes(`app:api: ${prodApps[0]!.image} -> ${stagingImages["app:api"]}`));
  });

  test("first deployment (no outputs yet): no previous recorded, nothing removed", () => {
    const r = planRelease({
      release: { commit: NEW, images: stagingImages },
      targetConfig: prodConfig({ release: { commit: OLD } }),
      targetOutputs: {},
    });
    assert.ok(r.ok);
    assert.equal(r.value.previous, null);
    assert.deepEqual(r.value.config.remove, []);
    assert.equal(Object.keys(r.value.config.set).filter((k) => k.includes("previous")).length, 0);
  });

  test("same commit, rebuilt images: images change, the recorded rollback target stays", () => {
    const rebuilt = { ...prodImages, "app:api": `ghcr.io/blazetv/api@sha256:${d("7")}` };
    const r = planRelease({
      release: { commit: OLD, images: rebuilt },
      targetConfig: prodConfig(),
      targetOutputs: prodOutputs,
    });
    assert.ok(r.ok);
    assert.equal(r.value.kind, "change");
    assert.equal(r.value.previous, null);
    assert.equal(r.value.config.set["launchgate:apps[0].image"], rebuilt["app:api"]);
    assert.ok(!Object.keys(r.value.config.set).some((k) => k.includes("previous")));
    assert.ok(!r.value.config.remove.includes("launchgate:release.previous"));
  });

  test("already running this release: noop, no config change", () => {
    const r = planRelease({
      release: { commit: OLD, images: prodImages },
      targetConfig: prodConfig(),
      targetOutputs: prodOutputs,
    });
    assert.ok(r.ok);
    assert.equal(r.value.kind, "noop");
    assert.deepEqual(r.value.config, { remove: [], set: {} });
  });

  const refusals: [string, Record<string, string>, string, RegExp][] = [
    [
      "an app missing from the release",
      { ...stagingImages, "app:admin": "" },
      NEW,
      /no image for app:admin, which the target runs/,
    ],
    [
      "an app production does not declare",
      { ...stagingImages, "app:bot": `bot@sha256:${d("3")}` },
      NEW,
      /image for app:bot, which the target does not declare/,
    ],
    ["a tag", { ...stagingImages, "app:api": "ghcr.io/blazetv/api:latest" }, NEW, /not pinned by digest/],
    ["a bad commit", stagingImages, "main", /not 40 hex digits/],
  ];
  for (const [name, images, commit, reason] of refusals) {
    test(`refuses ${name}`, () => {
      const clean = Object.fromEntries(Object.entries(images).filter(([, v]) => v));
      const r = planRelease({
        release: { commit, images: clean },
        targetConfig: prodConfig(),
        targetOutputs: prodOutputs,
      });
      assert.ok(!r.ok);
      assert.match(r.reason, reason);
    });
  }
});

describe("planRollback", () => {
  test("re-deploys release.previous and records the release rolled back from", () => {
    const outputs: OutputMap = {
      release: {
        value: {
          commit: NEW,
          images: { ...stagingImages },
          previous: {
            commit: OLD,
            images: { "app:api": prodApps[0]!.image, "app:admin": prodApps[1]!.image },
          },
        },
      },
    };
    const r = planRollback({ targetConfig: prodConfig(), targetOutputs: outputs });
    assert.ok(r.ok, r.ok ? "" : r.reason);
    assert.equal(r.value.release.commit, OLD);
    assert.deepEqual(r.value.config.set, {
      "launchgate:apps[0].image": prodApps[0]!.image,
      "launchgate:apps[1].image": prodApps[1]!.image,
      "launchgate:release.commit": OLD,
      "launchgate:release.previous.commit": NEW,
      'launchgate:release.previous.images["app:api"]': stagingImages["app:api"],
      'launchgate:release.previous.images["app:admin"]': stagingImages["app:admin"],
    });
    // data-store images are not rolled back
    assert.ok(!("launchgate:postgres.image" in r.value.config.set));
  });
  test("--disable-flag switches the flag off with the rollback; an unknown flag is refused", () => {
    const outputs: OutputMap = {
      release: {
        value: {
          commit: NEW,
          images: stagingImages,
          previous: {
            commit: OLD,
            images: { "app:api": prodApps[0]!.image, "app:admin": prodApps[1]!.image },
          },
        },
      },
    };
    const cfg = prodConfig({
      flags: { REAL_MONEY_ENABLED: { enabled: true, requiresAttestation: "legal-counsel" } },
    });
    const r = planRollback({
      targetConfig: cfg,
      targetOutputs: outputs,
      disableFlags: ["REAL_MONEY_ENABLED"],
    });
    assert.ok(r.ok, r.ok ? "" : r.reason);
    assert.equal(r.value.config.set["launchgate:flags.REAL_MONEY_ENABLED.enabled"], "false");
    assert.ok(r.value.summary.includes("flag REAL_MONEY_ENABLED: off"));
    const bad = planRollback({ targetConfig: cfg, targetOutputs: outputs, disableFlags: ["NOPE"] });
    assert.ok(!bad.ok && /--disable-flag NOPE: no such flag in launchgate:flags/.test(bad.reason));
  });
  test("rollback pack config: only the release-approval gates become advisory, settings kept", () => {
    const base = {
      all: "mandatory",
      "staging-verified": { maxAgeHours: 72 },
      "sign-offs-attested": { requiredKinds: ["qa"], allowedSigners: {} },
      "flags-attested": { flags: { REAL_MONEY_ENABLED: "legal-counsel" } },
    };
    assert.deepEqual(rollbackPackConfig(base), {
      all: "mandatory",
      "staging-verified": { maxAgeHours: 72, enforcementLevel: "advisory" },
      "sign-offs-attested": { requiredKinds: ["qa"], allowedSigners: {}, enforcementLevel: "advisory" },
      "flags-attested": { flags: { REAL_MONEY_ENABLED: "legal-counsel" } },
    });
    assert.deepEqual(rollbackPackConfig({ all: "mandatory" }), {
      all: "mandatory",
      "staging-verified": "advisory",
      "sign-offs-attested": "advisory",
    });
    assert.deepEqual([...ROLLBACK_ADVISORY_GATES], ["staging-verified", "sign-offs-attested"]);
  });
  test("refuses when nothing is recorded", () => {
    const r = planRollback({
      targetConfig: prodConfig({ release: { commit: OLD } }),
      targetOutputs: { release: { value: { commit: OLD, images: {} } } },
    });
    assert.ok(!r.ok);
    assert.match(r.reason, /no previous release recorded \(launchgate:release.previous\)/);
  });
});

describe("target config is read through the program's schema", () => {
  test("planCommitted: the committed app images by role, the stale verification removed", () => {
    const r = planCommitted({
      targetConfig: prodConfig({
        verification: { commit: OLD, passed: true, finishedAt: "2026-11-20T00:00:00Z" },
      }),
    });
    assert.ok(r.ok, r.ok ? "" : r.reason);
    assert.equal(r.value.release.commit, OLD);
    assert.deepEqual(r.value.release.images, {
      "app:api": prodApps[0]!.image,
      "app:admin": prodApps[1]!.image,
    });
    assert.deepEqual(r.value.config, { remove: ["launchgate:verification"], set: {} });
  });
  const refusals: [string, () => { ok: boolean; reason?: string }, string][] = [
    [
      "planCommitted, a short commit",
      () => planCommitted({ targetConfig: prodConfig({ release: { commit: "4f9c2b7" } }) }),
      'launchgate:release.commit: got "4f9c2b7"; expected a 40-hex-digit git commit',
    ],
    [
      "planCommitted, an app image by tag",
      () =>
        planCommitted({
          targetConfig: prodConfig({ apps: [{ ...prodApps[0]!, image: "ghcr.io/blazetv/api:1.2" }] }),
        }),
      "launchgate:apps[0].image is ghcr.io/blazetv/api:1.2: not pinned by digest",
    ],
    [
      "planRelease, an app without a port",
      () =>
        planRelease({
          release: { commit: NEW, images: stagingImages },
          targetConfig: prodConfig({ apps: [prodApps[0], { name: "admin", image: prodApps[1]!.image }] }),
          targetOutputs: prodOutputs,
        }),
      "launchgate:apps[1].port: got nothing; expected a value of type number (required)",
    ],
    [
      "planRelease, no apps",
      () =>
        planRelease({
          release: { commit: NEW, images: stagingImages },
          targetConfig: prodConfig({ apps: [] }),
          targetOutputs: prodOutputs,
        }),
      "launchgate:apps: got []; expected at least 1 item(s)",
    ],
    [
      "planRollback, a flag that is not a boolean",
      () =>
        planRollback({
          targetConfig: prodConfig({ flags: { REAL_MONEY_ENABLED: { enabled: "yes" } } }),
          targetOutputs: prodOutputs,
          disableFlags: ["REAL_MONEY_ENABLED"],
        }),
      'launchgate:flags.REAL_MONEY_ENABLED.enabled: got "yes"; expected a boolean',
    ],
    [
      "decideSourceMatchesGate, a misspelt release key",
      () => decideSourceMatchesGate("staging", prodConfig({ release: { commit: OLD, stagingStak: "x" } })),
      'launchgate:release.stagingStak: got "x"; expected no such key (a typo? known: commit, stagingStack, evidenceDir, previous, rollout, verify, canaryWeight)',
    ],
  ];
  for (const [name, run, line] of refusals) {
    test(`refuses ${name}, naming key, value and expectation`, () => {
      const r = run();
      assert.ok(!r.ok, "expected a refusal");
      assert.ok(
        r.reason!.split("\n").some((l) => l.trim() === line || l.trim() === `- ${line}`),
        r.reason,
      );
    });
  }
  test("needsVerification refuses a verification the schema rejects", () => {
    assert.throws(
      () => needsVerification(prodConfig({ verification: { commit: NEW, passed: "yes" } }), NEW),
      /launchgate:verification\.passed: got "yes"; expected a boolean/,
    );
  });
});

test("needsVerification: only a passed verification for this commit counts", () => {
  const cfg = (v?: unknown) => prodConfig(v === undefined ? {} : { verification: v });
  assert.equal(needsVerification(cfg(), NEW), true);
  assert.equal(
    needsVerification(cfg({ commit: NEW, passed: true, finishedAt: "2026-11-24T00:00:00Z" }), NEW),
    false,
  );
  assert.equal(
    needsVerification(cfg({ commit: OLD, passed: true, finishedAt: "2026-11-24T00:00:00Z" }), NEW),
    true,
  );
  assert.equal(
    needsVerification(cfg({ commit: NEW, passed: false, finishedAt: "2026-11-24T00:00:00Z" }), NEW),
    true,
  );
});

test("planRecordVerification writes launchgate:verification for the release", () => {
  assert.deepEqual(planRecordVerification(NEW, NOW), {
    remove: [],
    set: {
      "launchgate:verification.commit": NEW,
      "launchgate:verification.passed": "true",
      "launchgate:verification.finishedAt": "2026-11-24T12:00:00.000Z",
    },
  });
});

test("policy flags and the rollback command name the target stack", () => {
  assert.deepEqual(policyArgs("production"), {
    policyPacks: ["policies"],
    policyPackConfigs: ["policies/config/production.json"],
  });
  assert.deepEqual(policyArgs("production", "/tmp/x/production.json").policyPackConfigs, [
    "/tmp/x/production.json",
  ]);
  assert.equal(rollbackCommand("production"), "npm run rollback -- --stack production --yes");
});

describe("smoke tests", () => {
  const spec = smokeSpecSchema.parse({
    checks: [
      { name: "feed", path: "/api/blazetv/feed?limit=1", jsonNonEmpty: "0.id" },
      {
        name: "admin",
        path: "/api/admin/analytics/overview",
        headers: { Authorization: "Bearer ${ADMIN_TOKEN}" },
      },
    ],
  });
  test("plans health per routed app, then the configured checks", () => {
    const reqs = planSmokeTests({
      baseUrl: "https://blazetv.example.com/",
      apps: [
        { name: "api", route: "/", healthPath: "/health" },
        { name: "worker" },
        { name: "admin", route: "/admin", healthPath: "/healthz" },
      ],
      spec,
      env: { ADMIN_TOKEN: "t0k" },
    });
    assert.deepEqual(
      reqs.map((r) => [r.name, r.url, r.headers]),
      [
        ["health:api", "https://blazetv.example.com/health", {}],
        ["health:admin", "https://blazetv.example.com/admin/healthz", {}],
        ["feed", "https://blazetv.example.com/api/blazetv/feed?limit=1", {}],
        [
          "admin",
          "https://blazetv.example.com/api/admin/analytics/overview",
          { Authorization: "Bearer t0k" },
        ],
      ],
    );
  });
  test("a missing token variable is an error, never an empty header", () => {
    assert.throws(() => expandEnv("Bearer ${ADMIN_TOKEN}", {}), /needs environment variable ADMIN_TOKEN/);
  });
  const judged: [string, Parameters<typeof judgeResponse>, string][] = [
    ["status ok", [{ expectStatus: 200 }, 200, "ok"], ""],
    ["status 500", [{ expectStatus: 200 }, 500, "boom"], "HTTP 500, expected 200"],
    ["expected 401", [{ expectStatus: 401 }, 401, ""], ""],
    ["includes", [{ expectStatus: 200, bodyIncludes: "hls_url" }, 200, '{"hls_url":"x"}'], ""],
    [
      "includes missing",
      [{ expectStatus: 200, bodyIncludes: "hls_url" }, 200, "{}"],
      'body does not contain "hls_url"',
    ],
    ["matches", [{ expectStatus: 200, bodyMatches: "^[\\[{]" }, 200, "[]"], ""],
    [
      "no match",
      [{ expectStatus: 200, bodyMatches: "^[\\[{]" }, 200, "<html>"],
      "body does not match /^[\\[{]/",
    ],
    ["feed has an id", [{ expectStatus: 200, jsonNonEmpty: "0.id" }, 200, '[{"id":"v1"}]'], ""],
    ["feed empty", [{ expectStatus: 200, jsonNonEmpty: "0.id" }, 200, "[]"], "JSON 0.id is empty"],
    ["not json", [{ expectStatus: 200, jsonNonEmpty: "" }, 200, "<html>"], "body is not JSON"],
  ];
  for (const [name, args, want] of judged)
    test(`judge: ${name}`, () => assert.equal(judgeResponse(...args), want));
});
