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
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import { promisify } from "node:util";
import * as path from "node:path";
import { CLOUDFLARE_IP_RANGES, CLOUDFLARE_IPV4 } from "../../components/edge/cloudflare";
import {
  DEFAULT_STORAGE_DIRS,
  HardenedHost,
  HardenedHostArgs,
  HOST_STEPS,
  LYNIS_SKIPPED,
} from "../../components/host/HardenedHost";
import { POSTGRES_IP } from "../../stacks/compose";
import { HostConfig } from "../../stacks/config";
import {
  captureSteps,
  localHostArgs,
  localHostConfig,
  runAll,
  runStep,
  startKeyedVps,
  Step,
} from "../support/host-steps";
import { tcpOpen } from "../support/probes";
import { exec, hostKeyOf, KeyPair, must, run, Run, ssh, Vps } from "../support/vps";

const t0 = Date.now();
const execFileAsync = promisify(execFile);

/**
 * What hardening controls: managed files, ownership/modes, users, packages, firewall and
 * effective sshd config, and the PIDs of the daemons (a second run must not restart them).
 */
const FINGERPRINT = String.raw`
set -u
files="/etc/ssh/sshd_config.d/00-launchgate.conf /etc/ssh/sshd_config /etc/sudoers.d/90-launchgate-deployer
 /home/deployer/.ssh/authorized_keys /etc/fail2ban/jail.local /etc/ufw/after.rules
 /etc/modprobe.d/launchgate-net-protocols.conf /etc/modprobe.d/launchgate-storage-buses.conf
 /etc/needrestart/conf.d/50-launchgate.conf /etc/aide/aide.conf /etc/aide/aide.conf.d/99_launchgate
 /var/lib/aide/aide.db /etc/default/debsums /etc/default/sysstat /etc/profile.d/launchgate-session.sh
 /etc/profile.d/launchgate-core.sh /etc/systemd/coredump.conf.d/launchgate.conf
 /etc/apt/apt.conf.d/20auto-upgrades /etc/apt/apt.conf.d/52launchgate-unattended-upgrades
 /etc/audit/rules.d/50-launchgate.rules /etc/docker/daemon.json /etc/logrotate.d/launchgate
 /etc/sysctl.d/60-launchgate-hardening.conf /etc/issue /etc/issue.net /etc/motd /etc/login.defs
 /etc/timezone /etc/security/limits.d/10-launchgate-core.conf /etc/modprobe.d/launchgate-filesystems.conf
 /etc/ufw/user.rules /etc/ufw/user6.rules /etc/ufw/ufw.conf /etc/default/ufw /etc/passwd /etc/group"
for f in $files; do sha256sum "$f"; stat -c '%n %a %U:%G' "$f"; done
stat -c '%n %a %U:%G' /etc/shadow /etc/gshadow /etc/crontab /etc/ssh/sshd_config "$1" $(find "$1" -mindepth 1 | sort) /var/log/launchgate
readlink /etc/localtime
ls /etc/ssh/sshd_config.d
dpkg-statoverride --list | sort
id deployer
dpkg-query -W -f '\${Package} \${Version}\n'
sysctl $(awk -F' = ' '/^[a-z]/ { print $1 }' /etc/sysctl.d/60-launchgate-hardening.conf) 2>&1
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

/** Polls `fn` (bounded, 20 s) until it yields true. */
async function waitFor(what: string, fn: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await fn())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within 20 s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Image for probe containers on the VPS's engine (no registry here): symlinks only, /usr mounted. */
const PROBE = "lg-probe";
const PROBE_IMAGE = `set -e; d=$(mktemp -d); cd "$d"; mkdir -p usr etc tmp; ln -s usr/bin bin; ln -s usr/lib lib; ln -s usr/lib64 lib64; tar -c . | docker import - ${PROBE} >/dev/null; rm -rf "$d"`;
const PERL_LISTENER = [
  "/usr/bin/perl",
  "-MIO::Socket::INET",
  "-e",
  'my $s = IO::Socket::INET->new(LocalPort => 80, Listen => 5, ReuseAddr => 1) or die; while (my $c = $s->accept) { print $c "hi\\n"; close $c }',
];
/** Restarts the nested dockerd the way the docker step does without systemd. */
const RESTART_DOCKERD = `pkill -x dockerd; for i in $(seq 60); do pgrep -x dockerd >/dev/null || break; sleep 0.5; done
(setsid dockerd </dev/null >>/var/log/dockerd.log 2>&1 &)
for i in $(seq 60); do docker info >/dev/null 2>&1 && exit 0; sleep 1; done; exit 1`;

describe("HardenedHost on a real Debian VPS over SSH", { timeout: 35 * 60_000 }, () => {
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
    const keyed = startKeyedVps();
    ({ vps, rootKey, deployKey } = keyed);
    console.log(`  image ${keyed.image.tag} ready in ${keyed.image.ms} ms`);
    console.log(`  vps ${vps.container} ssh 127.0.0.1:${vps.sshPort} ip ${vps.ip}`);
    hostCfg = localHostConfig();
    args = localHostArgs(keyed, hostCfg);
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
    assert.match(
      firstResults.get("sysctl")!.stderr,
      /container: \/proc\/sys is read-only here for .*kernel\./,
    );
    assert.match(firstResults.get("auditd")!.stderr, /container: auditd not started/);
    const r = ssh(
      vps,
      "deployer",
      deployKey.file,
      "sudo -n test -s /etc/sysctl.d/60-launchgate-hardening.conf && sudo -n grep -c -- '-k identity' /etc/audit/rules.d/50-launchgate.rules",
    );
    assert.equal(r.stdout.trim(), "4", r.stderr);
  });

  it("sysctl: every key declared (lynis KRNL-6000 set, Redis overcommit); the VPS's own net.* keys are in effect", () => {
    const conf = exec(vps, "cat /etc/sysctl.d/60-launchgate-hardening.conf").stdout;
    const declared = new Map(
      conf
        .split("\n")
        .filter((l) => /^[a-z]/.test(l))
        .map((l) => l.split(" = ") as [string, string]),
    );
    for (const [k, v] of [
      ["dev.tty.ldisc_autoload", "0"],
      ["fs.protected_fifos", "2"],
      ["fs.protected_regular", "2"],
      ["kernel.core_uses_pid", "1"],
      ["kernel.perf_event_paranoid", "3"],
      ["kernel.unprivileged_bpf_disabled", "1"],
      ["vm.overcommit_memory", "1"],
    ])
      assert.equal(declared.get(k), v, `${k} not declared as ${v}`);
    // What a container can check: its own network namespace's keys are applied.
    const net = [...declared.keys()].filter((k) => k.startsWith("net."));
    assert.ok(net.length >= 20, `only ${net.length} net.* keys`);
    const eff = exec(vps, `sysctl ${net.join(" ")}`).stdout;
    for (const k of net)
      assert.match(eff, new RegExp(`^${k.replace(/\./g, "\\.")} = ${declared.get(k)}$`, "m"));
  });

  it("lynis items as steps: uncommon protocols and storage buses off, needrestart, process accounting, AIDE + debsums", () => {
    const r = exec(
      vps,
      [
        "cat /etc/modprobe.d/launchgate-net-protocols.conf /etc/modprobe.d/launchgate-storage-buses.conf",
        "dpkg-query -W -f '${Package} ${Status}\\n' needrestart acct sysstat aide debsums libpam-pwquality libpam-tmpdir",
        "a=$(stat -c %s /var/log/account/pacct); /bin/true; sleep 0.5; [ $(stat -c %s /var/log/account/pacct) -gt $a ] && echo accounting-on",
        "test -s /var/lib/aide/aide.db && echo aide-db",
        "grep -E '^(PASS_MAX_DAYS|SHA_CRYPT_MIN_ROUNDS)' /etc/login.defs",
        "sshd -T | grep -E '^(maxsessions|allowusers) '",
      ].join("; "),
    ).stdout;
    for (const m of ["dccp", "sctp", "rds", "tipc", "usb-storage", "firewire-core"])
      assert.match(r, new RegExp(`^install ${m} /bin/true$`, "m"));
    for (const p of [
      "needrestart",
      "acct",
      "sysstat",
      "aide",
      "debsums",
      "libpam-pwquality",
      "libpam-tmpdir",
    ])
      assert.match(r, new RegExp(`^${p} install ok installed$`, "m"));
    assert.match(r, /^accounting-on$/m);
    assert.match(r, /^aide-db$/m);
    assert.match(r, /^PASS_MAX_DAYS\t365$/m);
    assert.match(r, /^maxsessions 2$/m);
    assert.match(r, /^allowusers deployer$/m);
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
      "maxsessions 2",
      "allowusers deployer",
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
    assert.equal(await tcpOpen(vps.ip, 443), true, "allowed port 443 with a listener must be reachable");
    assert.equal(await tcpOpen(vps.ip, 8080), false, "8080 must be filtered by the firewall");
    assert.equal(await tcpOpen(vps.ip, 22), true, "SSH must stay reachable");
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

  it("unattended-upgrades installs security updates only (Debian's default origins cleared)", () => {
    const r = ssh(
      vps,
      "deployer",
      deployKey.file,
      "apt-config dump APT::Periodic::Unattended-Upgrade Unattended-Upgrade::Origins-Pattern Unattended-Upgrade::Allowed-Origins; dpkg-query -W -f '${Status}' unattended-upgrades; sudo -n unattended-upgrade --dry-run -d 2>&1 | grep 'Allowed origins are'",
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /APT::Periodic::Unattended-Upgrade "1";/);
    assert.match(r.stdout, /install ok installed/);
    const patterns = [
      ...r.stdout.matchAll(/^Unattended-Upgrade::(?:Origins-Pattern|Allowed-Origins):: "(.*)";$/gm),
    ].map((m) => m[1]!);
    assert.ok(patterns.length > 0, r.stdout);
    for (const p of patterns) assert.match(p, /label=Debian-Security/, `non-security origin allowed: ${p}`);
    // What unattended-upgrade itself computes from the merged configuration.
    const allowed = /Allowed origins are: (.*)/.exec(r.stdout)?.[1] ?? "";
    const origins = allowed.split(/,\s*(?=origin=)/);
    assert.ok(origins.length > 0 && origins.every((o) => /label=Debian-Security/.test(o)), allowed);
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

  it("a pinned host key: the bootstrap accepts the VPS's own key and refuses any other before sending anything", async () => {
    // The key as an operator pins it (launchgate:host.hostKey): ssh-keyscan, type and base64 only.
    const real = hostKeyOf(vps);
    const other = must("bash", [
      "-c",
      "d=$(mktemp -d); ssh-keygen -q -t ed25519 -N '' -f $d/k; cut -d' ' -f1,2 $d/k.pub; rm -rf $d",
    ]).stdout.trim();
    const bootstrapWith = async (hostKey: string) => {
      const [step] = await captureSteps("host", { ...args, bootstrap: { ...args.bootstrap, hostKey } });
      assert.equal(step!.name, "bootstrap");
      assert.equal(step!.environment.LG_KNOWN_HOSTS, `[127.0.0.1]:${vps.sshPort} ${hostKey}`);
      return runStep(vps, deployKey, hostCfg.deployUser, step!);
    };
    const pinned = await bootstrapWith(real);
    assert.equal(pinned.code, 0, pinned.stderr);
    assert.match(pinned.stderr, /deployer already works; re-applying through sudo/);
    const marker = exec(
      vps,
      "stat -c %Y /etc/sudoers.d/90-launchgate-deployer 2>/dev/null || echo none",
    ).stdout;
    const mitm = await bootstrapWith(other);
    assert.notEqual(mitm.code, 0, "a host presenting another key must be refused");
    assert.match(mitm.stderr, /presented a host key other than the pinned one/);
    assert.match(mitm.stderr, /Host key verification failed/);
    assert.doesNotMatch(mitm.stderr, /re-applying|connecting as/, "refused before any step ran");
    assert.equal(
      exec(vps, "stat -c %Y /etc/sudoers.d/90-launchgate-deployer 2>/dev/null || echo none").stdout,
      marker,
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
        /\] (wrote|created|creating|installing|starting|set |removed|reloaded|upgrading|default|ufw enabled|added|neutralised|login\.defs|sysstat collection|AIDE|aligned)/,
        `${name} changed something`,
      );
    }
    console.log(`  first run ${firstMs} ms, second run ${secondMs} ms`);
    const again = fingerprint(vps, hostCfg.storagePath);
    assert.equal(again, firstPrint, "state changed on the second run");
    assert.ok(
      secondMs <= firstMs * 0.15,
      `second run (${secondMs} ms) takes more than 15 % of the first (${firstMs} ms)`,
    );
  });

  it("lynis: hardening index >= 85; every remaining suggestion is a documented skip", () => {
    const install = exec(
      vps,
      "apt-get install -y -q --no-install-recommends lynis >/dev/null 2>&1 && lynis --version",
      300_000,
    );
    assert.equal(install.code, 0, install.stderr);
    const audit = exec(
      vps,
      "lynis audit system --quick --no-colors >/dev/null 2>&1; cat /var/log/lynis-report.dat",
      600_000,
    );
    assert.equal(audit.code, 0, audit.stderr);
    const report = audit.stdout;
    const index = Number(/^hardening_index=(\d+)$/m.exec(report)?.[1] ?? "NaN");
    console.log(`  lynis ${install.stdout.trim()} hardening index: ${index}`);
    const suggestions = [...report.matchAll(/^suggestion\[\]=([^|]+)\|([^|]*)\|([^|]*)\|/gm)].map((m) => ({
      id: m[1]!,
      text: m[2]!,
      details: m[3]!,
    }));
    for (const sg of suggestions)
      console.log(`    suggestion ${sg.id}: ${sg.text} ${sg.details !== "-" ? sg.details : ""}`);
    const warnings = [...report.matchAll(/^warning\[\]=(.*)$/gm)].map((m) => m[1]!);
    assert.deepEqual(warnings, [], "lynis warnings");
    assert.ok(index >= 85, `lynis hardening index ${index} < 85`);
    const undocumented = suggestions
      .map((sg) => (sg.id === "SSH-7408" ? `SSH-7408:${sg.details.split(" ")[0]}` : sg.id))
      .filter((key) => !(key in LYNIS_SKIPPED));
    assert.deepEqual(undocumented, [], "lynis suggestions neither handled by a step nor in LYNIS_SKIPPED");
    // KRNL-6000: only the kept forwarding key and kernel-global keys the container cannot set
    // (declared in the sysctl file, applied on a real host) may differ from lynis' profile.
    const log = exec(
      vps,
      "grep 'has a different value than expected in scan profile' /var/log/lynis.log",
    ).stdout;
    const conf = exec(vps, "cat /etc/sysctl.d/60-launchgate-hardening.conf").stdout;
    for (const m of log.matchAll(
      /sysctl key (\S+) has a different value than expected in scan profile\. Expected=(\S+),/g,
    )) {
      const [key, expected] = [m[1]!, m[2]!];
      if (key === "net.ipv4.conf.all.forwarding") continue;
      assert.ok(!key.startsWith("net."), `${key} differs although the VPS's network namespace is writable`);
      assert.match(
        conf,
        new RegExp(`^${key.replace(/\./g, "\\.")} = ${expected}$`, "m"),
        `${key} not declared as ${expected}`,
      );
    }
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
    assert.equal(await tcpOpen(vps.ip, 443), true);
    assert.equal(await tcpOpen(vps.ip, 8080), false, "firewall rules must be back after reboot");
    const dockerUser = exec(vps, "iptables -S DOCKER-USER").stdout;
    assert.match(dockerUser, /^-A DOCKER-USER -j DROP$/m, `DOCKER-USER after reboot:\n${dockerUser}`);
    const root = ssh(vps, "root", rootKey.file, "true");
    assert.equal(root.code, 255, "root login must stay refused after reboot");
  });

  it("a broken sshd input fails the step, sshd keeps the old config and SSH stays reachable", async () => {
    const before = exec(vps, "sha256sum /etc/ssh/sshd_config.d/00-launchgate.conf").stdout;
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
    assert.equal(exec(vps, "sha256sum /etc/ssh/sshd_config.d/00-launchgate.conf").stdout, before);
    const ok = ssh(vps, "deployer", deployKey.file, "sudo -n sshd -t && echo still-valid");
    assert.equal(ok.stdout.trim(), "still-valid", ok.stderr);
    assert.equal(await tcpOpen(vps.ip, 22), true);
  });

  it("sshd: conflicting drop-ins (the issue's 01-permitrootlogin.conf, one sorted before ours) are neutralised", async () => {
    exec(
      vps,
      [
        "printf 'PermitRootLogin yes\\n' >/etc/ssh/sshd_config.d/01-permitrootlogin.conf",
        "printf 'PasswordAuthentication yes\\nChallengeResponseAuthentication yes\\n' >/etc/ssh/sshd_config.d/00-aaa-cloud.conf",
        "printf 'AcceptEnv LG_HARMLESS\\n' >/etc/ssh/sshd_config.d/20-harmless.conf",
      ].join(" && "),
    );
    const r = runStep(
      vps,
      deployKey,
      hostCfg.deployUser,
      steps.find((s) => s.name === "sshd")!,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /neutralised \/etc\/ssh\/sshd_config\.d\/01-permitrootlogin\.conf \(sets PermitRootLogin\)/,
    );
    assert.match(r.stderr, /neutralised \/etc\/ssh\/sshd_config\.d\/00-aaa-cloud\.conf/);
    const ls = exec(vps, "ls /etc/ssh/sshd_config.d").stdout.split("\n").filter(Boolean);
    assert.deepEqual(ls.sort(), [
      "00-aaa-cloud.conf.disabled-by-launchgate",
      "00-launchgate.conf",
      "01-permitrootlogin.conf.disabled-by-launchgate",
      "20-harmless.conf",
    ]);
    for (const user of ["root", "deployer", "someone"]) {
      const eff = exec(vps, `sshd -T -C user=${user},host=x,addr=198.51.100.9`).stdout;
      for (const line of [
        "permitrootlogin no",
        "passwordauthentication no",
        "kbdinteractiveauthentication no",
        "maxsessions 2",
      ])
        assert.ok(eff.split("\n").includes(line), `${user}: sshd -T lacks "${line}"`);
    }
    assert.equal(ssh(vps, "root", rootKey.file, "true").code, 255, "root login must stay refused");
    assert.equal(ssh(vps, "deployer", deployKey.file, "true").code, 0);
    exec(
      vps,
      "rm -f /etc/ssh/sshd_config.d/*.disabled-by-launchgate /etc/ssh/sshd_config.d/20-harmless.conf",
    );
  });

  it("sshd: what neutralising misses, the effective check (sshd -T) refuses loudly; SSH stays up", async () => {
    // A copy of the scripts whose neutraliser is blind: stands in for any override it does not know.
    const dir = fs.mkdtempSync(path.join(vps.dir, "scripts-"));
    fs.cpSync(path.resolve(__dirname, "../../components/host/scripts"), dir, { recursive: true });
    const sshd = fs.readFileSync(path.join(dir, "sshd.sh"), "utf8");
    fs.writeFileSync(
      path.join(dir, "sshd.sh"),
      sshd.replace(/^declared_in\(\) \{/m, "declared_in() { return 0; }\nunused_declared_in() {"),
    );
    const blind = (await captureSteps("host", { ...args, scriptsDir: dir })).find((s) => s.name === "sshd")!;
    exec(vps, "printf 'PermitRootLogin yes\\n' >/etc/ssh/sshd_config.d/00-aaa-cloud.conf");
    const r = runStep(vps, deployKey, hostCfg.deployUser, blind);
    assert.notEqual(r.code, 0, "the step must fail when the effective value differs");
    assert.match(
      r.stderr,
      /EFFECTIVE sshd config differs for user=root,.*: permitrootlogin declared "no", effective "yes"/,
    );
    assert.equal(await tcpOpen(vps.ip, 22), true);
    assert.equal(ssh(vps, "deployer", deployKey.file, "true").code, 0, "the deploy user keeps SSH");
    // The real step repairs it.
    const fixed = runStep(
      vps,
      deployKey,
      hostCfg.deployUser,
      steps.find((s) => s.name === "sshd")!,
    );
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.match(exec(vps, "sshd -T -C user=root,host=x,addr=198.51.100.9").stdout, /^permitrootlogin no$/m);
    exec(vps, "rm -f /etc/ssh/sshd_config.d/*.disabled-by-launchgate");
  });

  it("Docker-published ports obey the firewall (denied: unreachable, allowed: reachable), also after dockerd restarts; egress works", async () => {
    // An image made of nothing but the usual symlinks; the VPS's own /usr is mounted read-only.
    must("docker", ["exec", vps.container, "bash", "-c", PROBE_IMAGE]);
    const listen = (name: string, publish: string) =>
      must("docker", [
        "exec",
        vps.container,
        "docker",
        "run",
        "-d",
        "--name",
        name,
        "-p",
        publish,
        "-v",
        "/usr:/usr:ro",
        PROBE,
        ...PERL_LISTENER,
      ]);
    listen("lg-probe-denied", "8088:80");
    listen("lg-probe-allowed", "80:80");
    const check = async (when: string) => {
      await waitFor(`allowed published port reachable ${when}`, () => tcpOpen(vps.ip, 80));
      assert.equal(await tcpOpen(vps.ip, 8088), false, `published 8088 must be unreachable ${when}`);
      assert.equal(await tcpOpen(vps.ip, 22), true, `SSH ${when}`);
    };
    await check("");
    // Egress: a container reaches a listener outside the VPS (this process, on the VPS's gateway).
    const gateway = must("docker", [
      "inspect",
      "-f",
      "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}",
      vps.container,
    ]).stdout.trim();
    const server = net.createServer((c) => c.end("egress-ok\n"));
    await new Promise<void>((r) => server.listen(0, gateway, r));
    try {
      const port = (server.address() as net.AddressInfo).port;
      // Asynchronously: this process's event loop must stay free to answer.
      const out = await execFileAsync(
        "docker",
        [
          "exec",
          vps.container,
          "docker",
          "run",
          "--rm",
          "-v",
          "/usr:/usr:ro",
          PROBE,
          "/usr/bin/perl",
          "-MIO::Socket::INET",
          "-e",
          `my $s = IO::Socket::INET->new(PeerAddr => "${gateway}:${port}", Timeout => 5) or die "no egress: $!"; print scalar <$s>`,
        ],
        { timeout: 60_000, encoding: "utf8" },
      );
      assert.equal(out.stdout.trim(), "egress-ok", out.stderr);
    } finally {
      server.close();
    }
    // The nested engine restarts (as on a package upgrade); live-restore keeps the containers.
    must("docker", ["exec", vps.container, "bash", "-c", RESTART_DOCKERD], { timeoutMs: 120_000 });
    await check("after a dockerd restart");
  });

  it("the origin allow-list renders into the firewall: 80/443 only from Cloudflare, published ports included", async () => {
    const cf = (await captureSteps("host", { ...args, webAllowFrom: CLOUDFLARE_IP_RANGES })).find(
      (s) => s.name === "firewall",
    )!;
    const r = runStep(vps, deployKey, hostCfg.deployUser, cf);
    assert.equal(r.code, 0, r.stderr);
    const added = exec(vps, "ufw show added").stdout;
    for (const range of CLOUDFLARE_IP_RANGES)
      for (const port of [80, 443])
        assert.ok(
          added.includes(`ufw allow from ${range} to any port ${port} proto tcp`),
          `${range}:${port}`,
        );
    assert.doesNotMatch(added, /^ufw allow (80|443)\/tcp$/m);
    assert.match(added, /^ufw allow 22\/tcp$/m);
    const chain = exec(vps, "iptables -S DOCKER-USER").stdout;
    for (const range of CLOUDFLARE_IPV4)
      assert.match(
        chain,
        new RegExp(
          `-A DOCKER-USER -s ${range.replace(/\./g, "\\.")} -p tcp -m conntrack --ctstate DNAT --ctorigdstport 80 -j RETURN`,
        ),
      );
    // This process is not Cloudflare: the published port 80 no longer answers it; SSH does.
    assert.equal(await tcpOpen(vps.ip, 80), false, "published 80 must refuse non-Cloudflare sources");
    assert.equal(await tcpOpen(vps.ip, 22), true);
    // The same rules admit a listed source (this process's address stands in for Cloudflare).
    const gateway = must("docker", [
      "inspect",
      "-f",
      "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}",
      vps.container,
    ]).stdout.trim();
    const mine = (await captureSteps("host", { ...args, webAllowFrom: [`${gateway}/32`] })).find(
      (s) => s.name === "firewall",
    )!;
    assert.equal(runStep(vps, deployKey, hostCfg.deployUser, mine).code, 0);
    await waitFor("published 80 reachable from a listed source", () => tcpOpen(vps.ip, 80));
    const back = runStep(
      vps,
      deployKey,
      hostCfg.deployUser,
      steps.find((s) => s.name === "firewall")!,
    );
    assert.equal(back.code, 0, back.stderr);
    exec(
      vps,
      "docker rm -f lg-probe-denied lg-probe-allowed >/dev/null 2>&1; docker rmi lg-probe >/dev/null 2>&1 || true",
    );
  });

  it("a changed port list converges without ever closing SSH", async () => {
    const fewer = await captureSteps("host", { ...args, publicTcpPorts: [22, 443] });
    const fw = fewer.find((s) => s.name === "firewall")!;
    const r = runStep(vps, deployKey, hostCfg.deployUser, fw);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /removed rule: allow 80\/tcp/);
    assert.equal(await tcpOpen(vps.ip, 22), true);
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
