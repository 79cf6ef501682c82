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
 * One-shot containers (roles `job`, `migration`; restart "no") would exit before such a command
 * reached them, so they are created stopped (`start: false`, set by `hardened({ kind: "job" })`)
 * and their command applies the limit, checks it, and only then starts them attached
 * ({@link oneShotStartCommand}): the limit is in the container's cgroup before its first process
 * runs, and the command exits with the job's exit code, so a failed job fails the command and
 * everything that depends on it.
 */
import type { ContainerRole } from "./roles";

/** Roles whose containers get a PIDs limit: every role, one-shot ones included. */
export const PIDS_LIMITED_ROLES = [
  "app",
  "datastore",
  "proxy",
  "job",
  "migration",
  "vps",
] as const satisfies readonly ContainerRole[];
export type PidsLimitedRole = (typeof PIDS_LIMITED_ROLES)[number];

/**
 * Default limit per role, in tasks. Sized from what each role runs, with room for the
 * healthcheck's `docker exec` and bursts:
 * - app: a Node process has ~11 threads (main, 4 libuv, V8 workers); 256 leaves room for child
 *   processes and worker threads.
 * - datastore: Redis ~6 threads plus a fork for AOF rewrite/RDB; PgBouncer 1–2; Postgres one
 *   process per connection plus ~30 auxiliary ones, so the Postgres server's limit is at least
 *   `max_connections` + {@link POSTGRES_AUX_TASKS} (see `postgresPidsLimit` in stacks/config.ts).
 * - proxy: nginx master + one worker per CPU.
 * - job: the program's one-shot checks (`nginx -t`: one process).
 * - migration: the app's image running its migrate command (Node, or Prisma's migration engine,
 *   which adds a thread per CPU): the app's budget.
 * - vps: the local stack's disposable VPS runs systemd-less sshd, dockerd, containerd and a shim
 *   per nested container (the nested containers get cgroups of their own, and their own limits,
 *   from the nested engine through the host's cgroup mount).
 */
export const DEFAULT_PIDS_LIMITS: Readonly<Record<PidsLimitedRole, number>> = {
  app: 256,
  datastore: 512,
  proxy: 128,
  job: 64,
  migration: 256,
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
  job: 512,
  migration: 1024,
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

/**
 * The `triggers` entry of a PIDs-limit command that also starts its one-shot container
 * ({@link oneShotStartCommand}): a literal, so policies know at preview that the container is
 * started under its limit; they check it against the command text once that is known.
 */
export const PIDS_LIMIT_STARTS_TRIGGER = "launchgate.pids-limit-starts=true";

/** The limit a PIDs-limit command's `triggers` state (the raw text after the prefix), if any. */
export function pidsLimitOfTriggers(triggers: readonly unknown[]): string | undefined {
  for (const t of triggers)
    if (typeof t === "string" && t.startsWith(PIDS_LIMIT_TRIGGER)) return t.slice(PIDS_LIMIT_TRIGGER.length);
  return undefined;
}

const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** `docker update --pids-limit` on `container`, then the read-back check (shared by both forms). */
function updateAndCheck(limit: number, container: string): string {
  if (!Number.isInteger(limit)) throw new Error(`PIDs limit must be an integer, got ${limit}`);
  if (!CONTAINER_NAME.test(container)) throw new Error(`not a container name: ${JSON.stringify(container)}`);
  return (
    `docker update --pids-limit ${limit} -- ${container} >/dev/null && ` +
    `test "$(docker inspect --format '{{.HostConfig.PidsLimit}}' -- ${container})" = "${limit}"`
  );
}

/**
 * The shell command that applies `limit` to the (running) container named `container` on the
 * engine it runs on, then reads the limit back from `docker inspect` and fails unless it is `limit`.
 * @throws Error for a non-integer limit or a name Docker would not accept.
 */
export function pidsLimitCommand(limit: number, container: string): string {
  return updateAndCheck(limit, container);
}

/** Exit status of coreutils `timeout` when the time ran out. */
const TIMED_OUT = 124;

/**
 * The shell command that starts a one-shot container created stopped (`start: false`) under
 * `limit`: {@link pidsLimitCommand}'s update and check, then `docker start --attach` (the job's
 * output on the command's stdout/stderr, its exit status as the command's), bounded by
 * `timeoutSeconds` (coreutils `timeout`; on expiry the container is killed and the command exits
 * 124). Run again (a changed limit), it runs the job again.
 * @throws Error for a non-integer limit or timeout, or a name Docker would not accept.
 */
export function oneShotStartCommand(limit: number, container: string, timeoutSeconds: number): string {
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1)
    throw new Error(`one-shot timeout must be a whole number of seconds ≥ 1, got ${timeoutSeconds}`);
  return (
    `${updateAndCheck(limit, container)} && ` +
    `{ timeout ${timeoutSeconds} docker start --attach -- ${container}; rc=$?; ` +
    `[ "$rc" -ne ${TIMED_OUT} ] || docker kill -- ${container} >/dev/null 2>&1; exit "$rc"; }`
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

const UPDATE_AND_CHECK =
  /^docker update --pids-limit (-?\d+) -- (\S+) >\/dev\/null && test "\$\(docker inspect --format '\{\{\.HostConfig\.PidsLimit\}\}' -- (\S+)\)" = "(-?\d+)"/;
const ONE_SHOT_START =
  /^ && \{ timeout (\d+) docker start --attach -- (\S+); rc=\$\?; \[ "\$rc" -ne 124 \] \|\| docker kill -- (\S+) >\/dev\/null 2>&1; exit "\$rc"; \}$/;

/**
 * The limit and container of a {@link pidsLimitCommand} or {@link oneShotStartCommand} text (any
 * integer limit, so a policy can report 0 or -1 as unlimited), with `start` (its timeout) for the
 * one-shot form, or undefined when the text is anything else.
 */
export function parsePidsLimitCommand(
  text: string,
): { limit: number; container: string; start?: { timeoutSeconds: number } } | undefined {
  const m = UPDATE_AND_CHECK.exec(text);
  if (!m || m[2] !== m[3] || m[1] !== m[4] || !CONTAINER_NAME.test(m[2]!)) return undefined;
  const parsed = { limit: Number(m[1]), container: m[2]! };
  const rest = text.slice(m[0].length);
  if (rest === "") return parsed;
  const s = ONE_SHOT_START.exec(rest);
  if (!s || s[2] !== parsed.container || s[3] !== parsed.container || Number(s[1]) < 1) return undefined;
  return { ...parsed, start: { timeoutSeconds: Number(s[1]) } };
}
