/**
 * Monitoring: the install command's inputs (thresholds from config, probe interval, the webhook
 * only on a secret stdin, triggers, dependencies); the threshold evaluator run alone on fake
 * measurements; and the probe script run locally against a fake webhook (de-duplication,
 * resolution, retry after a failed delivery).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import {
  Recorder,
  installMocks,
  isSecret,
  settle,
  unwrap,
  fakeResource,
  recordOptions,
} from "../support/mocks";
import { exported, installedFile } from "../support/rendered-script";
import { MONITOR_LIBS, Monitoring, MonitoringArgs, WEBHOOK_FILE } from "../../components/ops/Monitoring";
import { renderScript } from "../../components/ops/remote-script";
import type { MonitoringConfig } from "../../stacks/config";
import { gateEveryResource } from "../../components/release/gate";

const CMD = "command:remote:Command";
const WEBHOOK = "https://hooks.example.com/services/T000/B000/very-secret-token";

const config: MonitoringConfig = {
  probeIntervalSeconds: 60,
  cpuWarnPercent: 70,
  cpuCritPercent: 90,
  memoryWarnPercent: 80,
  memoryCritPercent: 85,
  diskWarnPercent: 80,
  errorRateWarnPercent: 1,
  errorRateCritPercent: 5,
  backupMaxAgeHours: 26,
};

/** Runs bash with `script` as the program; async, so an in-process HTTP server keeps serving. */
function bash(
  script: string,
  input = "",
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn("bash", ["-c", script, "probe", ...args], { env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => p.kill("SIGKILL"), 30_000);
    p.on("error", reject);
    // A script that exits without reading its stdin closes the pipe first (EPIPE): not a test
    // failure, its exit status and output are what is judged.
    p.stdin.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code !== "EPIPE") reject(e);
    });
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    p.stdin.end(input);
  });
}

describe("Monitoring", () => {
  let rec: Recorder;
  let deps: ReturnType<typeof recordOptions>;
  let m: Monitoring;
  let install: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  let evaluate: string;

  const args = (over: Partial<MonitoringArgs> = {}): MonitoringArgs => ({
    config,
    connection: { host: "203.0.113.10", port: 22, user: "deployer", privateKey: pulumi.secret("KEY") },
    alertWebhookUrl: pulumi.secret(WEBHOOK),
    probes: [
      { name: "api", container: "app-api-1a2b" },
      { name: "postgres", container: pulumi.output("postgres") },
    ],
    publicUrl: "https://example.com/api/v1/health",
    backupDir: "/srv/launchgate/backups",
    accessLogPath: "/srv/launchgate/logs/access.log",
    ...over,
  });

  before(async () => {
    rec = await installMocks("production");
    deps = recordOptions();
    m = new Monitoring("monitoring", args(), {
      transformations: [gateEveryResource(fakeResource("test:index:Marker", "gate"))],
      dependsOn: [fakeResource("test:index:Marker", "host-ready")],
    });
    await settle();
    install = rec.one(CMD, "monitoring-install").inputs;
    evaluate = installedFile(install.create, "/usr/local/lib/launchgate/monitor-evaluate.sh");
  });

  test("thresholds from the seeds reach the evaluator (CPU 70/90, memory 80/85, errors 1/5 %)", () => {
    const expect = {
      LG_CPU_WARN: "70",
      LG_CPU_CRIT: "90",
      LG_MEM_WARN: "80",
      LG_MEM_CRIT: "85",
      LG_DISK_WARN: "80",
      LG_DISK_CRIT: "90",
      LG_ERR_WARN: "1",
      LG_ERR_CRIT: "5",
      LG_BACKUP_MAX_AGE_HOURS: "26",
    };
    for (const [k, v] of Object.entries(expect)) assert.equal(exported(evaluate, k), v, k);
  });

  test("probe: every container, the public URL, backup dir and access log", () => {
    const probe = installedFile(install.create, "/usr/local/lib/launchgate/monitor-probe.sh");
    assert.equal(exported(probe, "LG_PROBE_CONTAINERS"), "api=app-api-1a2b postgres=postgres");
    assert.equal(exported(probe, "LG_PUBLIC_URL"), "https://example.com/api/v1/health");
    assert.equal(exported(probe, "LG_BACKUP_DIR"), "/srv/launchgate/backups");
    assert.equal(exported(probe, "LG_ACCESS_LOG"), "/srv/launchgate/logs/access.log");
    assert.equal(exported(probe, "LG_WEBHOOK_FILE"), WEBHOOK_FILE);
    assert.equal(exported(probe, "LG_INSECURE_TLS"), "false");
    assert.match(probe, /curl -sS -o \/dev\/null -w '%\{http_code\}' "\$\{tls\[@\]\}" --max-time/);
  });

  test("timer runs the probe every probeIntervalSeconds; the probe also runs while Docker is down", () => {
    const timer = installedFile(install.create, "/etc/systemd/system/launchgate-monitor.timer");
    assert.match(timer, /^OnUnitActiveSec=60s$/m);
    assert.match(timer, /^OnBootSec=2min$/m);
    const service = installedFile(install.create, "/etc/systemd/system/launchgate-monitor.service");
    assert.match(service, /^ExecStart=\/usr\/local\/lib\/launchgate\/monitor-probe\.sh$/m);
    assert.doesNotMatch(service, /Requires=docker/);
    assert.equal(exported(install.create, "LG_TIMERS"), "launchgate-monitor.timer");
    assert.equal(m.probeIntervalSeconds, 60);
  });

  test("the webhook URL is only on stdin, as a secret; script text stays plain", async () => {
    // The recorded input keeps Pulumi's secret signature: the engine encrypts it in state.
    assert.deepEqual(install.stdin, {
      [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig,
      value: `${WEBHOOK}\n`,
    });
    assert.equal(exported(install.create, "LG_STDIN_FILE"), WEBHOOK_FILE);
    for (const key of ["create", "delete", "triggers"]) {
      assert.ok(!JSON.stringify(install[key]).includes("very-secret-token"), `webhook leaked into ${key}`);
    }
    assert.equal(await isSecret(m.install.stdin), true, "stdin is secret");
    assert.equal(await isSecret(m.install.create), false, "create is not secret (reviewable)");
    assert.equal(await unwrap(m.alerting), true);
    assert.match((await unwrap(m.install.create)) ?? "", /install-files\.sh/);
  });

  test("triggers hold the sha256 of the installer, evaluator and probe files", () => {
    const triggers: string[] = install.triggers;
    assert.ok(triggers.includes(renderScript("monitor-evaluate.sh").trigger));
    assert.ok(triggers.includes(renderScript("monitor-probe.sh", {}, MONITOR_LIBS).trigger));
    assert.ok(triggers.some((t) => t.startsWith("install-files.sh:sha256:")));
  });

  test("dependsOn: the release gate and the host", () => {
    const d = deps.of("command:remote:Command", "monitoring-install").dependencies;
    assert.ok(
      d.some((u) => u.endsWith("::gate")),
      d.join(", "),
    );
    assert.ok(
      d.some((u) => u.endsWith("::host-ready")),
      d.join(", "),
    );
  });

  test("rendered scripts are shellcheck-clean", (t) => {
    if (spawnSync("shellcheck", ["--version"]).status !== 0) return t.skip("shellcheck not installed");
    const probe = installedFile(install.create, "/usr/local/lib/launchgate/monitor-probe.sh");
    for (const [what, text] of Object.entries({
      install: install.create,
      uninstall: install.delete,
      evaluate,
      probe,
    })) {
      const r = spawnSync("shellcheck", ["-s", "bash", "-"], { input: text, encoding: "utf8" });
      assert.equal(r.status, 0, `${what}:\n${r.stdout}`);
    }
  });

  test("no webhook: alerting false; disk crit must exceed warn", async () => {
    const quiet = new Monitoring("quiet", args({ alertWebhookUrl: "" }));
    assert.equal(await unwrap(quiet.alerting), false);
    assert.throws(
      () => new Monitoring("bad", args({ diskCritPercent: 80 })),
      /diskCritPercent: 80 must be above monitoring\.diskWarnPercent \(80\)/,
    );
  });

  describe("monitor-evaluate.sh on fake measurements (the rendered script, run alone)", () => {
    const cases: [string, string, string][] = [
      // [measurements, check, expected level]
      ["cpu.percent=69.9", "cpu", "ok"],
      ["cpu.percent=70", "cpu", "warn"],
      ["cpu.percent=90.1", "cpu", "crit"],
      ["memory.percent=79", "memory", "ok"],
      ["memory.percent=80", "memory", "warn"],
      ["memory.percent=85", "memory", "crit"],
      ["disk.percent=95", "disk", "crit"],
      ["errors.requests=1000\nerrors.percent=0.9", "errors", "ok"],
      ["errors.requests=1000\nerrors.percent=1.5", "errors", "warn"],
      ["errors.requests=1000\nerrors.percent=5", "errors", "crit"],
      ["errors.requests=5\nerrors.percent=100", "errors", "ok"],
      ["backup.age_hours=25.9", "backup.freshness", "ok"],
      ["backup.age_hours=26", "backup.freshness", "crit"],
      ["backup.age_hours=none", "backup.freshness", "crit"],
      ["drill.ok=false", "backup.drill", "crit"],
      ["drill.ok=none", "backup.drill", "warn"],
      ["container.api=healthy", "container.api", "ok"],
      ["container.api=starting", "container.api", "warn"],
      ["container.api=unhealthy", "container.api", "crit"],
      ["container.api=missing", "container.api", "crit"],
      ["service.api=2/2", "service.api", "ok"],
      ["service.api=3/2", "service.api", "ok"],
      ["service.api=1/2", "service.api", "warn"],
      ["service.api=0/2", "service.api", "crit"],
      ["service.api=0/0", "service.api", "crit"],
      ["service.api=unknown", "service.api", "warn"],
      ["service.api=garbage", "service.api", "crit"],
      ["http.public=200", "http.public", "ok"],
      ["http.public=502", "http.public", "crit"],
      ["http.public=000", "http.public", "crit"],
    ];
    for (const [input, check, level] of cases) {
      test(`${input.replace(/\n/g, ", ")} → ${check} ${level}`, async () => {
        const r = await bash(evaluate, input + "\n");
        assert.equal(r.code, 0, r.stderr);
        const line = r.stdout.split("\n").find((l) => l.split("\t")[1] === check);
        assert.ok(line, `no ${check} line in:\n${r.stdout}`);
        assert.equal(line.split("\t")[0], level, line);
      });
    }
  });

  describe("lib-workload.sh: a workload's container on this host, per placement (fake docker)", () => {
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-workload-"));
      // A docker CLI stand-in: `ps` answers from $FAKE_PS, `info`/`service ls` from $FAKE_*.
      fs.writeFileSync(
        path.join(dir, "docker"),
        [
          "#!/bin/bash",
          'echo "$*" >>"$FAKE_LOG"',
          'case $1 in ps) printf "%b" "${FAKE_PS:-}" ;; info) echo "${FAKE_MANAGER:-false}" ;;',
          '  service) printf "%b" "${FAKE_SERVICES:-}" ;; esac',
        ].join("\n"),
        { mode: 0o755 },
      );
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const lib = fs.readFileSync(path.join(__dirname, "../../components/ops/scripts/lib-workload.sh"), "utf8");
    const call = (fn: string, env: Record<string, string>) =>
      bash(`${lib}\n${fn}`, "", {
        PATH: `${dir}:${process.env.PATH}`,
        FAKE_LOG: path.join(dir, "log"),
        ...env,
      });

    test("single-host: the container is the workload's own name; docker is not asked", async () => {
      fs.rmSync(path.join(dir, "log"), { force: true });
      const r = await call("lg_container postgres", { LG_PLACEMENT: "single-host" });
      assert.deepEqual([r.code, r.stdout], [0, "postgres\n"]);
      assert.ok(!fs.existsSync(path.join(dir, "log")));
    });
    test("single-host app: its running container by label (unhealthy, else healthy, else newest), never a canary or its migration", async () => {
      fs.rmSync(path.join(dir, "log"), { force: true });
      // docker ps, newest first: the new release still starting, a canary, a running migration, the old release.
      const ps =
        "n3w Up 2 seconds (health: starting) <>\\nc4n Up 5 minutes (healthy) <canary>\\n" +
        "m1g Up 1 second <migrate>\\n0ld Up 3 hours (healthy) <>\\n";
      const r = await call("lg_container app:api", { LG_PLACEMENT: "single-host", FAKE_PS: ps });
      assert.deepEqual([r.code, r.stdout], [0, "0ld\n"]);
      assert.match(
        fs.readFileSync(path.join(dir, "log"), "utf8"),
        /ps --filter label=launchgate\.app=api --filter status=running --format/,
      );
      const starting = await call("lg_container app:api", {
        LG_PLACEMENT: "single-host",
        FAKE_PS: "n3w Up 2 seconds (health: starting) <>\\nc4n Up 5 minutes (healthy) <canary>\\n",
      });
      assert.deepEqual([starting.code, starting.stdout], [0, "n3w\n"]);
      const none = await call("lg_container app:api", {
        LG_PLACEMENT: "single-host",
        FAKE_PS: "c4n Up 5 minutes (healthy) <canary>\\nm1g Up 1 second <migrate>\\n",
      });
      assert.notEqual(none.code, 0);
      assert.match(none.stderr, /app api has no running container on this host/);
      // A failed release left beside the healthy old one is what the monitor must see.
      const failed = await call("lg_container app:api", {
        LG_PLACEMENT: "single-host",
        FAKE_PS: "n3w Up 2 minutes (unhealthy) <>\\n0ld Up 3 hours (healthy) <>\\n",
      });
      assert.deepEqual([failed.code, failed.stdout], [0, "n3w\n"]);
    });
    test("swarm: the newest running task container of the service, found by its service label", async () => {
      const r = await call("lg_container postgres", { LG_PLACEMENT: "swarm", FAKE_PS: "c0ffee1\nc0ffee0\n" });
      assert.deepEqual([r.code, r.stdout], [0, "c0ffee1\n"]);
      const asked = fs.readFileSync(path.join(dir, "log"), "utf8");
      assert.match(
        asked,
        /ps -q --filter label=com\.docker\.swarm\.service\.name=postgres --filter status=running/,
      );
    });
    test("swarm: no task on this node fails, naming the service and the node", async () => {
      const r = await call("lg_container redis-cache", { LG_PLACEMENT: "swarm", FAKE_PS: "" });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Swarm service redis-cache has no running task on this node/);
    });
    test("replicas: running/desired from a manager (exact name), unknown on a worker", async () => {
      const services = "api-canary 1/1\napi 2/2 (max 1 per node)\n";
      const m = await call("lg_service_replicas api", { FAKE_MANAGER: "true", FAKE_SERVICES: services });
      assert.equal(m.stdout, "2/2\n");
      const gone = await call("lg_service_replicas admin", { FAKE_MANAGER: "true", FAKE_SERVICES: services });
      assert.equal(gone.stdout, "0/0\n");
      const w = await call("lg_service_replicas api", { FAKE_MANAGER: "false", FAKE_SERVICES: services });
      assert.equal(w.stdout, "unknown\n");
    });
  });

  describe("monitor-probe.sh against a fake webhook", () => {
    const posts: any[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
    let failNext = false;
    let server: http.Server;
    let base: string;
    let dir: string;
    let probe: string;
    let accessLog: string;

    before(async () => {
      server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (d) => (body += d));
        req.on("end", () => {
          if (req.url === "/health") {
            res.writeHead(200).end("ok");
          } else if (failNext) {
            failNext = false;
            res.writeHead(500).end();
          } else {
            posts.push(JSON.parse(body));
            res.writeHead(204).end();
          }
        });
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-monitor-"));
      fs.mkdirSync(path.join(dir, "backups", "postgres", "app"), { recursive: true });
      const dump = path.join(dir, "backups", "postgres", "app", "app-old-full.dump");
      fs.writeFileSync(dump, "PGDMP");
      const old = new Date(Date.now() - 30 * 3600_000);
      fs.utimesSync(dump, old, old);
      fs.writeFileSync(path.join(dir, "backups", "restore-drill.json"), '{"ok":true,"finishedAt":"x"}\n');
      accessLog = path.join(dir, "access.log");
      const line = (s: number) =>
        `203.0.113.9 - - [24/Nov/2026:10:00:00 +0000] "GET /api/v1/x HTTP/1.1" ${s} 12 "-" "curl/8"\n`;
      fs.writeFileSync(accessLog, Array.from({ length: 100 }, (_, i) => line(i < 10 ? 502 : 200)).join(""));
      fs.writeFileSync(path.join(dir, "webhook"), `${base}/hook\n`, { mode: 0o600 });
      const evalFile = path.join(dir, "monitor-evaluate.sh");
      // Same evaluator file, with thresholds that this busy test machine cannot trip for CPU/memory/disk.
      fs.writeFileSync(
        evalFile,
        evaluate.replace(/^export LG_(CPU|MEM|DISK)_(WARN|CRIT)='\d+'$/gm, "export LG_$1_$2='101'"),
        { mode: 0o755 },
      );
      probe = await unwrap(
        renderScript(
          "monitor-probe.sh",
          {
            LG_PROBE_CONTAINERS: [],
            LG_PUBLIC_URL: `${base}/health`,
            LG_BACKUP_DIR: path.join(dir, "backups"),
            LG_DISK_PATH: dir,
            LG_ACCESS_LOG: accessLog,
            LG_STATE_DIR: path.join(dir, "state"),
            LG_WEBHOOK_FILE: path.join(dir, "webhook"),
            LG_EVALUATE: evalFile,
            LG_REALERT_MINUTES: 60,
            LG_HOST_LABEL: "test-host",
            LG_HTTP_TIMEOUT: 5,
            LG_INSECURE_TLS: false,
            LG_PLACEMENT: "single-host",
          },
          MONITOR_LIBS,
        ).text,
      );
    });

    after(() => {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test("--print shows the measurements and their evaluation, posts nothing, keeps the log offset", async () => {
      const r = await bash(probe, "", {}, ["--print"]);
      assert.equal(r.code, 0, r.stderr);
      const [measured, judged] = r.stdout.split("\n--\n");
      assert.match(measured!, /^http\.public=200$/m);
      assert.match(measured!, /^errors\.requests=100$/m);
      assert.match(judged!, /^crit\terrors\t/m);
      assert.equal(posts.length, 0);
      assert.ok(!fs.existsSync(path.join(dir, "state", "access-log.offset")), "offset not advanced");
    });

    test("first run posts the stale backup and the 10 % error rate as crit", async () => {
      const r = await bash(probe);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(posts.length, 1);
      const p = posts[0];
      assert.equal(p.source, "launchgate");
      assert.equal(p.host, "test-host");
      const byCheck = Object.fromEntries(
        p.alerts.map((a: { check: string; level: string }) => [a.check, a.level]),
      );
      assert.deepEqual(byCheck, { "backup.freshness": "crit", errors: "crit" });
      assert.match(p.text, /\[crit\] errors: 5xx error rate over 100 requests: 10\.00%/);
    });

    test("second run: the unchanged alert is not repeated; the error rate (no new lines) resolves", async () => {
      const r = await bash(probe);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(posts.length, 2);
      assert.deepEqual(
        posts[1].alerts.map((a: { check: string; level: string }) => `${a.check}:${a.level}`),
        ["errors:resolved"],
      );
    });

    test("third run: nothing new, nothing posted", async () => {
      assert.equal((await bash(probe)).code, 0);
      assert.equal(posts.length, 2);
    });

    test("a failed delivery exits non-zero and is retried on the next run", async () => {
      fs.appendFileSync(
        accessLog,
        Array.from({ length: 50 }, () => `1.2.3.4 - - [x] "GET / HTTP/1.1" 500 1 "-" "-"\n`).join(""),
      );
      failNext = true;
      const failed = await bash(probe);
      assert.notEqual(failed.code, 0);
      assert.match(failed.stderr, /webhook delivery failed/);
      assert.equal(posts.length, 2);
      assert.equal((await bash(probe)).code, 0);
      assert.equal(posts.length, 3);
      assert.deepEqual(
        posts[2].alerts.map((a: { check: string; level: string }) => `${a.check}:${a.level}`),
        ["errors:crit"],
      );
      assert.match(posts[2].text, /over 50 requests: 100\.00%/);
    });
  });
});
