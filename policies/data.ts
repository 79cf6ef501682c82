/**
 * Data safety (seeds 001/003): the data outlives containers and `pulumi destroy`, backups and
 * their timers exist whenever Postgres does, the restore drill is its own scheduled resource,
 * app database roles hold no cluster-wide privilege, Redis keeps queue data, migrations run after
 * a fresh backup, and no command's delete undoes its own replacement.
 */
import * as path from "node:path";
import { Container } from "@pulumi/docker/container";
import { Service } from "@pulumi/docker/service";
import { Volume } from "@pulumi/docker/volume";
import { Command as LocalCommand } from "@pulumi/command/local/command";
import { Command as RemoteCommand } from "@pulumi/command/remote/command";
import { Database } from "@pulumi/postgresql/database";
import { Grant } from "@pulumi/postgresql/grant";
import { GrantRole } from "@pulumi/postgresql/grantRole";
import { Role } from "@pulumi/postgresql/role";
import type { PolicyResource } from "@pulumi/policy";
import { labelMap, pgSetting, viewOf, viewOfContainer } from "./lib/container-view";
import { DATA_VOLUMES_PROTECTED_CONFIG } from "./lib/data-volumes";
import { known, strings } from "./lib/resources";

/** The known entries of a list input (entries unknown at preview left out). */
function list(read: () => unknown): unknown[] {
  const arr = known(read);
  return Array.isArray(arr) ? arr.flatMap((_, i) => known(() => arr[i]) ?? []) : [];
}
import { DELETE_SCOPE_TRIGGER } from "../contract/roles";
import { NODE_NAME_LABEL, pinnedNodeOf } from "../contract/placement";
import { PIDS_LIMIT_STARTS_TRIGGER } from "../contract/pids-limits";
import { GATE_RESOURCE_NAME, manifestOf } from "../contract/manifest";
import { DOCKER_PROVIDER, installedFiles, roleOfCommand, scriptExports } from "./host";
import { stackPolicy, typedPolicies, typedPolicy } from "./lib/rule";

/** Label the data components put on volumes holding data (`launchgate.data=postgres|redis-<role>|…`). */
export const DATA_LABEL = "launchgate.data";

export const dataVolumesProtected = stackPolicy(
  {
    name: "data-volumes-protected",
    description:
      "Checks whether docker volumes holding data (labelled launchgate.data, or mounted by a data store) are protected against deletion and kept on disk (not tmpfs, not shadowed by a tmpfs mount).",
    protectsAgainst: "`pulumi destroy` or a replacement deleting the database's or queue's only copy",
    benchmark: "seed 001 (data outlives containers); Pulumi `protect`",
    fix: "create the volume with { protect: true, retainOnDelete: true }",
    config: DATA_VOLUMES_PROTECTED_CONFIG,
  },
  function* (args, config) {
    const regenerable = config.regenerableKinds as string[];
    const mountedByStore = new Set<string>();
    for (const r of args.resources.filter((x) => x.isType(Container))) {
      if (viewOfContainer(r.props).role !== "datastore") continue;
      for (const v of [...((known(() => r.props.volumes) as Record<string, unknown>[] | undefined) ?? [])])
        mountedByStore.add(String(known(() => v.volumeName) ?? ""));
    }
    const memoryBacked = (opts: Record<string, unknown>) =>
      Object.entries(opts).some(
        ([k, x]) => ["type", "device"].includes(k) && /^(tmpfs|ramfs)$/i.test(String(known(() => x) ?? "")),
      );
    for (const v of args.resources.filter((x) => x.isType(Volume))) {
      const kind = labelMap(v.props.labels)[DATA_LABEL];
      const name = known(() => v.props.name) as string | undefined;
      const holdsData = kind !== undefined ? !regenerable.includes(kind) : mountedByStore.has(name ?? "");
      if (holdsData && !v.opts.protect)
        yield [
          `volume ${v.name} holds ${kind ?? "data-store data"} but is not protected; create it with { protect: true, retainOnDelete: true }.`,
          v,
        ];
      // A volume backed by memory loses its data on every host restart, protected or not.
      const driverOpts = (known(() => v.props.driverOpts) ?? {}) as Record<string, unknown>;
      if (holdsData && memoryBacked(driverOpts))
        yield [
          `volume ${v.name} holds ${kind ?? "data-store data"} in memory (tmpfs); use the local disk driver.`,
          v,
        ];
    }
    // A tmpfs mounted over a data store's volume hides it: the data goes to memory.
    for (const r of args.resources.filter((x) => x.isType(Container))) {
      const c = viewOfContainer(r.props);
      if (c.role !== "datastore" && c.datastore === undefined) continue;
      const dataPaths = list(() => r.props.volumes).flatMap((v) =>
        known(() => (v as Record<string, unknown>).volumeName) !== undefined
          ? [String(known(() => (v as Record<string, unknown>).containerPath) ?? "")]
          : [],
      );
      for (const target of Object.keys(c.tmpfs))
        if (
          dataPaths.some((d) => d !== "" && (target === d || d.startsWith(`${target.replace(/\/$/, "")}/`)))
        )
          yield [
            `${r.name} mounts a tmpfs over its data directory ${target}; its data would live in memory.`,
            r,
          ];
    }
  },
);

/**
 * The volume mounts of a Swarm service's task template: `[source, target]` of each `type: volume`
 * mount whose source is known.
 */
function serviceVolumeMounts(props: Record<string, unknown>): [string, string][] {
  const spec = known(
    () => (known(() => props.taskSpec) as Record<string, unknown> | undefined)?.containerSpec,
  );
  const mounts = list(() => (spec as Record<string, unknown> | undefined)?.mounts) as Record<
    string,
    unknown
  >[];
  return mounts.flatMap((m) => {
    const type = known(() => m.type);
    const source = known(() => m.source);
    return type === "volume" && typeof source === "string" && source !== ""
      ? [[source, String(known(() => m.target) ?? "")] as [string, string]]
      : [];
  });
}

export const swarmVolumesOnPinnedNode = stackPolicy(
  {
    name: "swarm-volumes-on-pinned-node",
    description:
      "Checks whether every named volume a Swarm service mounts is declared (docker.Volume, protected) on the one node the service's placement pins it to: the service has exactly one `node.labels.launchgate.node == <node>` constraint and the volume of that name carries `launchgate.node=<node>` and is declared through a docker provider whose ssh:// host is that node's address (the connection of the member's own firewall command, marked launchgate.node=<node>).",
    protectsAgainst:
      "a data store's task starting on a node where its volume was never declared: Swarm creates an empty, unlabelled, unprotected local volume there, the database starts empty beside the real data, and `pulumi destroy` or a node change loses it",
    benchmark:
      "Docker docs: Swarm services, named volumes are local to the node a task runs on; seed 002 (Postgres and Redis pinned to the nodes holding their volumes)",
    fix: "pin the service with components/data/volume.ts `pinnedTo` and declare its volume with `declareDataVolume` on the same DataNode",
  },
  function* (args) {
    const volumes = args.resources.filter((x) => x.isType(Volume));
    // Each member's SSH address, from the command run over its own connection and named by it
    // (SwarmCluster's firewall, marked launchgate.node=<name>).
    const members = new Map<string, { host: string; port: number }>();
    for (const c of args.resources.filter((x) => x.isType(RemoteCommand))) {
      if (roleOfCommand(c.props) !== "host-swarm-firewall") continue;
      const marker = [...strings(known(() => c.props.triggers))].find((t) =>
        t.startsWith(`${NODE_NAME_LABEL}=`),
      );
      const conn = known(() => c.props.connection) as Record<string, unknown> | undefined;
      const host = known(() => conn?.host);
      if (marker && typeof host === "string")
        members.set(marker.slice(NODE_NAME_LABEL.length + 1), {
          host,
          port: Number(known(() => conn?.port) ?? 22),
        });
    }
    for (const svc of args.resources.filter((x) => x.isType(Service))) {
      const mounts = serviceVolumeMounts(svc.props);
      if (mounts.length === 0) continue;
      const task = known(() => svc.props.taskSpec) as Record<string, unknown> | undefined;
      const placement = known(() => task?.placement) as Record<string, unknown> | undefined;
      const constraints = list(() => placement?.constraints).map(String);
      const node = pinnedNodeOf(constraints);
      const what = `service ${String(known(() => svc.props.name) ?? svc.name)}`;
      if (node === undefined) {
        yield [
          `${what} mounts volume ${mounts.map(([v]) => v).join(", ")} but its placement does not pin it to one node (constraints: ${constraints.join("; ") || "none"}); add exactly one \`${NODE_NAME_LABEL}\` constraint for the node holding the volume.`,
          svc,
        ];
        continue;
      }
      for (const [source, target] of mounts) {
        const declared = volumes.filter((v) => known(() => v.props.name) === source);
        const here = declared.filter((v) => labelMap(v.props.labels)[NODE_NAME_LABEL] === node);
        if (here.length === 0) {
          const elsewhere = declared.map(
            (v) => labelMap(v.props.labels)[NODE_NAME_LABEL] ?? "the managing engine",
          );
          yield [
            `${what} is pinned to ${node} and mounts volume ${source} at ${target}, but ${
              declared.length
                ? `that volume is declared on ${elsewhere.join(", ")}`
                : "no volume of that name is declared"
            }; Swarm would create an undeclared, unprotected one on ${node}. Declare it through ${node}'s docker provider, labelled ${NODE_NAME_LABEL}=${node}.`,
            svc,
          ];
          continue;
        }
        for (const v of here) {
          // The engine the volume is declared on: its docker provider's ssh:// host (as the engine
          // sends it), against the member named `node`.
          const member = members.get(node);
          const providerHost =
            v.provider?.type === DOCKER_PROVIDER ? known(() => v.provider!.props.host) : undefined;
          if (member && typeof providerHost === "string") {
            const m = /^ssh:\/\/(?:[^@/]+@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?/i.exec(providerHost);
            const reached = m ? { host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2] ?? 22) } : undefined;
            if (!reached || reached.host !== member.host || reached.port !== member.port)
              yield [
                `volume ${source} is labelled ${NODE_NAME_LABEL}=${node} but declared through docker provider ${v.provider!.name}, which reaches ${providerHost}, not ${node} (${member.host}:${member.port}); Swarm would create an undeclared, unprotected one on ${node}. Declare it through ${node}'s docker provider.`,
                v,
              ];
          }
          if (!v.opts.protect)
            yield [
              `volume ${source} on ${node}, mounted by ${what}, is not protected; create it with { protect: true, retainOnDelete: true }.`,
              v,
            ];
        }
      }
    }
  },
);

export const databasesProtected = typedPolicy(
  {
    name: "databases-protected",
    description: "Checks whether Postgres databases are protected against deletion.",
    protectsAgainst: "a rename or replacement dropping the production database",
    benchmark: "seed 001; Pulumi `protect`",
    fix: "create it with { protect: true, retainOnDelete: true }",
  },
  Database,
  function* (props, args) {
    if (!args.opts.protect)
      yield `database ${(known(() => props.name) as string | undefined) ?? args.name} is not protected; create it with { protect: true, retainOnDelete: true }.`;
  },
);

/** Role attributes an application role must not have (@pulumi/postgresql Role input → SQL name). */
const CLUSTER_PRIVILEGES: [string, string][] = [
  ["superuser", "SUPERUSER"],
  ["createDatabase", "CREATEDB"],
  ["createRole", "CREATEROLE"],
  ["replication", "REPLICATION"],
  ["bypassRowLevelSecurity", "BYPASSRLS"],
];

/**
 * Roles whose membership carries cluster-wide power (PostgreSQL 16 "Predefined Roles"; the
 * bootstrap superuser the Postgres component logs in as): a member can `SET ROLE` to them, so
 * being one is having their privileges (file and program access, every table, signalling
 * backends).
 */
export const PRIVILEGED_ROLES = [
  "postgres",
  "pg_execute_server_program",
  "pg_read_server_files",
  "pg_write_server_files",
  "pg_read_all_data",
  "pg_write_all_data",
  "pg_signal_backend",
  "pg_checkpoint",
  "pg_create_subscription",
  "pg_use_reserved_connections",
  "pg_maintain",
];

export const databaseRolesLeastPrivilege = typedPolicies(
  {
    name: "database-roles-least-privilege",
    description:
      "Checks whether every Postgres role the program manages is an app role without SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS, and whether any role is made a member of the superuser or a predefined role with cluster-wide power (Role.roles, GrantRole).",
    protectsAgainst:
      "a compromised app (SQL injection) owning the whole cluster: other databases, roles, replication, row-level security, server files and programs",
    benchmark:
      "CIS PostgreSQL 16 §4.x (least privilege roles); PostgreSQL 16 §22.5 predefined roles; seed 001",
    fix: "set superuser, createDatabase, createRole, replication, bypassRowLevelSecurity to false; grant app roles no membership in postgres or pg_* roles",
  },
  [Role, GrantRole],
  function* (props, args) {
    const name =
      (known(() => props.name) as string | undefined) ??
      (known(() => props.role) as string | undefined) ??
      "";
    if (args.type === "postgresql:index/role:Role") {
      const bad = CLUSTER_PRIVILEGES.filter(([k]) => known(() => props[k]) === true).map(([, sql]) => sql);
      if (bad.length > 0)
        yield `role ${name} has ${bad.join(", ")}; app roles get LOGIN only (set them false).`;
    }
    const memberOf = [
      ...list(() => props.roles).map(String),
      ...[known(() => props.grantRole)].filter((r): r is string => typeof r === "string"),
    ];
    const privileged = memberOf.filter((r) => PRIVILEGED_ROLES.includes(r.toLowerCase()));
    if (privileged.length > 0)
      yield `role ${name} is made a member of ${privileged.join(", ")}, which has cluster-wide power (SET ROLE); app roles get no such membership.`;
  },
);

export const databasePublicRevoked = typedPolicy(
  {
    name: "database-public-revoked",
    description: "Checks whether no managed grant gives the PUBLIC pseudo-role privileges on a database.",
    protectsAgainst:
      "every role on the cluster (other apps, a compromised login) connecting to and creating temporary objects in the app's database",
    benchmark:
      "PostgreSQL docs: REVOKE ... FROM PUBLIC (secure schema usage pattern); CIS PostgreSQL 16 §4.x (least privilege)",
    fix: "keep the Postgres component's revoke-public grant with `privileges: []`",
  },
  Grant,
  function* (props) {
    const role = known(() => props.role);
    if (typeof role !== "string" || role.toLowerCase() !== "public") return;
    const privileges = list(() => props.privileges).map(String);
    if (privileges.length > 0)
      yield `grants ${privileges.join(", ")} on ${(known(() => props.database) as string | undefined) ?? "the database"} to PUBLIC; grant to the app role only (privileges: []).`;
  },
);

/** The value following `flag` in a redis-server command line, or undefined. */
function redisArg(command: readonly string[], flag: string): string | undefined {
  // redis-server keeps the last value of a repeated option: judge that one. Arguments are shell
  // words: '…', "…" (possibly empty) or bare.
  let value: string | undefined;
  const re = new RegExp(`['"]?--${flag}['"]?\\s+(?:'([^']*)'|"([^"]*)"|([^\\s'"]+))`, "g");
  for (const m of command.join(" ").matchAll(re)) value = m[1] ?? m[2] ?? m[3];
  return value;
}

/** Postgres settings that trade durability for speed: setting → the value that loses data. */
const PG_UNSAFE_SETTINGS: Readonly<Record<string, string[]>> = {
  fsync: ["off", "false", "0", "no"],
  full_page_writes: ["off", "false", "0", "no"],
  synchronous_commit: ["off", "false", "0", "no"],
};

export const postgresDurability = typedPolicy(
  {
    name: "postgres-durability",
    description:
      "Checks whether the Postgres server runs with fsync, full_page_writes and synchronous_commit on.",
    protectsAgainst:
      "committed transactions lost or the cluster corrupted by a crash or power loss (fsync=off, torn pages), acknowledged payments gone",
    benchmark: "PostgreSQL docs §20.5 (WAL settings: fsync, full_page_writes, synchronous_commit); seed 001",
    fix: "remove the setting from the server command (the defaults are on)",
  },
  Container,
  function* (props) {
    const c = viewOfContainer(props);
    if (c.datastore !== "postgres") return;
    for (const [key, bad] of Object.entries(PG_UNSAFE_SETTINGS)) {
      const v = pgSetting(c.executable, key);
      if (v !== undefined && bad.includes(v))
        yield `the server runs with ${key}=${v}; remove it — a crash can lose committed data.`;
    }
  },
);

export const dataVolumesPrivate = stackPolicy(
  {
    name: "data-volumes-private",
    description:
      "Checks whether a data store's volume is mounted only by data stores, no container shares another's mounts (volumesFrom), and no container bind-mounts the backup directory (the dumps).",
    protectsAgainst:
      "an app (or a compromised one) reading or corrupting the database's files around its authentication and permissions",
    benchmark: "CIS Docker 1.6 §5 (least privilege); PostgreSQL: the data directory is the server's alone",
    fix: "reach data through the server (connection URL), never by mounting its volume",
  },
  function* (args) {
    const containers = args.resources.filter((r) => r.isType(Container));
    // A data store's volumes (the proxy's regenerable config volume is not data).
    const dataVolumes = new Set<string>();
    for (const r of containers) {
      const c = viewOfContainer(r.props);
      if (c.role === "datastore") for (const n of c.namedVolumes) dataVolumes.add(n);
    }
    // The host directory the backup installs write dumps to (every row of every database).
    const backupDirs = args.resources
      .filter((r) => r.isType(RemoteCommand) && ["backup", "drill"].includes(roleOfCommand(r.props) ?? ""))
      .flatMap((r) => [...installedFiles(commandText(r)).values()])
      .flatMap((text) => scriptExports(text).get("LG_BACKUP_DIR") ?? [])
      .map((d) => path.posix.normalize(d).replace(/\/+$/, ""));
    for (const r of args.resources.filter((x) => x.isType(Container) || x.isType(Service))) {
      for (const m of viewOf(r.type, r.props).hostMounts) {
        const src = path.posix.normalize(`/${m.source}`).replace(/\/+$/, "") || "/";
        const dir = backupDirs.find(
          (d) => d === src || d.startsWith(`${src === "/" ? "" : src}/`) || src.startsWith(`${d}/`),
        );
        if (dir)
          yield [
            `${r.name} bind-mounts ${m.source}, which holds the database dumps (${dir}); only the backup scripts read them.`,
            r,
          ];
      }
    }
    for (const r of containers) {
      const c = viewOfContainer(r.props);
      for (const from of c.volumesFrom)
        yield [
          `${r.name} shares every mount of ${from} (volumes fromContainer); mount what it needs by name.`,
          r,
        ];
      if (c.role === "datastore") continue;
      for (const n of c.namedVolumes.filter((v) => dataVolumes.has(v)))
        yield [
          `${r.name} (${c.role}) mounts the data volume ${n}; only its data store may — use the server's connection instead.`,
          r,
        ];
    }
  },
);

export const redisPersistence = typedPolicy(
  {
    name: "redis-persistence",
    description:
      "Checks whether Redis keeps its data: AOF on with fsync everysec/always and RDB snapshots not disabled.",
    protectsAgainst: "queued jobs and sessions lost on every Redis restart",
    benchmark: "Redis persistence guide; seed 001",
    fix: "`--appendonly yes`, keep the save points",
  },
  Container,
  function* (props) {
    const c = viewOfContainer(props);
    if (c.datastore !== "redis") return;
    if (redisArg(c.executable, "appendonly") !== "yes")
      yield "Redis AOF is off; run redis-server with `--appendonly yes`.";
    if (redisArg(c.executable, "save") === "")
      yield 'Redis RDB snapshots are disabled (`--save ""`); keep the default save points.';
    // `appendfsync no` leaves flushing to the kernel: up to ~30 s of acknowledged writes lost on a crash.
    const fsync = redisArg(c.executable, "appendfsync");
    if (fsync !== undefined && !["everysec", "always"].includes(fsync.toLowerCase()))
      yield `Redis AOF fsync is "${fsync}"; use \`--appendfsync everysec\` (or always).`;
  },
);

const REDIS_KEEP_ALL_ROLES = new Set(["queue", "session"]);

export const redisQueueNoEviction = stackPolicy(
  {
    name: "redis-queue-noeviction",
    description:
      "Checks whether Redis instances holding queues or sessions use `maxmemory-policy noeviction`.",
    protectsAgainst: "Redis silently evicting queued jobs or sessions under memory pressure",
    benchmark: "Redis eviction policies; seed 001",
    fix: "`--maxmemory-policy noeviction` for queue/session instances",
  },
  function* (args) {
    const roleOfVolume = new Map<string, string>();
    for (const v of args.resources.filter((r) => r.isType(Volume))) {
      const m = /^redis-(\w+)$/.exec(labelMap(v.props.labels)[DATA_LABEL] ?? "");
      const name = known(() => v.props.name as string | undefined);
      if (m && name) roleOfVolume.set(name, m[1]!);
    }
    for (const r of args.resources.filter((x) => x.isType(Container))) {
      const c = viewOfContainer(r.props);
      if (c.datastore !== "redis") continue;
      const vols = (known(() => r.props.volumes) as Record<string, unknown>[] | undefined) ?? [];
      const roles = [...vols]
        .map((v) => roleOfVolume.get(String(known(() => v.volumeName) ?? "")))
        .filter((x) => x);
      const policy = redisArg(c.executable, "maxmemory-policy");
      for (const role of roles)
        if (REDIS_KEEP_ALL_ROLES.has(role!) && policy !== "noeviction")
          yield [
            `Redis ${role} instance ${r.name} uses maxmemory-policy ${policy ?? "(default)"}; queues and sessions need \`--maxmemory-policy noeviction\`.`,
            r,
          ];
    }
  },
);

/** `export NAME='value'` of a rendered host script (components/ops/remote-script.ts), if present. */
export function scriptExport(text: string, name: string): string | undefined {
  return scriptExports(text).get(name);
}

const commandText = (r: PolicyResource) =>
  [...strings(known(() => r.props.create)), ...strings(known(() => r.props.stdin))].join("\n");

/** The `OnCalendar=` values in a rendered install script. */
function onCalendars(text: string): string[] {
  return [...text.matchAll(/OnCalendar=([^\n'"]+)/g)].map((m) => m[1]!.trim());
}

/**
 * Upper bound of the days between two runs of a systemd `OnCalendar` value: 1 for a daily or
 * more frequent time spec (`*-*-* …`), N for a day step (`*-*-1/N`), 7 for a weekday list or
 * `weekly`, 31/92/366 for monthly/quarterly/yearly shorthands; unknown forms count as yearly.
 */
export function calendarPeriodDays(value: string): number {
  const v = value.trim().toLowerCase();
  const named: Record<string, number> = {
    minutely: 0,
    hourly: 0,
    daily: 1,
    weekly: 7,
    monthly: 31,
    quarterly: 92,
    semiannually: 183,
    yearly: 366,
    annually: 366,
  };
  if (v in named) return named[v]!;
  const m =
    /^(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z,.]*\s+)?(\*|\d{4})-(\*|\d{1,2})-(\*|\d{1,2}(?:\/(\d+))?)\s/.exec(
      `${v} `,
    );
  if (!m) return 366;
  if (/^(mon|tue|wed|thu|fri|sat|sun)/.test(v)) return 7;
  if (m[1] !== "*") return 366;
  if (m[2] !== "*") return 366;
  if (m[3] === "*") return 1;
  return m[4] ? Number(m[4]) : 31;
}

/**
 * Upper bound of the hours between two runs of a systemd `OnCalendar` value: for a daily spec
 * with an hour list, step or `*` (`*-*-* 00,06,12,18:00:00`, `*-*-* 00/5:00`, `*-*-* *:30`) the
 * largest gap between its hours, across midnight; `hourly`/`minutely` 1; otherwise
 * {@link calendarPeriodDays} × 24.
 */
export function calendarPeriodHours(value: string): number {
  const v = value.trim().toLowerCase();
  if (v === "hourly" || v === "minutely") return 1;
  const m = /^\*-\*-\*\s+([\d,/*]+):(?:\d{1,2}|\*)(?::\d{1,2})?(?:\s|$)/.exec(v);
  if (!m) return calendarPeriodDays(value) * 24;
  const hours = new Set<number>();
  for (const part of m[1]!.split(",")) {
    const step = /^(\*|\d{1,2})(?:\/(\d{1,2}))?$/.exec(part);
    if (!step) return calendarPeriodDays(value) * 24;
    const start = step[1] === "*" ? 0 : Number(step[1]);
    const every = step[2] ? Number(step[2]) : step[1] === "*" ? 1 : 24;
    if (every < 1) return calendarPeriodDays(value) * 24;
    for (let h = start; h < 24; h += every) hours.add(h);
  }
  const sorted = [...hours].sort((a, b) => a - b);
  if (sorted.length === 0) return calendarPeriodDays(value) * 24;
  return Math.max(...sorted.map((h, i) => (sorted[i + 1] ?? sorted[0]! + 24) - h));
}

interface Declared {
  /** The release manifest's launchgate:backups.retentionDays (undefined without a release gate). */
  readonly retentionDays?: number;
  readonly minRetentionDays: number;
  /** The manifest's drillEveryHours, for the drill install. */
  readonly drillEveryHours?: number;
  /** Names of the postgresql Databases the stack manages. */
  readonly databases: readonly string[];
  /** The Postgres container's name, when known. */
  readonly pgContainer?: string;
}

/**
 * What a backup or drill install would actually run, against what the release declares: every
 * installed script's retention (the same value as the manifest, ≥ the minimum; a script reading
 * it must set it), the databases it dumps/restores (every managed one), the container it reads,
 * each timer's service running an installed script, and the drill's schedule within the
 * declared period.
 */
function* installedProblems(r: PolicyResource, d: Declared): Generator<[string, PolicyResource]> {
  const files = installedFiles(commandText(r));
  const role = roleOfCommand(r.props);
  if (files.size === 0) {
    yield [
      `the ${role} install writes no files (no LG_FILES manifest); keep components/ops/Backups.ts's install.`,
      r,
    ];
    return;
  }
  const scripts = [...files].filter(([, text]) => text.startsWith("#!"));
  let retentionRead = false;
  for (const [path, text] of scripts) {
    const env = scriptExports(text);
    const reads = (name: string) => new RegExp(`\\$\\{?${name}\\b`).test(text);
    if (reads("LG_RETENTION_DAYS")) retentionRead = true;
    const days = env.get("LG_RETENTION_DAYS");
    if (days !== undefined || reads("LG_RETENTION_DAYS")) {
      const n = /^\d+$/.test(days ?? "") ? Number(days) : NaN;
      if (!Number.isFinite(n))
        yield [
          `${path} sets no retention (LG_RETENTION_DAYS=${JSON.stringify(days ?? null)}); install the declared launchgate:backups.retentionDays.`,
          r,
        ];
      else if (n < d.minRetentionDays || (d.retentionDays !== undefined && n !== d.retentionDays))
        yield [
          `${path} keeps dumps ${n} days but the release declares ${d.retentionDays ?? `at least ${d.minRetentionDays}`} (launchgate:backups.retentionDays); install the declared retention.`,
          r,
        ];
    }
    const dbs = env.get("LG_DATABASES");
    if (dbs !== undefined || reads("LG_DATABASES")) {
      const listed = (dbs ?? "").split(/\s+/).filter(Boolean);
      const missing = d.databases.filter((x) => !listed.includes(x));
      if (missing.length > 0)
        yield [
          `${path} leaves out database(s) ${missing.join(", ")} (LG_DATABASES="${dbs ?? ""}"); it must cover every managed database.`,
          r,
        ];
    }
    const container = env.get("LG_PG_CONTAINER");
    if (d.pgContainer !== undefined && container !== undefined && container !== d.pgContainer)
      yield [
        `${path} reads Postgres from container "${container}", not "${d.pgContainer}"; keep LG_PG_CONTAINER from the Postgres component.`,
        r,
      ];
  }
  if (role === "backup" && !retentionRead)
    yield [
      "the backup install applies no retention (no installed script reads LG_RETENTION_DAYS); keep backup-retention.sh.",
      r,
    ];
  // Each timer starts its service: the service must run an installed script, and some timer
  // must run the scripts that dump/restore the databases (those reading LG_DATABASES).
  const executables = new Set(scripts.map(([path]) => path));
  const databaseScripts = new Set(
    scripts.filter(([, text]) => /\$\{?LG_DATABASES\b/.test(text)).map(([path]) => path),
  );
  let databasesRun = false;
  for (const path of files.keys()) {
    if (!path.endsWith(".timer")) continue;
    const service = files.get(path.replace(/\.timer$/, ".service"));
    const runs = [...(service ?? "").matchAll(/^ExecStart=[-@:+!]*(\S+)/gm)].map((m) => m[1]!);
    if (runs.some((x) => databaseScripts.has(x))) databasesRun = true;
    if (!runs.some((x) => executables.has(x)))
      yield [
        `${path} starts a service that runs none of the installed scripts (${runs.join(", ") || "no ExecStart"}); keep its ExecStart.`,
        r,
      ];
  }
  if (databaseScripts.size > 0 && !databasesRun)
    yield [
      `no timer of the ${role} install runs ${[...databaseScripts].join(", ")}; the databases would never be ${role === "drill" ? "restored" : "dumped"} on schedule.`,
      r,
    ];
  // The drill's schedule within the declared period (calendar periods are known to the day).
  if (d.drillEveryHours !== undefined)
    for (const cal of onCalendars(commandText(r)))
      if (calendarPeriodDays(cal) * 24 > Math.max(d.drillEveryHours, 24))
        yield [
          `the drill timer runs "${cal}" but the release declares a drill every ${d.drillEveryHours} h (launchgate:backups.drillEveryHours).`,
          r,
        ];
}

export const backupsPresent = stackPolicy(
  {
    name: "backups-present",
    description:
      "Checks whether a stack running Postgres installs scheduled backups (role backup) and a separately scheduled restore drill (role drill), each with systemd timers, as declared: installed retention, databases, container, timers running the installed scripts, drill schedule, dump period (launchgate:backups.incrementalEveryHours).",
    protectsAgainst: "a database with no backup, or backups never proven restorable",
    benchmark: "seed 001 §backups (daily pg_dump, 30-day retention, restore drill); seed 003",
    fix: "keep the Backups component: its install (role backup) and drill (role drill) commands",
    config: { minRetentionDays: { type: "number", default: 30 } },
  },
  function* (args, config) {
    // Containers and Swarm services alike: on a swarm Postgres is a service.
    const datastores = args.resources
      .filter((r) => r.isType(Container) || r.isType(Service))
      .map((r) => [r, viewOf(r.type, r.props).datastore] as const);
    const postgres = datastores.find(([, engine]) => engine === "postgres")?.[0];
    if (!postgres) return;
    const redisContainers = datastores
      .filter(([, engine]) => engine === "redis")
      .flatMap(([r]) => (known(() => r.props.name) as string | undefined) ?? []);
    const byRole = (role: string) =>
      args.resources.filter(
        (r) => (r.isType(RemoteCommand) || r.isType(LocalCommand)) && roleOfCommand(r.props) === role,
      );
    for (const [role, what] of [
      ["backup", "scheduled Postgres backups"],
      ["drill", "a scheduled restore drill"],
    ] as const) {
      const found = byRole(role);
      if (found.length === 0) {
        yield [
          `Postgres runs but no command installs ${what} (role ${role}); keep the Backups component.`,
          postgres,
        ];
        continue;
      }
      const timers = found
        .flatMap((r) => (scriptExport(commandText(r), "LG_TIMERS") ?? "").split(/\s+/))
        .filter((t) => t.endsWith(".timer"));
      if (timers.length === 0)
        yield [`the ${role} install enables no systemd timer; ${what} must run on a schedule.`, found[0]];
      // The schedules as installed: a dump at least daily, a drill at least weekly (seed 001).
      const maxDays = role === "backup" ? 1 : 7;
      for (const r of found)
        for (const cal of onCalendars(commandText(r)))
          if (calendarPeriodDays(cal) > maxDays)
            yield [
              `the ${role} timer runs "${cal}"; ${what} must run at least ${maxDays === 1 ? "daily" : "weekly"}.`,
              r,
            ];
    }
    // Settings as installed on the host, not only as configured: the gate reads the release
    // manifest (launchgate:backups.*), the host runs what the install writes.
    const gate = args.resources.find((r) => r.isType(LocalCommand) && r.name === GATE_RESOURCE_NAME);
    const manifest = gate ? known(() => manifestOf(gate.props)) : undefined;
    const databases = args.resources
      .filter((r) => r.isType(Database))
      .flatMap((r) => (known(() => r.props.name) as string | undefined) ?? []);
    const pgContainer = known(() => postgres.props.name) as string | undefined;
    // The dump period as installed against the declared launchgate:backups.incrementalEveryHours
    // (manifests written before it was declared: only the daily rule above).
    const every = manifest?.backups.incrementalEveryHours;
    const backups = byRole("backup");
    const periods = backups.flatMap((r) => onCalendars(commandText(r)).map(calendarPeriodHours));
    if (every !== undefined && periods.length > 0 && Math.min(...periods) > every)
      yield [
        `the backup timers dump at best every ${Math.min(...periods)} h but the release declares a dump every ${every} h (launchgate:backups.incrementalEveryHours).`,
        backups[0]!,
      ];
    for (const r of [...byRole("backup"), ...byRole("drill")])
      yield* installedProblems(r, {
        retentionDays: manifest?.backups.retentionDays,
        minRetentionDays: config.minRetentionDays as number,
        drillEveryHours: roleOfCommand(r.props) === "drill" ? manifest?.backups.drillEveryHours : undefined,
        databases,
        pgContainer,
      });
    // Every Redis data store is backed up by some backup install (on a swarm, the one on its own
    // node): the union of the installed Redis backups' LG_REDIS_CONTAINERS.
    const redisBacked = new Set<string>();
    let redisScripts = 0;
    for (const r of byRole("backup"))
      for (const text of installedFiles(commandText(r)).values())
        if (text.startsWith("#!") && /\$\{?LG_REDIS_CONTAINERS\b/.test(text)) {
          redisScripts++;
          for (const n of (scriptExports(text).get("LG_REDIS_CONTAINERS") ?? "").split(/\s+/))
            if (n) redisBacked.add(n);
        }
    const unbacked = redisContainers.filter((n) => !redisBacked.has(n));
    if (redisScripts > 0 && unbacked.length > 0)
      yield [
        `no backup install backs up Redis ${unbacked.join(", ")} (LG_REDIS_CONTAINERS of the installed Redis backups: ${[...redisBacked].join(" ") || "none"}); every Redis data store is backed up with Postgres.`,
        byRole("backup")[0]!,
      ];
    // The pre-migration backup must take a backup, not just exist as a dependency.
    for (const r of byRole("pre-migration-backup"))
      if (!/backup-postgres\.sh|pg_dump/.test(commandText(r)))
        yield [
          "the pre-migration backup command runs no backup (backup-postgres.sh / pg_dump); keep components/ops/scripts/pre-migration-backup.sh.",
          r,
        ];
  },
);

/** Every resource `r` waits for: its dependencies, transitively. */
export function transitiveDependencies(r: PolicyResource): Set<PolicyResource> {
  const seen = new Set<PolicyResource>();
  const todo = [...r.dependencies];
  while (todo.length > 0) {
    const d = todo.pop()!;
    if (seen.has(d)) continue;
    seen.add(d);
    todo.push(...d.dependencies);
  }
  return seen;
}

export const migrationsAfterBackup = stackPolicy(
  {
    name: "migrations-after-backup",
    description:
      "Checks whether every migration job (role migration: a one-shot container, or on a swarm the command running the Swarm job) runs after a pre-migration backup (role pre-migration-backup): the job, or, for a job created stopped, the PIDs-limit command that starts it, depends on one.",
    protectsAgainst: "a failed or destructive migration with no dump taken just before it",
    benchmark: "seed 003 (backup before migrate)",
    fix: "make the migration (its `startOneShot` command) depend on Backups.preMigrationBackup",
  },
  function* (args) {
    const isBackup = (d: PolicyResource) =>
      (d.isType(RemoteCommand) || d.isType(LocalCommand)) &&
      roleOfCommand(d.props) === "pre-migration-backup";
    for (const job of args.resources.filter(
      (r) =>
        (r.isType(Container) && viewOfContainer(r.props).role === "migration") ||
        ((r.isType(RemoteCommand) || r.isType(LocalCommand)) && roleOfCommand(r.props) === "migration"),
    )) {
      // What runs it: the container itself when it starts on create; else the command(s) stated
      // to start it (contract/pids-limits.ts), which depend on it.
      const runners =
        known(() => job.props.start) === false
          ? args.resources.filter(
              (r) =>
                (r.isType(RemoteCommand) || r.isType(LocalCommand)) &&
                [...strings(known(() => r.props.triggers))].includes(PIDS_LIMIT_STARTS_TRIGGER) &&
                r.dependencies.includes(job),
            )
          : [job];
      if (runners.length === 0 || !runners.every((r) => [...transitiveDependencies(r)].some(isBackup)))
        yield [
          `migration ${job.name} can run without a fresh backup; make it depend on the Backups pre-migration backup.`,
          job,
        ];
    }
  },
);

/** Commands in a delete script that remove or stop something on a host. */
const DESTRUCTIVE =
  /\b(rm|rmdir|unlink|shred|truncate|userdel|deluser|groupdel|dropdb|uninstall[\w.-]*|systemctl\s+(disable|stop|mask)|docker\s+(rm|rmi|kill|stop|(volume|network|container|service|secret|config)\s+rm)|ufw\s+delete|iptables\s+-D|find\b[^\n]*-delete)\b|\bDROP\s+(DATABASE|TABLE|ROLE|SCHEMA|USER)\b/i;

export const commandDeleteReplacement = typedPolicies(
  {
    name: "command-delete-replacement",
    description:
      "Checks whether a command with a `delete` script replaces delete-first (or declares its delete scoped to its own version).",
    protectsAgainst:
      "Pulumi's create-first replacement running the old resource's delete after the new create, removing what the new one just installed (backups, timers, identity files)",
    benchmark: "launchgate DESIGN §2 lessons (command resources with delete); Pulumi replacement order",
    fix: `set { deleteBeforeReplace: true }, or scope the delete to its own version and mark it with the trigger "${DELETE_SCOPE_TRIGGER}"`,
  },
  [RemoteCommand, LocalCommand],
  function* (props, args) {
    const del = [...strings(known(() => props.delete))].join("");
    if (del.trim() === "") return;
    if (args.opts.deleteBeforeReplace === true) return;
    const triggers = [...strings(known(() => props.triggers))];
    // The scope marker is a claim: honoured when the delete changes nothing on a host, or names
    // its own version (a trigger value, e.g. a content hash) in what it removes.
    if (triggers.includes(DELETE_SCOPE_TRIGGER)) {
      const own = triggers.filter((t) => !t.startsWith("launchgate.") && t.length >= 8);
      if (!DESTRUCTIVE.test(del) || own.some((t) => del.includes(t))) return;
      yield `declares its delete scoped to its own version (${DELETE_SCOPE_TRIGGER}) but the delete removes things without naming its version; set { deleteBeforeReplace: true }.`;
      return;
    }
    yield `has a delete script but replaces create-first: the old delete would undo the new create; set { deleteBeforeReplace: true } or scope the delete to its version.`;
  },
);

export const dataPolicies = [
  dataVolumesProtected,
  swarmVolumesOnPinnedNode,
  databasesProtected,
  databaseRolesLeastPrivilege,
  databasePublicRevoked,
  redisPersistence,
  redisQueueNoEviction,
  postgresDurability,
  dataVolumesPrivate,
  backupsPresent,
  migrationsAfterBackup,
  commandDeleteReplacement,
];
