/**
 * Backups: the install command carries the rendered scripts and systemd units with the declared
 * schedule and retention; triggers follow the script files; the pre-migration backup re-runs per
 * release and waits for the install, which waits for the host and the release gate.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { Recorder, installMocks, settle, unwrap, fakeResource, recordOptions } from "../support/mocks";
import { exported, installedFile } from "../support/rendered-script";
import { Backups, BackupsArgs, backupSchedules } from "../../components/ops/Backups";
import { everyHoursCalendar, renderScript, shellQuote } from "../../components/ops/remote-script";
import type { BackupsConfig } from "../../stacks/config";
import { gateEveryResource } from "../../components/release/gate";

const CMD = "command:remote:Command";
const SCRIPTS = path.join(__dirname, "..", "..", "components", "ops", "scripts");

const config = (over: Partial<BackupsConfig> = {}): BackupsConfig => ({
  dailyAt: "02:00",
  incrementalEveryHours: 6,
  retentionDays: 30,
  drillEveryHours: 24,
  ...over,
});

function args(over: Partial<BackupsArgs> = {}): BackupsArgs {
  return {
    config: config(),
    connection: { host: "203.0.113.10", port: 22, user: "deployer", privateKey: pulumi.secret("KEY") },
    storagePath: "/srv/launchgate",
    postgresContainer: "postgres",
    databases: ["app", "analytics"],
    redisContainers: ["queue", "cache"],
    releaseId: "sha256:aaaa",
    ...over,
  };
}

describe("Backups", () => {
  let rec: Recorder;
  let deps: ReturnType<typeof recordOptions>;
  let b: Backups;
  let install: string;
  let drillInstall: string;

  before(async () => {
    rec = await installMocks("production");
    deps = recordOptions();
    const gate = fakeResource("test:index:Marker", "gate");
    const hostReady = fakeResource("test:index:Marker", "host-ready");
    b = new Backups("backups", args(), {
      transformations: [gateEveryResource(gate)],
      dependsOn: [hostReady],
    });
    await settle();
    install = rec.one(CMD, "backups-install").inputs.create;
    drillInstall = rec.one(CMD, "backups-drill").inputs.create;
  });

  test("daily full dump at dailyAt, incremental every 6 h, drill an hour after the full dump (UTC)", () => {
    assert.match(
      installedFile(install, "/etc/systemd/system/launchgate-backup-full.timer"),
      /^OnCalendar=\*-\*-\* 02:00:00 UTC$/m,
    );
    assert.match(
      installedFile(install, "/etc/systemd/system/launchgate-backup-incremental.timer"),
      /^OnCalendar=\*-\*-\* 00,06,12,18:00:00 UTC$/m,
    );
    assert.match(
      installedFile(drillInstall, "/etc/systemd/system/launchgate-restore-drill.timer"),
      /^OnCalendar=\*-\*-\* 03:00:00 UTC$/m,
    );
    for (const t of ["backup-full", "backup-incremental"]) {
      assert.match(installedFile(install, `/etc/systemd/system/launchgate-${t}.timer`), /^Persistent=true$/m);
    }
    assert.match(
      installedFile(drillInstall, "/etc/systemd/system/launchgate-restore-drill.timer"),
      /^Persistent=true$/m,
    );
    assert.equal(
      exported(install, "LG_TIMERS"),
      "launchgate-backup-full.timer launchgate-backup-incremental.timer",
    );
    // The drill is its own scheduled resource (role drill).
    assert.equal(exported(drillInstall, "LG_TIMERS"), "launchgate-restore-drill.timer");
  });

  test("schedules follow config", () => {
    assert.deepEqual(
      backupSchedules(config({ dailyAt: "23:30", incrementalEveryHours: 4, drillEveryHours: 24 })),
      {
        full: "*-*-* 23:30:00 UTC",
        incremental: "*-*-* 00,04,08,12,16,20:00:00 UTC",
        drill: "*-*-* 00:30:00 UTC",
      },
    );
    assert.equal(everyHoursCalendar(12, 3, 0), "*-*-* 03,15:00:00 UTC");
    assert.equal(everyHoursCalendar(5, 0, 0), "*-*-* 00/5:00:00 UTC");
    assert.equal(
      everyHoursCalendar(168, 3, 0),
      "Mon *-*-* 03:00:00 UTC",
      "weekly, as seed 001's test restore",
    );
    assert.equal(everyHoursCalendar(48, 3, 30), "*-*-1/2 03:30:00 UTC");
    assert.throws(
      () => everyHoursCalendar(0, 0, 0),
      /hours: expected 1\.\.24 or a whole number of days .*, got 0/,
    );
    assert.throws(() => everyHoursCalendar(30, 0, 0), /got 30/);
    assert.throws(
      () => backupSchedules(config({ drillEveryHours: 30 })),
      /^Error: launchgate:backups\.drillEveryHours: hours: .* got 30$/,
    );
  });

  test("services run full and incremental pg_dump -Fc, Redis and storage copies, retention only after success", () => {
    const full = installedFile(install, "/etc/systemd/system/launchgate-backup-full.service");
    assert.match(full, /^ExecStart=\/usr\/local\/lib\/launchgate\/backup-postgres\.sh full$/m);
    assert.match(full, /^ExecStart=\/usr\/local\/lib\/launchgate\/backup-redis\.sh$/m);
    assert.match(full, /^ExecStart=\/usr\/local\/lib\/launchgate\/backup-storage\.sh$/m);
    assert.match(full, /^ExecStartPost=\/usr\/local\/lib\/launchgate\/backup-retention\.sh$/m);
    assert.doesNotMatch(full, /backup-offsite/, "no off-site copy without offsiteTarget");
    const incr = installedFile(install, "/etc/systemd/system/launchgate-backup-incremental.service");
    assert.match(incr, /^ExecStart=\/usr\/local\/lib\/launchgate\/backup-postgres\.sh incremental$/m);
    const dump = installedFile(install, "/usr/local/lib/launchgate/backup-postgres.sh");
    assert.match(dump, /pg_dump -U "\$LG_PG_USER" -Fc "\$\{compress\[@\]\}" --snapshot=/);
    assert.match(dump, /pg_dumpall -U "\$LG_PG_USER" --globals-only/);
    // Verified whole (every data block read back), not just the table of contents.
    assert.match(dump, /pg_restore -f \/dev\/null/);
  });

  test("scripts carry retention, databases, containers and paths as quoted exports", () => {
    const retention = installedFile(install, "/usr/local/lib/launchgate/backup-retention.sh");
    assert.equal(exported(retention, "LG_RETENTION_DAYS"), "30");
    assert.equal(exported(retention, "LG_BACKUP_DIR"), "/srv/launchgate/backups");
    const drill = installedFile(drillInstall, "/usr/local/lib/launchgate/restore-drill.sh");
    assert.equal(exported(drill, "LG_DRILL_RESULT"), "/srv/launchgate/backups/restore-drill.json");
    assert.equal(exported(drill, "LG_DATABASES"), "app analytics");
    assert.equal(exported(drill, "LG_PG_CONTAINER"), "postgres");
    assert.equal(exported(drill, "LG_PG_USER"), "postgres");
    assert.equal(exported(drill, "LG_REDIS_CONTAINERS"), "queue cache");
    assert.match(exported(install, "LG_DIRS"), /^0711 \/srv\/launchgate\/backups$/m);
    assert.equal(b.retentionDays, 30);
  });

  test("outputs: backup dir and drill result path", async () => {
    assert.equal(await unwrap(b.backupDir), "/srv/launchgate/backups");
    assert.equal(await unwrap(b.drillResultPath), "/srv/launchgate/backups/restore-drill.json");
  });

  test("triggers hold the sha256 of every script file", () => {
    const triggers: string[] = rec.one(CMD, "backups-install").inputs.triggers;
    for (const f of ["install-files.sh", "uninstall-files.sh", "backup-postgres.sh", "backup-retention.sh"]) {
      assert.ok(
        triggers.some((t) => t.startsWith(`${f}:sha256:`)),
        `${f} missing from triggers ${triggers.join(", ")}`,
      );
    }
    assert.equal(new Set(triggers).size, triggers.length);
  });

  test("a changed script file changes its trigger", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-trigger-"));
    try {
      const copy = path.join(dir, "backup-retention.sh");
      fs.copyFileSync(path.join(SCRIPTS, "backup-retention.sh"), copy);
      const original = renderScript(copy).trigger;
      assert.equal(original, renderScript("backup-retention.sh").trigger, "same content, same trigger");
      fs.appendFileSync(copy, "# edited\n");
      assert.notEqual(renderScript(copy).trigger, original);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("pre-migration backup re-runs per release and runs the installed dump script", () => {
    const pre = rec.one(CMD, "backups-pre-migration").inputs;
    assert.equal(pre.triggers[0], "sha256:aaaa");
    assert.ok(pre.triggers.some((t: string) => t.startsWith("backup-postgres.sh:sha256:")));
    assert.equal(exported(pre.create, "LG_RELEASE_ID"), "sha256:aaaa");
    assert.match(pre.create, /"\$LG_LIB_DIR\/backup-postgres\.sh" pre-migration/);
  });

  test("dependsOn chain: gate + host → install → pre-migration backup", () => {
    const installDeps = deps.of("command:remote:Command", "backups-install").dependencies;
    assert.ok(
      installDeps.some((u) => u.endsWith("::gate")),
      `install deps: ${installDeps.join(", ")}`,
    );
    assert.ok(installDeps.some((u) => u.endsWith("::host-ready")));
    const preDeps = deps.of("command:remote:Command", "backups-pre-migration").dependencies;
    assert.ok(
      preDeps.some((u) => u.endsWith("::backups-install")),
      `pre-migration deps: ${preDeps.join(", ")}`,
    );
    assert.ok(preDeps.some((u) => u.endsWith("::gate")));
  });

  test("delete stops the timers and removes the units, keeping data", () => {
    const del: string = rec.one(CMD, "backups-install").inputs.delete;
    assert.match(del, /systemctl disable --now/);
    assert.equal(exported(del, "LG_TIMERS").split(" ").length, 2);
    const drillDel: string = rec.one(CMD, "backups-drill").inputs.delete;
    assert.equal(exported(drillDel, "LG_TIMERS"), "launchgate-restore-drill.timer");
    assert.doesNotMatch(exported(del, "LG_PATHS"), /\/srv\/launchgate\/backups/);
  });

  test("off-site copy is added after the dumps when offsiteTarget is set", async () => {
    new Backups("offsite", args({ config: config({ offsiteTarget: "backup@vault.example.com:/srv/lg" }) }));
    await settle();
    const create: string = rec.one(CMD, "offsite-install").inputs.create;
    assert.match(
      installedFile(create, "/etc/systemd/system/launchgate-backup-full.service"),
      /^ExecStartPost=\/usr\/local\/lib\/launchgate\/backup-offsite\.sh$/m,
    );
    assert.equal(
      exported(installedFile(create, "/usr/local/lib/launchgate/backup-offsite.sh"), "LG_OFFSITE_TARGET"),
      "backup@vault.example.com:/srv/lg",
    );
  });

  test("every rendered script (exports + libraries + body) is shellcheck-clean", (t) => {
    if (spawnSync("shellcheck", ["--version"]).status !== 0) return t.skip("shellcheck not installed");
    const inst = rec.one(CMD, "backups-install").inputs;
    const texts: Record<string, string> = {
      install: inst.create,
      uninstall: inst.delete,
      "pre-migration": rec.one(CMD, "backups-pre-migration").inputs.create,
      "drill install": drillInstall,
      "drill uninstall": rec.one(CMD, "backups-drill").inputs.delete,
    };
    for (const line of exported(install, "LG_FILES").split("\n")) {
      const [, dest, v] = line.split(" ");
      if (dest!.endsWith(".sh")) texts[dest!] = exported(install, v!);
    }
    for (const line of exported(drillInstall, "LG_FILES").split("\n")) {
      const [, dest, v] = line.split(" ");
      if (dest!.endsWith(".sh")) texts[dest!] = exported(drillInstall, v!);
    }
    assert.equal(Object.keys(texts).length, 11);
    for (const [what, text] of Object.entries(texts)) {
      const r = spawnSync("shellcheck", ["-s", "bash", "-"], { input: text, encoding: "utf8" });
      assert.equal(r.status, 0, `${what}:\n${r.stdout}`);
    }
  });

  test("the install command fits in one exec argument (sshd runs it as `$SHELL -c <command>`)", () => {
    // Linux caps a single argv string at 128 KiB (MAX_ARG_STRLEN); keep well clear of it.
    assert.ok(
      Buffer.byteLength(install) < 96 * 1024,
      `install script is ${Buffer.byteLength(install)} bytes`,
    );
  });

  test("shellQuote survives quotes and newlines", () => {
    assert.equal(shellQuote("it's\nok"), "'it'\\''s\nok'");
  });
});
