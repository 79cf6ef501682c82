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
import type { PolicyResource } from "@pulumi/policy";
import { known, strings } from "./lib/resources";
import { REQUIRED_HOST_STEPS, commandRoleOf } from "../contract/roles";
import { stackPolicy, typedPolicies, typedPolicy } from "./lib/rule";

type Props = Record<string, unknown>;

/** A command resource's role from its `triggers` (entries unknown at preview skipped). */
export function roleOfCommand(props: Props): string | undefined {
  return commandRoleOf([...strings(known(() => props.triggers))]);
}

/** The text a step runs: its stdin (HardenedHost steps) and create script. */
function scriptOf(props: Props): string {
  return [...strings(known(() => props.stdin)), ...strings(known(() => props.create))].join("\n");
}

const HOST_ROLES = /^(host-|backup$|drill$|monitoring$|pre-migration-backup$)/;

export const hostHardeningPresent = stackPolicy(
  {
    name: "host-hardening-present",
    description:
      "Checks whether a stack that manages a host runs every required hardening step (sshd, firewall, fail2ban, unattended-upgrades).",
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
    const present = new Set(roles.map(([, role]) => role));
    for (const step of REQUIRED_HOST_STEPS)
      if (!present.has(`host-${step}`))
        yield [
          `the host has no ${step} step (role host-${step}); keep it in HardenedHost.`,
          roles[0]![0] as PolicyResource,
        ];
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
};
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

function* sshdProblems(text: string): Generator<string> {
  const d = sshdDirectives(text);
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
  if (/default\s+allow\s+incoming|set_default\s+incoming\s+allow|ufw\s+disable\b/.test(body))
    yield "firewall step allows incoming traffic by default or disables UFW; keep default deny incoming.";
  if (!/ufw\s+default\s+deny\s+incoming|set_default\s+incoming\s+deny/.test(body))
    yield "firewall step does not set default deny for incoming traffic; run `ufw default deny incoming`.";
  if (!/ufw\s+(--force\s+)?enable\b/.test(body))
    yield "firewall step never enables UFW; run `ufw --force enable`.";
}

/** The lines of an ini section `[name]` in a script (up to the next section or heredoc end). */
function iniSection(text: string, name: string): string | undefined {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.trim() === `[${name}]`);
  if (start < 0) return undefined;
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => /^\s*\[|^[A-Z_]+\s*$/.test(l));
  return (end < 0 ? rest : rest.slice(0, end)).join("\n");
}

function* fail2banProblems(text: string): Generator<string> {
  const jail = iniSection(text, "sshd");
  if (jail === undefined)
    yield "fail2ban step declares no [sshd] jail; keep the sshd jail in components/host/scripts/fail2ban.sh.";
  else if (!/^\s*enabled\s*=\s*true\s*$/m.test(jail) || /^\s*enabled\s*=\s*false\s*$/m.test(jail))
    yield "fail2ban's sshd jail is not enabled; set `enabled = true` in its [sshd] section.";
  const body = text.replace(/^\s*#.*$/gm, "");
  if (
    !/service_up\s+fail2ban|systemctl\s+(enable|start|restart)[^\n]*fail2ban|fail2ban-client\s+(start|reload)/.test(
      body,
    )
  )
    yield "fail2ban step never starts fail2ban; start (and enable) the service.";
}

function* unattendedProblems(text: string): Generator<string> {
  for (const key of ["Update-Package-Lists", "Unattended-Upgrade"]) {
    const m = new RegExp(`APT::Periodic::${key}\\s+"(\\d+)"`).exec(text);
    if (!m || m[1] === "0")
      yield `unattended-upgrades step does not turn APT::Periodic::${key} on; set it to "1".`;
  }
  if (!/Debian-Security|-security/.test(text))
    yield "unattended-upgrades step selects no security origin; include the Debian-Security origin.";
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
};

export const hostStepEffective = typedPolicies(
  {
    name: "host-step-effective",
    description:
      "Checks whether each hardening step's script turns its control on: sshd settings, UFW default-deny and enabled, fail2ban's sshd jail enabled and running, security updates on, the deploy user's sudo least privilege.",
    protectsAgainst:
      "a hardening step that runs but no longer hardens (a setting flipped, a service not started)",
    benchmark:
      "dev-sec ssh-baseline (sshd-*), os-baseline; CIS Debian 12 §4 (UFW), §5.2 (sshd), §5.3 (sudo); seed 001 §8.1",
    fix: "restore the step's script under components/host/scripts/",
  },
  [RemoteCommand, LocalCommand],
  function* (props) {
    const role = roleOfCommand(props);
    const check = role ? EFFECTIVE[role] : undefined;
    const text = scriptOf(props);
    if (check) yield* check(text);
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

export const hostPolicies = [hostHardeningPresent, hostStepEffective, firewallPorts];
