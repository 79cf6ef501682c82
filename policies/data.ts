/**
 * Data safety (seeds 001/003): the data outlives containers and `pulumi destroy`, backups and
 * their timers exist whenever Postgres does, the restore drill is its own scheduled resource,
 * app database roles hold no cluster-wide privilege, Redis keeps queue data, migrations run after
 * a fresh backup, and no command's delete undoes its own replacement.
 */
import { Container } from "@pulumi/docker/container";
import { Volume } from "@pulumi/docker/volume";
import { Command as LocalCommand } from "@pulumi/command/local/command";
import { Command as RemoteCommand } from "@pulumi/command/remote/command";
import { Database } from "@pulumi/postgresql/database";
import { Role } from "@pulumi/postgresql/role";
import type { PolicyResource } from "@pulumi/policy";
import { labelMap, viewOfContainer } from "./lib/container-view";
import { DATA_VOLUMES_PROTECTED_CONFIG } from "./lib/data-volumes";
import { known, strings } from "./lib/resources";
import { DELETE_SCOPE_TRIGGER } from "../contract/roles";
import { roleOfCommand } from "./host";
import { stackPolicy, typedPolicies, typedPolicy } from "./lib/rule";

/** Label the data components put on volumes holding data (`launchgate.data=postgres|redis-<role>|…`). */
export const DATA_LABEL = "launchgate.data";

export const dataVolumesProtected = stackPolicy(
  {
    name: "data-volumes-protected",
    description:
      "Checks whether docker volumes holding data (labelled launchgate.data, or mounted by a data store) are protected against deletion.",
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
    for (const v of args.resources.filter((x) => x.isType(Volume))) {
      const kind = labelMap(v.props.labels)[DATA_LABEL];
      const name = known(() => v.props.name) as string | undefined;
      const holdsData = kind !== undefined ? !regenerable.includes(kind) : mountedByStore.has(name ?? "");
      if (holdsData && !v.opts.protect)
        yield [
          `volume ${v.name} holds ${kind ?? "data-store data"} but is not protected; create it with { protect: true, retainOnDelete: true }.`,
          v,
        ];
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

export const databaseRolesLeastPrivilege = typedPolicy(
  {
    name: "database-roles-least-privilege",
    description:
      "Checks whether every Postgres role the program manages is an app role without SUPERUSER, CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS.",
    protectsAgainst:
      "a compromised app (SQL injection) owning the whole cluster: other databases, roles, replication, row-level security",
    benchmark: "CIS PostgreSQL 16 §4.x (least privilege roles); seed 001",
    fix: "set superuser, createDatabase, createRole, replication, bypassRowLevelSecurity to false",
  },
  Role,
  function* (props) {
    const bad = CLUSTER_PRIVILEGES.filter(([k]) => known(() => props[k]) === true).map(([, sql]) => sql);
    if (bad.length > 0)
      yield `role ${(known(() => props.name) as string | undefined) ?? ""} has ${bad.join(", ")}; app roles get LOGIN only (set them false).`;
  },
);

/** The value following `flag` in a redis-server command line, or undefined. */
function redisArg(command: readonly string[], flag: string): string | undefined {
  const joined = command.join(" ").replace(/'/g, "");
  const m = new RegExp(`--${flag}\\s+("[^"]*"|\\S+)`).exec(joined);
  return m?.[1]?.replace(/^"|"$/g, "");
}

export const redisPersistence = typedPolicy(
  {
    name: "redis-persistence",
    description: "Checks whether Redis keeps its data: AOF on and RDB snapshots not disabled.",
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
  const m = new RegExp(`^export ${name}='((?:[^']|'\\\\'')*)'`, "m").exec(text);
  return m?.[1]?.replace(/'\\''/g, "'");
}

const commandText = (r: PolicyResource) =>
  [...strings(known(() => r.props.create)), ...strings(known(() => r.props.stdin))].join("\n");

export const backupsPresent = stackPolicy(
  {
    name: "backups-present",
    description:
      "Checks whether a stack running Postgres installs scheduled backups (role backup) and a separately scheduled restore drill (role drill), each with systemd timers.",
    protectsAgainst: "a database with no backup, or backups never proven restorable",
    benchmark: "seed 001 §backups (daily pg_dump, 30-day retention, restore drill); seed 003",
    fix: "keep the Backups component: its install (role backup) and drill (role drill) commands",
  },
  function* (args) {
    const postgres = args.resources.find(
      (r) => r.isType(Container) && viewOfContainer(r.props).datastore === "postgres",
    );
    if (!postgres) return;
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
    }
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
      "Checks whether every migration job (role migration) depends on a pre-migration backup (role pre-migration-backup).",
    protectsAgainst: "a failed or destructive migration with no dump taken just before it",
    benchmark: "seed 003 (backup before migrate)",
    fix: "make the migration depend on Backups.preMigrationBackup",
  },
  function* (args) {
    for (const job of args.resources.filter(
      (r) => r.isType(Container) && viewOfContainer(r.props).role === "migration",
    )) {
      const deps = [...transitiveDependencies(job)];
      if (
        !deps.some(
          (d) =>
            (d.isType(RemoteCommand) || d.isType(LocalCommand)) &&
            roleOfCommand(d.props) === "pre-migration-backup",
        )
      )
        yield [
          `migration ${job.name} can run without a fresh backup; make it depend on the Backups pre-migration backup.`,
          job,
        ];
    }
  },
);

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
    if ([...strings(known(() => props.triggers))].includes(DELETE_SCOPE_TRIGGER)) return;
    yield `has a delete script but replaces create-first: the old delete would undo the new create; set { deleteBeforeReplace: true } or scope the delete to its version.`;
  },
);

export const dataPolicies = [
  dataVolumesProtected,
  databasesProtected,
  databaseRolesLeastPrivilege,
  redisPersistence,
  redisQueueNoEviction,
  backupsPresent,
  migrationsAfterBackup,
  commandDeleteReplacement,
];
