/**
 * Container runtime (CIS Docker Benchmark v1.6 §5): every item decidable from a container's
 * declared inputs, one policy per control family, rules by the container's role marker (an
 * unmarked container gets the strictest rules). Items not decidable from @pulumi/docker 5.2.0's
 * `Container` inputs are listed in ./lib/coverage.ts with the reason.
 */
import * as path from "node:path";
import { Command as LocalCommand } from "@pulumi/command/local/command";
import { Command as RemoteCommand } from "@pulumi/command/remote/command";
import { Container } from "@pulumi/docker/container";
import { Network } from "@pulumi/docker/network";
import { Service } from "@pulumi/docker/service";
import type { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { ContainerView, shellWords, viewOf, viewOfServiceCreateArgs } from "./lib/container-view";
import { scriptExports } from "./host";
import { DIGEST_PINNED } from "./lib/patterns";
import { TYPES, known, stackOfUrn, strings } from "./lib/resources";
import {
  MAX_PIDS_LIMITS,
  PIDS_LIMIT_COMMAND_ROLE,
  PIDS_LIMIT_STARTS_TRIGGER,
  parsePidsLimitCommand,
  parseServicePidsLimitCommand,
  pidsLimitOfTriggers,
} from "../contract/pids-limits";
import { ONE_SHOT_ROLES, commandRoleOf } from "../contract/roles";
import { PolicyMeta, stackPolicy, typedPolicies, typedPolicy } from "./lib/rule";

type Config = Record<string, unknown>;

/**
 * A container policy: `check` yields one message per violation of the view. It applies to
 * containers and to Swarm services' task templates alike (placement `swarm` renders the same spec
 * as a `docker.Service`), each read through its own view.
 */
function containerPolicy(
  meta: PolicyMeta,
  check: (c: ContainerView, config: Config, stack: string) => Iterable<string>,
): ResourceValidationPolicy {
  VIEW_CHECKS.push({ name: meta.name, check, config: configDefaults(meta) });
  return typedPolicies(meta, [Container, Service], (props, args, config) =>
    check(viewOf(args.type, props), config, stackOfUrn(args.urn)),
  );
}

/** Every container rule, by policy name, with its config's defaults: what a Swarm job is held to. */
const VIEW_CHECKS: {
  readonly name: string;
  readonly check: (c: ContainerView, config: Config, stack: string) => Iterable<string>;
  readonly config: Config;
}[] = [];

/** A policy's config with only its schema defaults (`exceptions` empty). */
function configDefaults(meta: PolicyMeta): Config {
  return Object.fromEntries(
    Object.entries(meta.config ?? {}).flatMap(([k, v]) => ("default" in v ? [[k, v.default]] : [])),
  );
}

/**
 * A Swarm job a command runs (components/app/scripts/swarm-job.sh: `docker service create` with
 * the spec's arguments in LG_JOB_ARGS, plus any words written on its `docker service create`
 * line) as a container view; undefined for any other command, or while its text is unknown.
 */
export function swarmJobView(props: Record<string, unknown>): ContainerView | undefined {
  const create = known(() => props.create);
  // Cheap first: every container policy asks this of every remote command.
  if (typeof create !== "string" || !create.includes("LG_JOB_ARGS=")) return undefined;
  const code = create.replace(/^\s*#.*$/gm, "");
  const line = /^\s*docker\s+service\s+create\b(.*)$/m.exec(code);
  const spec = scriptExports(create).get("LG_JOB_ARGS");
  if (!line || spec === undefined) return undefined;
  // Literal options written into the script's own `docker service create` line count too.
  const words = shellWords(line[1]!);
  const literal = words.filter(
    (w, i) =>
      !w.includes("$") &&
      !w.startsWith(">") &&
      !["--detach", "-d", "--quiet", "-q", "--name"].includes(w) &&
      words[i - 1] !== "--name",
  );
  // The per-release options (release label, network, secret files) arrive on stdin
  // (LG_JOB_EXTRA): judged when known; at preview the network counts as given.
  const stdin = known(() => props.stdin);
  const extra =
    typeof stdin === "string"
      ? shellWords(/^LG_JOB_EXTRA=(.*)$/m.exec(stdin)?.[1] ?? "''").flatMap(shellWords)
      : ["--network", "(computed)"];
  return viewOfServiceCreateArgs([...literal, ...extra, ...shellWords(spec)]);
}

/** The image a container or a service's task template runs (read directly: unknown ⇒ can't run). */
function imageOf(type: string, props: Record<string, unknown>): string {
  if (type !== TYPES.service) return (props.image as string | undefined) ?? "";
  const task = props.taskSpec as Record<string, unknown> | undefined;
  const spec = task?.containerSpec as Record<string, unknown> | undefined;
  return (spec?.image as string | undefined) ?? "";
}

/**
 * A one-shot container: a job/migration role **and** declared as one (created stopped, `start:
 * false`, and started by its PIDs-limit command, which waits for its exit; or `attach: true`: the
 * provider waits for it to exit). A long-running container relabelled `job` keeps the
 * long-running rules, so a marker cannot be used to escape the healthcheck and restart rules.
 */
const oneShot = (c: ContainerView) =>
  (ONE_SHOT_ROLES as readonly string[]).includes(c.role) && (c.attach || !c.startsOnCreate);
/** Runs once (whatever its role): one-shot, restart "no", or waited for to exit (`attach`). */
const runsOnce = (c: ContainerView) => oneShot(c) || c.attach || c.restart === "no";
const who = (c: ContainerView) => (c.role === "unmarked" ? "unmarked container" : `${c.role} container`);

export const containerPrivileged = containerPolicy(
  {
    name: "container-privileged",
    description: "Checks whether a container runs privileged.",
    protectsAgainst:
      "a privileged container has every capability and device of the host: an escape is one mount away",
    benchmark: "CIS Docker 1.6 §5.5",
    fix: "remove `privileged: true`",
  },
  function* (c) {
    if (c.privileged) yield "runs privileged; remove `privileged: true` (CIS 5.5).";
  },
);

/** Never added back, whatever the role allow-list says: each is a known container escape. */
const NEVER_ADDED = [
  "ALL",
  "SYS_ADMIN",
  "SYS_MODULE",
  "SYS_PTRACE",
  "SYS_RAWIO",
  "SYS_BOOT",
  "SYS_TIME",
  "NET_ADMIN",
  "DAC_READ_SEARCH",
  "MAC_ADMIN",
  "MAC_OVERRIDE",
  "BPF",
  "PERFMON",
  "SYSLOG",
];

export const DEFAULT_ALLOWED_CAPABILITIES: Record<string, string[]> = {
  app: [],
  datastore: [],
  migration: [],
  // nginx's master binds 80/443 and switches its workers to the nginx user.
  proxy: ["NET_BIND_SERVICE", "SETUID", "SETGID", "CHOWN"],
  // the proxy's `nginx -t` job creates its temp dirs as the nginx user.
  job: ["CHOWN"],
  vps: [],
  unmarked: [],
};

export const containerCapabilities = containerPolicy(
  {
    name: "container-capabilities",
    description:
      "Checks whether a container drops ALL Linux capabilities and adds back only its role's allow-list.",
    protectsAgainst:
      "default capabilities (NET_RAW, DAC_OVERRIDE, SETUID, …) widen what a compromised process can do",
    benchmark: "CIS Docker 1.6 §5.4",
    fix: 'set `capabilities.drops: ["ALL"]`; add back only what `allowedCapabilities[<role>]` lists',
    config: { allowedCapabilities: { type: "object", default: DEFAULT_ALLOWED_CAPABILITIES } },
  },
  function* (c, config) {
    if (!c.capDrop.includes("ALL"))
      yield 'keeps the default capabilities; set `capabilities.drops: ["ALL"]` (CIS 5.4).';
    // A role the allow-list does not name may add nothing.
    const allowed = (config.allowedCapabilities as Record<string, string[]>)[c.role] ?? [];
    const extra = c.capAdd.filter((cap) => NEVER_ADDED.includes(cap) || !allowed.includes(cap));
    if (extra.length > 0)
      yield `${who(c)} adds ${extra.join(", ")}; a ${c.role} may add only ${allowed.join(", ") || "nothing"} (CIS 5.4).`;
  },
);

export const containerNoNewPrivileges = containerPolicy(
  {
    name: "container-no-new-privileges",
    description: "Checks whether a container sets no-new-privileges.",
    protectsAgainst: "setuid binaries in the image letting a process gain privileges after start",
    benchmark: "CIS Docker 1.6 §5.26",
    fix: 'add "no-new-privileges:true" to `securityOpts`',
  },
  function* (c) {
    const opts = c.securityOpts.map((o) => o.replace(/=/, ":").toLowerCase());
    if (
      !opts.some((o) => o === "no-new-privileges" || o === "no-new-privileges:true") ||
      opts.includes("no-new-privileges:false")
    )
      yield 'may gain privileges; add "no-new-privileges:true" to `securityOpts` (CIS 5.26).';
  },
);

export const containerSecurityProfiles = containerPolicy(
  {
    name: "container-security-profiles",
    description:
      "Checks whether a container keeps the seccomp, AppArmor and SELinux confinement the daemon applies.",
    protectsAgainst:
      "an unconfined container reaching every syscall (seccomp) or file (AppArmor/SELinux) the kernel allows",
    benchmark: "CIS Docker 1.6 §5.2, §5.3, §5.22 (profiles the default runc runtime applies)",
    fix: "remove `seccomp=unconfined`, `apparmor=unconfined` and `label=disable` from `securityOpts`; leave `runtime` unset (runc)",
    config: { allowedRuntimes: { type: "array", items: { type: "string" }, default: ["runc", "runsc"] } },
  },
  function* (c, config) {
    // The profiles are the runtime's to apply: another OCI runtime may apply none of them.
    const runtimes = config.allowedRuntimes as string[];
    if (c.runtime !== undefined && c.runtime !== "" && !runtimes.includes(c.runtime))
      yield `runtime "${c.runtime}" is not one that applies the daemon's seccomp/AppArmor profiles (${runtimes.join(", ")}); remove it.`;
    for (const o of c.securityOpts) {
      const [k = "", v = ""] = o.toLowerCase().split(/[=:](.*)/s);
      if (k === "seccomp" && v === "unconfined")
        yield `securityOpts "${o}" disables the default seccomp profile; remove it (CIS 5.22).`;
      if (k === "apparmor" && v === "unconfined")
        yield `securityOpts "${o}" disables AppArmor; remove it (CIS 5.2).`;
      if (k === "label" && v === "disable")
        yield `securityOpts "${o}" disables SELinux labelling; remove it (CIS 5.3).`;
      if (k === "systempaths" && v === "unconfined")
        yield `securityOpts "${o}" unmasks /proc and /sys paths; remove it (CIS 5.22).`;
    }
  },
);

export const containerHostNamespaces = containerPolicy(
  {
    name: "container-host-namespaces",
    description:
      "Checks whether a container shares the host's (or another container's) network, PID, IPC, user or cgroup namespace.",
    protectsAgainst:
      "a container seeing and reaching the host's network stack, processes, shared memory or users",
    benchmark: "CIS Docker 1.6 §5.10, §5.16, §5.17, §5.31",
    fix: "leave `networkMode`, `pidMode`, `ipcMode`, `usernsMode`, `cgroupnsMode` unset (use `networksAdvanced`)",
  },
  function* (c) {
    const shared = (v: string | undefined) => v !== undefined && (v === "host" || v.startsWith("container:"));
    if (shared(c.networkMode))
      yield `networkMode "${c.networkMode}" shares a network namespace; attach it with \`networksAdvanced\` instead (CIS 5.10).`;
    if (shared(c.pidMode)) yield `pidMode "${c.pidMode}" shares a PID namespace; remove it (CIS 5.16).`;
    if (shared(c.ipcMode) || c.ipcMode === "shareable")
      yield `ipcMode "${c.ipcMode}" shares IPC; remove it or use "private" (CIS 5.17).`;
    if (c.usernsMode === "host")
      yield 'usernsMode "host" shares the host user namespace; remove it (CIS 5.31).';
    if (c.cgroupnsMode === "host")
      yield 'cgroupnsMode "host" shares the host cgroup namespace; use "private".';
  },
);

export const containerDefaultBridge = containerPolicy(
  {
    name: "container-default-bridge",
    description: "Checks whether a container uses Docker's default bridge (docker0).",
    protectsAgainst: "every container on docker0 reaching every other one, with egress",
    benchmark: "CIS Docker 1.6 §5.30",
    fix: 'attach the container to a project network with `networksAdvanced` (or `networkMode: "none"`)',
  },
  function* (c) {
    if (c.networkMode === "none") return;
    if (c.networkMode === "bridge" || c.networkMode === "default")
      yield `networkMode "${c.networkMode}" is the default bridge; attach it with \`networksAdvanced\` (CIS 5.30).`;
    else if (c.networkMode === undefined && c.networks.length === 0)
      yield "joins the default bridge (no `networksAdvanced`); attach it to a project network (CIS 5.30).";
  },
);

export const containerDevices = containerPolicy(
  {
    name: "container-devices",
    description: "Checks whether a container gets host devices, device cgroup rules or GPUs.",
    protectsAgainst: "raw access to host block/character devices from inside a container",
    benchmark: "CIS Docker 1.6 §5.18",
    fix: "remove `devices`, `deviceCgroupRules`, `deviceRequests` and `gpus`",
  },
  function* (c) {
    if (c.devices.length > 0)
      yield `exposes host devices ${c.devices.join(", ")}; remove \`devices\` (CIS 5.18).`;
    if (c.deviceCgroupRules.length > 0)
      yield `allows devices by cgroup rule (${c.deviceCgroupRules.join(", ")}); remove \`deviceCgroupRules\` (CIS 5.18).`;
    if (c.gpus) yield `exposes GPUs ("${c.gpus}"); remove \`gpus\` (CIS 5.18).`;
    if (c.deviceRequests > 0) yield "requests devices (deviceRequests); remove them (CIS 5.18).";
  },
);

/** Host paths never mounted into a container (prefix match on a normalised path). */
const SENSITIVE_HOST_PATHS = [
  "/",
  "/boot",
  "/dev",
  "/etc",
  "/lib",
  "/lib64",
  "/proc",
  "/sys",
  "/usr",
  "/bin",
  "/sbin",
  "/root",
  "/home",
  "/var/lib/docker",
  "/var/run",
  "/run",
  "/var/log",
  "/var/lib/containerd",
];
const DOCKER_SOCKET = /(^|\/)(docker|containerd)\.sock$/;

export const containerHostMounts = containerPolicy(
  {
    name: "container-host-mounts",
    description:
      "Checks whether a container bind-mounts the Docker socket or a sensitive host directory, or shares mount propagation.",
    protectsAgainst:
      "a container controlling the Docker daemon (root on the host) or reading/writing host system files",
    benchmark: "CIS Docker 1.6 §5.6, §5.20, §5.32",
    fix: "use named volumes; never mount docker.sock, /, /etc, /proc, /sys, /dev, /var/lib/docker, …",
  },
  function* (c) {
    for (const m of c.hostMounts) {
      // Normalised as the engine resolves it: `//var/run/./docker.sock`, `/srv/../etc` → the real path.
      const p = path.posix.normalize(`/${m.source}`).replace(/\/+$/, "") || "/";
      if (DOCKER_SOCKET.test(p))
        yield `mounts the Docker socket ${m.source}; remove it — it is root on the host (CIS 5.32).`;
      else if (SENSITIVE_HOST_PATHS.some((s) => p === s || (s !== "/" && p.startsWith(`${s}/`))))
        yield `mounts host path ${m.source}; mount a named volume instead (CIS 5.6).`;
      if (m.propagation && /^r?shared$/.test(m.propagation))
        yield `mount ${m.target} uses ${m.propagation} propagation; use private (CIS 5.20).`;
    }
  },
);

export const containerReadOnlyRoot = containerPolicy(
  {
    name: "container-read-only-root",
    description: "Checks whether a container's root filesystem is read-only.",
    protectsAgainst: "an attacker persisting tools or changing binaries inside a running container",
    benchmark: "CIS Docker 1.6 §5.13 (read-only root; writable paths as noexec tmpfs)",
    fix: "set `readOnly: true` with noexec tmpfs for the paths the process writes, or document an exception",
  },
  function* (c) {
    if (!c.readOnly)
      yield "root filesystem is writable; set `readOnly: true` with tmpfs for writable paths (CIS 5.13).";
    // A writable mount that allows exec undoes the read-only root: tools written there can run.
    // Docker mounts tmpfs noexec unless the options say `exec` (the last of exec/noexec wins).
    for (const [target, options] of Object.entries(c.tmpfs)) {
      const flags = options.split(",").map((o) => o.trim());
      if (flags.lastIndexOf("exec") > flags.lastIndexOf("noexec"))
        yield `tmpfs ${target} is writable and executable; mount it "noexec" (CIS 5.13).`;
    }
  },
);

export const containerMemoryLimit = containerPolicy(
  {
    name: "container-memory-limit",
    description: "Checks whether every container has a memory limit and no unlimited swap.",
    protectsAgainst: "one container exhausting the host's memory and taking every service down",
    benchmark: "CIS Docker 1.6 §5.11",
    fix: "set `memory` (MiB) and `memorySwap` equal to it",
  },
  function* (c) {
    if (!(typeof c.memory === "number" && c.memory > 0))
      yield "no memory limit; set `memory` (MiB) from the app's `memoryMb` (CIS 5.11).";
    else if (
      c.memorySwap !== undefined &&
      c.memorySwap !== 0 &&
      (c.memorySwap < 0 || c.memorySwap < c.memory)
    )
      yield `memorySwap ${c.memorySwap} lifts the memory limit; set it equal to \`memory\` (CIS 5.11).`;
  },
);

/** Log drivers that keep `docker logs` working on the host, and how each is bounded. */
const BOUNDED_LOG_DRIVERS: Readonly<Record<string, (opts: Record<string, string>) => boolean>> = {
  // json-file grows without end unless max-size is set (Docker docs: JSON File logging driver).
  "json-file": (o) => /^\d+[kmg]?$/.test(o["max-size"] ?? ""),
  // local rotates by default (20 MB × 5); journald is bounded by journald's own limits.
  local: () => true,
  journald: () => true,
};

export const containerLogging = containerPolicy(
  {
    name: "container-logging",
    description:
      "Checks whether a container logs through a driver `docker logs` can read, with a size bound (json-file max-size, or local).",
    protectsAgainst:
      "a container filling the host's disk with its log, or its log lost (`none`) — the rollout analysis and incident work read `docker logs`",
    benchmark:
      "Docker docs: configure logging drivers (json-file max-size, local); CIS Docker 1.6 §2.13 (logging configured)",
    fix: "keep components/app/hardening.ts LOG_OPTS (json-file, max-size 10m, max-file 5)",
  },
  function* (c) {
    // Unset: the daemon's default driver and log-opts, which the docker host step bounds
    // (host-step-effective checks its daemon.json max-size).
    if (c.logDriver === undefined) return;
    const driver = c.logDriver;
    const bounded = BOUNDED_LOG_DRIVERS[driver];
    if (!bounded)
      yield `log driver "${driver}" ${driver === "none" ? "drops the container's log" : "is not readable with `docker logs` on the host"}; use json-file with max-size (LOG_OPTS) or local.`;
    else if (!bounded(c.logOpts))
      yield `${driver} log has no max-size; set logOpts max-size (e.g. "10m") and max-file (LOG_OPTS).`;
  },
);

/** Namespaced sysctls a role may set (none by default): each widens what the container's kernel view allows. */
export const DEFAULT_ALLOWED_SYSCTLS: Readonly<Record<string, readonly string[]>> = {};

export const containerSysctls = containerPolicy(
  {
    name: "container-sysctls",
    description:
      "Checks whether a container sets kernel parameters (sysctls) outside its role's allow-list (default none).",
    protectsAgainst:
      "a container loosening its kernel view, e.g. `net.ipv4.ip_unprivileged_port_start=0`, `net.ipv4.conf.all.route_localnet=1` or shared-memory limits",
    benchmark: "Docker docs: `--sysctl` (namespaced kernel parameters); CIS Docker 1.6 §5 least privilege",
    fix: "drop `sysctls`, or add the key to the role's allow-list with a reason",
  },
  function* (c) {
    const allowed = DEFAULT_ALLOWED_SYSCTLS[c.role] ?? [];
    const extra = Object.keys(c.sysctls).filter((k) => !allowed.includes(k));
    if (extra.length > 0)
      yield `${who(c)} sets sysctls ${extra.join(", ")}; remove them (no kernel parameter is allowed for this role).`;
  },
);

export const containerCpuLimit = containerPolicy(
  {
    name: "container-cpu-limit",
    description: "Checks whether every container has a CPU limit.",
    protectsAgainst: "one busy container starving the others (and sshd) of CPU",
    benchmark: "CIS Docker 1.6 §5.12",
    fix: 'set `cpus` (e.g. "0.5")',
  },
  function* (c) {
    const cpus = Number(c.cpus);
    if (!(c.cpus !== undefined && cpus > 0) && !((c.cpuQuota ?? 0) > 0) && !((c.cpuShares ?? 0) > 0))
      yield "no CPU limit; set `cpus` (CIS 5.12).";
  },
);

const LONG_RUNNING_RESTARTS = ["unless-stopped", "always", "on-failure"];

export const containerRestartPolicy = containerPolicy(
  {
    name: "container-restart-policy",
    description:
      "Checks whether a container's restart policy fits its role: services restart, one-shot jobs never do, on-failure retries at most 5 times.",
    protectsAgainst:
      'a service that stays down after a crash, a job that loops forever, or a service escaping the healthcheck rule by declaring restart "no"',
    benchmark: "CIS Docker 1.6 §5.15",
    fix: 'services: `restart: "unless-stopped"`; job/migration role: `restart: "no"`',
  },
  function* (c) {
    if (oneShot(c)) {
      if (c.restart !== "no")
        yield `one-shot ${c.role} container restarts (${c.restart ?? "unset"}); set \`restart: "no"\`.`;
      return;
    }
    if ((ONE_SHOT_ROLES as readonly string[]).includes(c.role)) {
      if (!c.restart || !LONG_RUNNING_RESTARTS.includes(c.restart))
        yield `${c.role} container is not declared one-shot (\`start: false\`, started by its PIDs-limit command), so it is a service: restart policy "${c.restart ?? "unset"}"; set \`restart: "unless-stopped"\`.`;
    } else if (!c.restart || !LONG_RUNNING_RESTARTS.includes(c.restart))
      yield `${who(c)} has restart policy "${c.restart ?? "unset"}"; set \`restart: "unless-stopped"\` (only the job and migration roles run once).`;
    else if (c.kind === "service" && (c.restart !== "always" || (c.maxRetryCount ?? 0) > 0))
      yield `service task restarts ${c.restart === "always" ? "on any exit" : `only on ${c.restart}`}${c.maxRetryCount ? ` at most ${c.maxRetryCount} times` : ""}; a Swarm service restarts on any exit without a cap (\`restartPolicy: { condition: "any" }\`, paced by \`delay\`), or it stays down after a crash.`;
    else if (
      c.restart === "on-failure" &&
      !(c.maxRetryCount !== undefined && c.maxRetryCount > 0 && c.maxRetryCount <= 5)
    )
      yield `on-failure restarts ${c.maxRetryCount ?? "without limit"} times; set \`maxRetryCount\` to 5 or less (CIS 5.15).`;
  },
);

/**
 * A healthcheck test that succeeds whatever the service does: `true`/`:`/`exit 0` (CMD or
 * CMD-SHELL), or a shell test ending in `|| true`, `|| exit 0`, `; true`, `; exit 0` with no path
 * that can fail (no `exec`, `exit N`, `false`, errexit) before it.
 */
export function healthcheckCannotFail(tests: readonly string[]): boolean {
  const [kind, ...rest] = tests;
  const k = (kind ?? "").toUpperCase();
  if (k === "CMD") return /^(\/(usr\/)?bin\/)?(true|:)$/.test(rest[0] ?? "") && rest.length === 1;
  if (k !== "CMD-SHELL") return false;
  const sh = rest.join(" ").trim();
  // A path that can fail (an exec'd probe, an `exit N`, `false`, errexit) makes it a real check.
  if (/\bexec\b|\bexit\s+[1-9]|\bfalse\b|\bset\s+-\w*e|\breturn\s+[1-9]/.test(sh)) return false;
  return (
    /^((\/(usr\/)?bin\/)?true|:|exit\s+0)$/.test(sh) ||
    /(\|\||;)\s*((\/(usr\/)?bin\/)?true|:|exit(\s+0)?)\s*$/.test(sh)
  );
}

export const containerHealthcheck = containerPolicy(
  {
    name: "container-healthcheck",
    description:
      "Checks whether every long-running container (any role but job and migration) declares a healthcheck.",
    protectsAgainst: "a broken release replacing a good one, and Docker reporting a hung service as running",
    benchmark: "CIS Docker 1.6 §5.27",
    fix: 'set `healthcheck.tests` (e.g. ["CMD", "curl", "-f", "http://127.0.0.1:<port>/health"])',
  },
  function* (c) {
    if (oneShot(c)) return;
    if (c.healthTests.length === 0 || c.healthTests[0]?.toUpperCase() === "NONE")
      yield `${who(c)} has no healthcheck; set \`healthcheck.tests\` (e.g. ["CMD", "curl", "-f", "http://127.0.0.1:<port>/health"]) (CIS 5.27).`;
    else if (healthcheckCannotFail(c.healthTests))
      yield `${who(c)}'s healthcheck ${JSON.stringify(c.healthTests)} can never fail, so a hung service reports healthy; probe the service itself (CIS 5.27).`;
  },
);

export const containerPorts = containerPolicy(
  {
    name: "container-ports",
    description:
      "Checks whether only the proxy publishes host ports, privileged ports only from the allowed list, bound to a specific address unless public.",
    protectsAgainst:
      "a data store or app reachable from the internet around the proxy (Docker's published ports bypass UFW)",
    benchmark: "CIS Docker 1.6 §5.8, §5.9, §5.14",
    fix: "remove `ports` (apps are reached through the proxy, data stores on the internal network)",
    config: {
      publishRoles: { type: "array", items: { type: "string" }, default: ["proxy", "vps"] },
      publicRoles: { type: "array", items: { type: "string" }, default: ["proxy"] },
      privilegedPorts: { type: "array", items: { type: "number" }, default: [80, 443] },
    },
  },
  function* (c, config) {
    const publish = config.publishRoles as string[];
    const publicRoles = config.publicRoles as string[];
    const privileged = config.privilegedPorts as number[];
    if (c.publishAllPorts) yield "publishes every exposed port; remove `publishAllPorts` (CIS 5.9).";
    if (c.ports.length === 0) return;
    const list = c.ports.map((p) => p.external ?? p.internal).join(", ");
    if (!publish.includes(c.role)) {
      yield `${who(c)} publishes host port(s) ${list}; remove \`ports\` — only ${publish.join("/")} publish (CIS 5.9).`;
      return;
    }
    for (const p of c.ports) {
      const host = p.external ?? p.internal;
      const loopback = p.ip === "127.0.0.1" || p.ip === "::1";
      // Public roles (the proxy) publish only the allowed ports to the world: a relabelled
      // container cannot open another public port by claiming the proxy's marker.
      if (publicRoles.includes(c.role) && !loopback && host !== undefined && !privileged.includes(host))
        yield `${who(c)} publishes port ${host} on every interface; a public role publishes only ${privileged.join(", ")} (bind others to 127.0.0.1) (CIS 5.14).`;
      if (host !== undefined && host < 1024 && !privileged.includes(host))
        yield `publishes privileged host port ${host}; only ${privileged.join(", ")} may be (CIS 5.8).`;
      if ((!p.ip || p.ip === "0.0.0.0" || p.ip === "::") && !publicRoles.includes(c.role))
        yield `host port ${host} listens on every interface; set \`ip\` (e.g. "127.0.0.1") (CIS 5.14).`;
    }
  },
);

export const containerCgroup = containerPolicy(
  {
    name: "container-cgroup",
    description: "Checks whether a container stays in the cgroup Docker creates for it (no `cgroupParent`).",
    protectsAgainst: "a container escaping its resource limits through another cgroup",
    benchmark: "CIS Docker 1.6 §5.25",
    fix: "remove `cgroupParent`",
  },
  function* (c) {
    if (c.cgroupParent)
      yield `cgroupParent "${c.cgroupParent}" moves the container out of its own cgroup; remove it (CIS 5.25).`;
  },
);

export const containerUlimits = containerPolicy(
  {
    name: "container-ulimits",
    description:
      "Checks whether a container overrides the daemon's default ulimits without a documented exception.",
    protectsAgainst: "raised ulimits (open files, processes, memlock) undoing the host's limits",
    benchmark: "CIS Docker 1.6 §5.19",
    fix: "remove `ulimits`, or document the need in `container-ulimits.exceptions`",
  },
  function* (c) {
    if (c.ulimits.length > 0)
      yield `overrides ulimits ${c.ulimits.join(", ")}; remove them or document why in the pack config (CIS 5.19).`;
  },
);

export const containerNoSshd = containerPolicy(
  {
    name: "container-no-sshd",
    description: "Checks whether a container's entrypoint or command runs sshd.",
    protectsAgainst:
      "an SSH server inside a container: another login path that bypasses the host's sshd hardening",
    benchmark: "CIS Docker 1.6 §5.7",
    fix: "use `docker exec` over the host's SSH instead",
  },
  function* (c) {
    if (c.executable.some((w) => /(^|\/)sshd$/.test(w.split(/\s+/)[0] ?? "")))
      yield "runs sshd; remove it — use `docker exec` over the host's SSH (CIS 5.7).";
  },
);

/**
 * Whether a `user` value runs as root: the name, uid 0 however written (`0`, `00`, `000`), or the
 * root group (`10001:0`, `10001:root`) — Docker parses numeric ids as numbers.
 */
export function isRootUser(user: string): boolean {
  return user.split(":").some((id) => id === "root" || (/^\d+$/.test(id) && Number(id) === 0));
}

export const containerNonRoot = containerPolicy(
  {
    name: "container-non-root",
    description: "Checks whether every container runs as a non-root user and joins no root-equivalent group.",
    protectsAgainst:
      "a compromised process being root inside the container, one kernel bug away from root on the host",
    benchmark: "CIS Docker 1.6 §4.1",
    fix: 'set `user` to a non-root uid:gid (e.g. "10001:10001"), or document why in `container-non-root.exceptions`',
  },
  function* (c) {
    if (!c.user || isRootUser(c.user))
      yield `runs as ${c.user ? `"${c.user}"` : "the image's default user"}; set \`user\` to a non-root uid:gid (e.g. "10001:10001"), or document why in container-non-root.exceptions.`;
    const rootish = c.groupAdds.filter(
      (g) =>
        ["root", "docker", "disk", "sudo", "adm", "shadow"].includes(g) ||
        (/^\d+$/.test(g) && Number(g) === 0),
    );
    if (rootish.length > 0) yield `joins group(s) ${rootish.join(", ")}; remove them from \`groupAdds\`.`;
  },
);

export const imagesPinned = typedPolicies(
  {
    name: "images-pinned",
    description:
      "Checks whether container images are pinned by digest outside `local` and never use `:latest` or no tag.",
    protectsAgainst: "a different image than the one staging verified running in production",
    benchmark: "CIS Docker 1.6 §5.28, §4.x (image provenance)",
    fix: "pin as repo@sha256:<digest> (the digest staging verified)",
  },
  [Container, Service],
  // Read directly: an image unknown at preview makes this "can't run" (advisory), as the engine does.
  (props, args) => imageProblems(imageOf(args.type, props), stackOfUrn(args.urn)),
);
VIEW_CHECKS.push({
  name: "images-pinned",
  check: (c, _config, stack) => (c.image === undefined ? [] : imageProblems(c.image, stack)),
  config: {},
});

/** What is wrong with how `image` is pinned on `stack`. */
function* imageProblems(image: string, stack: string): Generator<string> {
  {
    const lastPart = image.split("/").pop() ?? image;
    if (/:latest(@|$)/.test(image) || (!lastPart.includes(":") && !lastPart.includes("@"))) {
      yield `image "${image}" floats (:latest or no tag); pin it as repo@sha256:<digest>.`;
    } else if (stack !== "local" && !DIGEST_PINNED.test(image) && !/^sha256:[a-f0-9]{64}$/.test(image)) {
      yield `image "${image}" is pinned by tag only; on ${stack} use repo@sha256:<digest> (the digest staging verified).`;
    }
  }
}

export const swarmJobsHardened = typedPolicy(
  {
    name: "swarm-jobs-hardened",
    description:
      "Checks whether a Swarm job a command runs (the migration's `docker service create` on a manager) passes every container rule — capabilities, no-new-privileges, namespaces, mounts, read-only root, limits, restart, logging, sysctls, user, image pin — read from its arguments; each message names the rule.",
    protectsAgainst:
      "a one-shot job (it runs the app image's code against the database) escaping the container rules because it is a command, not a container or service resource",
    benchmark: "CIS Docker 1.6 §5 (as for containers); Docker `service create` (replicated-job)",
    fix: 'keep the job\'s spec from hardened({ kind: "job" }) (components/app/AppService.ts, jobServiceCreateArgs); the rule named in the message says what to restore',
  },
  RemoteCommand,
  function* (props, args) {
    const job = swarmJobView(props);
    if (!job) return;
    const stack = stackOfUrn(args.urn);
    for (const v of VIEW_CHECKS) for (const m of v.check(job, v.config, stack)) yield `${v.name}: ${m}`;
  },
);

export const vpsLocalOnly = containerPolicy(
  {
    name: "vps-local-only",
    description: "Checks whether the disposable VPS container (role vps) exists only on the local stack.",
    protectsAgainst: "the local stack's broad-capability VPS container deployed to a real host",
    benchmark: "launchgate DESIGN §1 (local stack)",
    fix: "the LocalVps component belongs to the local stack only",
  },
  function* (c, _config, stack) {
    if (c.role === "vps" && stack !== "local")
      yield `a vps container on ${stack}; LocalVps is for the local stack only.`;
  },
);

export const datastoresInternalOnly: StackValidationPolicy = stackPolicy(
  {
    name: "datastores-internal-only",
    description:
      "Checks whether data-store containers and Swarm services join only docker networks created with `internal: true`.",
    protectsAgainst: "a data store with egress or reachable from the proxy's network",
    benchmark: "seed 001 (data stores private); CIS Docker 1.6 §5.9",
    fix: "attach data stores only to the internal network",
  },
  function* (args) {
    const networks = args.resources.filter((r) => r.type === TYPES.network);
    const isInternal = (n: PolicyResource) => known(() => n.props.internal) === true;
    const internal = new Set(networks.filter(isInternal).map((r) => known(() => r.props.name) as string));
    for (const r of args.resources.filter((x) => x.isType(Container) || x.isType(Service))) {
      const c = viewOf(r.type, r.props);
      if (c.role !== "datastore") continue;
      const what = `${c.datastore ?? "data store"} ${c.kind} ${r.name}`;
      if (c.kind === "service") {
        // A service joins networks by id, unknown until they exist: the networks its task
        // template depends on are the ones it joins.
        const joined = (r.propertyDependencies?.taskSpec ?? []).filter((d) => d.type === TYPES.network);
        const outside = joined.filter((n) => !isInternal(n)).map((n) => n.name);
        if (outside.length > 0 || c.networks.length === 0)
          yield [
            `${what} joins ${outside.join(", ") || "no network"}; attach it only to the internal network.`,
            r,
          ];
        continue;
      }
      const outside = c.networks.filter((n) => !internal.has(n));
      if (c.networkMode && c.networkMode !== "none" && !internal.has(c.networkMode))
        outside.push(c.networkMode);
      if (outside.length > 0 || c.networks.length === 0)
        yield [
          `${c.datastore ?? "data store"} container ${r.name} joins ${outside.join(", ") || "the default bridge"}; attach it only to the internal network.`,
          r,
        ];
    }
  },
);

export const containerPidsLimit: StackValidationPolicy = stackPolicy(
  {
    name: "container-pids-limit",
    description:
      'Checks whether every container and Swarm service gets a PIDs cgroup limit (a `docker update --pids-limit` / `docker service update --limit-pids` command that depends on it, as @pulumi/docker 5.2.0 has no `pidsLimit`), above 0 and at most its role\'s ceiling, and whether a container that runs once (job, migration, restart "no") gets it before it starts: created `start: false` and started by that command.',
    protectsAgainst:
      "a fork bomb or thread leak in one container (a long-running one, or a migration job running an image's code) exhausting the host's process table and taking every service (and sshd) down",
    benchmark: "CIS Docker 1.6 §5.29",
    fix: 'give the container or service a PIDs limit with `limitPids` (components/app/pids-limit.ts) from `launchgate:pidsLimits`; a one-shot container: `hardened({ kind: "job" })` (created stopped) and `startOneShot`',
    config: { maxPidsLimits: { type: "object", default: { ...MAX_PIDS_LIMITS } } },
  },
  function* (args, config) {
    const ceilings = config.maxPidsLimits as Record<string, number>;
    type R = (typeof args.resources)[number];
    const workload = (x: R) => x.isType(Container) || x.isType(Service);
    // Container or service → the limits stated by the PIDs-limit commands that depend on it, and
    // whether each command starts it (stated in its triggers; its text must agree once known).
    const limits = new Map<R, { limit: number; starts: boolean }[]>();
    for (const r of args.resources.filter((x) => x.isType(RemoteCommand) || x.isType(LocalCommand))) {
      const triggers = [...strings(known(() => r.props.triggers))];
      if (commandRoleOf(triggers) !== PIDS_LIMIT_COMMAND_ROLE) continue;
      const stated = pidsLimitOfTriggers(triggers) ?? "";
      const starts = triggers.includes(PIDS_LIMIT_STARTS_TRIGGER);
      // Its target: the one its command text and triggers are computed from (the container's or
      // service's name and id), not any resource it merely waits for.
      const fromProps = new Set(
        [...(r.propertyDependencies.create ?? []), ...(r.propertyDependencies.triggers ?? [])].filter(
          workload,
        ),
      );
      const target = fromProps.size === 1 ? [...fromProps][0] : undefined;
      const create = known(() => r.props.create); // computed at preview with the target's name
      const text = typeof create === "string" ? create : undefined;
      const viaService =
        text !== undefined && target?.isType(Service) ? parseServicePidsLimitCommand(text) : undefined;
      const viaContainer =
        text !== undefined && !target?.isType(Service) ? parsePidsLimitCommand(text) : undefined;
      const parsed = viaService
        ? { limit: viaService.limit, name: viaService.service, starts: false }
        : viaContainer && {
            limit: viaContainer.limit,
            name: viaContainer.container,
            starts: viaContainer.start !== undefined,
          };
      const name = target ? known(() => target.props.name) : undefined;
      if (
        !/^-?\d+$/.test(stated) ||
        !target ||
        (typeof create === "string" &&
          (!parsed ||
            String(parsed.limit) !== stated ||
            parsed.starts !== starts ||
            (typeof name === "string" && parsed.name !== name)))
      ) {
        yield [
          `pids-limit command ${r.name} is not \`limitPids\`'s or \`startOneShot\`'s (a stated limit, \`docker update --pids-limit <n> -- <container>\` with its check — and, for a one-shot stated as started, then \`docker start --attach\` under a timeout — or \`docker service update --detach=false --limit-pids <n> -- <service>\` with its check, after its target); declare it with \`limitPids\` or \`startOneShot\`.`,
          r,
        ];
        continue;
      }
      limits.set(target, [...(limits.get(target) ?? []), { limit: Number(stated), starts }]);
    }
    for (const r of args.resources.filter(workload)) {
      const c = viewOf(r.type, r.props);
      const ceiling = ceilings[c.role] ?? ceilings.unmarked ?? MAX_PIDS_LIMITS.unmarked;
      const what = r.isType(Service) ? `${c.role} Swarm service` : who(c);
      const mine = limits.get(r) ?? [];
      if (mine.length === 0)
        yield [
          `${what} ${r.name} has no PIDs limit; apply one with \`${runsOnce(c) ? "startOneShot" : "limitPids"}\` (at most ${ceiling} for role ${c.role}) (CIS 5.29).`,
          r,
        ];
      if (r.isType(Container) && runsOnce(c) && c.startsOnCreate)
        yield [
          `${what} ${r.name} runs once and starts when created, before a PIDs limit can reach it; create it stopped (\`start: false\`: \`hardened({ kind: "job" })\`) and start it with \`startOneShot\` (CIS 5.29).`,
          r,
        ];
      else if (r.isType(Container) && !c.startsOnCreate && !runsOnce(c))
        yield [
          `${what} ${r.name} is created stopped (\`start: false\`) but is not a one-shot (restart "${c.restart ?? "unset"}"); only one-shot containers are started by their PIDs-limit command.`,
          r,
        ];
      if (r.isType(Container) && !c.startsOnCreate && mine.length > 0 && !mine.some((m) => m.starts))
        yield [
          `${what} ${r.name} is created stopped (\`start: false\`) and none of its PIDs-limit commands starts it; declare the command with \`startOneShot\`.`,
          r,
        ];
      if (r.isType(Container) && c.startsOnCreate && mine.some((m) => m.starts))
        yield [
          `${what} ${r.name} starts when created, and its PIDs-limit command starts it again (\`docker start --attach\`); use \`limitPids\` for a container that starts on create.`,
          r,
        ];
      for (const { limit } of mine) {
        if (limit <= 0)
          yield [
            `${what} ${r.name} has PIDs limit ${limit}, which is unlimited; set 1–${ceiling} (CIS 5.29).`,
            r,
          ];
        else if (limit > ceiling)
          yield [
            `${what} ${r.name} has PIDs limit ${limit}, above the ${ceiling} allowed for role ${c.role}; lower it (CIS 5.29).`,
            r,
          ];
      }
    }
  },
);

/** Stacks whose overlays must be encrypted (default of `encrypted-overlays`' `stacks`). */
export const ENCRYPTED_OVERLAY_STACKS = ["staging", "production"];

export const overlaysEncrypted = typedPolicy(
  {
    name: "encrypted-overlays",
    description:
      "Checks whether Swarm overlay networks encrypt traffic between nodes on staging and production.",
    protectsAgainst:
      "app, database and Redis traffic (passwords included) crossing the provider's network between nodes in clear VXLAN",
    benchmark:
      "Docker docs: overlay network encryption (IPsec ESP, `--opt encrypted`); seed 002 network isolation",
    fix: 'set `options: { encrypted: "true" }` on every overlay network (components/network/Network.ts)',
    config: {
      stacks: { type: "array", items: { type: "string" }, default: ENCRYPTED_OVERLAY_STACKS },
    },
  },
  Network,
  function* (props, args, config) {
    const stack = stackOfUrn(args.urn);
    if (!(config.stacks as string[]).includes(stack) || props.driver !== "overlay") return;
    const options = (props.options ?? {}) as Record<string, unknown>;
    if (!["true", ""].includes(String(options.encrypted ?? "false")))
      yield `overlay network ${String(props.name ?? args.name)} is not encrypted on ${stack}; set \`options: { encrypted: "true" }\`.`;
  },
);

export const containerPolicies = [
  containerPrivileged,
  containerCapabilities,
  containerNoNewPrivileges,
  containerSecurityProfiles,
  containerHostNamespaces,
  containerDefaultBridge,
  containerDevices,
  containerHostMounts,
  containerReadOnlyRoot,
  containerMemoryLimit,
  containerCpuLimit,
  containerRestartPolicy,
  containerHealthcheck,
  containerPorts,
  containerCgroup,
  containerUlimits,
  containerLogging,
  containerSysctls,
  containerNoSshd,
  containerNonRoot,
  imagesPinned,
  vpsLocalOnly,
  datastoresInternalOnly,
  containerPidsLimit,
  overlaysEncrypted,
  swarmJobsHardened,
];
