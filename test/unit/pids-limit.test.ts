/**
 * PIDs cgroup limits (CIS Docker 5.29): the command text and its parser (contract/pids-limits.ts),
 * the applier each long-running container gets and the starter of each one-shot container
 * (components/app/pids-limit.ts), the config by role with its validation, and the whole local
 * stack: every container has exactly one applier with its role's limit, one-shots a starter.
 */
import assert from "node:assert/strict";
import { configProblems } from "../support/config-problems";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import * as docker from "@pulumi/docker";
import { hardened } from "../../components/app/hardening";
import { limitPids, startOneShot } from "../../components/app/pids-limit";
import {
  DEFAULT_PIDS_LIMITS,
  oneShotStartCommand,
  parsePidsLimitCommand,
  parseServicePidsLimitCommand,
  pidsLimitCommand,
  servicePidsLimitCommand,
} from "../../contract/pids-limits";
import { parseConfig, postgresPidsLimit } from "../../stacks/config";
import { readStackFile } from "../../stacks/stack-file";
import { swarmOverrides } from "../gates/support";
import { installMocks, recordOptions, settle, type Recorder } from "../support/mocks";

const ROOT = path.join(__dirname, "..", "..");
const CMD =
  "docker update --pids-limit 256 -- app-api-1a2b3c4d >/dev/null && " +
  `test "$(docker inspect --format '{{.HostConfig.PidsLimit}}' -- app-api-1a2b3c4d)" = "256"`;

describe("pidsLimitCommand / parsePidsLimitCommand", () => {
  test("applies, then reads the limit back", () => {
    assert.equal(pidsLimitCommand(256, "app-api-1a2b3c4d"), CMD);
    assert.deepEqual(parsePidsLimitCommand(CMD), { limit: 256, container: "app-api-1a2b3c4d" });
  });
  test("parses 0 and -1 (so a policy can call them unlimited)", () => {
    assert.deepEqual(parsePidsLimitCommand(pidsLimitCommand(-1, "redis-queue")), {
      limit: -1,
      container: "redis-queue",
    });
    assert.equal(parsePidsLimitCommand(pidsLimitCommand(0, "redis-queue"))?.limit, 0);
  });
  test("anything else is not an applier", () => {
    for (const text of [
      CMD.replace("-- app-api-1a2b3c4d)", "-- other)"),
      CMD.replace('= "256"', '= "512"'),
      `${CMD}; rm -rf /`,
      "docker update --pids-limit unlimited -- redis-queue",
      "true",
    ])
      assert.equal(parsePidsLimitCommand(text), undefined, text);
  });
  test("refuses a non-integer limit and a name Docker would not accept", () => {
    assert.throws(() => pidsLimitCommand(1.5, "x"), /PIDs limit must be an integer, got 1.5/);
    assert.throws(() => pidsLimitCommand(10, "a; reboot"), /not a container name: "a; reboot"/);
  });
});

describe("servicePidsLimitCommand / parseServicePidsLimitCommand (Swarm, Engine API 1.41)", () => {
  const SVC =
    "docker service update --detach=false --limit-pids 256 -- api >/dev/null && " +
    `test "$(docker service inspect --format '{{.Spec.TaskTemplate.Resources.Limits.Pids}}' -- api)" = "256"`;
  test("sets the limit, waits for the rolling update, then reads it back from the spec", () => {
    assert.equal(servicePidsLimitCommand(256, "api"), SVC);
    assert.deepEqual(parseServicePidsLimitCommand(SVC), { limit: 256, service: "api" });
    assert.equal(parseServicePidsLimitCommand(servicePidsLimitCommand(-1, "api"))?.limit, -1);
  });
  test("a container's command is not a service's, nor the other way round; anything else is neither", () => {
    assert.equal(parseServicePidsLimitCommand(pidsLimitCommand(256, "api")), undefined);
    assert.equal(parsePidsLimitCommand(SVC), undefined);
    for (const text of [
      SVC.replace("-- api)", "-- other)"),
      SVC.replace('= "256"', '= "512"'),
      SVC.replace("--detach=false ", ""),
      `${SVC}; rm -rf /`,
    ])
      assert.equal(parseServicePidsLimitCommand(text), undefined, text);
  });
  test("refuses a non-integer limit and a name Docker would not accept", () => {
    assert.throws(() => servicePidsLimitCommand(1.5, "x"), /PIDs limit must be an integer, got 1.5/);
    assert.throws(() => servicePidsLimitCommand(10, "a b"), /not a service name: "a b"/);
  });
});

describe("oneShotStartCommand: limit, check, then start attached under a timeout", () => {
  const ONE =
    `${CMD} && { timeout 600 docker start --attach -- app-api-1a2b3c4d; rc=$?; ` +
    `[ "$rc" -ne 124 ] || docker kill -- app-api-1a2b3c4d >/dev/null 2>&1; exit "$rc"; }`;
  test("the update and check first, then the start; parsed back with its timeout", () => {
    assert.equal(oneShotStartCommand(256, "app-api-1a2b3c4d", 600), ONE);
    assert.deepEqual(parsePidsLimitCommand(ONE), {
      limit: 256,
      container: "app-api-1a2b3c4d",
      start: { timeoutSeconds: 600 },
    });
    assert.equal(parsePidsLimitCommand(CMD)?.start, undefined, "the plain form starts nothing");
  });
  test("anything else after the check is not the one-shot form", () => {
    for (const text of [
      ONE.replace("--attach -- app-api-1a2b3c4d", "--attach -- other"),
      ONE.replace("docker kill -- app-api-1a2b3c4d", "docker kill -- other"),
      ONE.replace("timeout 600", "timeout 0"),
      `${ONE}; reboot`,
      `${CMD} && docker start -- app-api-1a2b3c4d`,
      `${CMD}; docker start --attach -- app-api-1a2b3c4d`,
    ])
      assert.equal(parsePidsLimitCommand(text), undefined, text);
  });
  test("refuses a timeout that is not a whole number of seconds ≥ 1", () => {
    for (const t of [0, -5, 1.5])
      assert.throws(() => oneShotStartCommand(64, "x", t), /one-shot timeout must be a whole number/);
  });
});

describe("limitPids", () => {
  let rec: Recorder;
  let opts: ReturnType<typeof recordOptions>;
  before(async () => {
    rec = await installMocks("local");
    opts = recordOptions();
    const c = new docker.Container("redis-queue", { name: "redis-queue", image: "redis:7.2" });
    limitPids(
      "redis-queue",
      c,
      { limit: 512, engine: { ssh: { host: "h", port: 22, user: "d", privateKey: "k" } } },
      {},
    );
    const vps = new docker.Container("vps-container", { name: "launchgate-vps", image: "vps:1" });
    limitPids("vps-container", vps, { limit: 8192, engine: { local: true } }, {});
    const service = (name: string, image: string) =>
      new docker.Service(name, { name: "api", taskSpec: { containerSpec: { image } } });
    const job = new docker.Container("migrate", {
      ...hardened({ memoryMb: 64, cpus: 0.5, kind: "job" }),
      name: "api-migrate-1",
      image: "api:1",
    });
    startOneShot(
      "migrate",
      job,
      { limit: 64, timeoutSeconds: 30, engine: { ssh: { host: "h", port: 22, user: "d", privateKey: "k" } } },
      {},
    );
    for (const [name, image] of [
      ["svc-a", "api:1"],
      ["svc-b", "api:1"],
      ["svc-c", "api:2"],
    ] as const)
      limitPids(name, service(name, image), { limit: 256, engine: { local: true } }, {});
    await settle();
  });
  test("over SSH on the VPS's engine, triggered by the container id, after the container", () => {
    const r = rec.one("command:remote:Command", "redis-queue-pids-limit");
    assert.equal(r.inputs.create, pidsLimitCommand(512, "redis-queue"));
    assert.deepEqual(r.inputs.triggers, [
      "launchgate.role=pids-limit",
      "launchgate.pids-limit=512",
      "redis-queue-id",
    ]);
    assert.equal(r.inputs.delete, undefined, "nothing to delete: the limit goes with its container");
    assert.ok(
      opts
        .of("command:remote:Command", "redis-queue-pids-limit")
        .dependencies.some((u) => u.endsWith("docker:index/container:Container::redis-queue")),
    );
  });
  test("locally for a container on the local engine", () => {
    const r = rec.one("command:local:Command", "vps-container-pids-limit");
    assert.equal(r.inputs.create, pidsLimitCommand(8192, "launchgate-vps"));
  });
  test("a Swarm service: docker service update on the manager, triggered by its id and its spec's digest", () => {
    const r = rec.one("command:local:Command", "svc-a-pids-limit");
    assert.equal(r.inputs.create, servicePidsLimitCommand(256, "api"));
    const triggers = r.inputs.triggers as string[];
    assert.deepEqual(triggers.slice(0, 3), [
      "launchgate.role=pids-limit",
      "launchgate.pids-limit=256",
      "svc-a-id",
    ]);
    assert.match(triggers[3]!, /^spec-sha256=[0-9a-f]{64}$/);
    assert.ok(
      opts
        .of("command:local:Command", "svc-a-pids-limit")
        .dependencies.some((u) => u.endsWith("docker:index/service:Service::svc-a")),
    );
    // Every provider update writes a spec without the limit: a changed spec runs the command again.
    const digest = (n: string) =>
      (rec.one("command:local:Command", `${n}-pids-limit`).inputs.triggers as string[])[3];
    assert.equal(digest("svc-a"), digest("svc-b"), "same spec, same digest");
    assert.notEqual(digest("svc-a"), digest("svc-c"), "another image, another digest");
  });
  test("a one-shot: created stopped, started by its command after the limit, job output secret", () => {
    const c = rec.one("docker:index/container:Container", "migrate").inputs;
    assert.deepEqual(
      [c.start, c.attach, c.logs, c.wait, c.mustRun, c.rm, c.restart],
      [false, false, false, false, false, false, "no"],
    );
    const r = rec.one("command:remote:Command", "migrate-pids-limit");
    assert.equal(r.inputs.create, oneShotStartCommand(64, "api-migrate-1", 30));
    assert.deepEqual(r.inputs.triggers, [
      "launchgate.role=pids-limit",
      "launchgate.pids-limit=64",
      "launchgate.pids-limit-starts=true",
      "migrate-id",
    ]);
    const o = opts.of("command:remote:Command", "migrate-pids-limit");
    assert.ok(o.dependencies.some((u) => u.endsWith("docker:index/container:Container::migrate")));
    for (const out of ["stdout", "stderr"]) assert.ok(o.additionalSecretOutputs.includes(out), out);
  });
  test("refuses 0, -1 and fractions", () => {
    for (const limit of [0, -1, 2.5]) {
      const c = new docker.Container(`c${limit}`, { image: "x:1" });
      assert.throws(
        () => limitPids(`c${limit}`, c, { limit, engine: { local: true } }, {}),
        new RegExp(`PIDs limit must be a positive integer, got ${limit}`),
      );
    }
  });
});

describe("config: pidsLimits by role", () => {
  const local = () => structuredClone(readStackFile(ROOT, "local").values);
  const problems = (raw: Record<string, unknown>): string[] => configProblems(raw, "local");
  test("defaults by role; Postgres gets at least maxConnections + 64", () => {
    const cfg = parseConfig(local(), "local");
    assert.deepEqual(cfg.pidsLimits, {
      app: DEFAULT_PIDS_LIMITS.app,
      proxy: DEFAULT_PIDS_LIMITS.proxy,
      job: DEFAULT_PIDS_LIMITS.job,
      migration: DEFAULT_PIDS_LIMITS.migration,
      vps: DEFAULT_PIDS_LIMITS.vps,
    });
    assert.equal(postgresPidsLimit(cfg), Math.max(512, cfg.postgres.maxConnections + 64));
    const big = local();
    (big.postgres as Record<string, unknown>).maxConnections = 1000;
    (big.postgres as { pgbouncer: Record<string, unknown> }).pgbouncer.defaultPoolSize = 20;
    assert.equal(postgresPidsLimit(parseConfig(big, "local")), 1064);
  });
  test("unlimited (0, -1, a word) and above the role's ceiling are refused, naming the key", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ app: 0 }, "launchgate:pidsLimits.app: got 0; expected a value >= 1"],
      [{ proxy: -1 }, "launchgate:pidsLimits.proxy: got -1; expected a value >= 1"],
      [{ app: "unlimited" }, 'launchgate:pidsLimits.app: got "unlimited"; expected a number'],
      [{ app: 4096 }, "launchgate:pidsLimits.app: got 4096; expected a value <= 1024"],
      [{ datastore: 100 }, "launchgate:pidsLimits.datastore: got 100; expected at least 164"],
      [{ job: 0 }, "launchgate:pidsLimits.job: got 0; expected a value >= 1"],
      [{ migration: 2048 }, "launchgate:pidsLimits.migration: got 2048; expected a value <= 1024"],
      [{ jobs: 64 }, "launchgate:pidsLimits.jobs: got 64; expected no such key"],
    ];
    for (const [pidsLimits, message] of cases) {
      const p = problems({ ...local(), pidsLimits });
      assert.equal(p.length, 1, JSON.stringify(p));
      assert.ok(p[0]!.startsWith(message), `${p[0]} should start with ${message}`);
    }
  });
});

describe("the local stack: every container has one applier with its role's limit (one-shots: a starter)", () => {
  test("recorded program", async () => {
    const { recordProgram } = await import("../services/record");
    const rec = await recordProgram("local");
    const containers = rec.all.filter((r) => r.type === "docker:index/container:Container");
    const appliers = rec.all
      .filter(
        (r) =>
          r.type.startsWith("command:") && (r.inputs.triggers ?? []).includes("launchgate.role=pids-limit"),
      )
      .map((r) => parsePidsLimitCommand(r.inputs.create));
    const cfg = parseConfig(readStackFile(ROOT, "local").values, "local");
    const expected: Record<string, number> = {
      app: cfg.pidsLimits.app,
      proxy: cfg.pidsLimits.proxy,
      job: cfg.pidsLimits.job,
      migration: cfg.pidsLimits.migration,
      vps: cfg.pidsLimits.vps,
    };
    let checked = 0;
    let oneShots = 0;
    for (const c of containers) {
      const labels = Object.fromEntries(
        (c.inputs.labels as { label: string; value: string }[]).map((l) => [l.label, l.value]),
      );
      const role = labels["launchgate.role"]!;
      const mine = appliers.filter((a) => a?.container === c.inputs.name);
      assert.equal(mine.length, 1, `${c.name} (${role}) has one applier`);
      // A one-shot is created stopped and its applier starts it; a service starts on create.
      const once = c.inputs.restart === "no";
      assert.equal(c.inputs.start === false, once, `${c.name}: start ${c.inputs.start}`);
      assert.equal(mine[0]!.start !== undefined, once, `${c.name}: its applier starts it`);
      if (once) oneShots++;
      const want =
        labels["launchgate.datastore"] === "postgres"
          ? postgresPidsLimit(cfg)
          : role === "datastore"
            ? DEFAULT_PIDS_LIMITS.datastore
            : expected[role];
      assert.equal(mine[0]!.limit, want, c.name);
      checked++;
    }
    assert.ok(checked >= 10, `checked ${checked} containers`);
    assert.ok(oneShots >= 2, `the migration and the config check: ${oneShots}`);
  });
});

describe("the local stack on Swarm: every long-running service has one applier with its role's limit", () => {
  test("recorded program (placement swarm, three managers)", async () => {
    const { recordProgram } = await import("../services/record");
    const raw = readStackFile(ROOT, "local").values;
    const swarm = swarmOverrides();
    const rec = await recordProgram("local", swarm);
    const services = rec.all.filter((r) => r.type === "docker:index/service:Service");
    const appliers = rec.all
      .filter(
        (r) =>
          r.type.startsWith("command:") && (r.inputs.triggers ?? []).includes("launchgate.role=pids-limit"),
      )
      .map((r) => parseServicePidsLimitCommand(r.inputs.create))
      .filter((a) => a !== undefined);
    const cfg = parseConfig({ ...raw, ...swarm }, "local");
    for (const s of services) {
      const labels = Object.fromEntries(
        (s.inputs.labels as { label: string; value: string }[]).map((l) => [l.label, l.value]),
      );
      const role = labels["launchgate.role"]!;
      const mine = appliers.filter((a) => a.service === s.inputs.name);
      assert.equal(mine.length, 1, `${s.name} (${role}) has one applier`);
      const want =
        labels["launchgate.datastore"] === "postgres"
          ? postgresPidsLimit(cfg)
          : role === "datastore"
            ? DEFAULT_PIDS_LIMITS.datastore
            : { app: cfg.pidsLimits.app, proxy: cfg.pidsLimits.proxy }[role as "app" | "proxy"];
      assert.equal(mine[0]!.limit, want, s.name);
    }
    assert.ok(services.length >= 7, `checked ${services.length} services`);
    // The one-shot container left on a swarm, the proxy's config check: started by its starter.
    const starters = rec.all
      .filter((r) => r.type.startsWith("command:"))
      .map((r) => parsePidsLimitCommand(r.inputs.create))
      .filter((a) => a?.start !== undefined);
    const containers = rec.all.filter(
      (r) => r.type === "docker:index/container:Container" && r.inputs.restart === "no",
    );
    assert.ok(containers.length >= 1);
    for (const c of containers) {
      assert.equal(c.inputs.start, false, c.name);
      assert.deepEqual(
        starters.filter((a) => a!.container === c.inputs.name).map((a) => a!.limit),
        [cfg.pidsLimits.job],
        c.name,
      );
    }
  });
});
