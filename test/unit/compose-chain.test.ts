/**
 * The bench's compose baseline for the program's own chain (test/services/compose.ts
 * `appChainComposeFile`): the order a compose user writes (Postgres healthy → migration exited 0
 * → app healthy), the program's healthchecks verbatim, and `$` escaped from compose's interpolation.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { appChainComposeFile } from "../services/compose";

describe("appChainComposeFile", () => {
  const spec = {
    postgresImage: "pg:x",
    redisImage: "redis:x",
    appImage: "app:x",
    postgresHealth: ["CMD-SHELL", 'i=0; until pg_isready; do i=$((i+1)); [ "$i" -lt 40 ] || exit 1; done'],
    migrate: { command: ["node", "dist/migrate.js"] },
    port: 3000,
    appHealth: ["CMD", "node", "-e", "probe()"],
    postgresTiming: { interval: "1s", timeout: "5s", retries: 10, startPeriod: "60s" },
    appTiming: { interval: "5s", timeout: "5s", retries: 2, startPeriod: "20s", startInterval: "250ms" },
  };
  const file = appChainComposeFile(spec, "pw");
  const parsed = JSON.parse(file) as {
    services: Record<
      string,
      {
        depends_on?: Record<string, { condition: string }>;
        healthcheck?: { test: string[]; interval: string };
        entrypoint?: string[];
      }
    >;
  };
  test("postgres healthy → migration exited 0 → the app healthy", () => {
    const s = parsed.services;
    assert.deepEqual(Object.keys(s).sort(), ["api", "migrate", "postgres", "redis"]);
    assert.deepEqual(s.migrate!.depends_on, { postgres: { condition: "service_healthy" } });
    assert.equal(s.api!.depends_on!.migrate!.condition, "service_completed_successfully");
    assert.equal(s.migrate!.entrypoint, undefined, "the image's own entrypoint, as the program's");
    assert.deepEqual((s.migrate as { command?: string[] }).command, spec.migrate.command);
  });
  test("the program's healthchecks and their timing (start interval where declared), with every $ doubled for compose", () => {
    const pg = parsed.services.postgres!.healthcheck!;
    assert.equal(pg.test[1], spec.postgresHealth[1]!.replace(/\$/g, "$$$$"));
    assert.ok(!/(^|[^$])\$([^$]|$)/.test(file), "no single $ left");
    assert.deepEqual(parsed.services.api!.healthcheck!.test, spec.appHealth);
    assert.deepEqual(parsed.services.api!.healthcheck, {
      test: spec.appHealth,
      interval: "5s",
      timeout: "5s",
      retries: 2,
      start_period: "20s",
      start_interval: "250ms",
    });
    assert.equal(parsed.services.postgres!.healthcheck!.interval, "1s");
    assert.equal(
      (parsed.services.postgres!.healthcheck as { start_interval?: string }).start_interval,
      undefined,
    );
  });
});
