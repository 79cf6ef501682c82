/**
 * Role markers: the one place that says how a component tells the policy pack what a resource is
 * for (DESIGN "Roles are markers, not names"). Policies select by resource type and these markers,
 * never by a resource's name, image or command text; a container without a known marker gets the
 * strictest rules. No imports: the program, the pack and the tools all load it.
 *
 * - Docker containers (and volumes): the label `launchgate.role=<role>`; data stores also carry
 *   `launchgate.datastore=<engine>`.
 * - Command resources (`command:local:Command`, `command:remote:Command`): the entry
 *   `launchgate.role=<role>` in `triggers`. `triggers` only forces a replacement when it changes,
 *   so a constant marker has no effect on the host and needs no SSH `AcceptEnv` (an `environment`
 *   entry would be sent with SSH `setenv`, which sshd refuses by default).
 */

/** Label key (containers) and trigger prefix (commands) of the role marker. */
export const ROLE_LABEL = "launchgate.role";
/** Label naming a data store's engine. */
export const DATASTORE_LABEL = "launchgate.datastore";

/** What a container is for; drives its capability allow-list, restart and healthcheck rules. */
export const CONTAINER_ROLES = ["app", "datastore", "proxy", "job", "migration", "vps"] as const;
export type ContainerRole = (typeof CONTAINER_ROLES)[number];
/** Containers that run once and exit (restart "no", no healthcheck). */
export const ONE_SHOT_ROLES: readonly ContainerRole[] = ["job", "migration"];

export const DATASTORE_ENGINES = ["postgres", "pgbouncer", "redis"] as const;
export type DatastoreEngine = (typeof DATASTORE_ENGINES)[number];

/**
 * Every HardenedHost step, in the order it runs them (each names its script under
 * components/host/scripts), mapped to whether the pack requires it (policy `host-steps-present`,
 * role `host-<step>`). One list for the component and the pack, so a step cannot be added to one
 * and forgotten in the other.
 */
const HOST_STEP_REQUIRED = {
  bootstrap: false,
  packages: false,
  timezone: false,
  sshd: true,
  sysctl: true,
  "kernel-modules": true,
  firewall: true,
  fail2ban: true,
  "unattended-upgrades": true,
  needrestart: false,
  auditd: true,
  "process-accounting": false,
  docker: true,
  logrotate: false,
  storage: false,
  accounts: true,
  baseline: true,
  "file-integrity": true,
} as const;
export type HostStep = keyof typeof HOST_STEP_REQUIRED;

/** The steps in the order HardenedHost runs them. */
export const HOST_STEPS = Object.keys(HOST_STEP_REQUIRED) as readonly HostStep[];

/** Host hardening steps a policy requires (`host-<step>` command roles). */
export const REQUIRED_HOST_STEPS: readonly HostStep[] = HOST_STEPS.filter((s) => HOST_STEP_REQUIRED[s]);

/** What a command resource is for. */
export type CommandRole =
  | `host-${string}`
  | "backup"
  | "drill"
  | "pre-migration-backup"
  /** Runs an app's migration as a Swarm job on a manager (AppService, placement swarm). */
  | "migration"
  | "monitoring"
  | "identity-file"
  | "db-admin-tunnel"
  /** Makes the swarm's DB admin network (Network, placement swarm). */
  | "db-admin-network"
  | "image-build"
  | "pids-limit"
  | "release-gate"
  /** Waits, on delete, while a replaced app container drains (AppService). */
  | "drain";

/** The docker label list entry for a container role. */
export function roleLabel(role: ContainerRole): { label: string; value: string } {
  return { label: ROLE_LABEL, value: role };
}

/** The docker labels of a data store: its role and engine. */
export function datastoreLabels(engine: DatastoreEngine): { label: string; value: string }[] {
  return [roleLabel("datastore"), { label: DATASTORE_LABEL, value: engine }];
}

/** The `triggers` entry marking a command resource's role. */
export function roleTrigger(role: CommandRole): string {
  return `${ROLE_LABEL}=${role}`;
}

/** The role of a command resource from its `triggers` (plain values only), if marked. */
export function commandRoleOf(triggers: readonly unknown[] | undefined): string | undefined {
  for (const t of triggers ?? []) {
    if (typeof t === "string" && t.startsWith(`${ROLE_LABEL}=`)) return t.slice(ROLE_LABEL.length + 1);
  }
  return undefined;
}

/**
 * The `triggers` entry of a command whose `delete` removes only what its own version installed
 * (so create-first replacement is safe); without it, a command with `delete` must replace
 * delete-first.
 */
export const DELETE_SCOPE_TRIGGER = "launchgate.delete=own-version";
