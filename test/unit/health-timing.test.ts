/**
 * Healthcheck timing by the engine's API version (issue 12: healthy within ~1–2 s of readiness,
 * "a short start interval where the engine supports it, else a shorter interval"): the function,
 * the config key `launchgate:host.engineApiVersion`, the program's containers and Swarm services
 * for both kinds of engine, and the docker step's check that the engine speaks the declared API.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import {
  DEFAULT_ENGINE_API_VERSION,
  HEALTH_INTERVAL,
  HEALTH_START_INTERVAL,
  HEALTH_STEADY_INTERVAL_SECONDS,
  START_INTERVAL_MIN_API,
  engineApiAtLeast,
  healthTiming,
} from "../../components/app/hardening";
import { parseConfig } from "../../stacks/config";
import { configProblems } from "../support/config-problems";
import { readStackFile } from "../../stacks/stack-file";
import { swarmOverrides } from "../gates/support";

const ROOT = path.resolve(__dirname, "../..");
const CONTAINER = "docker:index/container:Container";
const SERVICE = "docker:index/service:Service";

type Health = { interval?: string; startInterval?: string; retries?: number; tests?: string[] };

describe("engineApiAtLeast / healthTiming", () => {
  test("API versions compare numerically, not as text", () => {
    assert.equal(engineApiAtLeast("1.41", "1.44"), false);
    assert.equal(engineApiAtLeast("1.44", "1.44"), true);
    assert.equal(engineApiAtLeast("1.45", "1.44"), true);
    assert.equal(engineApiAtLeast("1.9", "1.41"), false);
    for (const bad of ["20.10", "v1.41", "1.044", "2.0", "1"])
      assert.throws(() => engineApiAtLeast(bad, "1.44"), /not a Docker Engine API version \(1\.<minor>/, bad);
  });

  test("below the start interval's API (and for Swarm services): every second, one retry per second", () => {
    for (const api of [undefined, "1.41", "1.43"])
      assert.deepEqual(healthTiming(api, 10), { interval: HEALTH_INTERVAL, retries: 10 }, String(api));
  });

  test("from it: a short start interval, a longer steady one, the same time to unhealthy (≥ 2 retries)", () => {
    assert.equal(START_INTERVAL_MIN_API, "1.44");
    for (const [after, retries] of [
      [10, 2],
      [5, 2],
      [12, 3],
    ] as const) {
      const t = healthTiming("1.45", after);
      assert.deepEqual(t, {
        interval: `${HEALTH_STEADY_INTERVAL_SECONDS}s`,
        startInterval: HEALTH_START_INTERVAL,
        retries,
      });
      assert.ok(t.retries * HEALTH_STEADY_INTERVAL_SECONDS >= after);
    }
  });

  test("bad input is refused by name", () => {
    assert.throws(() => healthTiming("1.45", 0), /unhealthyAfterSeconds must be a whole number ≥ 1, got 0/);
    assert.throws(() => healthTiming("latest", 5), /not a Docker Engine API version/);
  });
});

describe("launchgate:host.engineApiVersion", () => {
  const local = () => structuredClone(readStackFile(ROOT, "local").values) as Record<string, unknown>;
  const withApi = (v: unknown) => {
    const raw = local();
    return { ...raw, host: { ...(raw.host as object), engineApiVersion: v } };
  };
  const problems = (raw: Record<string, unknown>): string[] => configProblems(raw, "local");

  test(`defaults to ${DEFAULT_ENGINE_API_VERSION} (Debian 12's docker.io); a later version is accepted`, () => {
    assert.equal(parseConfig(local(), "local").host.engineApiVersion, DEFAULT_ENGINE_API_VERSION);
    assert.equal(parseConfig(withApi("1.45"), "local").host.engineApiVersion, "1.45");
  });

  test("a Docker release number, an older API or a number is refused, naming the key and what is expected", () => {
    const cases: [unknown, RegExp][] = [
      [
        "26.1",
        /launchgate:host\.engineApiVersion: got "26\.1"; expected a Docker Engine API version such as 1\.41, not the Docker release/,
      ],
      ["1.40", /launchgate:host\.engineApiVersion: got "1\.40"; expected Docker Engine API 1\.41/],
      [
        "v1.45",
        /launchgate:host\.engineApiVersion: got "v1\.45"; expected a Docker Engine API version such as 1\.41/,
      ],
      [
        1.45,
        /launchgate:host\.engineApiVersion: got 1\.45; expected a string such as '1\.45' \(quote it: YAML reads 1\.45 as a number\)/,
      ],
      [
        "1.044",
        /launchgate:host\.engineApiVersion: got "1\.044"; expected a Docker Engine API version such as 1\.41/,
      ],
    ];
    for (const [v, message] of cases) {
      const p = problems(withApi(v));
      assert.equal(p.length, 1, JSON.stringify(p));
      assert.match(p[0]!, message);
    }
  });
});

describe("the program's healthchecks by engine", () => {
  const healthOf = (r: { inputs: Record<string, unknown> }) => r.inputs.healthcheck as Health | undefined;
  const roleOf = (r: { inputs: Record<string, unknown> }) =>
    ((r.inputs.labels ?? []) as { label: string; value: string }[]).find((l) => l.label === "launchgate.role")
      ?.value;

  test("on the default engine (1.41): no container asks for a start interval, each probes every second", async () => {
    const { recordProgram } = await import("../services/record");
    const rec = await recordProgram("local");
    const checked = rec.all.filter((r) => r.type === CONTAINER && healthOf(r) && roleOf(r) !== "vps");
    assert.ok(checked.length >= 7, `${checked.length} containers with a healthcheck`);
    for (const c of checked) {
      assert.equal(healthOf(c)!.startInterval, undefined, c.name);
      assert.equal(healthOf(c)!.interval, HEALTH_INTERVAL, c.name);
    }
  });

  test("on an engine from 1.44: every workload container probes every 250 ms until healthy, every 5 s after", async () => {
    const { recordProgram } = await import("../services/record");
    const raw = readStackFile(ROOT, "local").values;
    const rec = await recordProgram("local", { host: { ...(raw.host as object), engineApiVersion: "1.45" } });
    const checked = rec.all.filter((r) => r.type === CONTAINER && healthOf(r) && roleOf(r) !== "vps");
    assert.deepEqual(
      [...new Set(checked.map(roleOf))].sort(),
      ["app", "datastore", "proxy"],
      "apps, data stores and the proxy",
    );
    for (const c of checked) {
      const h = healthOf(c)!;
      assert.equal(h.startInterval, HEALTH_START_INTERVAL, c.name);
      assert.equal(h.interval, `${HEALTH_STEADY_INTERVAL_SECONDS}s`, c.name);
      assert.ok((h.retries ?? 0) >= 2, `${c.name}: ${h.retries} retries`);
    }
    // The hardened host's docker step is told the same version, and refuses an older engine.
    const step = rec.all.find((r) => r.name.endsWith("-docker") && r.type.startsWith("command:"));
    assert.ok(step, "the docker step");
    assert.match(String(step.inputs.stdin), /export LG_ENGINE_API_MIN='?1\.45'?/);
  });

  test("Swarm services never get a start interval (the provider's service spec has none), whatever the engine", async () => {
    const { recordProgram } = await import("../services/record");
    const raw = readStackFile(ROOT, "local").values;
    const rec = await recordProgram("local", {
      ...swarmOverrides(),
      host: { ...(raw.host as object), engineApiVersion: "1.45" },
    });
    const services = rec.all.filter((r) => r.type === SERVICE);
    assert.ok(services.length >= 5, `${services.length} services`);
    for (const s of services) {
      const h =
        (s.inputs.taskSpec as { containerSpec: { healthcheck?: Health } }).containerSpec.healthcheck ?? {};
      assert.equal(h.startInterval, undefined, s.name);
      if (h.tests) assert.equal(h.interval, HEALTH_INTERVAL, s.name);
    }
  });
});

describe("lib-engine.sh require_engine_api: the docker step refuses an engine below the declared API", () => {
  const lib = ["lib.sh", "lib-engine.sh"]
    .map((f) => fs.readFileSync(path.join(ROOT, "components/host/scripts", f), "utf8"))
    .join("\n");
  const run = (engineApi: string, min: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-engine-api-"));
    try {
      fs.writeFileSync(path.join(dir, "docker"), `#!/bin/sh\necho ${engineApi}\n`, { mode: 0o755 });
      return spawnSync("bash", ["-c", `${lib}\nrequire_engine_api "$1"`, "sh", min], {
        encoding: "utf8",
        env: { PATH: `${dir}:${process.env.PATH}`, LG_STEP: "docker" },
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  test("at or above: passes, saying so", () => {
    for (const [have, min] of [
      ["1.41", "1.41"],
      ["1.45", "1.44"],
      ["1.45", "1.9"],
    ]) {
      const r = run(have!, min!);
      assert.equal(r.status, 0, `${have} ≥ ${min}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`engine API ${have.replace(".", "\\.")}`));
    }
  });
  test("below: fails, naming the config key, both versions and the fix", () => {
    for (const [have, min] of [
      ["1.41", "1.44"],
      ["1.9", "1.41"],
    ]) {
      const r = run(have!, min!);
      assert.notEqual(r.status, 0, `${have} < ${min}`);
      assert.match(
        r.stderr,
        new RegExp(
          `Docker Engine API ${have.replace(".", "\\.")}, below launchgate:host\\.engineApiVersion ${min.replace(".", "\\.")}; declare ${have.replace(".", "\\.")} there or upgrade the engine`,
        ),
      );
    }
  });
});
