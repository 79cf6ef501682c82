/**
 * The host (seed 001 §8.1; dev-sec ssh-/os-baseline): every hardening step present (by its role
 * marker) and effective as declared (its rendered script turns the control on), plus least
 * privilege for the deploy user's sudo.
 *
 * How the steps get root (decided here, documented in components/host/scripts/bootstrap.sh): the
 * deploy user runs each step as `sudo -n bash`; it is in the docker group, which is
 * root-equivalent by design, so narrowing sudo to a command list would not lower its privilege.
 * Least privilege is therefore: exactly one sudoers rule, for the deploy user only (no group, no
 * `ALL` user, no `!authenticate` defaults), run-as root only (never `(ALL)` for other users), and
 * no other account gains sudo.
 */
import { Command as LocalCommand } from "@pulumi/command/local/command";
import { Command as RemoteCommand } from "@pulumi/command/remote/command";
import { CopyToRemote } from "@pulumi/command/remote/copyToRemote";
import { Provider as DockerProvider } from "@pulumi/docker/provider";
import type { PolicyResource } from "@pulumi/policy";
import { TYPES, known, strings } from "./lib/resources";
import {
  MAX_BACKUP_AGE_HOURS,
  MAX_PROBE_INTERVAL_SECONDS,
  MONITOR_PERCENT_PAIRS,
} from "../contract/monitoring";
import { alertTargetConfigured } from "../contract/release-rules";
import { REQUIRED_HOST_STEPS, commandRoleOf } from "../contract/roles";
import { sshHostKeyProblem } from "../contract/ssh-host-key";
import { stackPolicy, typedPolicies, typedPolicy } from "./lib/rule";

type Props = Record<string, unknown>;

/** A command resource's role from its `triggers` (entries unknown at preview skipped). */
export function roleOfCommand(props: Props): string | undefined {
  return commandRoleOf([...strings(known(() => props.triggers))]);
}

/** The text a step runs: its stdin (HardenedHost steps) and create script. */
export function scriptOf(props: Props): string {
  return [...strings(known(() => props.stdin)), ...strings(known(() => props.create))].join("\n");
}

/**
 * The script's single-quoted exports (`export NAME='value'`, how components/ops/remote-script.ts
 * renders a step's settings), so a directive written as `Ciphers $LG_SSH_CIPHERS` is judged by
 * the value the host will see. Later assignments win, as in the shell.
 */
export function scriptExports(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)=((?:'[^']*'|\\')+)/gm))
    out.set(m[1]!, m[2]!.replace(/'\\''/g, "'").replace(/^'|'$/g, ""));
  return out;
}

/**
 * Files a rendered install puts on the host (components/ops/remote-script.ts `renderInstall`: the
 * `LG_FILES` manifest of `<mode> <path> LG_FILE_<n>` lines, each file's text in `LG_FILE_<n>`):
 * path → content.
 */
export function installedFiles(text: string): Map<string, string> {
  const env = scriptExports(text);
  const out = new Map<string, string>();
  for (const line of (env.get("LG_FILES") ?? "").split("\n")) {
    const [, path, key] = line.trim().split(/\s+/);
    if (path && key) out.set(path, env.get(key) ?? "");
  }
  return out;
}

/** `text` with `$NAME` / `${NAME}` replaced by the script's exported values (others left as they are). */
export function expandExports(text: string): string {
  const env = scriptExports(text);
  return text.replace(/\$\{?([A-Z_][A-Z0-9_]*)\}?/g, (whole, name: string) => env.get(name) ?? whole);
}

const HOST_ROLES = /^(host-|backup$|drill$|monitoring$|pre-migration-backup$)/;

export const hostHardeningPresent = stackPolicy(
  {
    name: "host-hardening-present",
    description:
      "Checks whether a stack that manages hosts runs every required hardening step on each of them (REQUIRED_HOST_STEPS: sshd, sysctl, kernel modules, firewall, fail2ban, unattended-upgrades, auditd, docker daemon, accounts, baseline, file integrity); hosts are told apart by the steps' SSH connection (host:port), so a cluster node missing a step is refused even when another node has it.",
    protectsAgainst: "a host deployed with a hardening step silently dropped from HardenedHost",
    benchmark: "seed 001 §8.1.2–8.1.4; dev-sec os-baseline / ssh-baseline",
    fix: "keep every HardenedHost step (HOST_STEPS)",
  },
  function* (args) {
    const roles = args.resources
      .filter((r) => r.isType(RemoteCommand) || r.isType(LocalCommand))
      .map((r) => [r, roleOfCommand(r.props)] as const)
      .filter(([, role]) => role !== undefined && HOST_ROLES.test(role));
    if (roles.length === 0) return;
    // Per host: the remote steps by the host:port they connect to. A connection unknown at
    // preview (an address from another resource) cannot tell its host apart: those steps count
    // together, as one host. Local steps (the bootstrap) are not required.
    const hostOf = (r: PolicyResource): string | undefined => {
      if (!r.isType(RemoteCommand)) return undefined;
      const c = known(() => r.props.connection) as { host?: unknown; port?: unknown } | undefined;
      return typeof c?.host === "string" ? `${c.host}:${typeof c.port === "number" ? c.port : 22}` : "";
    };
    const hosts = new Map<string, { present: Set<string>; first: PolicyResource }>();
    for (const [r, role] of roles) {
      const key = hostOf(r as PolicyResource);
      if (key === undefined) continue;
      const h = hosts.get(key) ?? { present: new Set<string>(), first: r as PolicyResource };
      h.present.add(role!);
      hosts.set(key, h);
    }
    if (hosts.size === 0) hosts.set("", { present: new Set(), first: roles[0]![0] as PolicyResource });
    for (const [key, h] of hosts)
      for (const step of REQUIRED_HOST_STEPS)
        if (!h.present.has(`host-${step}`))
          yield [
            `the host${hosts.size > 1 && key ? ` ${key}` : ""} has no ${step} step (role host-${step}); keep it in HardenedHost.`,
            h.first,
          ];
  },
);

/**
 * The monitors' thresholds as installed, within the bounds the config accepts
 * (contract/monitoring.ts): backup age at most MAX_BACKUP_AGE_HOURS, each warn/critical percent
 * pair 0 ≤ warn < critical ≤ 100. A script reading a threshold it does not set alerts on nothing.
 */
function* thresholdProblems(files: Map<string, string>): Generator<string> {
  for (const [path, text] of files) {
    if (!text.startsWith("#!")) continue;
    const env = scriptExports(text);
    const used = (name: string) => env.has(name) || new RegExp(`\\$\\{?${name}\\b`).test(text);
    const value = (name: string) => (/^\d+(\.\d+)?$/.test(env.get(name) ?? "") ? Number(env.get(name)) : NaN);
    if (used("LG_BACKUP_MAX_AGE_HOURS")) {
      const h = value("LG_BACKUP_MAX_AGE_HOURS");
      if (!(h >= 1 && h <= MAX_BACKUP_AGE_HOURS))
        yield `${path} alerts on backups older than ${env.get("LG_BACKUP_MAX_AGE_HOURS") ?? "(unset)"} h; keep it 1–${MAX_BACKUP_AGE_HOURS} (launchgate:monitoring.backupMaxAgeHours).`;
    }
    for (const [warn, crit] of MONITOR_PERCENT_PAIRS) {
      if (!used(warn) && !used(crit)) continue;
      const w = value(warn);
      const c = value(crit);
      if (!(w >= 0 && w < c && c <= 100))
        yield `${path} installs ${warn}=${env.get(warn) ?? "(unset)"} and ${crit}=${env.get(crit) ?? "(unset)"}; a monitor alerts only with 0 ≤ warn < critical ≤ 100 (launchgate:monitoring).`;
    }
  }
}

/**
 * The monitors as installed: the probe watches at least one workload and alerts through the file
 * the install writes the target to (its stdin), and each timer repeats at most every
 * MAX_PROBE_INTERVAL_SECONDS.
 */
function* installProblems(text: string): Generator<string> {
  const env = scriptExports(text);
  const files = installedFiles(text);
  for (const [path, content] of files) {
    if (path.endsWith("monitor-probe.sh")) {
      const probe = scriptExports(content);
      if ((probe.get("LG_PROBE_CONTAINERS") ?? "").trim() === "")
        yield `${path} probes no workload (LG_PROBE_CONTAINERS is empty); probe every data store and app.`;
      if (!/^https?:\/\/\S+$/.test(probe.get("LG_PUBLIC_URL") ?? ""))
        yield `${path} probes no public URL (LG_PUBLIC_URL="${probe.get("LG_PUBLIC_URL") ?? ""}"); the end-to-end probe must reach the site through the proxy.`;
      const hook = probe.get("LG_WEBHOOK_FILE") ?? "";
      if (hook === "" || hook !== (env.get("LG_STDIN_FILE") ?? ""))
        yield `${path} alerts through ${hook || "(no file)"}, not the file the install writes the alert target to (${env.get("LG_STDIN_FILE") || "none"}); alerts would reach nobody.`;
    }
    if (path.endsWith(".timer")) {
      const every = /^\s*OnUnitActiveSec\s*=\s*(\d+)\s*(s|sec|m|min)?\s*$/m.exec(content);
      const secs = every ? Number(every[1]) * (/^m/.test(every[2] ?? "") ? 60 : 1) : undefined;
      if (secs === undefined || secs > MAX_PROBE_INTERVAL_SECONDS)
        yield `${path} ${secs === undefined ? "does not repeat (no OnUnitActiveSec)" : `repeats every ${secs} s`}; probe at least every ${MAX_PROBE_INTERVAL_SECONDS} s (launchgate:monitoring.probeIntervalSeconds).`;
    }
  }
}

export const monitoringInstalled = stackPolicy(
  {
    name: "monitoring-installed",
    description:
      "Checks whether a stack that manages a host installs the monitors (role monitoring), handed an alert target by the gate's own definition (an https URL, on stdin), probing at least one workload, alerting through the file that target is written to, with timers repeating at most every 300 s and thresholds within the accepted bounds, as installed.",
    protectsAgainst:
      "the monitoring-and-alerting gate passing on an alert target while nothing on the host watches or alerts",
    benchmark:
      "seed 000/001 prerequisite: monitoring and alerting configured (one definition for component and gate)",
    fix: "keep the Monitoring component (its install command, role monitoring)",
  },
  function* (args) {
    const commands = args.resources
      .filter((r) => r.isType(RemoteCommand) || r.isType(LocalCommand))
      .map((r) => [r, roleOfCommand(r.props)] as const);
    const host = commands.find(([, role]) => role !== undefined && /^host-/.test(role));
    if (!host) return;
    const monitors = commands.filter(([, role]) => role === "monitoring");
    if (monitors.length === 0) {
      yield [
        "the host runs no monitors (no command with role monitoring); keep the Monitoring component.",
        host[0],
      ];
      return;
    }
    for (const [r] of monitors) {
      // The alert target travels on stdin (a secret, unwrapped here): the same definition of
      // "configured" as the monitoring-configured gate's (contract/release-rules.ts).
      const target = known(() => r.props.stdin);
      if (
        isUnset(() => r.props.stdin) ||
        (typeof target === "string" && !alertTargetConfigured(target.trim()))
      )
        yield [
          "the monitors are installed without an alert target (stdin is not an https URL, the gate's definition); pass launchgate:alertWebhookUrl to Monitoring, as Release gets it.",
          r,
        ];
      // The program names workloads, not this release's containers, so the text is known at
      // preview; should it be unknown (an input from another resource), it is judged at `up`.
      const text = known(() => scriptOf(r.props));
      if (text === undefined || !/LG_FILES=/.test(text)) continue;
      for (const m of installProblems(text)) yield [m, r];
      if (
        (scriptExports(text).get("LG_TIMERS") ?? "").split(/\s+/).filter((t) => t.endsWith(".timer"))
          .length === 0
      )
        yield ["the monitoring install enables no systemd timer; monitors must run on a schedule.", r];
      for (const m of thresholdProblems(installedFiles(text))) yield [m, r];
    }
  },
);

/** sshd keywords (lower-case) → [acceptable value test, required value for the message]. */
const SSHD_REQUIRED: Record<string, [(v: string) => boolean, string]> = {
  permitrootlogin: [(v) => v === "no", "no"],
  passwordauthentication: [(v) => v === "no", "no"],
  kbdinteractiveauthentication: [(v) => v === "no", "no"],
  permitemptypasswords: [(v) => v === "no", "no"],
  hostbasedauthentication: [(v) => v === "no", "no"],
  ignorerhosts: [(v) => v === "yes", "yes"],
  maxauthtries: [(v) => Number(v) >= 1 && Number(v) <= 3, "2 (at most 3)"],
  x11forwarding: [(v) => v === "no", "no"],
  allowagentforwarding: [(v) => v === "no", "no"],
  allowtcpforwarding: [(v) => v === "no", "no (per user in a Match block)"],
  permituserenvironment: [(v) => v === "no", "no"],
  permittunnel: [(v) => v === "no", "no"],
  loglevel: [(v) => v === "verbose" || v === "info", "VERBOSE (or INFO)"],
  logingracetime: [
    (v) => seconds(v) !== undefined && seconds(v)! >= 1 && seconds(v)! <= 60,
    "30 (at most 60 s)",
  ],
  maxsessions: [(v) => Number(v) >= 1 && Number(v) <= 10, "2 (at most 10)"],
  allowstreamlocalforwarding: [(v) => v === "no", "no"],
  // CIS Debian 12 §5.1.7: idle sessions end (interval > 0, a few missed answers at most).
  clientaliveinterval: [(v) => Number(v) >= 1 && Number(v) <= 900, "300 (1–900 s)"],
  clientalivecountmax: [(v) => Number(v) >= 1 && Number(v) <= 3, "2 (1–3)"],
  ciphers: [(v) => weakAlgorithms(v).length === 0, "AEAD/CTR ciphers only (no CBC, 3DES, arcfour, blowfish)"],
  kexalgorithms: [
    (v) => weakAlgorithms(v).length === 0,
    "curve25519/ECDH/DH group ≥ 16 with SHA-2 only (no SHA-1 groups)",
  ],
  macs: [(v) => weakAlgorithms(v).length === 0, "encrypt-then-MAC SHA-2 only (no MD5, SHA-1, umac-64)"],
};

/**
 * Algorithms the dev-sec ssh-baseline (sshd-15 ciphers, sshd-16 KEX, sshd-17 MACs) and Mozilla's
 * OpenSSH guideline reject: CBC modes, 3DES, RC4 (arcfour), Blowfish, CAST, MD5, SHA-1 and 64-bit
 * UMAC MACs, non-ETM MACs, and the SHA-1 / 1024-bit DH groups. A leading `+`/`-`/`^` (append to /
 * remove from / prepend to the defaults) is refused too: the declared list must be the whole list.
 */
export function weakAlgorithms(list: string): string[] {
  const weak =
    /cbc|3des|arcfour|rc4|blowfish|cast128|rijndael|md5|^hmac-sha1|-sha1$|sha1-|umac-64|group1-|group14-sha1|group-exchange-sha1|^hmac-sha2-(256|512)$|^none$/;
  if (/^[+\-^]/.test(list)) return [list];
  return list
    .split(",")
    .map((a) => a.trim().toLowerCase())
    .filter((a) => a === "" || weak.test(a));
}

/** sshd/fail2ban time values: `30`, `30s`, `10m`, `1h`, `1d`, `1w` → seconds (undefined if unreadable). */
function seconds(v: string): number | undefined {
  const m = /^(-?\d+)\s*(s|sec|m|min|h|d|w)?$/i.exec(v.trim());
  if (!m) return undefined;
  const unit = { s: 1, sec: 1, m: 60, min: 60, h: 3600, d: 86_400, w: 604_800 }[
    (m[2] ?? "s").toLowerCase() as "s"
  ];
  return Number(m[1]) * unit;
}
/** Keywords that are bad whatever else is set. */
const SSHD_FORBIDDEN: Record<string, [(v: string) => boolean, string]> = {
  challengeresponseauthentication: [(v) => v !== "no", "no"],
  pubkeyauthentication: [(v) => v !== "yes", "yes"],
  gatewayports: [(v) => v !== "no", "no"],
  strictmodes: [(v) => v !== "yes", "yes"],
};

/** sshd directives in a script, first value per keyword (sshd keeps the first it reads), outside Match blocks. */
export function sshdDirectives(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const known = new Set([...Object.keys(SSHD_REQUIRED), ...Object.keys(SSHD_FORBIDDEN)]);
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Za-z0-9]+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    if (key === "match") break;
    if (known.has(key) && !out.has(key)) out.set(key, m[2]!.toLowerCase().replace(/^["']|["']$/g, ""));
  }
  return out;
}

/**
 * Settings a `Match` block may not loosen (sshd applies a matching block's values over the
 * global ones): each keyword with the test its value must pass. Forwarding may be narrowed to
 * `local` (the DB admin tunnel's block, with PermitOpen).
 */
const SSHD_MATCH_RULES: Record<string, (v: string) => boolean> = {
  permitrootlogin: (v) => v === "no",
  passwordauthentication: (v) => v === "no",
  kbdinteractiveauthentication: (v) => v === "no",
  challengeresponseauthentication: (v) => v === "no",
  permitemptypasswords: (v) => v === "no",
  hostbasedauthentication: (v) => v === "no",
  pubkeyauthentication: (v) => v === "yes",
  authenticationmethods: (v) => v === "publickey",
  x11forwarding: (v) => v === "no",
  allowagentforwarding: (v) => v === "no",
  allowtcpforwarding: (v) => v === "no" || v === "local",
  permittunnel: (v) => v === "no",
  gatewayports: (v) => v === "no",
  maxauthtries: (v) => Number(v) >= 1 && Number(v) <= 3,
  allowstreamlocalforwarding: (v) => v === "no",
  // Forwarding narrowed to named destinations only: `any` or a wildcard opens every address.
  permitopen: (v) => v !== "any" && !v.includes("*"),
};

/** `[keyword, value]` pairs set inside `Match` blocks (after the first `Match` line). */
function sshdMatchSettings(text: string): [string, string][] {
  const out: [string, string][] = [];
  let inMatch = false;
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Za-z0-9]+)\s+(\S+)/.exec(line.replace(/^\s*printf\s+'/, ""));
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    if (key === "match") inMatch = true;
    else if (inMatch) out.push([key, m[2]!.toLowerCase().replace(/^["']|["']$/g, "")]);
  }
  return out;
}

/** Text with `printf`/`echo -e` escapes (`\\n`, `\\t`) turned into the lines they print. */
export function printedLines(text: string): string {
  return text.replace(/\\n/g, "\n").replace(/\\t/g, "\t");
}

function* sshdProblems(text: string): Generator<string> {
  const expanded = printedLines(expandExports(text));
  for (const [key, value] of sshdMatchSettings(expanded)) {
    const ok = SSHD_MATCH_RULES[key];
    if (ok && !ok(value))
      yield `sshd step's Match block sets ${key} ${value}; a Match block may not loosen it (sshd applies it over the global value).`;
  }
  // sshd reads an Include in place and keeps the first value: a file it pulls in can set anything.
  const include = /^\s*Include\s+(\S+)/im.exec(expanded);
  if (include)
    yield `sshd step's config includes ${include[1]}, which sshd reads before the settings that follow (first value wins); keep every setting in the step's own file.`;
  if (!/^\s*(AllowUsers|AllowGroups)\s+\S/im.test(expanded))
    yield "sshd step lets every account log in; declare `AllowUsers <deploy user>` (CIS Debian 12 §5.2.4).";
  if (!/^\s*AuthenticationMethods\s+publickey\s*$/im.test(expanded))
    yield "sshd step does not require `AuthenticationMethods publickey`; declare it.";
  const d = sshdDirectives(expanded);
  for (const [key, [ok, want]] of Object.entries(SSHD_REQUIRED)) {
    const v = d.get(key);
    if (v === undefined)
      yield `sshd step does not set ${key}; declare it (${want}) in components/host/scripts/sshd.sh.`;
    else if (!ok(v))
      yield `sshd step sets ${key} ${v}; it must be ${want} (sshd uses the first value it reads).`;
  }
  for (const [key, [bad, want]] of Object.entries(SSHD_FORBIDDEN)) {
    const v = d.get(key);
    if (v !== undefined && bad(v)) yield `sshd step sets ${key} ${v}; it must be ${want}.`;
  }
}

function* firewallProblems(text: string): Generator<string> {
  const body = text.replace(/^\s*#.*$/gm, "");
  // `ufw default allow|reject <dir>` for anything but outgoing (also through a helper's "$1").
  if (/ufw\s+default\s+(allow|reject)\b(?!\s+["']?outgoing\b)/.test(body))
    yield "firewall step runs `ufw default allow` for a direction other than outgoing; keep incoming and routed denied.";
  // Docker-published ports bypass UFW's INPUT rules: DOCKER-USER must end in a drop.
  if (!/^\s*(?:echo\s+["']?)?-A\s+DOCKER-USER\s+-j\s+(DROP|REJECT)\b/m.test(body))
    yield "firewall step leaves Docker's DOCKER-USER chain without a final DROP; published container ports would be open to everyone (keep `-A DOCKER-USER -j DROP`).";
  if (/default\s+allow\s+incoming|set_default\s+incoming\s+allow|ufw\s+(--force\s+)?disable\b/.test(body))
    yield "firewall step allows incoming traffic by default or disables UFW; keep default deny incoming.";
  if (!/ufw\s+default\s+deny\s+incoming|set_default\s+incoming\s+deny/.test(body))
    yield "firewall step does not set default deny for incoming traffic; run `ufw default deny incoming`.";
  if (!/ufw\s+(--force\s+)?enable\b/.test(body))
    yield "firewall step never enables UFW; run `ufw --force enable`.";
  if (/default\s+allow\s+routed|set_default\s+routed\s+allow/.test(body))
    yield "firewall step forwards (routes) traffic by default; keep `ufw default deny routed` (CIS Debian 12 §4.2).";
}

/**
 * The lines of every ini section `[name]` in a script (each up to the next section or heredoc
 * end), in order: fail2ban merges sections of the same name (jail.local, jail.d/*.local), the
 * later value winning, so {@link lastIniValue} reads them as one.
 */
function iniSections(text: string, name: string): string | undefined {
  const lines = text.split("\n");
  const parts: string[] = [];
  lines.forEach((l, i) => {
    if (!l.trim().endsWith(`[${name}]`)) return;
    const rest = lines.slice(i + 1);
    const end = rest.findIndex((x) => /^\s*\[|^[A-Z_]+\s*$|^\s*'/.test(x));
    parts.push((end < 0 ? rest : rest.slice(0, end)).join("\n"));
  });
  return parts.length > 0 ? parts.join("\n") : undefined;
}

/** The last `key = value` in ini text (fail2ban: later wins). */
function lastIniValue(section: string, key: string): string | undefined {
  return lastIniRaw(section, key)?.toLowerCase();
}

/** The last `key = value` of an INI section as written (case kept: paths, addresses). */
function lastIniRaw(section: string | undefined, key: string): string | undefined {
  if (section === undefined) return undefined;
  return [...section.matchAll(new RegExp(`^\\s*${key}\\s*=\\s*(.+?)\\s*$`, "gm"))].pop()?.[1];
}

/** fail2ban thresholds: ban after at most this many failures, for/over at least 10 minutes. */
const F2B_MAX_RETRY = 5;
const F2B_MIN_SECONDS = 600;

function* fail2banProblems(raw: string): Generator<string> {
  const text = printedLines(raw);
  const jail = iniSections(text, "sshd");
  if (jail === undefined)
    yield "fail2ban step declares no [sshd] jail; keep the sshd jail in components/host/scripts/fail2ban.sh.";
  else if (lastIniValue(jail, "enabled") !== "true")
    yield "fail2ban's sshd jail is not enabled; set `enabled = true` in its [sshd] section.";
  // The sshd jail's values win over [DEFAULT]'s; fail2ban's own default maxretry is 5, bantime 10m.
  const setting = (key: string): string | undefined => {
    return lastIniRaw(jail, key) ?? lastIniRaw(iniSections(text, "DEFAULT"), key);
  };
  const logpath = setting("logpath");
  if (logpath !== undefined && !/^\/var\/log\/\S+$/.test(logpath) && setting("backend") !== "systemd")
    yield `fail2ban's sshd jail reads ${logpath}; it must read sshd's log (/var/log/auth.log) or use backend = systemd.`;
  const ignore = setting("ignoreip");
  const everyone = (ignore ?? "")
    .split(/[\s,]+/)
    .filter((a) => /\/(\d+)$/.test(a) && Number(/\/(\d+)$/.exec(a)![1]) < (a.includes(":") ? 32 : 8));
  if (everyone.length > 0 || /(^|\s)(any|all|\*)(\s|$)/.test(ignore ?? ""))
    yield `fail2ban ignores ${everyone.join(", ") || ignore}; never exempt whole networks from bans (ignoreip only for this host).`;
  const banaction = setting("banaction");
  if (banaction !== undefined && !/^(iptables|nftables|ufw|firewallcmd)/.test(banaction))
    yield `fail2ban's banaction ${banaction} blocks nothing; use iptables-multiport (or nftables/ufw).`;
  const maxretry = setting("maxretry");
  if (maxretry !== undefined && !(Number(maxretry) >= 1 && Number(maxretry) <= F2B_MAX_RETRY))
    yield `fail2ban's sshd jail allows maxretry ${maxretry}; ban after at most ${F2B_MAX_RETRY} failures.`;
  for (const key of ["bantime", "findtime"]) {
    const v = setting(key);
    const secs = v === undefined ? undefined : seconds(v);
    // bantime -1 bans for ever (stricter); any other value below the floor weakens the jail.
    if (
      v !== undefined &&
      !(secs !== undefined && (secs >= F2B_MIN_SECONDS || (key === "bantime" && secs < 0)))
    )
      yield `fail2ban's sshd jail sets ${key} ${v}; keep it at least 10m (seed 001 §8.1.4; CIS Debian 12 §5.2 brute force).`;
  }
  // The jail bans on the port sshd listens on (fail2ban's sshd default: "ssh"): a jail watching
  // another port lets the brute force through.
  const port = setting("port");
  const sshdPort = scriptExports(text).get("LG_SSHD_PORT") ?? "22";
  const watched = (port ?? "ssh").split(",").map((p) => p.trim());
  const covers = (p: string) =>
    p === "$LG_SSHD_PORT" || p === "${LG_SSHD_PORT}" || p === sshdPort || (p === "ssh" && sshdPort === "22");
  if (!watched.some(covers))
    yield `fail2ban's sshd jail watches port ${port}, not sshd's ${sshdPort}; set \`port = $LG_SSHD_PORT\`.`;
  const body = text.replace(/^\s*#.*$/gm, "");
  if (
    !/service_up\s+fail2ban|systemctl\s+(enable|start|restart)[^\n]*fail2ban|fail2ban-client\s+(start|reload)/.test(
      body,
    )
  )
    yield "fail2ban step never starts fail2ban; start (and enable) the service.";
}

/** Packages whose security updates must never be held back (a blacklist entry matching one is refused). */
const SECURITY_PACKAGES = ["openssh-server", "openssl", "libc6", "linux-image-amd64", "sudo", "docker.io"];

function* unattendedProblems(text: string): Generator<string> {
  for (const key of ["Update-Package-Lists", "Unattended-Upgrade"]) {
    // apt reads apt.conf.d in order and a later value wins: the last one in the step counts.
    const m = [...text.matchAll(new RegExp(`APT::Periodic::${key}\\s+"(\\d+)"`, "g"))].pop();
    if (!m || m[1] === "0")
      yield `unattended-upgrades step does not turn APT::Periodic::${key} on; set it to "1".`;
  }
  // The origins unattended-upgrades installs from: its Origins-Pattern / Allowed-Origins lists
  // (comments aside), not a mention anywhere in the script.
  const lists = [
    ...text
      .replace(/^\s*(#|\/\/).*$/gm, "")
      .matchAll(/Unattended-Upgrade::(?:Origins-Pattern|Allowed-Origins)\s*\{([\s\S]*?)\};/g),
  ].map((m) => m[1]!);
  for (const m of text.matchAll(/Unattended-Upgrade::Package-Blacklist\s*\{([\s\S]*?)\};/g))
    for (const entry of [...m[1]!.matchAll(/"([^"]*)"/g)].map((e) => e[1]!)) {
      let re: RegExp | undefined;
      try {
        re = new RegExp(entry);
      } catch {
        re = undefined;
      }
      const held = SECURITY_PACKAGES.filter((p) => (re ? re.test(p) : entry === p));
      if (held.length > 0)
        yield `unattended-upgrades step blacklists "${entry}", which holds back ${held.join(", ")}; security updates must install.`;
    }
  if (!lists.some((l) => /Debian-Security|-security/.test(l)))
    yield "unattended-upgrades step selects no security origin; include the Debian-Security origin in Unattended-Upgrade::Origins-Pattern.";
}

/**
 * Kernel parameters the sysctl step must set, and to what (dev-sec os-baseline sysctl-01…33; CIS
 * Debian 12 §3.3 network parameters, §1.5 process hardening). A missing key or another value is
 * refused: the step would no longer harden what it declares.
 */
export const SYSCTL_REQUIRED: Readonly<Record<string, string>> = {
  "net.ipv4.conf.all.rp_filter": "1",
  "net.ipv4.conf.default.rp_filter": "1",
  "net.ipv4.conf.all.accept_redirects": "0",
  "net.ipv4.conf.default.accept_redirects": "0",
  "net.ipv4.conf.all.secure_redirects": "0",
  "net.ipv4.conf.default.secure_redirects": "0",
  "net.ipv4.conf.all.send_redirects": "0",
  "net.ipv4.conf.default.send_redirects": "0",
  "net.ipv4.conf.all.accept_source_route": "0",
  "net.ipv4.conf.default.accept_source_route": "0",
  "net.ipv4.conf.all.log_martians": "1",
  "net.ipv4.icmp_echo_ignore_broadcasts": "1",
  "net.ipv4.icmp_ignore_bogus_error_responses": "1",
  "net.ipv4.tcp_syncookies": "1",
  "net.ipv6.conf.all.accept_redirects": "0",
  "net.ipv6.conf.default.accept_redirects": "0",
  "net.ipv6.conf.all.accept_source_route": "0",
  "net.ipv6.conf.all.accept_ra": "0",
  "kernel.randomize_va_space": "2",
  "kernel.kptr_restrict": "2",
  "kernel.dmesg_restrict": "1",
  "kernel.yama.ptrace_scope": "1",
  "kernel.unprivileged_bpf_disabled": "1",
  "fs.suid_dumpable": "0",
  "fs.protected_hardlinks": "1",
  "fs.protected_symlinks": "1",
};

function* sysctlProblems(text: string): Generator<string> {
  const set = new Map<string, string>();
  for (const m of text.matchAll(/^\s*([a-z][a-z0-9_.-]+)\s*=\s*(\S+)\s*$/gm))
    if (!set.has(m[1]!)) set.set(m[1]!, m[2]!);
  for (const [key, want] of Object.entries(SYSCTL_REQUIRED)) {
    const got = set.get(key);
    if (got === undefined)
      yield `sysctl step does not set ${key}; set it to ${want} in components/host/scripts/sysctl.sh.`;
    else if (got !== want) yield `sysctl step sets ${key} = ${got}; it must be ${want}.`;
  }
}

/**
 * The Docker daemon settings the docker step writes to /etc/docker/daemon.json (CIS Docker
 * Benchmark v1.6 §2): inter-container traffic off on the default bridge (2.2), Docker's iptables
 * rules on (2.4: the firewall's DOCKER-USER chain depends on them), no insecure registries (2.5),
 * live restore (2.15), no-new-privileges by default (2.18), bounded json-file logs, and no daemon
 * socket on TCP (2.7 without TLS).
 */
const DAEMON_REQUIRED: [string, RegExp, string][] = [
  ["icc", /"icc"\s*:\s*false\b/, '"icc": false (CIS 2.2)'],
  ["no-new-privileges", /"no-new-privileges"\s*:\s*true\b/, '"no-new-privileges": true (CIS 2.18)'],
  ["live-restore", /"live-restore"\s*:\s*true\b/, '"live-restore": true (CIS 2.15)'],
  ["log-opts max-size", /"max-size"\s*:\s*"\d+[kmg]?"/, '"log-opts": {"max-size": …} (bounded logs)'],
];
const DAEMON_FORBIDDEN: [RegExp, string][] = [
  [
    /"iptables"\s*:\s*false\b/,
    '"iptables": false turns off the rules the firewall\'s DOCKER-USER chain relies on (CIS 2.4)',
  ],
  [/"insecure-registries"\s*:\s*\[\s*"/, "insecure registries are allowed (CIS 2.5)"],
  [/tcp:\/\//, "the daemon listens on TCP (CIS 2.7); reach it over SSH instead"],
  [/"log-driver"\s*:\s*"none"/, 'log-driver "none" drops every container log'],
];

/**
 * daemon.json as the step writes it (its heredoc, shell variables read as null), parsed as the
 * engine parses it: a repeated key's last value wins. Undefined when there is none or it is not JSON.
 */
function daemonJson(text: string): Record<string, unknown> | undefined {
  const m = /\/etc\/docker\/daemon\.json[^\n]*<<-?\s*'?(\w+)'?[^\n]*\n([\s\S]*?)\n\1\s*$/m.exec(text);
  if (!m) return undefined;
  try {
    return JSON.parse(m[2]!.replace(/\$\{?\w+\}?/g, "null")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** daemon.json keys judged on the parsed file: the value the engine will use, and the fix. */
const JSON_CHECKED: Record<string, [unknown, string]> = {
  icc: [false, '"icc": false (CIS 2.2)'],
  "no-new-privileges": [true, '"no-new-privileges": true (CIS 2.18)'],
  "live-restore": [true, '"live-restore": true (CIS 2.15)'],
};

function* dockerDaemonProblems(text: string): Generator<string> {
  const json = daemonJson(text);
  if (json) {
    for (const [key, [value, fix]] of Object.entries(JSON_CHECKED))
      if (json[key] !== value)
        yield `docker step's daemon.json sets ${key} to ${JSON.stringify(json[key])} (the last value given wins); set ${fix}.`;
    const seccomp = json["seccomp-profile"];
    if (typeof seccomp === "string" && /^unconfined$/i.test(seccomp))
      yield 'docker step\'s daemon.json sets "seccomp-profile": "unconfined": every container runs without seccomp (CIS 5.22); remove it.';
  }
  for (const [key, re, want] of DAEMON_REQUIRED)
    if (!(json && key in JSON_CHECKED) && !re.test(text))
      yield `docker step's daemon.json does not set ${key}; set ${want}.`;
  for (const [re, why] of DAEMON_FORBIDDEN) if (re.test(text)) yield `docker step: ${why}.`;
}

/**
 * Files the audit rules must watch for writes (CIS Debian 12 §6.3.3: identity, sudoers, sshd;
 * CIS Docker 1.6 §1.1: the Docker daemon's files). A step whose rules were emptied still starts
 * auditd but records nothing.
 */
const AUDIT_WATCHED = [
  "/etc/passwd",
  "/etc/group",
  "/etc/shadow",
  "/etc/sudoers",
  "/etc/ssh/sshd_config",
  "/etc/docker/",
  "/usr/bin/dockerd",
];

function* auditdProblems(text: string): Generator<string> {
  const watched = new Set([...text.matchAll(/^\s*-w\s+(\S+)\s+-p\s+[rwxa]+/gm)].map((m) => m[1]!));
  if (/^\s*-e\s+0\b/m.test(text))
    yield "auditd step's rules disable auditing (`-e 0`); keep it enabled (`-e 1`, or `-e 2` to lock the rules).";
  const missing = AUDIT_WATCHED.filter((f) => !watched.has(f));
  if (missing.length > 0)
    yield `auditd step does not watch ${missing.join(", ")}; keep its rules (CIS Debian 12 §6.3.3, CIS Docker 1.6 §1.1).`;
}

/**
 * The accounts step's login.defs password ageing (CIS Debian 12 §5.4.1: PASS_MAX_DAYS ≤ 365,
 * PASS_MIN_DAYS ≥ 1, PASS_WARN_AGE ≥ 7), as its `set_login_def KEY VALUE` lines set them.
 */
function* accountsProblems(text: string): Generator<string> {
  const defs = new Map(
    [...text.matchAll(/^\s*set_login_def\s+(\w+)\s+(\S+)\s*$/gm)].map((m) => [m[1]!, m[2]!]),
  );
  const rules: [string, (n: number) => boolean, string][] = [
    ["PASS_MAX_DAYS", (n) => n >= 1 && n <= 365, "at most 365"],
    ["PASS_MIN_DAYS", (n) => n >= 1, "at least 1"],
    ["PASS_WARN_AGE", (n) => n >= 7, "at least 7"],
  ];
  for (const [key, ok, want] of rules) {
    const v = defs.get(key);
    if (v === undefined || !/^\d+$/.test(v) || !ok(Number(v)))
      yield `accounts step sets ${key} ${v ?? "(unset)"}; it must be ${want} (CIS Debian 12 §5.4.1).`;
  }
}

/** The storage step's directories (`LG_STORAGE_DIRS`: `<path> <octal mode>` lines). */
function* storageProblems(text: string): Generator<string> {
  for (const line of (scriptExports(text).get("LG_STORAGE_DIRS") ?? "").split("\n")) {
    const [dir, mode] = line.trim().split(/\s+/);
    if (!dir || !mode || !/^[0-7]{3,4}$/.test(mode)) continue;
    const bits = parseInt(mode, 8);
    if (bits & 0o002)
      yield `storage step makes ${dir} world-writable (${mode}); no directory is writable by every account (CIS Debian 12 §7.1).`;
    else if (/(^|\/)backups$/.test(dir) && bits & 0o077)
      yield `storage step opens the backups directory (${mode}) beyond its owner; dumps hold every row (keep 0700).`;
  }
}

function* sudoProblems(text: string): Generator<string> {
  const lines = text
    .split("\n")
    .filter((l) => /NOPASSWD|ALL\s*=|!authenticate|%\w+\s+ALL/.test(l) && !/^\s*#/.test(l));
  for (const l of lines) {
    if (/!authenticate/.test(l)) yield "sudoers disables authentication globally (!authenticate); remove it.";
    if (/(^|['"\s])%[\w$-]+\s+ALL/.test(l))
      yield `sudoers grants a group (${l.trim().slice(0, 60)}); grant only the deploy user.`;
    if (/(^|['"\s\\n])ALL\s+ALL\s*=/.test(l)) yield "sudoers grants every user; grant only the deploy user.";
    if (/ALL\s*=\s*\(\s*ALL\b/.test(l))
      yield "the deploy user may sudo as any user (ALL); allow run-as root only: `ALL=(root) NOPASSWD: ALL`.";
  }
}

/** sshd settings no command but the sshd step may write (values that weaken it). */
const SSHD_OVERRIDES: [RegExp, string][] = [
  [/^\s*PermitRootLogin\s+(?!no\b)\S+/im, "PermitRootLogin must be no"],
  [/^\s*PasswordAuthentication\s+(?!no\b)\S+/im, "PasswordAuthentication must be no"],
  [/^\s*PermitEmptyPasswords\s+(?!no\b)\S+/im, "PermitEmptyPasswords must be no"],
  [
    /^\s*(?:KbdInteractive|ChallengeResponse)Authentication\s+(?!no\b)\S+/im,
    "keyboard-interactive authentication must be no",
  ],
];

const EFFECTIVE: Record<string, (text: string) => Generator<string>> = {
  "host-sshd": sshdProblems,
  "host-firewall": firewallProblems,
  "host-fail2ban": fail2banProblems,
  "host-unattended-upgrades": unattendedProblems,
  "host-bootstrap": sudoProblems,
  "host-sysctl": sysctlProblems,
  "host-docker": dockerDaemonProblems,
  "host-auditd": auditdProblems,
  "host-storage": storageProblems,
  "host-accounts": accountsProblems,
};

/** The kernel parameters the sysctl step sets, as one alternation (dots or slashes), built once. */
const SYSCTL_KEYS = Object.keys(SYSCTL_REQUIRED)
  .map((k) => k.replace(/\./g, "[./]"))
  .join("|");
/** `key = value` / `sysctl -w key=value` for one of them, anywhere in a command's text. */
const SYSCTL_ASSIGNMENT = new RegExp(
  `(?:^|[\\s'"])(?<key>${SYSCTL_KEYS})\\s*=\\s*['"]?(?<value>-?\\w+)`,
  "gm",
);
/** `echo value > /proc/sys/<key path>`. */
const SYSCTL_PROC_WRITE = new RegExp(
  `echo\\s+['"]?(?<value>-?\\w+)['"]?\\s*>+\\s*/proc/sys/(?<key>${SYSCTL_KEYS})\\b`,
  "g",
);

/** Hardening services and timers no command may stop, disable or mask. */
const HARDENING_SERVICES =
  "auditd|fail2ban|ufw|apparmor|unattended-upgrades|apt-daily-upgrade|apt-daily|rsyslog|aidecheck|dailyaidecheck";

/**
 * What no command may do to the hardening, whichever step it sits in (a later step, or a trap,
 * undoing an earlier one): stop or disable a hardening service, open the firewall around UFW,
 * loosen a kernel parameter the sysctl step sets, or grant sudo outside the bootstrap step.
 */
function* hardeningUndone(text: string, role: string | undefined): Generator<string> {
  const who = `a ${role ?? "unmarked"} command`;
  const body = printedLines(text.replace(/^\s*#.*$/gm, ""));
  const stop = new RegExp(
    `systemctl\\s+(?:--now\\s+)?(?:stop|disable|mask|kill)\\b[^\\n;&|]*\\b(${HARDENING_SERVICES})\\b|\\b(?:service|invoke-rc\\.d)\\s+(${HARDENING_SERVICES})\\s+stop\\b|fail2ban-client\\s+stop\\b|auditctl\\s+-e\\s*0\\b|\\baa-teardown\\b`,
  ).exec(body);
  if (stop) yield `${who} stops or disables a hardening service ("${stop[0].trim()}"); keep it running.`;
  if (/DEFAULT_(INPUT|FORWARD)_POLICY=["']?ACCEPT/.test(body))
    yield `${who} sets UFW's default policy to ACCEPT in /etc/default/ufw; keep DROP.`;
  const raw =
    /\b(?:ip6?tables(?:-legacy|-nft)?)\s+(?:-[IA]|--insert|--append)\s+(INPUT|FORWARD|DOCKER-USER)\b[^\n]*-j\s+ACCEPT\b/.exec(
      body,
    ) ?? /\b(?:ip6?tables(?:-legacy|-nft)?)\s+-P\s+(?:INPUT|FORWARD)\s+ACCEPT\b/.exec(body);
  const nft = /\bnft\s+(?:add|insert)\s+rule\b[^\n]*\b(?:input|forward)\b[^\n]*\baccept\b/.exec(body);
  if (nft && !/\bdport\b|\biif(name)?\s+"?lo\b/.test(nft[0]))
    yield `${who} accepts traffic with a raw nftables rule ("${nft[0].trim()}"); open ports only through the firewall step (UFW).`;
  if (raw && !/--dport|--ctorigdstport|-i\s+lo\b/.test(raw[0]))
    yield `${who} accepts traffic with a raw iptables rule ("${raw[0].trim()}"); open ports only through the firewall step (UFW).`;
  for (const m of body.matchAll(/\bufw\s+(?:route\s+)?allow\b([^\n;&|>]*)/g)) {
    const rest = m[1]!;
    if (rest.includes("$") || /^\s*out\b/.test(rest)) continue; // a rule built from variables, or outgoing
    if (!/\bport\b|(^|\s)\d+(:\d+)?(\/(tcp|udp))?(\s|$)|(^|\s)(ssh|http|https|OpenSSH)(\s|$)/.test(rest))
      yield `${who} runs "${m[0].trim()}", which admits every port; allow single ports (HardenedHost publicTcpPorts).`;
  }
  if (role !== "host-sysctl")
    for (const m of [...body.matchAll(SYSCTL_ASSIGNMENT), ...body.matchAll(SYSCTL_PROC_WRITE)]) {
      const key = m.groups!.key!.replace(/\//g, ".");
      const want = SYSCTL_REQUIRED[key];
      if (want !== undefined && m.groups!.value !== want)
        yield `${who} sets ${key} = ${m.groups!.value}; the sysctl step sets it to ${want} — only that step sets kernel parameters.`;
    }
  if (role !== "host-bootstrap") {
    if (
      /\/etc\/sudoers/.test(body) &&
      /(>|\btee\b|\binstall\b|\bcp\b|visudo\s+-f)[^\n]*\/etc\/sudoers/.test(body)
    )
      yield `${who} writes sudoers; only the bootstrap step grants sudo (to the deploy user, run-as root).`;
    else yield* sudoProblems(body);
  }
}

export const hostStepEffective = typedPolicies(
  {
    name: "host-step-effective",
    description:
      "Checks whether each hardening step's script turns its control on: sshd settings and algorithms, UFW default-deny and enabled, fail2ban's sshd jail enabled with brute-force thresholds, security updates on, kernel parameters, the Docker daemon's settings, the deploy user's sudo least privilege.",
    protectsAgainst:
      "a hardening step that runs but no longer hardens (a setting flipped, a service not started)",
    benchmark:
      "dev-sec ssh-baseline (sshd-*), os-baseline (sysctl-*); CIS Debian 12 §3.3 (sysctl), §4 (UFW), §5.2 (sshd), §5.3 (sudo); CIS Docker 1.6 §2 (daemon); seed 001 §8.1",
    fix: "restore the step's script under components/host/scripts/",
  },
  [RemoteCommand, LocalCommand],
  function* (props) {
    const role = roleOfCommand(props);
    const check = role ? EFFECTIVE[role] : undefined;
    const text = scriptOf(props);
    if (check) yield* check(text);
    if (role !== undefined && /^host-/.test(role)) {
      // A step that ends before its last line hardens only what comes before (`exit` at top level).
      const lines = text.split("\n");
      const last = lines.map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#")).length;
      let seen = 0;
      for (const l of lines) {
        if (l.trim() !== "" && !l.trim().startsWith("#")) seen++;
        if (/^exit\b/.test(l) && seen < last) {
          yield `the ${role} step exits at "${l.trim()}" before the rest of its script runs; remove the early exit.`;
          break;
        }
      }
    }
    yield* hardeningUndone(text, role);
    // Any other command that writes sshd settings: sshd keeps the first value it reads, so a
    // drop-in from another step can undo the sshd step.
    if (role !== "host-sshd")
      for (const [re, fix] of SSHD_OVERRIDES) {
        const m = re.exec(text);
        if (m)
          yield `a ${role ?? "unmarked"} command sets sshd "${m[0].trim()}"; ${fix} — only the sshd step configures sshd.`;
      }
  },
);

export const firewallPorts = typedPolicy(
  {
    name: "firewall-ports",
    description: "Checks whether any host command opens a public TCP port outside the allowed list.",
    protectsAgainst: "a database or admin port opened to the internet",
    benchmark: "seed 001 §8.1.3 (22/80/443 only); CIS Debian 12 §4",
    fix: "change HardenedHost publicTcpPorts",
    config: { allowedPorts: { type: "array", items: { type: "number" }, default: [22, 80, 443] } },
  },
  RemoteCommand,
  function* (props, _args, config) {
    // Every host command: a port opened by any step is open.
    const allowed = new Set((config.allowedPorts as number[]).map(String));
    const text = scriptOf(props);
    const fromEnv = [...text.matchAll(/LG_PUBLIC_TCP_PORTS=['"]?([\d ]*)/g)].flatMap((m) =>
      m[1]!.split(/\s+/),
    );
    const fromUfw = [
      ...text.matchAll(
        /ufw\s+(?:route\s+)?allow\s+(?:in\s+)?(?:proto\s+\w+\s+)?(?:from\s+\S+\s+)?(?:to\s+\S+\s+)?(?:port\s+)?(\d+)/g,
      ),
    ].map((m) => m[1]!);
    const extra = [...new Set([...fromEnv, ...fromUfw].filter((p) => p !== "" && !allowed.has(p)))];
    if (extra.length > 0)
      yield `firewall opens ${extra.join(", ")}; open only ${[...allowed].join("/")} (HardenedHost publicTcpPorts).`;
  },
);

/** The docker provider's type token (`pulumi:providers:docker`), from its class. */
export const DOCKER_PROVIDER = `pulumi:providers:${(DockerProvider as unknown as { __pulumiType: string }).__pulumiType}`;

/** Local commands that open SSH connections themselves, and the env entry carrying their pinned key's known_hosts line. */
const PINNED_LINE_ENV: Record<string, string> = {
  "host-bootstrap": "LG_KNOWN_HOSTS",
  "db-admin-tunnel": "KNOWN_HOSTS_LINE",
};

/** ssh options that switch host-key checking off or hand it to something else (OpenSSH ssh_config). */
const UNCHECKED_SSH =
  /StrictHostKeyChecking[= ]\s*["']?(no|off)\b|UserKnownHostsFile[= ]\s*["']?\/dev\/null|KnownHostsCommand|GlobalKnownHostsFile/i;

/** What is wrong with a pinned host key value (`connection.hostKey`), or undefined. */
function hostKeyValueProblem(read: () => unknown): string | undefined {
  if (isUnset(read)) return "no host key";
  const v = known(read);
  if (v === undefined) return undefined; // computed by another resource: judged at `up`
  const problem = typeof v === "string" ? sshHostKeyProblem(v.trim()) : "not a string";
  return problem ? `host key "${String(v)}": ${problem}` : undefined;
}

export const sshHostKeysPinned = typedPolicies(
  {
    name: "ssh-host-keys-pinned",
    description:
      "Checks whether every SSH connection the program's commands make verifies the host's key: remote commands (and their jump host) carry a valid `connection.hostKey`, the bootstrap and the DB admin tunnel a pinned known_hosts line, and no local command's ssh switches checking off.",
    protectsAgainst:
      "a man in the middle (or a re-used address) answering as the VPS and receiving every command, the secrets on their stdin and the deploy key's logins — the command provider accepts any host key unless `hostKey` is set",
    benchmark:
      "RFC 4251 §4.1 (the client must verify the host key); @pulumi/command remote.Connection.hostKey; OpenSSH ssh_config StrictHostKeyChecking",
    fix: "set launchgate:host.hostKey (or hosts[].hostKey) to the VPS's key (ssh-keyscan -t ed25519 <address>, fingerprint checked out of band)",
  },
  [RemoteCommand, CopyToRemote, LocalCommand],
  function* (props, args) {
    if (args.type !== TYPES.localCommand) {
      const conn = known(() => props.connection) as Props | undefined;
      if (conn === undefined) return; // computed: judged again at `up`
      const where = String(known(() => conn.host) ?? "its host");
      const problem = hostKeyValueProblem(() => conn.hostKey);
      if (problem)
        yield `connects to ${where} with ${problem}: the command provider then accepts any host key.`;
      const proxy = known(() => conn.proxy) as Props | undefined;
      if (proxy !== undefined && proxy !== null) {
        const viaProblem = hostKeyValueProblem(() => proxy.hostKey);
        if (viaProblem)
          yield `reaches ${where} through the jump host ${String(known(() => proxy.host) ?? "?")} with ${viaProblem}.`;
      }
      return;
    }
    const role = roleOfCommand(props);
    const name = role ? PINNED_LINE_ENV[role] : undefined;
    const text = scriptOf(props);
    if (name) {
      const env = known(() => props.environment) as Props | undefined;
      if (env !== undefined && isUnset(() => env[name]))
        yield `the ${role} command's ssh gets no pinned host key (environment ${name} unset or empty): it would accept any host key.`;
    }
    if (role === "host-bootstrap") {
      // Its runner keeps an unchecked branch for an unpinned key; the pinned branch must be there.
      if (text && !/StrictHostKeyChecking=yes/.test(text))
        yield "the bootstrap runner has no strict host-key branch (StrictHostKeyChecking=yes with LG_KNOWN_HOSTS).";
    } else if (UNCHECKED_SSH.test(text)) {
      yield `a ${role ?? "unmarked"} command runs ssh with host-key checking off (${UNCHECKED_SSH.exec(text)![0]}).`;
    }
  },
);

/** Absent or empty (a value unknown at preview comes from another resource: set). */
function isUnset(read: () => unknown): boolean {
  let touchedUnknown = true;
  const v = known(() => {
    const x = read();
    touchedUnknown = false;
    return x;
  });
  return !touchedUnknown && (v === undefined || v === null || (typeof v === "string" && v.trim() === ""));
}

/**
 * The docker provider's ssh options it can vouch for, as `-o` keys (OpenSSH ssh_config names,
 * lower case); anything else (ProxyCommand, KnownHostsCommand, GlobalKnownHostsFile, `-F`, `-J`,
 * …) can bring in another host-key source and is refused.
 */
const PROVIDER_SSH_OPTIONS = new Set([
  "identitiesonly",
  "userknownhostsfile",
  "stricthostkeychecking",
  "connecttimeout",
  "serveraliveinterval",
  "serveralivecountmax",
  "batchmode",
  "loglevel",
]);

/** Problems of a docker provider's `sshOpts` (argv words) for host-key checking. */
export function providerSshOptsProblems(words: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Map<string, string>();
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === "-i") {
      i++;
      continue;
    }
    const inline = /^-o(.+)$/.exec(w);
    const opt = inline ? inline[1]! : w === "-o" ? words[++i] : undefined;
    if (opt === undefined) {
      out.push(
        `ssh argument "${w}" is not one this policy can vouch for (only -i and -o ${[...PROVIDER_SSH_OPTIONS].join("|")})`,
      );
      continue;
    }
    const m = /^\s*([A-Za-z]+)\s*(?:=|\s)\s*(.*?)\s*$/.exec(opt);
    const key = m?.[1]?.toLowerCase();
    if (!m || !key || !PROVIDER_SSH_OPTIONS.has(key)) {
      out.push(
        `ssh option "${opt}" can change how the host key is checked; only ${[...PROVIDER_SSH_OPTIONS].join(", ")} are allowed`,
      );
      continue;
    }
    // OpenSSH keeps the first value given for an option.
    if (!seen.has(key)) seen.set(key, m[2]!.replace(/^["']|["']$/g, ""));
  }
  const strict = seen.get("stricthostkeychecking")?.toLowerCase();
  if (strict !== "yes")
    out.push(
      `StrictHostKeyChecking=${strict ?? "ask (unset)"}; set it to yes against a known_hosts file holding the pinned host key`,
    );
  const file = seen.get("userknownhostsfile");
  if (!file || file === "/dev/null" || /\s/.test(file))
    out.push(
      `UserKnownHostsFile=${file ?? "(unset: the operator's ~/.ssh/known_hosts)"}; give exactly the stack's known_hosts (.launchgate/<stack>/known_hosts)`,
    );
  return out;
}

export const dockerProviderHostKey = stackPolicy(
  {
    name: "docker-provider-host-key",
    description:
      "Checks whether the docker provider's ssh:// transport checks the host key: `StrictHostKeyChecking=yes` against a known_hosts file (the stack's, holding the pinned key), never /dev/null or the operator's ~/.ssh.",
    protectsAgainst:
      "the Docker engine API (root-equivalent) driven through a connection to whoever answers on the VPS's address",
    benchmark: "RFC 4251 §4.1; OpenSSH ssh_config StrictHostKeyChecking, UserKnownHostsFile",
    fix: "keep the provider's sshOpts from stacks/compose.ts (UserKnownHostsFile=.launchgate/<stack>/known_hosts, StrictHostKeyChecking=yes)",
  },
  function* (args) {
    for (const r of args.resources.filter((x) => x.type === DOCKER_PROVIDER)) {
      const host = known(() => r.props.host);
      if (typeof host !== "string" || !/^ssh:\/\//i.test(host)) continue;
      // Provider config arrives JSON-encoded (`["-o", "…"]`) or as a list, by engine version.
      const raw = known(() => r.props.sshOpts);
      let words: string[];
      try {
        words = typeof raw === "string" ? (JSON.parse(raw) as string[]) : [...strings(raw)];
      } catch {
        words = [String(raw)];
      }
      for (const p of providerSshOptsProblems(words))
        yield [`docker provider ${r.name} reaches ${host}: ${p}.`, r];
    }
  },
);

/**
 * Addresses a source range admits, as a power of two: `0.0.0.0/0` and `any` → 32 (IPv4) or 128
 * (IPv6 `::/0`), a /24 → 8, a bare address → 0; undefined when `source` is not a range.
 */
function sourceWidthBits(source: string): { bits: number; v6: boolean } | undefined {
  if (source === "any") return { bits: 32, v6: false };
  const m = /^([0-9a-fA-F.:]+)(?:\/(\d{1,3}))?$/.exec(source);
  if (!m) return undefined;
  const v6 = m[1]!.includes(":");
  const max = v6 ? 128 : 32;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  return prefix > max ? undefined : { bits: max - prefix, v6 };
}

/** `ufw allow` rules in `text` for TCP port `port` (any `from`; none given means anywhere). */
function* ufwSshSources(text: string, ports: ReadonlySet<string>): Generator<string> {
  for (const m of text.matchAll(
    /ufw\s+allow\s+(?:in\s+)?(?:on\s+\S+\s+)?(?:proto\s+\w+\s+)?(?:from\s+(\S+)\s+)?(?:to\s+\S+\s+)?(?:port\s+)?(\d+)(?:\/tcp)?\b/g,
  ))
    if (ports.has(m[2]!)) yield m[1] ?? "any";
}

export const sshSourceRestricted = typedPolicy(
  {
    name: "ssh-source-restricted",
    description:
      "Checks whether SSH is admitted only from narrow source ranges: the firewall step's LG_SSH_ALLOW_FROM (launchgate:host.sshAllowFrom) and any `ufw allow` of the SSH port in a host command, each no wider than minPrefixLength (IPv4) / minPrefixLengthV6.",
    protectsAgainst:
      "SSH — the deploy user's root path — reachable from the whole internet (0.0.0.0/0, the schema default) or a range as good as it, so every scanner can probe sshd",
    benchmark:
      "CIS Debian 12 §4.2.x (UFW: allow a service only from the sources that need it); seed 001 §8.1.3 (SSH from the admins' addresses)",
    fix: "set launchgate:host.sshAllowFrom to the admins' ranges; to accept world-open SSH on a stack, add the firewall step to this policy's `exceptions` with the reason (shown in the report)",
    config: {
      minPrefixLength: { type: "number", default: 16 },
      minPrefixLengthV6: { type: "number", default: 48 },
    },
  },
  RemoteCommand,
  function* (props, _args, config) {
    const text = scriptOf(props);
    const env = scriptExports(text);
    const sources =
      roleOfCommand(props) === "host-firewall"
        ? (env.get("LG_SSH_ALLOW_FROM") ?? "").split(/\s+/).filter((s) => s !== "")
        : [];
    const ports = new Set(["22", env.get("LG_SSHD_PORT") ?? "22"]);
    sources.push(...ufwSshSources(text, ports));
    for (const source of new Set(sources)) {
      const width = sourceWidthBits(source);
      const min = width?.v6 ? (config.minPrefixLengthV6 as number) : (config.minPrefixLength as number);
      const max = width?.v6 ? 128 : 32;
      if (!width)
        yield `SSH is admitted from "${source}", which is not an address range; give CIDRs such as 203.0.113.0/24.`;
      else if (max - width.bits < min)
        yield `SSH is admitted from ${source} (2^${width.bits} addresses${width.bits === max ? ": the whole internet" : ""}); admit only ranges of /${min} or narrower (launchgate:host.sshAllowFrom), or record the exception with its reason in the pack config.`;
    }
  },
);

export const hostPolicies = [
  hostHardeningPresent,
  hostStepEffective,
  firewallPorts,
  sshSourceRestricted,
  monitoringInstalled,
  sshHostKeysPinned,
  dockerProviderHostKey,
];
