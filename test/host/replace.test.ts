/**
 * Two releases in a row, the second with changed host scripts and a rotated deploy key (issue
 * 12): the command resources of Backups, Monitoring and the SSH identity file are recorded from
 * the components for each release, and replayed in the order the Pulumi engine runs a
 * replacement — for `deleteBeforeReplace` the old version's `delete` then the new `create`,
 * otherwise the new `create` then the old `delete` — with the option each resource really
 * declares. After the second release every script, unit, timer and identity file must exist
 * (and be the new version). A control replays create-first and shows the files gone, so the
 * check can tell the two orders apart.
 *
 * The remote scripts run with bash in a private mount namespace (test/support/fake-host.ts: the
 * host's /usr/local/lib, /etc and /var/lib are a temp dir's, systemctl a recorder), as sshd
 * would run them for the deploy user; the identity file's local command runs as the command
 * provider runs it (`sh -c` with its environment and stdin). Needs unshare and overlayfs (root).
 *
 * Run: node --import tsx --test test/host/replace.test.ts
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { createRequire } from "node:module";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, recordOptions, reveal, settle } from "../support/mocks";
import { FakeHost, makeFakeHost } from "../support/fake-host";
import { Backups } from "../../components/ops/Backups";
import { Monitoring } from "../../components/ops/Monitoring";
import { SshIdentityFile } from "../../components/host/SshIdentityFile";
import { SCRIPTS_DIR } from "../../components/ops/remote-script";
import { configSchema } from "../../stacks/config";

/** One command resource as recorded: its inputs and whether it replaces delete-first. */
interface Cmd {
  readonly type: string;
  readonly name: string;
  readonly create: string;
  readonly delete: string;
  readonly stdin: string;
  readonly environment: Record<string, string>;
  readonly triggers: string;
  readonly deleteBeforeReplace: boolean;
}

/** Scripts the second release changes (a comment line appended: a new sha256, so new triggers). */
const CHANGED = ["backup-postgres.sh", "monitor-probe.sh", "install-files.sh"];
const MARK = "# release 2";
/** The CommonJS `fs` module object the components' `import * as fs` reads through (writable). */
const cjsFs = createRequire(__filename)("fs") as typeof fs;

/**
 * Records the three components' commands. With `release2`, the files in CHANGED read with MARK
 * appended (as if edited in the repository) and the identity key differs.
 */
async function record(release2: boolean, host: FakeHost, keyPath: string): Promise<Cmd[]> {
  const realRead = cjsFs.readFileSync;
  if (release2) {
    const patched = ((file: fs.PathOrFileDescriptor, ...rest: unknown[]) => {
      const out = (realRead as (...a: unknown[]) => unknown)(file, ...rest);
      if (typeof file === "string" && CHANGED.includes(path.basename(file)) && file.startsWith(SCRIPTS_DIR))
        return typeof out === "string"
          ? `${out}${MARK}\n`
          : Buffer.concat([out as Buffer, Buffer.from(`${MARK}\n`)]);
      return out;
    }) as typeof fs.readFileSync;
    cjsFs.readFileSync = patched;
  }
  try {
    const rec = await installMocks("local");
    const opts = recordOptions();
    const connection = { host: "127.0.0.1", port: 22, user: "deployer", privateKey: pulumi.secret("unused") };
    new Backups("backups", {
      config: { dailyAt: "02:00", incrementalEveryHours: 6, retentionDays: 30, drillEveryHours: 24 },
      connection,
      storagePath: host.storage,
      postgresContainer: "postgres",
      databases: ["app"],
      redisContainers: ["redis-queue"],
      releaseId: release2 ? "release-2" : "release-1",
    });
    new Monitoring("monitoring", {
      // The schema's defaults (the values every stack starts from).
      config: configSchema.shape.monitoring.parse({}),
      connection,
      alertWebhookUrl: pulumi.secret(""),
      probes: [{ name: "postgres", container: "postgres" }],
      publicUrl: "https://example.com/health",
      backupDir: host.backupDir,
      accessLogPath: path.join(host.storage, "logs", "access.log"),
    });
    new SshIdentityFile("deployer-identity", {
      privateKey: pulumi.secret(release2 ? "KEY-RELEASE-2" : "KEY-RELEASE-1"),
      path: keyPath,
    });
    await settle();
    return rec.resources
      .filter((r) => /^command:(local|remote):Command$/.test(r.type) && r.inputs.delete !== undefined)
      .map((r) => ({
        type: r.type,
        name: r.name,
        create: String(reveal(r.inputs.create)),
        delete: String(reveal(r.inputs.delete)),
        stdin: r.inputs.stdin === undefined ? "" : String(reveal(r.inputs.stdin)),
        environment: (reveal(r.inputs.environment) ?? {}) as Record<string, string>,
        triggers: JSON.stringify(reveal(r.inputs.triggers) ?? []),
        deleteBeforeReplace: opts.of(r.type, r.name).deleteBeforeReplace === true,
      }));
  } finally {
    cjsFs.readFileSync = realRead;
  }
}

/** Runs one command script the way the command provider would (remote: on the fake host). */
function runScript(host: FakeHost, cmd: Cmd, which: "create" | "delete"): void {
  const script = cmd[which];
  const r =
    cmd.type === "command:remote:Command"
      ? host.run(script, 120_000, cmd.stdin)
      : spawnSync("/bin/sh", ["-c", script], {
          input: which === "create" ? cmd.stdin : "",
          env: { ...process.env, ...cmd.environment },
          encoding: "utf8",
          timeout: 60_000,
        });
  assert.equal(r.status, 0, `${cmd.name} ${which} failed:\n${r.stdout}\n${r.stderr}`);
}

/** Paths a remote installer writes (from its uninstall list, LG_PATHS) and the timers it enables. */
function declared(cmd: Cmd): { paths: string[]; timers: string[] } {
  const exported = (name: string) => {
    const m = new RegExp(`^export ${name}='([^']*)'$`, "m").exec(cmd.delete);
    assert.ok(m, `${cmd.name}: delete script exports no ${name}`);
    return m[1]!.split(" ").filter(Boolean);
  };
  return { paths: exported("LG_PATHS"), timers: exported("LG_TIMERS") };
}

/** Files, units, timers and identity files missing on `host` after release 2. */
function missing(host: FakeHost, release2: Cmd[], keyPath: string): string[] {
  const out: string[] = [];
  for (const cmd of release2.filter((c) => c.type === "command:remote:Command")) {
    const { paths, timers } = declared(cmd);
    for (const p of paths) if (!fs.existsSync(host.file(p))) out.push(p);
    for (const t of timers) if (!host.enabledTimers().includes(t)) out.push(`timer ${t}`);
  }
  if (!fs.existsSync(keyPath)) out.push(keyPath);
  return out;
}

describe(
  "two releases with changed scripts: every command's replacement keeps what it installed",
  { timeout: 10 * 60_000 },
  () => {
    let release1: Cmd[];
    let release2: Cmd[];
    const hosts: FakeHost[] = [];
    const fresh = () => {
      const h = makeFakeHost(`lg-replace-test-${process.pid}-`);
      hosts.push(h);
      return h;
    };
    let host: FakeHost;
    let keyPath: string;

    before(async () => {
      host = fresh();
      keyPath = path.join(host.dir, "identity", "deployer");
      release1 = await record(false, host, keyPath);
      release2 = await record(true, host, keyPath);
    });

    after(() => {
      for (const h of hosts) h.remove();
    });

    test("the second release replaces every command that has a delete (new triggers)", () => {
      const names = release1.map((c) => c.name);
      for (const n of ["backups-install", "deployer-identity-write", "monitoring-install"])
        assert.ok(names.includes(n), `${n} not recorded (have ${names.join(", ")})`);
      for (const c of release2) {
        const old = release1.find((o) => o.name === c.name)!;
        assert.notEqual(c.triggers, old.triggers, `${c.name}: triggers unchanged, so no replacement to test`);
      }
    });

    test("replayed in engine order, every file, unit, timer and identity file exists after release 2", () => {
      for (const c of release1) runScript(host, c, "create");
      assert.deepEqual(missing(host, release1, keyPath), [], "release 1 installed everything");
      for (const c of release2) {
        const old = release1.find((o) => o.name === c.name)!;
        // The engine's order for a replacement, from the option the program declares.
        if (c.deleteBeforeReplace) {
          runScript(host, old, "delete");
          runScript(host, c, "create");
        } else {
          runScript(host, c, "create");
          runScript(host, old, "delete");
        }
      }
      assert.deepEqual(missing(host, release2, keyPath), []);
      // And they are the new versions.
      for (const f of ["backup-postgres.sh", "monitor-probe.sh"])
        assert.match(fs.readFileSync(host.file(`/usr/local/lib/launchgate/${f}`), "utf8"), new RegExp(MARK));
      assert.equal(fs.readFileSync(keyPath, "utf8"), "KEY-RELEASE-2\n");
      assert.equal(fs.statSync(keyPath).mode & 0o777, 0o600);
    });

    test("control: replayed create-first, the old delete removes what the new create installed", () => {
      const h = fresh();
      const key = path.join(h.dir, "identity", "deployer");
      const retarget = (c: Cmd): Cmd => ({
        ...c,
        create: c.create.split(host.storage).join(h.storage),
        delete: c.delete.split(host.storage).join(h.storage),
        environment: c.type === "command:local:Command" ? { ...c.environment, KEY_PATH: key } : c.environment,
      });
      for (const c of release1.map(retarget)) runScript(h, c, "create");
      for (const c of release2.map(retarget)) {
        runScript(h, c, "create");
        runScript(h, retarget(release1.find((o) => o.name === c.name)!), "delete");
      }
      const gone = missing(h, release2.map(retarget), key);
      assert.ok(gone.includes("/usr/local/lib/launchgate/backup-postgres.sh"), gone.join(", "));
      assert.ok(gone.includes("timer launchgate-backup-full.timer"), gone.join(", "));
      assert.ok(gone.includes(key), gone.join(", "));
    });
  },
);
