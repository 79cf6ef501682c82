/**
 * HardenedHost: turns a fresh Debian VPS into the hardened host the runbooks assume (seed 001
 * §8.1.1-8.1.5, 8.3.1; dev-sec ssh-/os-baseline), as a chain of idempotent remote scripts, one file
 * each under ./scripts, rendered with their settings and hashed into `triggers`.
 *
 * Step order (each depends on the previous one):
 *   bootstrap → packages → timezone → sshd → sysctl → kernel-modules → firewall → fail2ban →
 *   unattended-upgrades → needrestart → auditd → process-accounting → docker → logrotate →
 *   storage → accounts → baseline → file-integrity
 * (baseline late: its file permissions must cover files that earlier steps' packages create,
 * e.g. cron's /etc/crontab, or the first run would not converge; file-integrity last: its AIDE
 * database records the finished, hardened state.)
 *
 * lynis (3.0.8, `lynis audit system`) is the yardstick: the host test asserts a hardening index
 * ≥ 85 on the local VPS. Suggestions deliberately left, with the reason, are listed in
 * LYNIS_SKIPPED below.
 *
 * Bootstrap and the second `pulumi up`: only the first step may use the bootstrap user (root on a
 * fresh VPS); the sshd step then turns root login off. So bootstrap is a `command.local.Command`
 * that runs `scripts/bootstrap-runner.sh` where Pulumi runs (needs an OpenSSH client there): it
 * connects as the deploy user with `sudo -n` when that already works and falls back to the
 * bootstrap user only on a fresh host. Re-running bootstrap (its script or the deploy key changed)
 * therefore works on a hardened host too. Every other step is a `remote.Command` connecting as
 * the deploy user and running `sudo -n bash`.
 *
 * Settings reach the host inside the script text (single-quoted exports), never through SSH
 * `environment` (sshd rejects unknown `AcceptEnv`). The only secrets are the private keys: they
 * go to `connection` and to the bootstrap runner's environment, both marked secret.
 * Deleting the component does not undo the hardening (no `delete` commands): a host is never
 * silently un-hardened.
 */
import { DEFAULT_ENGINE_API_VERSION } from "../app/hardening";
import * as path from "path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { isIpv4Cidr, isIpv6Cidr } from "../edge/cloudflare";
import { renderScript, ScriptValue } from "../ops/remote-script";
import { knownHostsLine } from "./known-hosts";
import { HOST_STEPS, roleTrigger, type HostStep } from "../../contract/roles";

export interface SshConnection {
  readonly host: pulumi.Input<string>;
  readonly port: pulumi.Input<number>;
  readonly user: pulumi.Input<string>;
  readonly privateKey: pulumi.Input<string>;
  /**
   * The host's SSH host public key (`ssh-ed25519 AAAA…`): every connection refuses any other
   * (the command provider's `connection.hostKey`; a pinned known_hosts line for the system ssh
   * client, components/host/known-hosts.ts). @default unchecked (policy ssh-host-keys-pinned
   * refuses that outside `local`)
   */
  readonly hostKey?: pulumi.Input<string>;
}

/** A directory under the storage root, owned by the deploy user. */
export interface StorageDir {
  /** Path relative to `host.storagePath`; `.` is the root itself. */
  readonly path: string;
  /** Octal mode, e.g. `0750`. */
  readonly mode: string;
}

/** Modern algorithms only (dev-sec ssh-baseline; OpenSSH 9.2 on Debian 12). */
export const DEFAULT_SSH_KEX = [
  "sntrup761x25519-sha512@openssh.com",
  "curve25519-sha256",
  "curve25519-sha256@libssh.org",
  "diffie-hellman-group16-sha512",
  "diffie-hellman-group18-sha512",
];
export const DEFAULT_SSH_CIPHERS = [
  "chacha20-poly1305@openssh.com",
  "aes256-gcm@openssh.com",
  "aes128-gcm@openssh.com",
  "aes256-ctr",
  "aes192-ctr",
  "aes128-ctr",
];
export const DEFAULT_SSH_MACS = [
  "hmac-sha2-512-etm@openssh.com",
  "hmac-sha2-256-etm@openssh.com",
  "umac-128-etm@openssh.com",
];

/** The runbook's essentials (seed 001 §8.1.1) minus what later steps install themselves. */
export const DEFAULT_PACKAGES = [
  "ca-certificates",
  "curl",
  "wget",
  "git",
  "htop",
  "vim-tiny",
  "gnupg",
  "rsync",
  "less",
];

/** Seed 001 §8.1.5: uploads (CVs) and scratch space; backups live beside them. */
export const DEFAULT_STORAGE_DIRS: readonly StorageDir[] = [
  { path: ".", mode: "0750" },
  { path: "storage", mode: "0750" },
  { path: "storage/cvs", mode: "0750" },
  { path: "storage/temp", mode: "0700" },
  { path: "backups", mode: "0700" },
];

export const DEFAULT_BANNER =
  "Authorized access only. Activity on this system is logged and monitored; disconnect now if you are not authorized.";

export { HOST_STEPS, type HostStep };

/**
 * lynis findings HardenedHost leaves on purpose, by lynis test id (suggestions, and tests that
 * cost hardening points without one), with the reason. Everything else lynis 3.0.8 reports on a
 * Debian 12 VPS is handled by a step (named in the step's file); the host test fails on a
 * suggestion that is neither.
 */
export const LYNIS_SKIPPED: Readonly<Record<string, string>> = {
  "SSH-7408:Port":
    "sshd stays on the configured port (`host.sshPort`, default 22): another port only hides it from scanners; key-only login, MaxAuthTries 2 and fail2ban are the controls",
  "KRNL-6000":
    "net.ipv4.conf.all.forwarding stays 1 (Docker's bridge networks route the containers' traffic through the host); on the local VPS container also the kernel-global keys (kernel.*, fs.*, dev.*), which the sysctl step declares but only a real host can apply (the host test checks both)",
  "BOOT-5264":
    "systemd unit sandboxing (systemd-analyze security) is the packages' own; the services run with Debian's units",
  "FILE-6310":
    "one root filesystem: a VPS comes with a single disk; separate /home, /tmp and /var partitions are the provider image's layout decision, not a post-install step",
  "LOGG-2154":
    "no remote syslog host exists in this deployment; logs are rotated locally for 30 days and alerts go to the monitoring webhook",
  "ACCT-9628":
    "auditd runs on a real host (rules installed by the auditd step); in the local VPS container the kernel audit subsystem belongs to the machine running it",
  "DEB-0810":
    "apt-listbugs queries bugs.debian.org before every install and stops non-interactive (unattended) upgrades when it cannot; security updates must not depend on it",
  "USB-3000":
    "USBGuard governs USB devices; a VPS has no USB bus (usb-storage is disabled by the kernel-modules step)",
  "MALW-3280":
    "no resident anti-virus (clamd needs about 1 GiB of RAM on a small VPS); uploaded files are the app's to scan",
  "HRDN-7230":
    "no rootkit scanner: AIDE (file-integrity step) and debsums already report changed system files and binaries, without the false positives chkrootkit/rkhunter raise on Docker hosts",
  "FILE-6344":
    "/proc is not remounted with hidepid: systemd-logind and polkit need to see other users' processes on a Debian host",
  "MACF-6290":
    "AppArmor is Debian's default and enabled by the provider's kernel; the local VPS container runs unconfined by design (it plays the whole machine)",
  "AUTH-9284": "the locked accounts are Debian's system accounts, locked by design",
  "NAME-4028": "the VPS needs no DNS domain name of its own; the public name lives at Cloudflare",
  "TOOL-5002": "the host is managed by Pulumi (this program) from outside; no agent runs on it",
  "FIRE-4513":
    "rules without hits are the allow-list itself (e.g. Cloudflare ranges that sent no traffic yet)",
  "KRNL-5788": "the local VPS container has no kernel image of its own; a real VPS has /vmlinuz",
  "BOOT-5180": "the local VPS container has no init system to ask for runlevels; systemd hosts are covered",
  "FILE-6374":
    "/dev without noexec is the container runtime's mount on the local VPS; a real host's is the provider image's",
  "HRDN-7220":
    "binutils (an assembler and linker) comes with needrestart; the baseline step restricts them to root (HRDN-7222)",
  LYNIS:
    "Debian's lynis package is the version audited (3.0.8); newer upstream releases are not installed by design",
};

/** The host settings the hardening steps apply. */
export interface HostSettings {
  /** Non-root user that owns deployments (member of the docker group). */
  readonly deployUser: string;
  /** Root of the app's persistent storage (absolute path). */
  readonly storagePath: string;
  /** Source ranges (IPv4 CIDRs) allowed to reach SSH through the firewall. */
  readonly sshAllowFrom: readonly string[];
  /** tz database name, e.g. `UTC`. */
  readonly timezone: string;
  /**
   * Docker Engine API version the program assumes of the host's engine (healthcheck start
   * intervals from 1.44); the docker step fails unless the engine speaks at least it.
   * @default 1.41 (Debian 12's docker.io 20.10)
   */
  readonly engineApiVersion?: string;
}

export interface HardenedHostArgs {
  /** How to reach the fresh VPS (bootstrap user, usually root) for the first step. */
  readonly bootstrap: SshConnection;
  /** Deploy user, storage path, SSH source ranges, timezone. */
  readonly host: HostSettings;
  /** OpenSSH public key installed for the deploy user. */
  readonly deployerPublicKey: pulumi.Input<string>;
  /** Private key matching `deployerPublicKey`, used by every step after bootstrap. */
  readonly deployerPrivateKey: pulumi.Input<string>;
  /** TCP ports the firewall opens to the world. @default [22, 80, 443] */
  readonly publicTcpPorts?: number[];
  /**
   * Source ranges (IPv4 and/or IPv6 CIDRs) allowed to reach the public ports other than SSH, on
   * the host and on Docker-published ports alike (the firewall owns Docker's `DOCKER-USER`
   * chain). Cloudflare stacks pass Cloudflare's published ranges (components/edge/cloudflare),
   * so the origin answers nobody else. Changing it rewrites the firewall rules in place.
   * @default everyone
   */
  readonly webAllowFrom?: readonly string[];
  /**
   * The host runs Redis: sets `vm.overcommit_memory = 1`, which Redis needs to fork for RDB
   * snapshots and AOF rewrites. @default false
   */
  readonly runsRedis?: boolean;
  /** `ip:port` destinations the deploy user may reach through SSH local forwarding (DB admin). @default [] */
  readonly permitOpen?: pulumi.Input<string>[];
  /**
   * Port sshd listens on inside the host (the firewall's SSH rule). Differs from
   * `bootstrap.port` when a NAT or port mapping is in between (the local VPS: 127.0.0.1:2222 → 22).
   * @default 22
   */
  readonly sshdPort?: number;
  /** sshd `Ciphers`. @default DEFAULT_SSH_CIPHERS (AEAD and CTR only) */
  readonly sshCiphers?: string[];
  /** sshd `KexAlgorithms`. @default DEFAULT_SSH_KEX (curve25519, sntrup, DH group 16/18) */
  readonly sshKexAlgorithms?: string[];
  /** sshd `MACs`. @default DEFAULT_SSH_MACS (encrypt-then-MAC, SHA-2 / UMAC-128) */
  readonly sshMacs?: string[];
  /** Extra packages installed with the essentials. @default DEFAULT_PACKAGES */
  readonly packages?: string[];
  /** Directories under `host.storagePath`, owned by the deploy user. @default DEFAULT_STORAGE_DIRS */
  readonly storageDirs?: readonly StorageDir[];
  /** Directory of the app and backup logs that logrotate keeps. @default "/var/log/launchgate" */
  readonly logDir?: string;
  /** Days of rotated logs kept (seed 001: 30). @default 30 */
  readonly logRetentionDays?: number;
  /** Text of the login banners (/etc/issue, /etc/issue.net, motd). @default DEFAULT_BANNER */
  readonly banner?: string;
  /** Directory holding the step scripts; tests point it at a modified copy. @default ./scripts beside this file */
  readonly scriptsDir?: string;
}

const ALGORITHM = /^[a-z0-9][a-z0-9@.-]*$/;
const PACKAGE = /^[a-z0-9][a-z0-9+.-]*$/;
const MODE = /^0?[0-7]{3}$/;
const REL_PATH = /^(\.|[a-z0-9_-]+(\/[a-z0-9_-]+)*)$/;
const ABS_PATH = /^\/[a-z0-9_./-]+$/;
const DESTINATION = /^([a-zA-Z0-9.-]+|\[[0-9a-fA-F:]+\]):\d{1,5}$/;

/** Throws with the argument name, the value and what is expected. */
function check(ok: boolean, what: string, value: unknown, expected: string): void {
  if (!ok) throw new Error(`HardenedHost ${what}: got ${JSON.stringify(value)}; expected ${expected}`);
}

function checkPort(what: string, p: number): void {
  check(Number.isInteger(p) && p >= 1 && p <= 65535, what, p, "a TCP port 1..65535");
}

/** Applies defaults and checks every argument that ends up in a host config file. */
function validate(args: HardenedHostArgs) {
  const scriptsDir = args.scriptsDir ?? path.join(__dirname, "scripts");
  const sshdPort = args.sshdPort ?? 22;
  const publicTcpPorts = args.publicTcpPorts ?? [22, 80, 443];
  const ciphers = args.sshCiphers ?? DEFAULT_SSH_CIPHERS;
  const kex = args.sshKexAlgorithms ?? DEFAULT_SSH_KEX;
  const macs = args.sshMacs ?? DEFAULT_SSH_MACS;
  const packages = args.packages ?? DEFAULT_PACKAGES;
  const storageDirs = args.storageDirs ?? DEFAULT_STORAGE_DIRS;
  const logDir = args.logDir ?? "/var/log/launchgate";
  const retention = args.logRetentionDays ?? 30;
  const banner = args.banner ?? DEFAULT_BANNER;
  const webAllowFrom = args.webAllowFrom;

  checkPort("sshdPort", sshdPort);
  if (webAllowFrom !== undefined) {
    check(
      webAllowFrom.length > 0,
      "webAllowFrom",
      webAllowFrom,
      "at least one CIDR (omit it to allow everyone)",
    );
    webAllowFrom.forEach((c, i) =>
      check(
        isIpv4Cidr(c) || isIpv6Cidr(c),
        `webAllowFrom[${i}]`,
        c,
        "an IPv4 or IPv6 CIDR such as 173.245.48.0/20",
      ),
    );
  }
  publicTcpPorts.forEach((p, i) => checkPort(`publicTcpPorts[${i}]`, p));
  check(
    publicTcpPorts.includes(sshdPort),
    "publicTcpPorts",
    publicTcpPorts,
    `to include the sshd port ${sshdPort} (no lock-out)`,
  );
  for (const [what, list] of [
    ["sshCiphers", ciphers],
    ["sshKexAlgorithms", kex],
    ["sshMacs", macs],
  ] as const) {
    check(
      list.length > 0 && list.every((a) => ALGORITHM.test(a)),
      what,
      list,
      "a non-empty list of algorithm names",
    );
  }
  packages.forEach((p, i) => check(PACKAGE.test(p), `packages[${i}]`, p, "a Debian package name"));
  storageDirs.forEach((d, i) => {
    check(REL_PATH.test(d.path), `storageDirs[${i}].path`, d.path, "a relative path without `..` (or `.`)");
    check(MODE.test(d.mode), `storageDirs[${i}].mode`, d.mode, "an octal mode such as 0750");
  });
  check(ABS_PATH.test(logDir) && !logDir.includes(".."), "logDir", logDir, "an absolute path");
  check(Number.isInteger(retention) && retention >= 1, "logRetentionDays", retention, "an integer >= 1");
  check(banner.trim().length > 0, "banner", banner, "a non-empty text");

  return {
    scriptsDir,
    sshdPort,
    publicTcpPorts,
    ciphers,
    kex,
    macs,
    packages,
    storageDirs,
    logDir,
    retention,
    banner,
    webAllowFrom,
  };
}

export class HardenedHost extends pulumi.ComponentResource {
  /** Docker engine URI over SSH as the deploy user (`ssh://deployer@host:port`). */
  public readonly dockerHost: pulumi.Output<string>;
  /** Root of persistent app storage on the host. */
  public readonly storagePath: pulumi.Output<string>;
  /** Directory of app and backup logs, rotated for `logRetentionDays`. */
  public readonly logDir: pulumi.Output<string>;
  /** Connection for later remote commands (deploy user). */
  public readonly deployConnection: pulumi.Output<SshConnection>;
  /** The last hardening step; later host commands depend on it. */
  public readonly ready: pulumi.Resource;

  constructor(name: string, args: HardenedHostArgs, opts?: pulumi.ComponentResourceOptions) {
    // Validated before anything is registered: the values end up in sshd_config, ufw and paths.
    const v = validate(args);
    super("launchgate:host:HardenedHost", name, {}, opts);
    const {
      scriptsDir,
      sshdPort,
      publicTcpPorts,
      ciphers,
      kex,
      macs,
      packages,
      storageDirs,
      logDir,
      retention,
      banner,
      webAllowFrom,
    } = v;
    const deployUser = args.host.deployUser;
    const permitOpen = pulumi.all(args.permitOpen ?? []).apply((dests) => {
      dests.forEach((d, i) => check(DESTINATION.test(d), `permitOpen[${i}]`, d, "host:port"));
      return dests;
    });

    const env: Record<HostStep, Record<string, pulumi.Input<ScriptValue>>> = {
      bootstrap: { LG_DEPLOY_USER: deployUser, LG_DEPLOY_PUBKEY: args.deployerPublicKey },
      packages: { LG_PACKAGES: packages },
      timezone: { LG_TIMEZONE: args.host.timezone },
      baseline: { LG_BANNER: banner },
      sshd: {
        LG_DEPLOY_USER: deployUser,
        LG_SSHD_PORT: sshdPort,
        LG_SSH_CIPHERS: ciphers.join(","),
        LG_SSH_KEX: kex.join(","),
        LG_SSH_MACS: macs.join(","),
        LG_PERMIT_OPEN: permitOpen,
      },
      sysctl: { LG_RUNS_REDIS: args.runsRedis ? "1" : "0" },
      "kernel-modules": {},
      firewall: {
        LG_SSHD_PORT: sshdPort,
        LG_SSH_ALLOW_FROM: args.host.sshAllowFrom,
        LG_PUBLIC_TCP_PORTS: publicTcpPorts.map(String),
        LG_WEB_ALLOW_FROM: webAllowFrom ? [...webAllowFrom] : "any",
      },
      fail2ban: { LG_SSHD_PORT: sshdPort },
      "unattended-upgrades": {},
      needrestart: {},
      auditd: {},
      "process-accounting": {},
      docker: { LG_ENGINE_API_MIN: args.host.engineApiVersion ?? DEFAULT_ENGINE_API_VERSION },
      logrotate: { LG_DEPLOY_USER: deployUser, LG_LOG_DIR: logDir, LG_LOG_RETENTION_DAYS: retention },
      storage: {
        LG_DEPLOY_USER: deployUser,
        LG_STORAGE_PATH: args.host.storagePath,
        LG_STORAGE_DIRS: storageDirs.map((d) => `${d.path} ${d.mode}`).join("\n"),
      },
      accounts: {},
      "file-integrity": { LG_STORAGE_PATH: args.host.storagePath, LG_LOG_DIR: logDir },
    };
    const lib = path.join(scriptsDir, "lib.sh");
    // Step-specific helpers beside lib.sh, spliced into their step only.
    const stepLibs: Partial<Record<HostStep, string[]>> = {
      docker: [path.join(scriptsDir, "lib-engine.sh")],
    };
    const render = (step: HostStep) =>
      renderScript(path.join(scriptsDir, `${step}.sh`), { LG_STEP: step, ...env[step] }, [
        lib,
        ...(stepLibs[step] ?? []),
      ]);

    const deployKey = pulumi.secret(args.deployerPrivateKey);
    const deployConnection: command.types.input.remote.ConnectionArgs = {
      host: args.bootstrap.host,
      port: args.bootstrap.port,
      user: deployUser,
      privateKey: deployKey,
      ...(args.bootstrap.hostKey !== undefined ? { hostKey: args.bootstrap.hostKey } : {}),
      // sshd re-execs on reload; give the next step's dial a few tries.
      dialErrorLimit: 20,
      perDialTimeout: 15,
    };

    // Step 1: bootstrap, run from where Pulumi runs (see the file comment).
    const bootstrapScript = render("bootstrap");
    const runner = path.join(scriptsDir, "bootstrap-runner.sh");
    const runnerScript = renderScript(runner);
    let previous: pulumi.Resource = new command.local.Command(
      `${name}-bootstrap`,
      {
        interpreter: ["/bin/bash", "-c"],
        create: runnerScript.text,
        stdin: bootstrapScript.text,
        environment: {
          LG_HOST: args.bootstrap.host,
          LG_PORT: pulumi.output(args.bootstrap.port).apply(String),
          LG_BOOTSTRAP_USER: args.bootstrap.user,
          LG_BOOTSTRAP_KEY: pulumi.secret(args.bootstrap.privateKey),
          LG_DEPLOY_USER: deployUser,
          LG_DEPLOY_KEY: deployKey,
          // The pinned host key as a known_hosts line: the runner's ssh then refuses any other.
          ...(args.bootstrap.hostKey !== undefined
            ? {
                LG_KNOWN_HOSTS: pulumi
                  .all([args.bootstrap.host, args.bootstrap.port, args.bootstrap.hostKey])
                  .apply(([h, p, k]) => knownHostsLine(h, p, k)),
              }
            : {}),
        },
        triggers: [roleTrigger("host-bootstrap"), bootstrapScript.trigger, runnerScript.trigger],
        addPreviousOutputInEnv: false,
      },
      { parent: this },
    );

    // Steps 2..n: as the deploy user, each after the previous one.
    for (const step of HOST_STEPS.slice(1)) {
      const script = render(step);
      previous = new command.remote.Command(
        `${name}-${step}`,
        {
          connection: deployConnection,
          // The remote shell reads the whole script from stdin first, so nothing in the script
          // (apt, dpkg hooks) can consume the rest of it; `$0` names the step in `ps` and logs.
          // The text is visible in `ps` while it runs: it must never hold a secret.
          create: `sudo -n bash -c "$(cat)" launchgate-${step}`,
          stdin: script.text,
          triggers: [roleTrigger(`host-${step}`), script.trigger],
          // The previous stdout would be sent as SSH env vars, which sshd refuses.
          addPreviousOutputInEnv: false,
        },
        { parent: this, dependsOn: [previous] },
      );
    }
    this.ready = previous;

    this.dockerHost = pulumi.interpolate`ssh://${deployUser}@${args.bootstrap.host}:${args.bootstrap.port}`;
    this.storagePath = pulumi.output(args.host.storagePath);
    this.logDir = pulumi.output(logDir);
    this.deployConnection = pulumi.secret(
      pulumi.output({
        host: args.bootstrap.host,
        port: args.bootstrap.port,
        user: deployUser,
        privateKey: args.deployerPrivateKey,
        ...(args.bootstrap.hostKey !== undefined ? { hostKey: args.bootstrap.hostKey } : {}),
      }),
    );
    this.registerOutputs({
      dockerHost: this.dockerHost,
      storagePath: this.storagePath,
      logDir: this.logDir,
      deployConnection: this.deployConnection,
    });
  }
}
