/**
 * Data safety (seeds 001/003): the data outlives containers and `pulumi destroy`, backups exist
 * and are kept long enough, Redis keeps queue data, migrations run after a fresh backup.
 */
import type { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { ContainerProps, TYPES, dataStoreKind, known, labelOf, onType, strings } from "./lib/resources";

import { configWithDefaults } from "./lib/config";
/** Label the data components put on volumes holding data (`launchgate.data=postgres|redis|…`). */
export const DATA_LABEL = "launchgate.data";

export const dataVolumesProtected: ResourceValidationPolicy = {
  name: "data-volumes-protected",
  description:
    "Checks whether docker volumes holding data (labelled launchgate.data, or Postgres/Redis volumes) are protected against deletion.",
  configSchema: {
    properties: { regenerableKinds: { type: "array", items: { type: "string" }, default: ["proxy-config"] } },
  },
  validateResource: onType<{ name?: string; labels?: { label: string; value: string }[] }>(
    TYPES.volume,
    (v, args, report) => {
      // `launchgate.data=<kind>` marks what a volume holds; regenerable kinds (rendered config) need no protection.
      const kind = labelOf(v, DATA_LABEL);
      const { regenerableKinds: regenerable } = configWithDefaults<{ regenerableKinds: string[] }>(
        args.getConfig(),
        dataVolumesProtected.configSchema,
      );
      const holdsData = kind !== undefined ? !regenerable.includes(kind) : /(postgres|redis)/.test(args.name);
      if (holdsData && !args.opts.protect) {
        report(
          `volume ${args.name} holds ${kind ?? "data"} but is not protected; create it with { protect: true, retainOnDelete: true }.`,
        );
      }
    },
  ),
};

export const databasesProtected: ResourceValidationPolicy = {
  name: "databases-protected",
  description: "Checks whether Postgres databases are protected against deletion.",
  validateResource: onType<{ name?: string }>(TYPES.pgDatabase, (d, args, report) => {
    if (!args.opts.protect)
      report(
        `database ${d.name ?? args.name} is not protected; create it with { protect: true, retainOnDelete: true }.`,
      );
  }),
};

const REDIS_KEEP_ALL_ROLES = new Set(["queue", "session"]);

/** The value following `flag` in a redis-server command line, or undefined. */
function redisArg(command: readonly string[], flag: string): string | undefined {
  // The command may be a shell line with quoted words (`'--appendonly' 'yes'`).
  const joined = command.join(" ").replace(/'/g, "");
  const m = new RegExp(`--${flag}\\s+("[^"]*"|\\S+)`).exec(joined);
  return m?.[1]?.replace(/^"|"$/g, "");
}

export const redisPersistence: ResourceValidationPolicy = {
  name: "redis-persistence",
  description: "Checks whether Redis keeps its data: AOF on and RDB snapshots not disabled.",
  validateResource: onType<ContainerProps>(TYPES.container, (c, args, report) => {
    if (dataStoreKind(c, args.name) !== "redis") return;
    const cmd = [...strings(c.command ?? [])];
    if (redisArg(cmd, "appendonly") !== "yes")
      report("Redis AOF is off; run redis-server with `--appendonly yes`.");
    if (redisArg(cmd, "save") === "")
      report('Redis RDB snapshots are disabled (`--save ""`); keep the default save points.');
  }),
};

export const redisQueueNoEviction: StackValidationPolicy = {
  name: "redis-queue-noeviction",
  description: "Checks whether Redis instances holding queues or sessions use `maxmemory-policy noeviction`.",
  validateStack: (args, report) => {
    // The role is on the instance's data volume (`launchgate.data=redis-<role>`).
    const roleOfVolume = new Map<string, string>();
    for (const v of args.resources.filter((r) => r.type === TYPES.volume)) {
      const m = /^redis-(\w+)$/.exec(labelOf(v.props as ContainerProps, DATA_LABEL) ?? "");
      const name = known(() => v.props.name as string | undefined);
      if (m && name) roleOfVolume.set(name, m[1]!);
    }
    for (const r of args.resources.filter((x) => x.type === TYPES.container)) {
      const c = r.props as ContainerProps & { volumes?: { volumeName?: string }[] };
      if (dataStoreKind(c, r.name) !== "redis") continue;
      const roles = (known(() => c.volumes) ?? [])
        .map((v) => roleOfVolume.get(known(() => v.volumeName) ?? ""))
        .filter((x) => x);
      const policy = redisArg([...strings(c.command ?? [])], "maxmemory-policy");
      for (const role of roles) {
        if (REDIS_KEEP_ALL_ROLES.has(role!) && policy !== "noeviction") {
          report(
            `Redis ${role} instance ${r.name} uses maxmemory-policy ${policy ?? "(default)"}; queues and sessions need \`--maxmemory-policy noeviction\`.`,
            r.urn,
          );
        }
      }
    }
  },
};

function commandText(r: PolicyResource): string {
  return [...strings(r.props)].join("\n");
}

export const backupsPresent: StackValidationPolicy = {
  name: "backups-present",
  description: "Checks whether the stack schedules Postgres dumps and a restore drill on the host.",
  validateStack: (args, report) => {
    const hostSteps = args.resources.filter((r) => r.type === TYPES.remoteCommand);
    if (
      !args.resources.some(
        (r) => r.type === TYPES.container && dataStoreKind(r.props as ContainerProps, r.name) === "postgres",
      )
    )
      return;
    const text = hostSteps.map(commandText).join("\n");
    if (!/pg_dump/.test(text))
      report("Postgres runs but no host step schedules `pg_dump`; add the Backups component.");
    if (!/pg_restore/.test(text))
      report("no restore drill (`pg_restore` into a scratch database); keep the Backups restore-drill step.");
  },
};

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

const MIGRATION = /migrat/i;
const BACKUP = /backup/i;
/** Migration jobs: named `…migrat…` and not a backup. */
const isMigration = (name: string) => MIGRATION.test(name) && !BACKUP.test(name);
/** Pre-migration backups: named with both `backup` and `pre-migration`. */
const isPreMigrationBackup = (name: string) => BACKUP.test(name) && /pre-?migration/i.test(name);

export const migrationsAfterBackup: StackValidationPolicy = {
  name: "migrations-after-backup",
  description: "Checks whether every migration job depends on a pre-migration backup.",
  validateStack: (args, report) => {
    const jobs = args.resources.filter(
      (r) => (r.type === TYPES.container || r.type === TYPES.remoteCommand) && isMigration(r.name),
    );
    for (const job of jobs) {
      const deps = [...transitiveDependencies(job)];
      if (!deps.some((d) => isPreMigrationBackup(d.name))) {
        report(
          `migration ${job.name} can run without a fresh backup; make it depend on the Backups pre-migration backup.`,
          job.urn,
        );
      }
    }
  },
};

export const dataPolicies = [
  dataVolumesProtected,
  databasesProtected,
  redisPersistence,
  redisQueueNoEviction,
  backupsPresent,
  migrationsAfterBackup,
];
