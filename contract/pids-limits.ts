/**
 * PIDs cgroup limits by container role (CIS Docker Benchmark v1.6 §5.29 "Ensure that the PIDs
 * cgroup limit is used"): the one place that says how many tasks (processes and threads: the pids
 * cgroup counts both) a container of each role may have, how the program applies the limit, and
 * the most the policy pack accepts. No imports but the role names: the program, the pack and the
 * tests all load it.
 *
 * How it is applied: @pulumi/docker 5.2.0's `Container` has no `pidsLimit` input (its provider
 * schema has no `pids_limit`), so each long-running container gets a command resource that runs
 * {@link pidsLimitCommand} on the container's own engine (`docker update --pids-limit`, which
 * Docker keeps in the container's HostConfig across restarts), triggered by the container's id so
 * a replaced container gets it again. The limit holds from a few seconds after the container is
 * created (the command runs once the create, with its health wait, has finished).
 *
 * Swarm services: @pulumi/docker 5.2.0's `Service` has no PIDs input either, but the engine's
 * service spec has one since Engine API 1.41 (Docker 20.10: `TaskTemplate.Resources.Limits.Pids`,
 * CLI `docker service update --limit-pids`). Each long-running service gets a command running
 * {@link servicePidsLimitCommand} on a manager, which waits for the rolling update it starts and
 * reads the limit back from the spec. The provider builds every update's spec from its own schema,
 * which has no PIDs field, so each provider update of the service resets the limit to unlimited:
 * the command is triggered by a digest of the service's whole declared spec as well as its id, so
 * it runs again after every such update. The cost: the limit's own rolling update follows each one
 * (one more task restart per changed service; for `stop-first` services, a second short stop).
 *
 * Exception: one-shot containers (roles `job`, `migration`) have exited by the time such a
 * command can reach them, so an applier would be a check that cannot bite; they are bounded by
 * their memory and CPU limits and their run timeout until the provider gains `pidsLimit`.
 */
import type { ContainerRole } from "./roles";

/** Roles whose containers get a PIDs limit (every long-running role). */
export const PIDS_LIMITED_ROLES = ["app", "datastore", "proxy", "vps"] as const;
export type PidsLimitedRole = (typeof PIDS_LIMITED_ROLES)[number];
/** Roles exempt from §5.29 with the reason the policy reports (see the module comment). */
export const PIDS_LIMIT_EXEMPT_ROLES: Readonly<Partial<Record<ContainerRole, string>>> = {
  job: "a one-shot job has exited before a PIDs limit can be applied to it (no `pidsLimit` input in @pulumi/docker 5.2.0)",
  migration:
    "a one-shot migration has exited before a PIDs limit can be applied to it (no `pidsLimit` input in @pulumi/docker 5.2.0)",
};

/**
 * Default limit per role, in tasks. Sized from what each role runs, with room for the
 * healthcheck's `docker exec` and bursts:
 * - app: a Node process has ~11 threads (main, 4 libuv, V8 workers); 256 leaves room for child
 *   processes and worker threads.
 * - datastore: Redis ~6 threads plus a fork for AOF rewrite/RDB; PgBouncer 1–2; Postgres one
 *   process per connection plus ~30 auxiliary ones, so the Postgres server's limit is at least
 *   `max_connections` + {@link POSTGRES_AUX_TASKS} (see `postgresPidsLimit` in stacks/config.ts).
 * - proxy: nginx master + one worker per CPU.
 * - vps: the local stack's disposable VPS runs systemd-less sshd, dockerd, containerd and a shim
 *   per nested container (the nested containers get cgroups of their own, and their own limits,
 *   from the nested engine through the host's cgroup mount).
 */
export const DEFAULT_PIDS_LIMITS: Readonly<Record<PidsLimitedRole, number>> = {
  app: 256,
  datastore: 512,
  proxy: 128,
  vps: 8192,
};

/**
 * Tasks a Postgres server has besides its client backends: postmaster, checkpointer, background
 * writer, WAL writer, autovacuum launcher and workers (3), logical replication launcher,
 * `max_worker_processes` (8) and WAL senders (10), with room to spare.
 */
export const POSTGRES_AUX_TASKS = 64;

/**
 * The most the `container-pids-limit` policy accepts per role (pack config `maxPidsLimits`
 * overrides it). A container without a known role marker gets the strictest ceiling.
 */
export const MAX_PIDS_LIMITS: Readonly<Record<PidsLimitedRole | "unmarked", number>> = {
  app: 1024,
  // Postgres at the config's highest max_connections (10,000) plus its auxiliary processes.
  datastore: 10_240,
  proxy: 512,
  vps: 32_768,
  unmarked: 128,
};

/** Role marker (`launchgate.role=<value>` in `triggers`) of a PIDs-limit command. */
export const PIDS_LIMIT_COMMAND_ROLE = "pids-limit" as const;

/**
 * Prefix of the `triggers` entry stating a PIDs-limit command's limit (`launchgate.pids-limit=256`):
 * a literal, so policies read it at preview even when the container's name (and so the command
 * text) is computed. Policies check it against the command text once that is known.
 */
export const PIDS_LIMIT_TRIGGER = "launchgate.pids-limit=";

/** The limit a PIDs-limit command's `triggers` state (the raw text after the prefix), if any. */
export function pidsLimitOfTriggers(triggers: readonly unknown[]): string | undefined {
  for (const t of triggers)
    if (typeof t === "string" && t.startsWith(PIDS_LIMIT_TRIGGER)) return t.slice(PIDS_LIMIT_TRIGGER.length);
  return undefined;
}

const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * The shell command that applies `limit` to the container named `container` on the engine it
 * runs on, then reads the limit back from `docker inspect` and fails unless it is `limit`.
 * @throws Error for a non-integer limit or a name Docker would not accept.
 */
export function pidsLimitCommand(limit: number, container: string): string {
  if (!Number.isInteger(limit)) throw new Error(`PIDs limit must be an integer, got ${limit}`);
  if (!CONTAINER_NAME.test(container)) throw new Error(`not a container name: ${JSON.stringify(container)}`);
  return (
    `docker update --pids-limit ${limit} -- ${container} >/dev/null && ` +
    `test "$(docker inspect --format '{{.HostConfig.PidsLimit}}' -- ${container})" = "${limit}"`
  );
}

/**
 * The shell command that sets `limit` on the Swarm service named `service` (run on a manager),
 * waits for the rolling update that follows (`--detach=false`: it fails when the update fails or
 * rolls back), then reads the limit back from the service's spec and fails unless it is `limit`.
 * @throws Error for a non-integer limit or a name Docker would not accept.
 */
export function servicePidsLimitCommand(limit: number, service: string): string {
  if (!Number.isInteger(limit)) throw new Error(`PIDs limit must be an integer, got ${limit}`);
  if (!CONTAINER_NAME.test(service)) throw new Error(`not a service name: ${JSON.stringify(service)}`);
  return (
    `docker service update --detach=false --limit-pids ${limit} -- ${service} >/dev/null && ` +
    `test "$(docker service inspect --format '{{.Spec.TaskTemplate.Resources.Limits.Pids}}' -- ${service})" = "${limit}"`
  );
}

/**
 * The limit and service of a {@link servicePidsLimitCommand} text (any integer limit, so a policy
 * can report 0 or -1 as unlimited), or undefined when the text is anything else.
 */
export function parseServicePidsLimitCommand(text: string): { limit: number; service: string } | undefined {
  const m =
    /^docker service update --detach=false --limit-pids (-?\d+) -- (\S+) >\/dev\/null && test "\$\(docker service inspect --format '\{\{\.Spec\.TaskTemplate\.Resources\.Limits\.Pids\}\}' -- (\S+)\)" = "(-?\d+)"$/.exec(
      text,
    );
  if (!m || m[2] !== m[3] || m[1] !== m[4] || !CONTAINER_NAME.test(m[2]!)) return undefined;
  return { limit: Number(m[1]), service: m[2]! };
}

/**
 * The limit and container of a {@link pidsLimitCommand} text (any integer limit, so a policy can
 * report 0 or -1 as unlimited), or undefined when the text is anything else.
 */
export function parsePidsLimitCommand(text: string): { limit: number; container: string } | undefined {
  const m =
    /^docker update --pids-limit (-?\d+) -- (\S+) >\/dev\/null && test "\$\(docker inspect --format '\{\{\.HostConfig\.PidsLimit\}\}' -- (\S+)\)" = "(-?\d+)"$/.exec(
      text,
    );
  if (!m || m[2] !== m[3] || m[1] !== m[4] || !CONTAINER_NAME.test(m[2]!)) return undefined;
  return { limit: Number(m[1]), container: m[2]! };
}
