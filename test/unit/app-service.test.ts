import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import {
  installMocks,
  Recorder,
  settle,
  unwrap,
  fakeResource,
  isSecretInput,
  recordOptions,
  reveal,
} from "../support/mocks";
import { AppService, flagEnv, httpHealthTest } from "../../components/app/AppService";
import { oneShotStartCommand } from "../../contract/pids-limits";
import type { AppConfig } from "../../stacks/config";
import { API_APP, API_DB_URL } from "../fixtures/apps";

const C = "docker:index/container:Container";
const base: AppConfig = API_APP;
const DB_URL = API_DB_URL;
const DIRECT_URL = "postgres://app:s3cret@postgres:5432/app";

let rec: Recorder;
let opts: ReturnType<typeof recordOptions>;
let api: AppService;
let worker: AppService;

function make(app: AppConfig, flags: Record<string, boolean>, backup?: pulumi.Resource): AppService {
  return new AppService(`app-${app.name}`, {
    app,
    edgeNetwork: "net-edge",
    internalNetwork: "net-internal",
    secretEnv: pulumi.secret({ DATABASE_URL: DB_URL, JWT_SECRET: "jwt" }),
    flags,
    migrationEnv: pulumi.secret({ DATABASE_URL: DIRECT_URL }),
    preMigrationBackup: backup,
    pids: {
      engine: { ssh: { host: "203.0.113.10", port: 22, user: "deployer", privateKey: pulumi.secret("KEY") } },
      limit: 256,
      migration: 200,
    },
  });
}

before(async () => {
  rec = await installMocks("local");
  opts = recordOptions();
  const backup = fakeResource("test:index:Backup", "pre-migration-backup");
  api = make(base, { REAL_MONEY_ENABLED: false, SIGNUPS_ENABLED: true }, backup);
  worker = make(
    {
      ...base,
      name: "worker",
      route: undefined,
      migrate: undefined,
      readOnlyRootFs: false,
      memoryMb: 256,
      cpus: 0.5,
    },
    { REAL_MONEY_ENABLED: false },
  );
  // Same app, different image: the container name must change (create-before-delete).
  // A worker that calls external APIs joins the edge network for egress, without a route.
  make({ ...base, name: "bot", route: undefined, migrate: undefined, egress: true }, {});
  make(
    { ...base, name: "api2", image: "registry.example.com/api@sha256:" + "b".repeat(64), migrate: undefined },
    {},
  );
  make(
    {
      ...base,
      name: "api2b",
      image: "registry.example.com/api@sha256:" + "b".repeat(64),
      migrate: undefined,
    },
    {},
  );
  await settle();
});

test("env: plain + flags as true/false + secrets, the whole list secret", () => {
  const c = rec.one(C, "app-api").inputs;
  assert.equal(isSecretInput(c.envs), true);
  assert.deepEqual(reveal(c.envs), [
    `DATABASE_URL=${DB_URL}`,
    "JWT_SECRET=jwt",
    "NODE_ENV=production",
    "PORT=3000",
    "REAL_MONEY_ENABLED=false",
    "SIGNUPS_ENABLED=true",
  ]);
  assert.deepEqual(flagEnv({ A: true, B: false }), { A: "true", B: "false" });
});

test("hardened runtime: non-root user, caps dropped, no-new-privileges, read-only + /tmp, limits, logs, restart", () => {
  const c = rec.one(C, "app-api").inputs;
  assert.equal(c.user, "10001:10001");
  assert.deepEqual(c.capabilities, { drops: ["ALL"] });
  assert.deepEqual(c.securityOpts, ["no-new-privileges:true"]);
  assert.equal(c.privileged, false);
  assert.equal(c.readOnly, true);
  assert.ok(c.tmpfs["/tmp"]?.includes("noexec"));
  assert.equal(c.memory, 512);
  assert.equal(c.memorySwap, 512);
  assert.equal(c.cpus, "1");
  assert.equal(c.restart, "unless-stopped");
  assert.equal(c.logDriver, "json-file");
  assert.deepEqual(c.logOpts, { "max-size": "10m", "max-file": "5" });
  assert.equal(c.ports, undefined);
  const w = rec.one(C, "app-worker").inputs;
  assert.equal(w.readOnly, false);
  assert.equal(w.memory, 256);
  assert.equal(w.cpus, "0.5");
});

test("healthcheck: HTTP GET on healthPath, waited for before the old container goes", () => {
  const c = rec.one(C, "app-api").inputs;
  assert.deepEqual(c.healthcheck.tests, httpHealthTest("node", 3000, "/health"));
  assert.match(c.healthcheck.tests[3], /http:\/\/127\.0\.0\.1:3000\/health/);
  assert.equal(c.wait, true);
  assert.equal(c.waitTimeout, 120);
  assert.deepEqual(httpHealthTest("wget", 8080, "/h"), [
    "CMD",
    "wget",
    "-q",
    "-T",
    "4",
    "-O",
    "/dev/null",
    "http://127.0.0.1:8080/h",
  ]);
  assert.deepEqual(httpHealthTest(["CMD", "/healthcheck"], 1, "/"), ["CMD", "/healthcheck"]);
});

test("networks: routed app on edge + internal with its stable alias; worker internal only", () => {
  assert.deepEqual(rec.one(C, "app-api").inputs.networksAdvanced, [
    { name: "net-edge", aliases: ["api"] },
    { name: "net-internal", aliases: ["api"] },
  ]);
  assert.deepEqual(rec.one(C, "app-worker").inputs.networksAdvanced, [
    { name: "net-internal", aliases: ["worker"] },
  ]);
  assert.deepEqual(rec.one(C, "app-bot").inputs.networksAdvanced, [
    { name: "net-edge", aliases: ["bot"] },
    { name: "net-internal", aliases: ["bot"] },
  ]);
});

test("create-before-delete: release-specific name, deleteBeforeReplace false", async () => {
  const name = await unwrap(api.containerName);
  assert.match(name, /^api-[0-9a-f]{8}$/);
  assert.equal(opts.of(C, "app-api").deleteBeforeReplace, false);
  const a = rec.one(C, "app-api2").inputs.name as string;
  const b = rec.one(C, "app-api2b").inputs.name as string;
  assert.notEqual(a.slice(-8), name.slice(-8), "a different image gives a different name");
  assert.notEqual(a, b);
  assert.equal(await unwrap(api.alias), "api");
  assert.equal(await unwrap(api.port), 3000);
  assert.equal(await unwrap(worker.alias), "worker");
});

test("migration: one-shot job after the pre-migration backup; the service waits for it", () => {
  const j = rec.one(C, "app-api-migrate").inputs;
  assert.deepEqual(j.command, ["node", "migrate.js"]);
  // Created stopped: its PIDs-limit command starts it (below), attached.
  assert.equal(j.start, false);
  assert.equal(j.attach, false);
  assert.equal(j.mustRun, false);
  assert.equal(j.restart, "no");
  assert.equal(j.rm, false);
  assert.equal(j.wait, false);
  assert.deepEqual(j.networksAdvanced, [{ name: "net-internal" }]);
  assert.deepEqual(j.capabilities, { drops: ["ALL"] });
  assert.equal(j.user, "10001:10001");
  assert.match(j.name, /^api-migrate-[0-9a-f]{8}$/);
  // Created without waiting; its start (the PIDs-limit command) waits for the backup.
  assert.ok(!opts.of(C, "app-api-migrate").dependencies.some((u) => u.endsWith("::pre-migration-backup")));
  assert.ok(
    opts
      .of("command:remote:Command", "app-api-migrate-pids-limit")
      .dependencies.some((u) => u.endsWith("::pre-migration-backup")),
  );
  assert.ok(opts.of(C, "app-api").dependencies.some((u) => u.endsWith("::app-api-migrate-pids-limit")));
  const labels = rec.one(C, "app-api").inputs.labels as { label: string; value: string }[];
  assert.ok(labels.some((l) => l.label === "launchgate.migrated" && l.value === "true"));
  assert.equal(rec.ofType(C).filter((c) => c.name === "app-worker-migrate").length, 0);
});

test("migration: the job's DATABASE_URL is the direct one (secret); the service keeps the pooled one", () => {
  const job = rec.one(C, "app-api-migrate").inputs;
  const svc = rec.one(C, "app-api").inputs;
  assert.equal(isSecretInput(job.envs), true);
  assert.ok(reveal<string[]>(job.envs).includes(`DATABASE_URL=${DIRECT_URL}`));
  assert.ok(reveal<string[]>(svc.envs).includes(`DATABASE_URL=${DB_URL}`));
  assert.ok(reveal<string[]>(job.envs).includes("JWT_SECRET=jwt"), "the rest of the app's env stays");
});

test("a migration that exits non-zero fails the update before the service is touched", () => {
  // The job runs inside its starter command, which exits with the job's status (the real engine
  // proves that: test/services); the service depends on the command, not the container.
  const starter = rec.one("command:remote:Command", "app-api-migrate-pids-limit").inputs;
  const name = rec.one(C, "app-api-migrate").inputs.name as string;
  assert.equal(starter.create, oneShotStartCommand(200, name, 600));
  assert.ok(
    opts
      .of("command:remote:Command", "app-api-migrate-pids-limit")
      .dependencies.some((u) => u.endsWith("docker:index/container:Container::app-api-migrate")),
  );
  assert.ok(opts.of(C, "app-api").dependencies.some((u) => u.endsWith("::app-api-migrate-pids-limit")));
});

test("a migration without `pids` is refused (nothing would start it)", () => {
  assert.throws(
    () =>
      new AppService("app-nopids", {
        app: { ...base, name: "nopids" },
        edgeNetwork: "net-edge",
        internalNetwork: "net-internal",
        secretEnv: pulumi.secret({}),
        flags: {},
      }),
    /app nopids: `pids` is required with `migrate`/,
  );
});
