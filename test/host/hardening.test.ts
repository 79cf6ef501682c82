/**
 * HardenedHost on a real Debian host over real SSH (issue 4, host half).
 *
 * The scripts, their settings and their order are captured from the program: HardenedHost is
 * instantiated under the shared mocks with the `local` stack's host config, and the recorded
 * `command:local:Command` / `command:remote:Command` inputs are executed the way the command
 * provider would: the bootstrap runner locally with its environment and stdin, every other step
 * as `ssh deployer@vps <create>` with its stdin. Then the host is checked from outside, hardened a
 * second time (idempotence + timing) and fed a broken sshd input (no lock-out).
 *
 * Needs: docker engine, debootstrap (image build), openssh-client. Run:
 *   node --import tsx --test test/host/hardening.test.ts
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import {
  DEFAULT_STORAGE_DIRS,
  HardenedHost,
  HardenedHostArgs,
  HOST_STEPS,
} from "../../components/host/HardenedHost";
import { POSTGRES_IP } from "../../stacks/compose";
import { HostConfig } from "../../stacks/config";
import { captureSteps, localHostConfig, runAll, runStep, Step } from "../support/host-steps";
import {
  buildVpsImage,
  exec,
  KeyPair,
  makeKey,
  must,
  run,
  Run,
  scratchDir,
  ssh,
  startVps,
  Vps,
} from "../support/vps";

const t0 = Date.now();

/**
 * What hardening controls: managed files, ownership/modes, users, packages, firewall and
 * effective sshd config, and the PIDs of the daemons (a second run must not restart them).
 */
const FINGERPRINT = String.raw`
set -u
files="/etc/ssh/sshd_config.d/10-launchgate.conf /etc/sudoers.d/90-launchgate-deployer
 /home/deployer/.ssh/authorized_keys /etc/fail2ban/jail.d/launchgate.local
 /etc/apt/apt.conf.d/20auto-upgrades /etc/apt/apt.conf.d/52launchgate-unattended-upgrades
 /etc/audit/rules.d/50-launchgate.rules /etc/docker/daemon.json /etc/logrotate.d/launchgate
 /etc/sysctl.d/60-launchgate-hardening.conf /etc/issue /etc/issue.net /etc/motd /etc/login.defs
 /etc/timezone /etc/security/limits.d/10-launchgate-core.conf /etc/modprobe.d/launchgate-filesystems.conf
 /etc/ufw/user.rules /etc/ufw/user6.rules /etc/ufw/ufw.conf /etc/default/ufw /etc/passwd /etc/group"
for f in $files; do sha256sum "$f"; stat -c '%n %a %U:%G' "$f"; done
stat -c '%n %a %U:%G' /etc/shadow /etc/gshadow /etc/crontab /etc/ssh/sshd_config "$1" $(find "$1" -mindepth 1 | sort) /var/log/launchgate
readlink /etc/localtime
id deployer
dpkg-query -W -f '\${Package} \${Version}\n'
ufw status verbose
iptables -S | sort
sshd -T | sort
echo "dockerd $(pidof dockerd) fail2ban $(pidof -x fail2ban-server || pgrep -f fail2ban-server) rsyslogd $(pidof rsyslogd)"
`;

function fingerprint(vps: Vps, storagePath: string): string {
  const r = run("docker", ["exec", "-i", vps.container, "bash", "-s", "--", storagePath], {
    input: FINGERPRINT,
    timeoutMs: 60_000,
  });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** TCP connect with a timeout: true when the port accepted. */
function reachable(host: string, port: number, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

/** A TCP listener inside the VPS (perl is in every Debian: perl-base is essential). */
function listenInside(vps: Vps, port: number): void {
  must("docker", [
    "exec",
    "-d",
    vps.container,
    "perl",
    "-MIO::Socket::INET",
    "-e",
    `my $s = IO::Socket::INET->new(LocalPort => ${port}, Listen => 5, ReuseAddr => 1) or die; while (my $c = $s->accept) { print $c "hi\\n"; close $c }`,
  ]);
  // Bounded wait until it listens (checked from inside, where no firewall applies).
  for (let i = 0; i < 20; i++) {
    if (exec(vps, `ss -ltn | grep -q ':${port} '`).code === 0) return;
    must("sleep", ["0.25"]);
  }
  assert.fail(`listener on ${port} did not start`);
}

describe("HardenedHost on a real Debian VPS over SSH", { timeout: 20 * 60_000 }, () => {
  let vps: Vps;
  let rootKey: KeyPair;
  let deployKey: KeyPair;
  let hostCfg: HostConfig;
  let args: HardenedHostArgs;
  let steps: Step[];
  let firstMs = 0;
  let firstPrint = "";
  let firstResults = new Map<string, Run>();

  before(async () => {
    const built = buildVpsImage();
    console.log(`  image ${built.tag} ready in ${built.ms} ms`);
    const dir = scratchDir();
    rootKey = makeKey(dir, "root");
    deployKey = makeKey(dir, "deployer");
    vps = startVps(built.tag, rootKey.publicKey, dir);
    console.log(`  vps ${vps.container} ssh 127.0.0.1:${vps.sshPort} ip ${vps.ip}`);
    hostCfg = localHostConfig();
    args = {
      bootstrap: {
        host: "127.0.0.1",
        port: vps.sshPort,
        user: hostCfg.bootstrapUser,
        privateKey: rootKey.privateKey,
      },
      host: hostCfg,
      deployerPublicKey: deployKey.publicKey,
      deployerPrivateKey: deployKey.privateKey,
      permitOpen: [`${POSTGRES_IP}:5432`], // as stacks/compose.ts declares it
    };
    steps = await captureSteps("host", args);
  });

  after(() => {
    vps?.stop();
    console.log(`  total ${Date.now() - t0} ms`);
  });

  it("captures every step from the program, in order, bootstrap first", () => {
    assert.deepEqual(
      steps.map((s) => s.name),
      [...HOST_STEPS],
    );
    assert.equal(steps[0]!.kind, "local");
    assert.ok(steps.slice(1).every((s) => s.kind === "remote" && s.create.startsWith("sudo -n bash")));
  });

  it("first run: every step succeeds", () => {
    const first = runAll(vps, deployKey, hostCfg.deployUser, steps, "run1");
    firstMs = first.ms;
    firstResults = first.results;
    assert.match(first.results.get("bootstrap")!.stderr, /bootstrap: connecting as root/);
    console.log(`  first run ${firstMs} ms`);
    firstPrint = fingerprint(vps, hostCfg.storagePath);
  });

  it("container-only limits are stated, not hidden: sysctl persisted, auditd rules installed", () => {
    assert.match(firstResults.get("sysctl")!.stderr, /container: \/proc\/sys is read-only here/);
    assert.match(firstResults.get("auditd")!.stderr, /container: auditd not started/);
    const r = ssh(
      vps,
      "deployer",
      deployKey.file,
      "sudo -n test -s /etc/sysctl.d/60-launchgate-hardening.conf && sudo -n grep -c -- '-k identity' /etc/audit/rules.d/50-launchgate.rules",
    );
    assert.equal(r.stdout.trim(), "4", r.stderr);
  });

  it("the login banner is shown before authentication", () => {
    const r = ssh(vps, "deployer", deployKey.file, "true", { extra: ["-o", "LogLevel=INFO"] });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Authorized access only/);
  });

  it("root login is refused, even with root's authorized key", () => {
    const r = ssh(vps, "root", rootKey.file, "true");
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Permission denied/);
  });

  it("password login is refused: the server offers publickey only", () => {
    must("docker", ["exec", "-i", vps.container, "chpasswd"], { input: "deployer:Correct-Horse-1\n" });
    const r = ssh(vps, "deployer", undefined, "true", {
      extra: [
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
      ],
    });
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Permission denied \(publickey\)/);
    must("docker", ["exec", vps.container, "usermod", "-p", "*", "deployer"]);
  });

  it("weak ciphers are refused; the deployer key is accepted", () => {
    const weak = ssh(vps, "deployer", deployKey.file, "true", {
      extra: ["-o", "Ciphers=aes128-cbc", "-o", "LogLevel=INFO"],
    });
    assert.equal(weak.code, 255);
    assert.match(weak.stderr, /no matching cipher/i);
    const r = ssh(vps, "deployer", deployKey.file, "id -un");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "deployer");
  });

  it("sshd: config valid, root/forwarding off, DB tunnel only for the deploy user", () => {
    const t = ssh(vps, "deployer", deployKey.file, "sudo -n sshd -t && echo valid");
    assert.equal(t.stdout.trim(), "valid", t.stderr);
    const cfg = ssh(vps, "deployer", deployKey.file, "sudo -n sshd -T").stdout;
    for (const line of [
      "permitrootlogin no",
      "passwordauthentication no",
      "kbdinteractiveauthentication no",
      "maxauthtries 2",
      "allowagentforwarding no",
      "allowtcpforwarding no",
      "x11forwarding no",
      "loglevel VERBOSE",
      "banner /etc/issue.net",
    ]) {
      assert.ok(cfg.split("\n").includes(line), `sshd -T lacks "${line}"`);
    }
    const dep = ssh(
      vps,
      "deployer",
      deployKey.file,
      "sudo -n sshd -T -C user=deployer,host=x,addr=127.0.0.1",
    ).stdout;
    assert.ok(dep.includes("allowtcpforwarding local"), dep);
    assert.ok(dep.includes(`permitopen ${POSTGRES_IP}:5432`), dep);
  });

  it("deployer runs docker without sudo; the nested engine runs with the hardened daemon.json", () => {
    const r = ssh(
      vps,
      "deployer",
      deployKey.file,
      "docker info --format '{{.ServerVersion}} {{.Driver}} {{.LiveRestoreEnabled}}'",
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.trim(), /^\d+\.\S+ overlay2 true$/);
  });

  it("ufw: default deny incoming, only 22/80/443 open; a listener on 8080 is unreachable", async () => {
    const status = ssh(vps, "deployer", deployKey.file, "sudo -n ufw status verbose").stdout;
    assert.match(status, /Status: active/);
    assert.match(status, /Default: deny \(incoming\)/);
    const open = new Set(
      status
        .split("\n")
        .filter((l) => /ALLOW IN/.test(l))
        .map((l) => l.split(/\s+/)[0]),
    );
    assert.deepEqual([...open].sort(), ["22/tcp", "443/tcp", "80/tcp"]);
    listenInside(vps, 8080);
    listenInside(vps, 443);
    assert.equal(await reachable(vps.ip, 443), true, "allowed port 443 with a listener must be reachable");
    assert.equal(await reachable(vps.ip, 8080), false, "8080 must be filtered by the firewall");
    assert.equal(await reachable(vps.ip, 22), true, "SSH must stay reachable");
  });

  it("fail2ban runs with an sshd jail that sees the failed logins", async () => {
    const deadline = Date.now() + 30_000;
    let status = "";
    for (;;) {
      status = ssh(vps, "deployer", deployKey.file, "sudo -n fail2ban-client status sshd").stdout;
      const failed = Number(/Total failed:\s+(\d+)/.exec(status)?.[1] ?? "0");
      if (failed > 0) break;
      if (Date.now() > deadline) assert.fail(`jail saw no failures in 30 s:\n${status}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.match(status, /Status for the jail: sshd/);
  });

  it("unattended-upgrades is configured for security updates", () => {
    const r = ssh(
      vps,
      "deployer",
      deployKey.file,
      "apt-config dump APT::Periodic::Unattended-Upgrade Unattended-Upgrade::Origins-Pattern; dpkg-query -W -f '${Status}' unattended-upgrades",
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /APT::Periodic::Unattended-Upgrade "1";/);
    assert.match(r.stdout, /label=Debian-Security/);
    assert.match(r.stdout, /install ok installed/);
  });

  it("logrotate config passes `logrotate -d`; 30 days kept", () => {
    const r = ssh(
      vps,
      "deployer",
      deployKey.file,
      "sudo -n logrotate -d /etc/logrotate.d/launchgate 2>&1; echo rc=$?",
    );
    assert.match(r.stdout, /rc=0/);
    assert.doesNotMatch(r.stdout, /error/i);
    const conf = ssh(vps, "deployer", deployKey.file, "cat /etc/logrotate.d/launchgate").stdout;
    assert.match(conf, /rotate 30/);
  });

  it("storage directories exist with the declared owner and mode", () => {
    const r = ssh(
      vps,
      "deployer",
      deployKey.file,
      DEFAULT_STORAGE_DIRS.map((d) => `stat -c '%a %U:%G' ${hostCfg.storagePath}/${d.path}`).join(" && "),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.stdout.trim().split("\n"),
      DEFAULT_STORAGE_DIRS.map((d) => `${Number.parseInt(d.mode, 8).toString(8)} deployer:deployer`),
    );
  });

  it("second run changes nothing and is much faster", () => {
    const second = runAll(vps, deployKey, hostCfg.deployUser, steps, "run2");
    const secondMs = second.ms;
    // Root login is off now: bootstrap must have gone through the deploy user.
    assert.match(second.results.get("bootstrap")!.stderr, /deployer already works; re-applying through sudo/);
    // Nothing to do on a converged host: no step reports a change.
    for (const [name, r] of second.results) {
      assert.doesNotMatch(
        r.stderr,
        /\] (wrote|created|installing|starting|set |removed|reloaded|upgrading|default|ufw enabled)/,
        `${name} changed something`,
      );
    }
    console.log(`  first run ${firstMs} ms, second run ${secondMs} ms`);
    const again = fingerprint(vps, hostCfg.storagePath);
    assert.equal(again, firstPrint, "state changed on the second run");
    assert.ok(
      secondMs * 3 < firstMs,
      `second run (${secondMs} ms) not much faster than first (${firstMs} ms)`,
    );
  });

  it("survives a reboot: firewall, fail2ban and dockerd come back without re-running anything", async () => {
    vps.restart();
    const who = ssh(vps, "deployer", deployKey.file, "id -un");
    assert.equal(who.stdout.trim(), "deployer", who.stderr);
    const deadline = Date.now() + 60_000;
    const up = () =>
      ssh(
        vps,
        "deployer",
        deployKey.file,
        "docker info >/dev/null && sudo -n fail2ban-client status sshd >/dev/null && echo up",
      ).stdout.trim() === "up";
    while (!up()) {
      if (Date.now() > deadline) assert.fail("dockerd/fail2ban not back 60 s after reboot");
      await new Promise((r) => setTimeout(r, 1000));
    }
    listenInside(vps, 8080);
    listenInside(vps, 443);
    assert.equal(await reachable(vps.ip, 443), true);
    assert.equal(await reachable(vps.ip, 8080), false, "firewall rules must be back after reboot");
    const root = ssh(vps, "root", rootKey.file, "true");
    assert.equal(root.code, 255, "root login must stay refused after reboot");
  });

  it("a broken sshd input fails the step, sshd keeps the old config and SSH stays reachable", async () => {
    const before = exec(vps, "sha256sum /etc/ssh/sshd_config.d/10-launchgate.conf").stdout;
    const broken = await captureSteps("host", {
      ...args,
      sshCiphers: ["aes256-gcm@openssh.com", "no-such-cipher"],
    });
    const step = broken.find((s) => s.name === "sshd")!;
    assert.match(
      step.stdin,
      /Ciphers aes256-gcm@openssh.com,no-such-cipher|LG_SSH_CIPHERS='aes256-gcm@openssh.com,no-such-cipher'/,
    );
    const r = runStep(vps, deployKey, hostCfg.deployUser, step);
    assert.notEqual(r.code, 0, "the sshd step must fail on an invalid cipher");
    assert.match(r.stderr, /rejected the new config; previous config restored/);
    assert.equal(exec(vps, "sha256sum /etc/ssh/sshd_config.d/10-launchgate.conf").stdout, before);
    const ok = ssh(vps, "deployer", deployKey.file, "sudo -n sshd -t && echo still-valid");
    assert.equal(ok.stdout.trim(), "still-valid", ok.stderr);
    assert.equal(await reachable(vps.ip, 22), true);
  });

  it("a changed port list converges without ever closing SSH", async () => {
    const fewer = await captureSteps("host", { ...args, publicTcpPorts: [22, 443] });
    const fw = fewer.find((s) => s.name === "firewall")!;
    const r = runStep(vps, deployKey, hostCfg.deployUser, fw);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /removed rule: allow 80\/tcp/);
    assert.equal(await reachable(vps.ip, 22), true);
    const back = runStep(
      vps,
      deployKey,
      hostCfg.deployUser,
      steps.find((s) => s.name === "firewall")!,
    );
    assert.equal(back.code, 0, back.stderr);
    assert.throws(
      () => new HardenedHost("nossh", { ...args, publicTcpPorts: [80, 443] }),
      /publicTcpPorts: .* expected to include the sshd port 22 \(no lock-out\)/,
    );
  });
});
