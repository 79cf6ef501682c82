/**
 * The harness's own strictness, without a Docker engine: the hand-written fixture of recorded
 * local-stack inputs validates, and any field the harness does not map fails by name.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CONTAINER,
  Harness,
  PROVIDER_WAIT_POLL_MS,
  type RunningContainer,
  UnmappedFieldError,
  durationNs,
  imageRepo,
  tarOneFile,
} from "../support/harness";
import { fixtureResources, fixtureSecrets } from "../fixtures/services/local-stack";

const imageMap = {
  postgres: "launchgate-test/postgres:x",
  "edoburu/pgbouncer": "launchgate-test/pgbouncer:x",
  redis: "launchgate-test/redis:x",
  nginx: "launchgate-test/nginx:x",
  "ghcr.io/blazetv/api": "launchgate-test/app:x",
};
const fixture = () => fixtureResources(fixtureSecrets(), { certPem: "CERT", keyPem: "KEY" });

describe("harness (no engine)", () => {
  it("validates every resource of the fixture", () => {
    const h = new Harness({ imageMap, runId: "lg-svc-unit", log: () => undefined });
    for (const r of fixture()) h.validate(r);
    assert.ok(h.rewrites.includes("postgres:16.4-bookworm → launchgate-test/postgres:x"));
  });

  it("fails on an unmapped field, top-level or nested, naming it", () => {
    const h = new Harness({ imageMap, runId: "lg-svc-unit", log: () => undefined });
    const box = fixture().find((r) => r.type === CONTAINER && r.name === "app-api")!;
    assert.throws(
      () => h.validate({ ...box, inputs: { ...box.inputs, gpus: "all" } }),
      (e: Error) => e instanceof UnmappedFieldError && e.field === "gpus",
    );
    const hc = { ...box.inputs.healthcheck, startInterval: undefined, frequency: "1s" };
    assert.throws(
      () => h.validate({ ...box, inputs: { ...box.inputs, healthcheck: hc } }),
      (e: Error) => e instanceof UnmappedFieldError && e.field === "healthcheck.frequency",
    );
    assert.throws(
      () => h.validate({ ...box, inputs: { ...box.inputs, privileged: true } }),
      (e: Error) => e instanceof UnmappedFieldError && e.field === "privileged",
    );
  });

  it("refuses an image without a local test image", () => {
    const h = new Harness({ imageMap: {}, runId: "lg-svc-unit", log: () => undefined });
    const box = fixture().find((r) => r.type === CONTAINER && r.name === "postgres")!;
    assert.throws(() => h.validate(box), /postgres:16.4-bookworm has no local test image/);
  });

  it("parses Go durations and image repositories; builds a provider-shaped upload archive", () => {
    assert.equal(durationNs("1m30s"), 90e9);
    assert.equal(durationNs("500ms"), 5e8);
    assert.throws(() => durationNs("10"), /not a duration/);
    assert.equal(imageRepo("ghcr.io/blazetv/api:1.4.0@sha256:" + "a".repeat(64)), "ghcr.io/blazetv/api");
    assert.equal(imageRepo("localhost:5000/x"), "localhost:5000/x");
    const tar = tarOneFile("/etc/nginx/launchgate/nginx.conf", Buffer.from("x"), 0o600);
    assert.equal(tar.subarray(0, 29).toString(), "etc/nginx/launchgate/nginx.conf".slice(0, 29));
    assert.equal(tar.length % 512, 0);
  });

  it("refuses a healthcheck start interval below Engine API 1.44, as the provider's client does", async () => {
    const box = fixture().find((r) => r.type === CONTAINER && r.name === "app-api")!;
    const starting = {
      ...box,
      inputs: { ...box.inputs, healthcheck: { ...box.inputs.healthcheck, startInterval: "250ms" } },
    };
    const withEngine = (api: string) => {
      const h = new Harness({ imageMap, runId: "lg-svc-unit", log: () => undefined });
      (h as unknown as { apiJson: () => Promise<unknown> }).apiJson = async () => ({ ApiVersion: api });
      return h;
    };
    await assert.rejects(
      withEngine("1.41").refuseWhatTheClientWould([starting]),
      /app-api: "specify health-check start interval" requires API version 1\.44, but the Docker daemon API version is 1\.41/,
    );
    await withEngine("1.45").refuseWhatTheClientWould([starting]);
    // Without a start interval the engine is not even asked.
    const unasked = withEngine("1.41");
    (unasked as unknown as { apiJson: () => Promise<unknown> }).apiJson = async () =>
      assert.fail("asked the engine");
    await unasked.refuseWhatTheClientWould([box]);
  });

  it("sees a `wait` container healthy as the docker provider does: an inspect at the start, then one per PROVIDER_WAIT_POLL_MS", async () => {
    // Docker marks it healthy between the provider's 2nd and 3rd inspect (its state is scripted
    // per inspect call); the provider only reports the create at the 3rd, two polls later.
    const states = ["starting", "starting", "healthy"];
    let inspects = 0;
    const h = new Harness({
      imageMap,
      runId: "lg-svc-unit",
      log: () => undefined,
      engine: { socketPath: "/nonexistent.sock", cliEnv: {}, placement: "as-declared" },
    });
    h.inspect = async () => ({
      State: {
        Running: true,
        Status: "running",
        Health: { Status: states[inspects++] ?? "healthy", Log: [] },
      },
    });
    const c: RunningContainer = {
      declaredName: "api",
      dockerName: "api",
      id: "x",
      resource: { type: CONTAINER, name: "app-api", inputs: {} },
      healthBudgetMs: 30_000,
      waitTimeoutMs: 60_000,
      oneShot: false,
      startedByCommand: false,
      startedAt: Date.now(),
    };
    const t0 = Date.now();
    await h.waitHealthyAsProvider(c);
    const took = Date.now() - t0;
    assert.equal(inspects, 3, "one inspect per poll, none in between");
    assert.ok(took >= 2 * PROVIDER_WAIT_POLL_MS - 20, `two whole polls: ${took} ms`);
    assert.ok(took < 2 * PROVIDER_WAIT_POLL_MS + 1500, `not more: ${took} ms`);
  });
});
