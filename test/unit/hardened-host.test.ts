/**
 * HardenedHost under mocks: the steps, their order and chain, the security-relevant content of
 * the scripts it sends, triggers that follow the script files, and secrets that stay secret.
 * (What the scripts do on a real host is test/host/hardening.test.ts.)
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import {
  DEFAULT_SSH_CIPHERS,
  HardenedHost,
  HardenedHostArgs,
  HOST_STEPS,
} from "../../components/host/HardenedHost";
import type { HostConfig } from "../../stacks/config";
import {
  installMocks,
  isSecret,
  isSecretInput,
  RecordedResource,
  Recorder,
  reveal,
  settle,
  unwrap,
} from "../support/mocks";
import { gateEveryResource } from "../../components/release/gate";

const SCRIPTS = path.resolve(__dirname, "../../components/host/scripts");
const DEPLOY_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\ndeploy-secret\n-----END OPENSSH PRIVATE KEY-----";
const ROOT_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nroot-secret\n-----END OPENSSH PRIVATE KEY-----";

const HOST: HostConfig = {
  address: "203.0.113.10",
  sshPort: 22,
  bootstrapUser: "root",
  deployUser: "deployer",
  storagePath: "/srv/launchgate",
  sshAllowFrom: ["198.51.100.0/24", "192.0.2.7/32"],
  timezone: "Europe/Berlin",
  engineApiVersion: "1.41",
};

function baseArgs(over: Partial<HardenedHostArgs> = {}): HardenedHostArgs {
  return {
    bootstrap: { host: HOST.address, port: 22, user: "root", privateKey: pulumi.secret(ROOT_KEY) },
    host: HOST,
    deployerPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDeployer deployer@test",
    deployerPrivateKey: pulumi.secret(DEPLOY_KEY),
    permitOpen: ["172.30.0.10:5432"],
    ...over,
  };
}

async function declare(
  over: Partial<HardenedHostArgs> = {},
  opts: pulumi.ComponentResourceOptions & { gate?: pulumi.Resource } = {},
) {
  const rec = await installMocks("staging");
  const host = new HardenedHost("host", baseArgs(over), opts);
  await settle();
  return { rec, host };
}

/** The commands HardenedHost declared, in declaration order. */
function steps(rec: Recorder): RecordedResource[] {
  return rec.resources.filter((r) => r.type.startsWith("command:"));
}

function stdinOf(rec: Recorder, step: string): string {
  const r = steps(rec).find((s) => s.name === `host-${step}`);
  assert.ok(r, `no step ${step}`);
  return String(reveal(r.inputs.stdin));
}

/** Runs only the `export` lines of a rendered script in bash and prints one variable. */
function exported(script: string, name: string): string {
  // The exports come first, then lib.sh (whose first line is known); run only that prefix.
  const end = script.indexOf("# Helpers shared by every HardenedHost step");
  assert.ok(end > 0, "lib.sh follows the exports");
  const exports = script.slice(0, end);
  const r = spawnSync("bash", ["-c", `${exports}\nprintf '%s' "$${name}"`], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** Stands in for the release-gate resource. */
class Gate extends pulumi.CustomResource {
  constructor(name: string) {
    super("launchgate:test:Gate", name, {});
  }
}

describe("HardenedHost", () => {
  it("declares the steps in order: bootstrap from the Pulumi side, the rest as the deploy user with sudo", async () => {
    const { rec } = await declare();
    const all = steps(rec);
    assert.deepEqual(
      all.map((r) => r.name),
      HOST_STEPS.map((s) => `host-${s}`),
    );
    assert.equal(all[0]!.type, "command:local:Command");
    assert.deepEqual(all[0]!.inputs.interpreter, ["/bin/bash", "-c"]);
    for (const r of all.slice(1)) {
      assert.equal(r.type, "command:remote:Command");
      const step = r.name.slice("host-".length);
      assert.equal(r.inputs.create, `sudo -n bash -c "$(cat)" launchgate-${step}`);
      const conn = reveal(r.inputs.connection);
      assert.equal(conn.user, "deployer", `${r.name} must connect as the deploy user`);
      assert.equal(conn.host, HOST.address);
      assert.equal(r.inputs.addPreviousOutputInEnv, false);
      assert.equal(r.inputs.environment, undefined, "settings go into the script, not SSH env");
    }
  });

  it("chains every step on the previous one and the first on the release gate", async () => {
    const rec0 = await installMocks("staging");
    const gate = new Gate("gate");
    new HardenedHost("host", baseArgs(), { transformations: [gateEveryResource(gate)] });
    await settle();
    const all = steps(rec0);
    assert.ok(
      all[0]!.dependencies?.some((u) => u.endsWith("::gate")),
      "bootstrap must wait for the gate",
    );
    for (let i = 1; i < all.length; i++) {
      const deps = all[i]!.dependencies ?? [];
      assert.ok(
        deps.some((u) => u.endsWith(`::${all[i - 1]!.name}`)),
        `${all[i]!.name} must depend on ${all[i - 1]!.name} (has ${deps.join(", ")})`,
      );
      assert.ok(
        deps.some((u) => u.endsWith("::gate")),
        `${all[i]!.name} must depend on the gate`,
      );
    }
  });

  it("sshd: root and passwords off, modern algorithms only, validated before reload, tunnel only for the deploy user", async () => {
    const { rec } = await declare();
    const s = stdinOf(rec, "sshd");
    for (const line of [
      "PermitRootLogin no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "MaxAuthTries 2",
      "MaxSessions 2",
      "AllowUsers $LG_DEPLOY_USER",
      "AllowAgentForwarding no",
      "AllowTcpForwarding no",
      "X11Forwarding no",
      "LogLevel VERBOSE",
      "ClientAliveInterval 300",
      "Banner /etc/issue.net",
    ]) {
      assert.ok(s.includes(`\n${line}\n`), `sshd drop-in lacks "${line}"`);
    }
    assert.equal(exported(s, "LG_SSH_CIPHERS"), DEFAULT_SSH_CIPHERS.join(","));
    assert.doesNotMatch(exported(s, "LG_SSH_CIPHERS") + exported(s, "LG_SSH_MACS"), /cbc|sha1|md5/);
    assert.equal(exported(s, "LG_PERMIT_OPEN"), "172.30.0.10:5432");
    assert.match(s, /Match User %s\\n {2}AllowTcpForwarding local\\n {2}PermitOpen %s/);
    // Validation, rollback and reload in that order.
    const validate = s.indexOf("if ! errors=$(sshd -t");
    const restore = s.indexOf("    rollback\n");
    const reload = s.indexOf('kill -HUP "$(cat /run/sshd.pid)"');
    assert.ok(validate > 0 && validate < restore && restore < reload, "sshd -t must gate the reload");
    // Written where it wins, conflicts neutralised, effective values compared after the reload.
    assert.match(s, /^ours=\$dir\/00-launchgate\.conf$/m);
    const neutralise = s.indexOf(".disabled-by-launchgate");
    const effective = s.indexOf("check_effective root");
    assert.ok(
      neutralise > 0 && neutralise < validate && reload < effective,
      "neutralise → validate → reload → compare",
    );
  });

  it("firewall: SSH only from the configured ranges, allowed before ufw is enabled; public ports from args", async () => {
    const { rec } = await declare({ publicTcpPorts: [22, 443] });
    const s = stdinOf(rec, "firewall");
    assert.equal(exported(s, "LG_SSH_ALLOW_FROM"), "198.51.100.0/24 192.0.2.7/32");
    assert.equal(exported(s, "LG_PUBLIC_TCP_PORTS"), "22 443");
    assert.equal(exported(s, "LG_SSHD_PORT"), "22");
    assert.ok(s.indexOf("ufw $rule") < s.indexOf("ufw --force enable"), "allow rules before enabling");
    assert.match(s, /set_default incoming deny/);
    // Everyone may reach the web ports unless a source list is given; Docker's chain is owned.
    assert.equal(exported(s, "LG_WEB_ALLOW_FROM"), "any");
    assert.match(s, /:DOCKER-USER - \[0:0\]/);
    assert.match(s, /--ctstate DNAT --ctorigdstport \$port -j RETURN/);
    assert.ok(
      s.indexOf("iptables-restore --test") < s.indexOf('install_file "$after"'),
      "validated before installed",
    );
  });

  it("firewall: a Cloudflare stack's source list reaches the rules; malformed ranges are refused", async () => {
    const { rec } = await declare({ webAllowFrom: ["173.245.48.0/20", "2400:cb00::/32"] });
    assert.equal(exported(stdinOf(rec, "firewall"), "LG_WEB_ALLOW_FROM"), "173.245.48.0/20 2400:cb00::/32");
    await installMocks("staging");
    assert.throws(
      () => new HardenedHost("w1", baseArgs({ webAllowFrom: ["173.245.48.0/20; ufw disable"] })),
      /webAllowFrom\[0\]: got "173\.245\.48\.0\/20; ufw disable"; expected an IPv4 or IPv6 CIDR/,
    );
    assert.throws(
      () => new HardenedHost("w2", baseArgs({ webAllowFrom: [] })),
      /webAllowFrom: got \[\]; expected at least one CIDR/,
    );
  });

  it("sysctl: vm.overcommit_memory = 1 only on a host that runs Redis", async () => {
    const withRedis = stdinOf((await declare({ runsRedis: true })).rec, "sysctl");
    assert.equal(exported(withRedis, "LG_RUNS_REDIS"), "1");
    assert.match(
      withRedis,
      /if \[ "\$\{LG_RUNS_REDIS:-0\}" = 1 \]; then\n {4}printf '[^']*vm\.overcommit_memory = 1/,
    );
    assert.equal(exported(stdinOf((await declare()).rec, "sysctl"), "LG_RUNS_REDIS"), "0");
  });

  it("refuses a port list that would close SSH, and malformed values that end up in config files", async () => {
    await installMocks("staging");
    assert.throws(
      () => new HardenedHost("h1", baseArgs({ publicTcpPorts: [80, 443] })),
      /to include the sshd port 22/,
    );
    assert.throws(
      () => new HardenedHost("h2", baseArgs({ sshCiphers: ["aes256-ctr\nPermitRootLogin yes"] })),
      /sshCiphers/,
    );
    assert.throws(
      () => new HardenedHost("h3", baseArgs({ storageDirs: [{ path: "../etc", mode: "0755" }] })),
      /storageDirs\[0\]\.path/,
    );
    assert.throws(
      () => new HardenedHost("h4", baseArgs({ storageDirs: [{ path: "x", mode: "777;rm" }] })),
      /storageDirs\[0\]\.mode/,
    );
    assert.throws(() => new HardenedHost("h5", baseArgs({ sshdPort: 70000 })), /sshdPort/);
  });

  it("fail2ban, docker, logrotate, storage, sysctl, timezone scripts carry their settings", async () => {
    const { rec } = await declare();
    const f2b = stdinOf(rec, "fail2ban");
    assert.match(f2b, /\[sshd\]\nenabled {2}= true/);
    assert.match(f2b, /backend {2}= polling/);
    assert.match(f2b, /logpath {2}= \/var\/log\/auth\.log/);
    const dockerScript = stdinOf(rec, "docker");
    assert.match(dockerScript, /userland_proxy=false\nif in_container; then userland_proxy=true; fi/);
    const dockerJson = /<<JSON[^\n]*\n([\s\S]*?)\nJSON/
      .exec(dockerScript)?.[1]
      ?.replace("$userland_proxy", "false");
    assert.deepEqual(JSON.parse(dockerJson ?? "{}"), {
      "log-driver": "json-file",
      "log-opts": { "max-size": "10m", "max-file": "5" },
      "live-restore": true,
      "userland-proxy": false,
      "no-new-privileges": true,
      icc: false,
    });
    const lr = stdinOf(rec, "logrotate");
    assert.equal(exported(lr, "LG_LOG_RETENTION_DAYS"), "30");
    assert.match(lr, /rotate \$LG_LOG_RETENTION_DAYS/);
    const st = stdinOf(rec, "storage");
    assert.equal(exported(st, "LG_STORAGE_PATH"), "/srv/launchgate");
    assert.match(
      exported(st, "LG_STORAGE_DIRS"),
      /^\. 0750\nstorage 0750\nstorage\/cvs 0750\nstorage\/temp 0700\nbackups 0700$/,
    );
    assert.match(stdinOf(rec, "sysctl"), /net\.ipv4\.conf\.all\.accept_redirects = 0/);
    assert.equal(exported(stdinOf(rec, "timezone"), "LG_TIMEZONE"), "Europe/Berlin");
    assert.equal(exported(stdinOf(rec, "bootstrap"), "LG_DEPLOY_USER"), "deployer");
  });

  it("quotes settings safely: a banner with quotes and $ survives as text", async () => {
    const banner = `It's "monitored": $(reboot) \`id\` $HOME`;
    const { rec } = await declare({ banner });
    assert.equal(exported(stdinOf(rec, "baseline"), "LG_BANNER"), banner);
  });

  it("puts each script's sha256 in its triggers: editing one script re-runs that step only", async () => {
    const before = await declare();
    const triggersOf = (rec: Recorder) =>
      Object.fromEntries(steps(rec).map((r) => [r.name, JSON.stringify(r.inputs.triggers)]));
    const t1 = triggersOf(before.rec);
    for (const [name, t] of Object.entries(t1)) assert.match(t, /sha256:[0-9a-f]{64}/, name);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-host-scripts-"));
    try {
      fs.cpSync(SCRIPTS, dir, { recursive: true });
      fs.appendFileSync(path.join(dir, "sshd.sh"), "# a change\n");
      const t2 = triggersOf((await declare({ scriptsDir: dir })).rec);
      const changed = Object.keys(t1).filter((k) => t1[k] !== t2[k]);
      assert.deepEqual(changed, ["host-sshd"]);

      fs.appendFileSync(path.join(dir, "lib.sh"), "# shared change\n");
      const t3 = triggersOf((await declare({ scriptsDir: dir })).rec);
      assert.deepEqual(
        Object.keys(t1).filter((k) => t2[k] === t3[k]),
        [],
        "a change to lib.sh re-runs every step",
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps private keys secret and out of every script", async () => {
    const { rec, host } = await declare();
    const all = steps(rec);
    for (const r of all.slice(1)) {
      const conn = r.inputs.connection;
      assert.ok(
        isSecretInput(conn) || isSecretInput(conn?.privateKey),
        `${r.name}: connection key must be secret`,
      );
    }
    const env = all[0]!.inputs.environment;
    assert.ok(isSecretInput(env) || isSecretInput(env?.LG_DEPLOY_KEY), "bootstrap env keys must be secret");
    assert.equal(reveal(env).LG_BOOTSTRAP_KEY, ROOT_KEY);
    for (const r of all) {
      const text = JSON.stringify(
        reveal({ create: r.inputs.create, stdin: r.inputs.stdin, triggers: r.inputs.triggers }),
      );
      assert.ok(
        !text.includes("deploy-secret") && !text.includes("root-secret"),
        `${r.name} leaks a private key`,
      );
    }
    assert.equal(await isSecret(host.deployConnection), true);
    assert.equal((await unwrap(host.deployConnection)).privateKey, DEPLOY_KEY);
  });

  it("exposes the host facts later components need", async () => {
    const { host } = await declare();
    assert.equal(await unwrap(host.dockerHost), "ssh://deployer@203.0.113.10:22");
    assert.equal(await unwrap(host.storagePath), "/srv/launchgate");
    assert.equal(await unwrap(host.logDir), "/var/log/launchgate");
    assert.ok(host.ready instanceof pulumi.CustomResource, "ready is the last step");
  });

  it("every step script passes shellcheck (when installed)", (t) => {
    const which = spawnSync("shellcheck", ["--version"]);
    if (which.status !== 0) return t.skip("shellcheck not installed");
    const files = fs.readdirSync(SCRIPTS).filter((f) => f.endsWith(".sh"));
    assert.equal(
      files.length,
      HOST_STEPS.length + 3,
      "one script per step plus lib.sh, lib-engine.sh (the docker step's) and the bootstrap runner",
    );
    const r = spawnSync("shellcheck", ["-s", "bash", ...files], { cwd: SCRIPTS, encoding: "utf8" });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});

describe("HardenedHost with a pinned host key (config host.hostKey)", () => {
  const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMRIJUe0qd/LT6VoV3WpbcHsq/cBA4ZNNABax+EAQNLg";
  const pinned = (hostKey?: string) =>
    declare({
      bootstrap: { ...baseArgs().bootstrap, port: 2200, ...(hostKey ? { hostKey } : {}) },
    });
  it("every remote step's connection carries it; the bootstrap gets its known_hosts line", async () => {
    const { rec } = await pinned(KEY);
    const remote = steps(rec).filter((r) => r.type === "command:remote:Command");
    assert.ok(remote.length >= 10);
    for (const r of remote)
      assert.equal((reveal(r.inputs.connection) as { hostKey?: string }).hostKey, KEY, r.name);
    const boot = steps(rec).find((r) => r.name === "host-bootstrap")!;
    assert.equal(
      (reveal(boot.inputs.environment) as Record<string, string>).LG_KNOWN_HOSTS,
      `[203.0.113.10]:2200 ${KEY}`,
    );
  });
  it("without it: no hostKey and no line (policy ssh-host-keys-pinned refuses that outside local)", async () => {
    const { rec } = await pinned();
    for (const r of steps(rec).filter((x) => x.type === "command:remote:Command"))
      assert.equal((reveal(r.inputs.connection) as { hostKey?: string }).hostKey, undefined);
    const boot = steps(rec).find((r) => r.name === "host-bootstrap")!;
    assert.equal((reveal(boot.inputs.environment) as Record<string, string>).LG_KNOWN_HOSTS, undefined);
  });
});
