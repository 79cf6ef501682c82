/**
 * One view of a container's declared runtime, whatever resource declares it, so each CIS Docker
 * Benchmark §5 rule is written once. Reads go through `known()`: a value computed by another
 * resource at preview counts as absent only where absence is the stricter reading.
 */
import {
  CONTAINER_ROLES,
  ContainerRole,
  DATASTORE_LABEL,
  DatastoreEngine,
  ROLE_LABEL,
} from "../../contract/roles";
import { NNP_BY_DAEMON, NNP_BY_DAEMON_LABEL } from "../../contract/placement";
import { known } from "./resources";

export interface PortView {
  readonly internal?: number;
  readonly external?: number;
  readonly ip?: string;
}
export interface HostMountView {
  /** Host path bind-mounted (volumes[].hostPath or mounts[type=bind].source). */
  readonly source: string;
  readonly target: string;
  readonly propagation?: string;
}

export interface ContainerView {
  /** The role marker, or "unmarked" (strictest rules) when absent or not a known role. */
  readonly role: ContainerRole | "unmarked";
  readonly datastore?: DatastoreEngine;
  readonly image?: string;
  readonly user?: string;
  readonly privileged: boolean;
  readonly capAdd: string[];
  readonly capDrop: string[];
  readonly securityOpts: string[];
  readonly readOnly: boolean;
  readonly memory?: number;
  readonly memorySwap?: number;
  readonly cpus?: string;
  readonly cpuShares?: number;
  readonly cpuQuota?: number;
  readonly restart?: string;
  readonly maxRetryCount?: number;
  readonly healthTests: string[];
  readonly ports: PortView[];
  readonly publishAllPorts: boolean;
  readonly networkMode?: string;
  readonly networks: string[];
  readonly pidMode?: string;
  readonly ipcMode?: string;
  readonly usernsMode?: string;
  readonly cgroupnsMode?: string;
  readonly cgroupParent?: string;
  readonly devices: string[];
  readonly deviceCgroupRules: string[];
  readonly deviceRequests: number;
  readonly gpus?: string;
  readonly hostMounts: HostMountView[];
  readonly ulimits: string[];
  readonly groupAdds: string[];
  readonly runtime?: string;
  readonly executable: string[];
  readonly labels: Record<string, string>;
  /** What declares it: a container, or a Swarm service's task template. */
  readonly kind: "container" | "service";
  /** `logDriver` (absent: the daemon's default) and `logOpts`. */
  readonly logDriver?: string;
  readonly logOpts: Record<string, string>;
  /** `attach: true`: the provider waits for the container to exit (a one-shot container). */
  readonly attach: boolean;
  /**
   * `start: false`: created stopped, started by its PIDs-limit command (a one-shot container,
   * contract/pids-limits.ts). Unknown or unset: true (the provider's default).
   */
  readonly startsOnCreate: boolean;
  /** `volumes[].fromContainer`: containers whose every mount this one shares. */
  readonly volumesFrom: string[];
  /** `volumes[].volumeName`: named volumes mounted. */
  readonly namedVolumes: string[];
  /** `sysctls`: kernel parameter → value. */
  readonly sysctls: Record<string, string>;
  /** `tmpfs` mounts: mount point → mount options (Docker mounts them noexec unless `exec` is given). */
  readonly tmpfs: Record<string, string>;
}

type Props = Record<string, unknown>;

function list<T = unknown>(read: () => unknown): T[] {
  const arr = known(read) as unknown[] | undefined;
  if (!Array.isArray(arr)) return [];
  const out: T[] = [];
  for (let i = 0; i < arr.length; i++) {
    const x = known(() => arr[i]);
    if (x !== undefined) out.push(x as T);
  }
  return out;
}
const str = (read: () => unknown): string | undefined => {
  const v = known(read);
  return typeof v === "string" ? v : undefined;
};
const num = (read: () => unknown): number | undefined => {
  const v = known(read);
  return typeof v === "number" ? v : undefined;
};

/** `{label, value}` list → map (values unknown at preview are left out). */
export function labelMap(labels: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list<Props>(() => labels)) {
    const k = str(() => l.label);
    const v = str(() => l.value);
    if (k !== undefined && v !== undefined) out[k] = v;
  }
  return out;
}

export function roleOf(labels: Record<string, string>): ContainerRole | "unmarked" {
  const r = labels[ROLE_LABEL];
  return (CONTAINER_ROLES as readonly string[]).includes(r ?? "") ? (r as ContainerRole) : "unmarked";
}

/** The data-store engine a `launchgate.datastore` label names, if a known one. */
function datastoreOf(labels: Record<string, string>): DatastoreEngine | undefined {
  const engine = labels[DATASTORE_LABEL];
  return ["postgres", "pgbouncer", "redis"].includes(engine ?? "") ? (engine as DatastoreEngine) : undefined;
}

/** `CAP_NET_ADMIN`, `net_admin` → `NET_ADMIN`. */
export function capName(c: string): string {
  return c.toUpperCase().replace(/^CAP_/, "");
}

/** A `mounts[]` entry of type bind as a host mount (containers and service task templates alike). */
function bindMount(m: Props): HostMountView[] {
  if (str(() => m.type) !== "bind") return [];
  const bind = (known(() => m.bindOptions) ?? {}) as Props;
  return [
    {
      source: str(() => m.source) ?? "",
      target: str(() => m.target) ?? "",
      propagation: str(() => bind.propagation),
    },
  ];
}

/** A `docker:index/container:Container`'s props as a view. */
export function viewOfContainer(c: Props): ContainerView {
  const labels = labelMap(c.labels);
  const caps = (known(() => c.capabilities) ?? {}) as Props;
  const health = (known(() => c.healthcheck) ?? {}) as Props;
  const hostMounts: HostMountView[] = [
    ...list<Props>(() => c.volumes).flatMap((v) => {
      const source = str(() => v.hostPath);
      return source ? [{ source, target: str(() => v.containerPath) ?? "" }] : [];
    }),
    ...list<Props>(() => c.mounts).flatMap(bindMount),
  ];
  return {
    role: roleOf(labels),
    datastore: datastoreOf(labels),
    image: str(() => c.image),
    user: str(() => c.user),
    privileged: known(() => c.privileged) === true,
    capAdd: list<string>(() => caps.adds).map(capName),
    capDrop: list<string>(() => caps.drops).map(capName),
    securityOpts: list<string>(() => c.securityOpts),
    readOnly: known(() => c.readOnly) === true,
    memory: num(() => c.memory),
    memorySwap: num(() => c.memorySwap),
    cpus: str(() => c.cpus),
    cpuShares: num(() => c.cpuShares),
    cpuQuota: num(() => c.cpuQuota),
    restart: str(() => c.restart),
    maxRetryCount: num(() => c.maxRetryCount),
    healthTests: list<string>(() => health.tests),
    ports: list<Props>(() => c.ports).map((p) => ({
      internal: num(() => p.internal),
      external: num(() => p.external),
      ip: str(() => p.ip),
    })),
    publishAllPorts: known(() => c.publishAllPorts) === true,
    networkMode: str(() => c.networkMode) ?? hostNetwork(list<Props>(() => c.networksAdvanced)),
    networks: list<Props>(() => c.networksAdvanced).map((n) => str(() => n.name) ?? "(computed)"),
    pidMode: str(() => c.pidMode),
    ipcMode: str(() => c.ipcMode),
    usernsMode: str(() => c.usernsMode),
    cgroupnsMode: str(() => c.cgroupnsMode),
    cgroupParent: str(() => c.cgroupParent),
    devices: list<Props>(() => c.devices).map((d) => str(() => d.hostPath) ?? "(computed)"),
    deviceCgroupRules: list<string>(() => c.deviceCgroupRules),
    deviceRequests: list(() => c.deviceRequests).length,
    gpus: str(() => c.gpus),
    hostMounts,
    ulimits: list<Props>(() => c.ulimits).map((u) => str(() => u.name) ?? "(computed)"),
    groupAdds: list<string>(() => c.groupAdds),
    runtime: str(() => c.runtime),
    executable: [...list<string>(() => c.entrypoints), ...list<string>(() => c.command)],
    labels,
    attach: known(() => c.attach) === true,
    startsOnCreate: known(() => c.start) !== false,
    volumesFrom: list<Props>(() => c.volumes).flatMap((v) => str(() => v.fromContainer) ?? []),
    namedVolumes: list<Props>(() => c.volumes).flatMap((v) => str(() => v.volumeName) ?? []),
    logDriver: str(() => c.logDriver),
    logOpts: stringMap(c.logOpts),
    sysctls: stringMap(c.sysctls),
    tmpfs: stringMap(c.tmpfs),
    kind: "container",
  };
}

/**
 * "host" when a network attachment is Docker's `host` network (by name or id): attaching a
 * container or a Swarm task to it is the host network namespace, as `networkMode: "host"` is.
 */
function hostNetwork(attachments: Props[]): "host" | undefined {
  return attachments.some((n) => str(() => n.name) === "host" || str(() => n.id) === "host")
    ? "host"
    : undefined;
}

/**
 * A task template's `privileges` as the `securityOpts` they amount to: SELinux labelling
 * disabled is `label=disable` (CIS 5.3), the same for a container and a Swarm task.
 */
function privilegeOpts(spec: Props): string[] {
  const priv = (known(() => spec.privileges) ?? {}) as Props;
  const selinux = (known(() => priv.seLinuxContext) ?? {}) as Props;
  return known(() => selinux.disable) === true ? ["label=disable"] : [];
}

/** Swarm restart conditions as the container restart policies they amount to. */
const SWARM_RESTART: Record<string, string> = { any: "always", "on-failure": "on-failure", none: "no" };

/**
 * A `docker:index/service:Service`'s task template as a view, so every container rule reads it
 * unchanged: the task's labels carry the role marker; limits come from `resources.limits` (bytes →
 * MiB, nano-CPUs → CPUs); published ports from `endpointSpec.ports`; no-new-privileges only from
 * the daemon-default marker (Swarm has no per-service field, see contract/placement.ts).
 */
export function viewOfService(s: Props): ContainerView {
  const task = (known(() => s.taskSpec) ?? {}) as Props;
  const spec = (known(() => task.containerSpec) ?? {}) as Props;
  const labels = labelMap(spec.labels);
  const limits = (known(() => ((known(() => task.resources) ?? {}) as Props).limits) ?? {}) as Props;
  const restart = (known(() => task.restartPolicy) ?? {}) as Props;
  const health = (known(() => spec.healthcheck) ?? {}) as Props;
  const endpoint = (known(() => s.endpointSpec) ?? {}) as Props;
  const bytes = num(() => limits.memoryBytes);
  const nano = num(() => limits.nanoCpus);
  const condition = str(() => restart.condition);
  return {
    role: roleOf(labels),
    datastore: datastoreOf(labels),
    image: str(() => spec.image),
    user: str(() => spec.user),
    privileged: false,
    capAdd: list<string>(() => spec.capAdds).map(capName),
    capDrop: list<string>(() => spec.capDrops).map(capName),
    securityOpts: [
      ...(labels[NNP_BY_DAEMON_LABEL] === NNP_BY_DAEMON ? ["no-new-privileges:true"] : []),
      ...privilegeOpts(spec),
    ],
    readOnly: known(() => spec.readOnly) === true,
    memory: bytes !== undefined ? bytes / 1024 ** 2 : undefined,
    cpus: nano !== undefined ? String(nano / 1e9) : undefined,
    // Swarm's default condition is `any`.
    restart: condition === undefined ? "always" : (SWARM_RESTART[condition] ?? condition),
    maxRetryCount: num(() => restart.maxAttempts),
    healthTests: list<string>(() => health.tests),
    ports: list<Props>(() => endpoint.ports).map((p) => ({
      internal: num(() => p.targetPort),
      external: num(() => p.publishedPort),
    })),
    publishAllPorts: false,
    networkMode: hostNetwork(list<Props>(() => task.networksAdvanceds)),
    networks: list<Props>(() => task.networksAdvanceds).map(
      (n) => str(() => n.id) ?? str(() => n.name) ?? "(computed)",
    ),
    devices: [],
    deviceCgroupRules: [],
    deviceRequests: 0,
    hostMounts: list<Props>(() => spec.mounts).flatMap(bindMount),
    ulimits: [],
    groupAdds: list<string>(() => spec.groups),
    runtime: str(() => task.runtime),
    executable: [...list<string>(() => spec.commands), ...list<string>(() => spec.args)],
    labels,
    logDriver: str(() => ((known(() => task.logDriver) ?? {}) as Props).name),
    logOpts: stringMap(((known(() => task.logDriver) ?? {}) as Props).options),
    sysctls: stringMap(spec.sysctl),
    // Swarm tmpfs mounts take size and mode only (no `exec` flag in @pulumi/docker 5.2.0).
    tmpfs: {},
    // A service is never one-shot (no job mode in @pulumi/docker 5.2.0) and has no volumesFrom.
    attach: false,
    startsOnCreate: true,
    volumesFrom: [],
    namedVolumes: list<Props>(() => spec.mounts).flatMap((m) =>
      str(() => m.type) === "volume" ? (str(() => m.source) ?? []) : [],
    ),
    kind: "service",
  };
}

/** The view of a container or a Swarm service, by resource type token. */
export function viewOf(type: string, props: Props): ContainerView {
  return type === "docker:index/service:Service" ? viewOfService(props) : viewOfContainer(props);
}

/** A `{key: value}` input as strings (entries unknown at preview left out). */
function stringMap(value: unknown): Record<string, string> {
  const m = known(() => value);
  if (!m || typeof m !== "object" || Array.isArray(m)) return {};
  const out: Record<string, string> = {};
  for (const k of Object.keys(m)) {
    const v = known(() => (m as Props)[k]);
    if (v !== undefined && v !== null) out[k] = String(v);
  }
  return out;
}

/**
 * The value of a server setting passed as `-c key=value` (or `-ckey=value`, `--key=value`) on a
 * postgres command line; the last one wins, as in postgres. Undefined when not set there.
 */
export function pgSetting(command: readonly string[], key: string): string | undefined {
  let value: string | undefined;
  const text = command.join("\n");
  for (const m of text.matchAll(new RegExp(`(?:-c\\s*|--)${key}\\s*=\\s*'?([^'\\s]*)'?`, "g"))) value = m[1];
  return value?.toLowerCase();
}

/** Shell words of a string (single/double quotes and backslashes as bash reads them; no expansion). */
export function shellWords(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let has = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      cur += text.slice(i + 1, end < 0 ? undefined : end);
      i = end < 0 ? text.length : end;
      has = true;
    } else if (ch === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === "\\" && j + 1 < text.length) j++;
        cur += text[j];
      }
      i = j;
      has = true;
    } else if (ch === "\\" && i + 1 < text.length) {
      cur += text[++i];
      has = true;
    } else if (/\s/.test(ch)) {
      if (has) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}

/** `docker service create` flags that take no value. */
const SERVICE_CREATE_SWITCHES = new Set([
  "--read-only",
  "--detach",
  "-d",
  "--quiet",
  "-q",
  "--init",
  "--no-healthcheck",
  "--no-resolve-image",
  "--tty",
  "-t",
  "--with-registry-auth",
]);

/** `k=v,k2=v2` (a --mount or --publish value) as a map. */
function csvMap(v: string): Record<string, string> {
  return Object.fromEntries(
    v.split(",").map((kv) => {
      const i = kv.indexOf("=");
      return i < 0 ? [kv, "true"] : [kv.slice(0, i), kv.slice(i + 1)];
    }),
  );
}

/**
 * The arguments of `docker service create` (a Swarm job, components/app/workload.ts
 * `jobServiceCreateArgs`) as a view, so every container rule reads a job like a container: user,
 * capabilities, read-only root, limits, mounts, networks, restart, logging, labels (role markers),
 * sysctls, groups, published ports, image and command. A `replicated-job`/`global-job` is waited
 * for to exit (`attach`); no-new-privileges comes from the daemon-default marker, as for services.
 */
export function viewOfServiceCreateArgs(argv: readonly string[]): ContainerView {
  const opts: [string, string][] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const w = argv[i]!;
    if (!w.startsWith("-")) break;
    const eq = w.indexOf("=");
    if (w.startsWith("--") && eq > 0) opts.push([w.slice(0, eq), w.slice(eq + 1)]);
    else if (SERVICE_CREATE_SWITCHES.has(w)) opts.push([w, "true"]);
    else opts.push([w, argv[++i] ?? ""]);
  }
  const all = (...flags: string[]) => opts.filter(([f]) => flags.includes(f)).map(([, v]) => v);
  const last = (...flags: string[]) => all(...flags).pop();
  const labels: Record<string, string> = {};
  for (const l of all("--container-label", "--label", "-l")) {
    const j = l.indexOf("=");
    if (j > 0) labels[l.slice(0, j)] = l.slice(j + 1);
  }
  const mounts = all("--mount").map(csvMap);
  const memory = last("--limit-memory");
  const condition = last("--restart-condition");
  const networks = all("--network");
  const mode = last("--mode");
  const health = last("--health-cmd");
  return {
    role: roleOf(labels),
    datastore: datastoreOf(labels),
    image: argv[i],
    user: last("--user", "-u"),
    privileged: false,
    capAdd: all("--cap-add").map(capName),
    capDrop: all("--cap-drop").map(capName),
    securityOpts: labels[NNP_BY_DAEMON_LABEL] === NNP_BY_DAEMON ? ["no-new-privileges:true"] : [],
    readOnly: all("--read-only").length > 0,
    memory: memory !== undefined && /^\d+$/.test(memory) ? Number(memory) / 1024 ** 2 : undefined,
    cpus: last("--limit-cpu"),
    restart: condition === undefined ? "always" : (SWARM_RESTART[condition] ?? condition),
    maxRetryCount:
      last("--restart-max-attempts") !== undefined ? Number(last("--restart-max-attempts")) : undefined,
    healthTests:
      all("--no-healthcheck").length > 0 ? ["NONE"] : health !== undefined ? ["CMD-SHELL", health] : [],
    ports: all("--publish", "-p").map((p) => {
      const m = p.includes("=")
        ? csvMap(p)
        : { published: p.split(":")[0] ?? "", target: p.split(":")[1] ?? "" };
      return { internal: Number(m.target) || undefined, external: Number(m.published) || undefined };
    }),
    publishAllPorts: false,
    networkMode: networks.includes("host") ? "host" : undefined,
    networks,
    devices: [],
    deviceCgroupRules: [],
    deviceRequests: 0,
    hostMounts: mounts
      .filter((m) => m.type === "bind")
      .map((m) => ({
        source: m.source ?? m.src ?? "",
        target: m.target ?? m.destination ?? m.dst ?? "",
        propagation: m["bind-propagation"],
      })),
    ulimits: all("--ulimit").map((u) => u.split("=")[0]!),
    groupAdds: all("--group"),
    executable: argv.slice(i + 1),
    labels,
    logDriver: last("--log-driver"),
    logOpts: Object.fromEntries(
      all("--log-opt").map((o) => [o.slice(0, Math.max(0, o.indexOf("="))), o.slice(o.indexOf("=") + 1)]),
    ),
    sysctls: Object.fromEntries(
      all("--sysctl").map((o) => [o.slice(0, Math.max(0, o.indexOf("="))), o.slice(o.indexOf("=") + 1)]),
    ),
    tmpfs: Object.fromEntries(
      mounts
        .filter((m) => m.type === "tmpfs")
        .map((m) => [m.destination ?? m.target ?? m.dst ?? "", "noexec"]),
    ),
    attach: mode === "replicated-job" || mode === "global-job",
    startsOnCreate: true,
    volumesFrom: [],
    namedVolumes: mounts
      .filter((m) => (m.type ?? "volume") === "volume")
      .flatMap((m) => m.source ?? m.src ?? []),
    kind: "service",
  };
}
