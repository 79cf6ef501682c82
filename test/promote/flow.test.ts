/**
 * The Automation API wiring against a recording stand-in `pulumi` (test/promote/fake-pulumi/pulumi,
 * installed as `<root>/bin/pulumi` and passed as the custom CLI): the exact commands, flags and
 * order; and that a mandatory policy failure, a failed offline check or a failed smoke test
 * (a local server answering 500) stops the flow with a clear message and a non-zero exit.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { FlowError, deployCommitted, promote, rollback } from "../../tools/promote/flow";
import { smokeSpecSchema } from "../../tools/promote/smoke";

const ROOT = path.join(__dirname, "..", "..");
const FAKE = path.join(__dirname, "fake-pulumi");
const NEW = "4f9c2b7e8a1d3c5b6e7f8091a2b3c4d5e6f70819";
const OLD = "3e8b1a6d7c0f2e4a5b6c7d8e9f0a1b2c3d4e5f60";
const d = (c: string) => c.repeat(64);
/** The clock every flow here runs with; each time a fixture writes is taken from it. */
const NOW = new Date("2026-11-24T12:00:00Z");
const HOUR = 3_600_000;
/** `hours` relative to `now` (negative: before), as the ISO text the stack files hold. */
const at = (hours: number, now: Date = NOW) => new Date(now.getTime() + hours * HOUR).toISOString();
/** The verification record's time as `config set-all` writes it. */
const RECORDED = `launchgate:verification.finishedAt=${NOW.toISOString()}`;
const STAGING_IMAGES = {
  postgres: `postgres@sha256:${d("a")}`,
  pgbouncer: `edoburu/pgbouncer@sha256:${d("b")}`,
  redis: `redis@sha256:${d("c")}`,
  proxy: `nginx@sha256:${d("d")}`,
  "app:api": `ghcr.io/blazetv/api@sha256:${d("1")}`,
  "app:worker": `ghcr.io/blazetv/worker@sha256:${d("2")}`,
};
const PROD_IMAGES = {
  ...STAGING_IMAGES,
  "app:api": `ghcr.io/blazetv/api@sha256:${d("e")}`,
  "app:worker": `ghcr.io/blazetv/worker@sha256:${d("f")}`,
};

let tmp: string;
let root: string;
let logFile: string;
let scenarioFile: string;
let server: http.Server;
let baseUrl: string;
/** Status the smoke-test server answers with, by path. */
let statuses: Record<string, number> = {};

interface Call {
  argv?: string[];
  check?: string[];
  referenced?: Record<string, { verifiedRelease?: { commit: string } }>;
  cwd: string;
  env?: Record<string, string>;
}

function calls(): Call[] {
  if (!fs.existsSync(logFile)) return [];
  return fs
    .readFileSync(logFile, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Call);
}

/** Each call as one line; the Automation API's per-run event-log address is masked. */
function commands(): string[] {
  return calls().map((c) =>
    c.check
      ? `[check] ${c.check.join(" ").replace(/lg-stack-outputs-\w+/, "lg-stack-outputs-<tmp>")}`
      : c.argv!.join(" ").replace(/--event-log tcp:\/\/127\.0\.0\.1:\d+/, "--event-log <events>"),
  );
}

function writeScenario(
  over: Record<string, unknown> = {},
  stagingSmoke: Record<string, unknown> | null = {},
  /** The clock of the flow that reads this scenario. */
  now: Date = NOW,
) {
  const scenario = {
    version: "3.248.0",
    outputs: {
      staging: {
        url: "https://staging.blazetv.example.com",
        verifiedRelease: {
          commit: NEW,
          images: STAGING_IMAGES,
          smokeTests:
            stagingSmoke === null
              ? null
              : {
                  commit: NEW,
                  passed: true,
                  finishedAt: at(-1, now),
                  ...stagingSmoke,
                },
        },
      },
      production: {
        url: baseUrl,
        release: {
          commit: OLD,
          images: PROD_IMAGES,
          flags: {},
          previous: null,
        },
      },
    },
    config: {
      production: {
        "launchgate:apps": {
          value: JSON.stringify([
            { name: "api", image: PROD_IMAGES["app:api"], port: 3000, route: "/", healthPath: "/health" },
            { name: "worker", image: PROD_IMAGES["app:worker"], port: 3001 },
          ]),
          secret: false,
        },
        "launchgate:release": {
          value: JSON.stringify({
            commit: OLD,
            previous: {
              commit: "1".repeat(40),
              images: { "app:api": `old@sha256:${d("9")}`, "app:worker": `oldw@sha256:${d("8")}` },
            },
          }),
          secret: false,
        },
      },
    },
    preview: { exitCode: 0, stdout: "Previewing update (production):\n ~ 2 to update\n" },
    up: { exitCode: 0, stdout: "Updating (production):\n ~ 2 updated\n" },
    ...over,
  };
  fs.writeFileSync(scenarioFile, JSON.stringify(scenario));
}

const SPEC = smokeSpecSchema.parse({
  timeoutMs: 2000,
  retries: 1,
  retryDelayMs: 20,
  checks: [{ name: "feed", path: "/api/blazetv/feed?limit=1", jsonNonEmpty: "0.id" }],
});

function flowOptions(over: Record<string, unknown> = {}) {
  const lines: string[] = [];
  return {
    lines,
    opts: {
      workDir: tmp,
      pulumiRoot: root,
      envVars: {
        FAKE_PULUMI_LOG: logFile,
        FAKE_PULUMI_SCENARIO: scenarioFile,
        PULUMI_CONFIG_PASSPHRASE: "x",
      },
      yes: true,
      checkCommand: [process.execPath, path.join(FAKE, "check"), "--stack", "{stack}"],
      smokeSpec: SPEC,
      env: {},
      now: () => NOW,
      log: (l: string) => lines.push(l),
      ...over,
    },
  };
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lg-promote-"));
  root = path.join(tmp, "pulumi-root");
  fs.mkdirSync(path.join(root, "bin"), { recursive: true });
  fs.copyFileSync(path.join(FAKE, "pulumi"), path.join(root, "bin", "pulumi"));
  fs.chmodSync(path.join(root, "bin", "pulumi"), 0o755);
  logFile = path.join(tmp, "calls.jsonl");
  scenarioFile = path.join(tmp, "scenario.json");
  server = http.createServer((req, res) => {
    const p = (req.url ?? "/").split("?")[0]!;
    const status = statuses[p] ?? 200;
    res.writeHead(status, { "content-type": "application/json" });
    res.end(
      p.includes("feed") ? JSON.stringify([{ id: "test_vid_1" }]) : JSON.stringify({ ok: status === 200 }),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  fs.rmSync(logFile, { force: true });
  statuses = {};
  process.env.FAKE_PULUMI_LOG = logFile; // the offline-check stand-in logs here too
  delete process.env.FAKE_CHECK_EXIT;
  writeScenario();
});

const SELECT = (s: string) => `stack select --stack ${s} --non-interactive`;
const OUTPUTS = (s: string) => [
  `stack output --json --stack ${s} --non-interactive`,
  `stack output --json --show-secrets --stack ${s} --non-interactive`,
];
const POLICY = "--policy-pack policies --policy-pack-config policies/config/production.json";
const PROMOTE_PREFIX = [
  "version",
  SELECT("staging"),
  ...OUTPUTS("staging"),
  "version",
  SELECT("production"),
  "config --show-secrets --json --stack production --non-interactive",
  ...OUTPUTS("production"),
  "config rm-all --stack production --path launchgate:release.previous --non-interactive",
  "config set-all --stack production --path" +
    ` --plaintext launchgate:postgres.image=${STAGING_IMAGES.postgres}` +
    ` --plaintext launchgate:postgres.pgbouncer.image=${STAGING_IMAGES.pgbouncer}` +
    ` --plaintext launchgate:redis.image=${STAGING_IMAGES.redis}` +
    ` --plaintext launchgate:proxy.image=${STAGING_IMAGES.proxy}` +
    ` --plaintext launchgate:apps[0].image=${STAGING_IMAGES["app:api"]}` +
    ` --plaintext launchgate:apps[1].image=${STAGING_IMAGES["app:worker"]}` +
    ` --plaintext launchgate:release.commit=${NEW}` +
    ` --plaintext launchgate:release.previous.commit=${OLD}` +
    ` --plaintext launchgate:release.previous.images["app:api"]=${PROD_IMAGES["app:api"]}` +
    ` --plaintext launchgate:release.previous.images["app:worker"]=${PROD_IMAGES["app:worker"]}` +
    " --non-interactive",
  `[check] --stack production --stack-outputs ${os.tmpdir()}/lg-stack-outputs-<tmp>`,
  `preview --diff ${POLICY} --exec-kind auto.local --event-log <events> --stack production --non-interactive`,
];
const UP = `up --yes --skip-preview ${POLICY} --exec-kind auto.local --stack production --non-interactive`;
const AFTER_UP = [
  ...OUTPUTS("production"),
  "stack history --json --show-secrets --page-size 1 --page 1 --stack production --non-interactive",
];

describe("promote (stand-in pulumi)", () => {
  test("staging → production with --yes: exact commands, flags and order; verification recorded, outputs refreshed", async () => {
    const { opts, lines } = flowOptions();
    const result = await promote({ ...opts, from: "staging", to: "production" });
    assert.deepEqual(result, { stack: "production", status: "deployed", commit: NEW });
    assert.deepEqual(commands(), [
      ...PROMOTE_PREFIX,
      UP,
      ...AFTER_UP,
      "config set-all --stack production --path" +
        ` --plaintext launchgate:verification.commit=${NEW}` +
        " --plaintext launchgate:verification.passed=true" +
        ` --plaintext ${RECORDED} --non-interactive`,
      UP,
      ...AFTER_UP,
    ]);
    for (const c of calls()) {
      if (c.argv?.[0] === "version") {
        // PulumiCommand.get probes the CLI before any workspace exists
        assert.equal(c.env?.PULUMI_SKIP_UPDATE_CHECK, "true");
        continue;
      }
      assert.equal(c.cwd, tmp, `every call runs in the project directory: ${JSON.stringify(c)}`);
      if (c.argv) {
        assert.equal(c.env?.PULUMI_AUTOMATION_API, "true");
        assert.equal(c.env?.PULUMI_CONFIG_PASSPHRASE, "(set)");
      }
    }
    const check = calls().find((c) => c.check)!;
    assert.equal(
      check.referenced?.staging?.verifiedRelease?.commit,
      NEW,
      "the checker sees staging's outputs",
    );
    assert.ok(lines.some((l) => /ok {3}health:api http:\/\/127\.0\.0\.1:\d+\/health/.test(l)));
    assert.ok(lines.some((l) => /ok {3}feed /.test(l)));
  });

  test("without --yes: stops after the preview, nothing is updated", async () => {
    const { opts, lines } = flowOptions({ yes: false });
    const result = await promote({ ...opts, from: "staging", to: "production" });
    assert.equal(result.status, "previewed");
    assert.deepEqual(commands(), PROMOTE_PREFIX);
    assert.match(
      lines.at(-1)!,
      /re-run with --yes to deploy 4f9c2b7e8a1d3c5b6e7f8091a2b3c4d5e6f70819 to production/,
    );
  });

  test("a mandatory policy violation at preview stops before any update", async () => {
    writeScenario({
      preview: {
        exitCode: 255,
        stdout:
          "Policies:\n    ❌ launchgate-gates@v0.1.0 (local: policies)\n        - [mandatory]  staging-verified  (launchgate:release:Release: release)\n          production release 4f9c2b7e8a1d is not staging's verified release\n",
        stderr: "error: preview failed\n",
      },
    });
    const { opts } = flowOptions();
    await assert.rejects(promote({ ...opts, from: "staging", to: "production" }), (e: unknown) => {
      assert.ok(e instanceof FlowError);
      assert.equal(e.exitCode, 1);
      assert.match(e.message, /^preview of production failed \(policy violations\); nothing was deployed\./);
      assert.match(e.message, /\[mandatory\] {2}staging-verified/);
      return true;
    });
    assert.deepEqual(commands(), PROMOTE_PREFIX);
    assert.ok(!commands().some((c) => c.startsWith("up ")));
  });

  test("a failing offline check stops before the preview", async () => {
    process.env.FAKE_CHECK_EXIT = "1";
    const { opts } = flowOptions();
    await assert.rejects(
      promote({ ...opts, from: "staging", to: "production" }),
      /offline check of production failed \(exit 1\); nothing was deployed\.\nmandatory: staging-verified/,
    );
    assert.deepEqual(commands(), PROMOTE_PREFIX.slice(0, -1));
  });

  test("a failed smoke test (HTTP 500) stops non-zero, records nothing, and names the rollback command", async () => {
    statuses["/api/blazetv/feed"] = 500;
    const { opts } = flowOptions();
    await assert.rejects(promote({ ...opts, from: "staging", to: "production" }), (e: unknown) => {
      assert.ok(e instanceof FlowError);
      assert.match(e.message, /smoke tests failed on production \(feed: HTTP 500, expected 200\)/);
      assert.match(e.message, /NOT verified\. To go back: npm run rollback -- --stack production --yes/);
      return true;
    });
    assert.deepEqual(commands(), [...PROMOTE_PREFIX, UP, ...AFTER_UP]);
    assert.ok(!commands().some((c) => c.includes("verification")));
  });

  test("a smoke test needing an unset variable stops before anything changes", async () => {
    const spec = smokeSpecSchema.parse({
      checks: [{ name: "admin", path: "/api/admin", headers: { Authorization: "Bearer ${ADMIN_TOKEN}" } }],
    });
    const { opts } = flowOptions({ smokeSpec: spec, env: {} });
    await assert.rejects(
      promote({ ...opts, from: "staging", to: "production" }),
      /smoke tests for production cannot run: smoke test header needs environment variable ADMIN_TOKEN; nothing was changed/,
    );
    assert.ok(!commands().some((c) => c.startsWith("config set-all") || c.startsWith("config rm-all")));
  });

  test("production already runs staging's release: unchanged, nothing written", async () => {
    const scenario = JSON.parse(fs.readFileSync(scenarioFile, "utf8"));
    scenario.outputs.production.release = { commit: NEW, images: STAGING_IMAGES, flags: {}, previous: null };
    scenario.config.production["launchgate:verification"] = {
      value: JSON.stringify({ commit: NEW, passed: true, finishedAt: at(-1) }),
    };
    fs.writeFileSync(scenarioFile, JSON.stringify(scenario));
    const { opts } = flowOptions();
    const result = await promote({ ...opts, from: "staging", to: "production" });
    assert.equal(result.status, "unchanged");
    assert.ok(!commands().some((c) => /^(config set-all|config rm-all|preview|up)\b/.test(c)));
  });

  test("deployed but never recorded (a failed last step): re-running re-tests and records only", async () => {
    const scenario = JSON.parse(fs.readFileSync(scenarioFile, "utf8"));
    scenario.outputs.production.release = { commit: NEW, images: STAGING_IMAGES, flags: {}, previous: null };
    fs.writeFileSync(scenarioFile, JSON.stringify(scenario));
    const { opts } = flowOptions();
    const result = await promote({ ...opts, from: "staging", to: "production" });
    assert.deepEqual(result, { stack: "production", status: "deployed", commit: NEW });
    const cmds = commands();
    assert.ok(!cmds.some((c) => c.startsWith("preview ") || c.startsWith("[check]")), "no new deployment");
    assert.deepEqual(cmds.slice(-5), [
      "config set-all --stack production --path" +
        ` --plaintext launchgate:verification.commit=${NEW}` +
        " --plaintext launchgate:verification.passed=true" +
        ` --plaintext ${RECORDED} --non-interactive`,
      UP,
      ...AFTER_UP,
    ]);
  });

  test("an unknown stack is a clear refusal, not a stack trace", async () => {
    writeScenario({ missingStacks: ["staging"] });
    const { opts } = flowOptions();
    await assert.rejects(promote({ ...opts, from: "staging", to: "production" }), (e: unknown) => {
      assert.ok(e instanceof FlowError);
      assert.match(e.message, /^cannot select stack staging: .*no stack named 'staging' found/);
      return true;
    });
  });

  test("default: the real checker in-process refuses production without evidence, before the preview", async () => {
    // The real checker judges evidence by the system clock: this case uses it on both sides.
    const now = new Date();
    writeScenario({}, {}, now);
    const { opts } = flowOptions({ workDir: ROOT, checkCommand: undefined, now: () => now });
    await assert.rejects(promote({ ...opts, from: "staging", to: "production" }), (e: unknown) => {
      assert.ok(e instanceof FlowError);
      assert.match(e.message, /^offline check of production failed \(exit 1\); nothing was deployed\./);
      // the checker's own report: the gates that refuse, with staging's outputs as handed over
      assert.match(e.message, /backups-tested \[mandatory\]/);
      assert.match(e.message, /REFUSED +sign-offs \(signed\)/);
      assert.match(e.message, /REFUSED: \d+ mandatory/);
      return true;
    });
    assert.ok(!commands().some((c) => c.startsWith("preview ") || c.startsWith("up ")));
    assert.ok(commands().some((c) => c.startsWith("config set-all --stack production")));
  });

  const refusals: [string, Record<string, unknown> | null, RegExp][] = [
    ["not verified", null, /refusing to promote: stack staging has no smoke-test result/],
    ["failed on staging", { passed: false }, /did not pass/],
    ["too old", { finishedAt: at(-73) }, /older than the 72h limit/],
  ];
  for (const [name, smoke, reason] of refusals) {
    test(`refuses when staging is ${name}, before touching production's config`, async () => {
      writeScenario({}, smoke);
      const { opts } = flowOptions();
      await assert.rejects(promote({ ...opts, from: "staging", to: "production" }), reason);
      assert.ok(!commands().some((c) => c.startsWith("config set-all") || c.startsWith("preview")));
    });
  }
});

describe("deploy the committed release (CI on main → staging)", () => {
  test("removes the stale verification, checks, previews, updates, smoke-tests, records", async () => {
    const cfg = {
      "launchgate:apps": {
        value: JSON.stringify([{ name: "api", image: STAGING_IMAGES["app:api"], port: 3000, route: "/" }]),
      },
      "launchgate:release": { value: JSON.stringify({ commit: NEW }) },
      "launchgate:verification": {
        value: JSON.stringify({ commit: OLD, passed: true, finishedAt: at(-23 * 24) }),
      },
    };
    const scenario = JSON.parse(fs.readFileSync(scenarioFile, "utf8"));
    scenario.config.staging = cfg;
    fs.writeFileSync(scenarioFile, JSON.stringify(scenario));
    const { opts } = flowOptions({ baseUrl });
    const result = await deployCommitted({ ...opts, to: "staging" });
    assert.deepEqual(result, { stack: "staging", status: "deployed", commit: NEW });
    const policy = "--policy-pack policies --policy-pack-config policies/config/staging.json";
    const up = `up --yes --skip-preview ${policy} --exec-kind auto.local --stack staging --non-interactive`;
    const afterUp = [
      ...OUTPUTS("staging"),
      "stack history --json --show-secrets --page-size 1 --page 1 --stack staging --non-interactive",
    ];
    assert.deepEqual(commands(), [
      "version",
      SELECT("staging"),
      "config --show-secrets --json --stack staging --non-interactive",
      "config rm-all --stack staging --path launchgate:verification --non-interactive",
      "[check] --stack staging",
      `preview --diff ${policy} --exec-kind auto.local --event-log <events> --stack staging --non-interactive`,
      up,
      ...afterUp,
      `config set-all --stack staging --path --plaintext launchgate:verification.commit=${NEW} --plaintext launchgate:verification.passed=true --plaintext ${RECORDED} --non-interactive`,
      up,
      ...afterUp,
    ]);
  });
});

describe("rollback (stand-in pulumi)", () => {
  test("re-deploys release.previous the same way, with the release-approval gates advisory", async () => {
    fs.mkdirSync(path.join(tmp, "policies", "config"), { recursive: true });
    fs.writeFileSync(
      path.join(tmp, "policies", "config", "production.json"),
      JSON.stringify({ all: "mandatory", "staging-verified": { maxAgeHours: 72 } }),
    );
    const { opts, lines } = flowOptions();
    const result = await rollback({ ...opts, stack: "production" });
    assert.deepEqual(result, { stack: "production", status: "deployed", commit: "1".repeat(40) });
    const cmds = commands();
    assert.deepEqual(cmds.slice(0, 5), [
      "version",
      SELECT("production"),
      "config --show-secrets --json --stack production --non-interactive",
      ...OUTPUTS("production"),
    ]);
    const set = cmds.find((c) => c.startsWith("config set-all"))!;
    assert.match(set, /launchgate:apps\[0\]\.image=old@sha256:9{64}/);
    assert.match(set, /launchgate:apps\[1\]\.image=oldw@sha256:8{64}/);
    assert.match(set, new RegExp(`launchgate:release.previous.commit=${OLD}`));
    // the same pack config file on the check, the preview and both updates
    const check = calls().find((c) => c.check)!.check!;
    const packFile = check[check.indexOf("--pack-config") + 1]!;
    assert.match(packFile, /lg-pack-config-\w+\/production\.json$/);
    assert.deepEqual(JSON.parse(fs.readFileSync(packFile, "utf8")), {
      all: "mandatory",
      "staging-verified": { maxAgeHours: 72, enforcementLevel: "advisory" },
      "sign-offs-attested": "advisory",
    });
    const policy = `--policy-pack policies --policy-pack-config ${packFile}`;
    const previews = cmds.filter((c) => c.startsWith("preview "));
    const ups = cmds.filter((c) => c.startsWith("up "));
    assert.deepEqual(previews, [
      `preview --diff ${policy} --exec-kind auto.local --event-log <events> --stack production --non-interactive`,
    ]);
    assert.deepEqual(
      ups,
      Array(2).fill(
        `up --yes --skip-preview ${policy} --exec-kind auto.local --stack production --non-interactive`,
      ),
    );
    assert.ok(
      cmds.findIndex((c) => c.startsWith("[check]")) < cmds.findIndex((c) => c.startsWith("preview ")),
    );
    assert.ok(
      lines.some((l) => /release-approval gates staging-verified, sign-offs-attested are advisory/.test(l)),
    );
  });
});

/** Runs the real CLI entry point in a scratch project whose `npm run check` is the stand-in. */
function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "tools/promote/cli.ts"), ...args],
      {
        cwd: ROOT,
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

describe("cli (stand-in pulumi, `--check-command` plumbing)", () => {
  let project: string;
  let specFile: string;
  // The CLI runs in its own process with the system clock: these cases use it on both sides.
  const writeCliScenario = (over: Record<string, unknown> = {}) => writeScenario(over, {}, new Date());
  beforeEach(() => writeCliScenario());
  before(() => {
    project = fs.mkdtempSync(path.join(os.tmpdir(), "lg-promote-cli-"));
    fs.writeFileSync(
      path.join(project, "package.json"),
      JSON.stringify({
        name: "scratch",
        private: true,
        scripts: { check: `node ${path.join(FAKE, "check")}` },
      }),
    );
    specFile = path.join(project, "smoke.json");
    fs.writeFileSync(specFile, JSON.stringify({ timeoutMs: 2000, retries: 0, retryDelayMs: 0, checks: [] }));
  });
  after(() => fs.rmSync(project, { recursive: true, force: true }));
  const env = () => ({
    PULUMI_ROOT: root,
    FAKE_PULUMI_LOG: logFile,
    FAKE_PULUMI_SCENARIO: scenarioFile,
  });
  /** `promote --from staging --to production --yes` in the scratch project, checked by the stand-in. */
  const promoteToProduction = () =>
    runCli(
      [
        "promote",
        "--from",
        "staging",
        "--to",
        "production",
        "--yes",
        "--cwd",
        project,
        "--smoke-spec",
        specFile,
        "--check-command",
        "npm run --silent check -- --stack {stack}",
      ],
      env(),
    );

  test("mandatory policy failure: exit 1 and the policy named on stderr", async () => {
    writeCliScenario({
      preview: {
        exitCode: 255,
        stdout: "- [mandatory]  no-published-db-port  (docker:index/container:Container: postgres)\n",
      },
    });
    const r = await promoteToProduction();
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /preview of production failed \(policy violations\); nothing was deployed\.\n- \[mandatory\] {2}no-published-db-port/,
    );
    assert.ok(commands().some((c) => c.startsWith("[check] --stack production --stack-outputs")));
  });

  test("failed smoke test: exit 1 and the rollback command on stderr", async () => {
    statuses["/health"] = 500;
    const r = await promoteToProduction();
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /smoke tests failed on production \(health:api: HTTP 500, expected 200\)/);
    assert.match(r.stderr, /To go back: npm run rollback -- --stack production --yes/);
    assert.match(r.stdout, /FAIL health:api/);
  });

  test("usage errors exit 2", async () => {
    const r = await runCli(["promote", "--from", "staging"], env());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /promote needs --to/);
  });
});

describe("promote as a canary (release.rollout, stand-in pulumi)", () => {
  const ROLLOUT = { steps: [10, 100], stepSeconds: 30, analysis: { minRequests: 5 } };
  /** Production's config with a rollout; the stack file's other keys as in writeScenario. */
  function withRollout() {
    const s = JSON.parse(fs.readFileSync(scenarioFile, "utf8"));
    const rel = JSON.parse(s.config.production["launchgate:release"].value);
    s.config.production["launchgate:release"].value = JSON.stringify({ ...rel, rollout: ROLLOUT });
    fs.writeFileSync(scenarioFile, JSON.stringify(s));
  }
  /** A clock that moves one second per reading, starting at NOW. */
  function ticking() {
    let t = NOW.getTime();
    return () => new Date((t += 1000));
  }
  /** The proxy log for a window: 20 canary and 80 stable requests, canary answering `canaryStatus`. */
  const proxyLog =
    (canaryStatus: number, windows: [string, string][]) =>
    async (stack: string, since: Date, until: Date) => {
      windows.push([since.toISOString(), until.toISOString()]);
      assert.equal(stack, "production");
      const line = (i: number, variant: string, status: number) =>
        JSON.stringify({
          lg: 1,
          msec: String((since.getTime() + i) / 1000),
          app: "api",
          variant,
          status: String(status),
          request_time: "0.020",
        });
      return [
        ...Array.from({ length: 20 }, (_, i) => line(i, "canary", canaryStatus)),
        ...Array.from({ length: 80 }, (_, i) => line(i, "stable", 200)),
      ].join("\n");
    };
  const pulumiSteps = () =>
    commands()
      .filter((c) => /^(config (set-all|rm-all)|up )/.test(c))
      .map((c) =>
        c.startsWith("up ")
          ? "up"
          : c
              .replace(/ --non-interactive$/, "")
              .replace(/.* (--plaintext launchgate:release\.canaryWeight=\d+)$/, "set $1"),
      );

  test("a healthy canary: each weight one up, windows judged, then the only version, smoke-tested and recorded", async () => {
    withRollout();
    const windows: [string, string][] = [];
    const alerts: unknown[] = [];
    const { opts, lines } = flowOptions({
      now: ticking(),
      sleep: async () => undefined,
      readProxyLog: proxyLog(200, windows),
      alert: async (p: unknown) => void alerts.push(p),
    });
    const result = await promote({ ...opts, from: "staging", to: "production" });
    assert.equal(result.status, "deployed");
    assert.deepEqual(pulumiSteps().slice(0, 7), [
      "config rm-all --stack production --path launchgate:release.previous",
      "set --plaintext launchgate:release.canaryWeight=10",
      "up",
      "set --plaintext launchgate:release.canaryWeight=100",
      "up",
      "config rm-all --stack production --path launchgate:release.canaryWeight",
      "up",
    ]);
    assert.equal(windows.length, 2);
    assert.deepEqual(alerts, []);
    const rec = JSON.parse(
      fs.readFileSync(path.join(tmp, "evidence/production/rollout", `${NEW}.json`), "utf8"),
    );
    assert.equal(rec.outcome, "promoted");
    assert.deepEqual(
      rec.steps.map((s: { weight: number; verdict: string }) => [s.weight, s.verdict]),
      [
        [10, "pass"],
        [100, "pass"],
      ],
    );
    assert.ok(lines.some((l) => /rollout of 4f9c2b7e8a1d on production \(api\): promoted/.test(l)));
  });

  test("a failing canary: weight 0 by one more up, alert, verdict recorded, non-zero exit", async () => {
    withRollout();
    const alerts: { text: string }[] = [];
    const { opts } = flowOptions({
      now: ticking(),
      sleep: async () => undefined,
      readProxyLog: proxyLog(503, []),
      alert: async (p: { text: string }) => void alerts.push(p),
    });
    await assert.rejects(promote({ ...opts, from: "staging", to: "production" }), (e: unknown) => {
      assert.ok(e instanceof FlowError);
      assert.equal(e.exitCode, 1);
      assert.match(e.message, /^canary aborted: analysis at 10 %: error rate 100 % \(20\/20\) > 5 %/);
      assert.match(e.message, /weight is 0/);
      return true;
    });
    assert.deepEqual(pulumiSteps(), [
      "config rm-all --stack production --path launchgate:release.previous",
      "set --plaintext launchgate:release.canaryWeight=10",
      "up",
      "set --plaintext launchgate:release.canaryWeight=0",
      "up",
    ]);
    assert.equal(alerts.length, 1);
    assert.match(alerts[0]!.text, /aborted at 10 %/);
    const rec = JSON.parse(
      fs.readFileSync(path.join(tmp, "evidence/production/rollout", `${NEW}.json`), "utf8"),
    );
    assert.equal(rec.outcome, "aborted");
  });
});
