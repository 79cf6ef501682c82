/**
 * Why `npm run rollback` relaxes exactly ROLLBACK_ADVISORY_GATES, shown through the real offline
 * checker and policy pack: production's previous release, with valid evidence for the current
 * one, is refused by the release-approval gates under the normal pack config; with
 * `rollbackPackConfig` only `flags-attested` still refuses (REAL_MONEY_ENABLED needs counsel
 * approval for that commit), and with the flag switched off (`--disable-flag`) it passes while
 * every other policy stays mandatory.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { mergePackConfig } from "../../tools/checker/check";
import { ROLLBACK_ADVISORY_GATES, rollbackPackConfig } from "../../tools/promote/decisions";
import { readStackFile } from "../../stacks/stack-file";
import { ProductionFixture, ROOT, productionRelease, refusedBy, stopPack } from "../gates/support";

after(stopPack);

describe("rollback through the real policy pack", { timeout: 180_000 }, () => {
  let fx: ProductionFixture;
  let rollbackConfig: Record<string, unknown>;
  let packFile: string;

  before(async () => {
    fx = await new ProductionFixture().init();
    fx.write();
    const release = productionRelease() as {
      commit: string;
      previous: { commit: string; images: Record<string, string> };
    };
    const apps = (readStackFile(ROOT, "production").values.apps as { name: string; image: string }[]).map(
      (a) => ({
        ...a,
        image: release.previous.images[`app:${a.name}`]!,
      }),
    );
    const currentApps = Object.fromEntries(
      Object.entries(fx.binding.images).filter(([k]) => k.startsWith("app:")),
    );
    // What planRollback sets: previous images and commit; the release rolled back from as previous.
    rollbackConfig = {
      apps,
      release: {
        ...release,
        evidenceDir: fx.dir,
        commit: release.previous.commit,
        previous: { commit: release.commit, images: currentApps },
      },
    };
    const base = JSON.parse(
      fs.readFileSync(path.join(ROOT, "policies/config/production.json"), "utf8"),
    ) as Record<string, unknown>;
    packFile = path.join(fx.dir, "rollback-pack-config.json");
    fs.writeFileSync(
      packFile,
      JSON.stringify(rollbackPackConfig(mergePackConfig(base, fx.packConfigOverrides()))),
    );
  });

  test("the current release passes (the fixture's evidence is valid)", async () => {
    const r = await fx.check();
    assert.deepEqual(refusedBy(r), []);
  });

  test("the previous release under the normal config: refused by the release-approval gates", async () => {
    const r = await fx.check({ configOverrides: rollbackConfig });
    assert.deepEqual(refusedBy(r), ["flags-attested", ...ROLLBACK_ADVISORY_GATES].sort());
  });

  test("under the rollback pack config: only flags-attested still refuses", async () => {
    const r = await fx.check({
      configOverrides: rollbackConfig,
      packConfigPath: packFile,
      packConfigOverrides: {},
    });
    assert.deepEqual(refusedBy(r), ["flags-attested"]);
    const advisory = new Set(
      r.findings.filter((f) => f.enforcementLevel === "advisory").map((f) => f.policyName),
    );
    for (const g of ROLLBACK_ADVISORY_GATES) assert.ok(advisory.has(g), `${g} reported as advisory`);
  });

  test("with --disable-flag REAL_MONEY_ENABLED it passes; the baseline policies stay mandatory", async () => {
    const flags = readStackFile(ROOT, "production").values.flags as Record<string, Record<string, unknown>>;
    const r = await fx.check({
      configOverrides: {
        ...rollbackConfig,
        flags: { ...flags, REAL_MONEY_ENABLED: { ...flags.REAL_MONEY_ENABLED, enabled: false } },
      },
      packConfigPath: packFile,
      packConfigOverrides: {},
    });
    assert.deepEqual(refusedBy(r), []);
    assert.equal(r.passed, true);
    const mandatory = Object.entries(r.enforcement)
      .filter(([, l]) => l === "mandatory")
      .map(([p]) => p);
    for (const p of ["flags-attested", "backups-tested", "rollback-ready", "monitoring-configured"])
      assert.ok(mandatory.includes(p), `${p} stays mandatory`);
    for (const g of ROLLBACK_ADVISORY_GATES) assert.equal(r.enforcement[g], "advisory");
  });
});
