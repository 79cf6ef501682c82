/**
 * Swarm placement contract: the node labels that pin workloads, and the placement constraints
 * built from them, written once for the config validation (stacks/config.ts), the program
 * (components/app/workload.ts) and the tests. No imports: the pack and the tools load it too.
 *
 * Postgres and Redis keep their data in node-local named volumes, so each is pinned to exactly one
 * labelled node; the proxy runs as a global service on every node labelled edge (host-mode ports).
 */

/** Value a pinning label must have. */
export const NODE_LABEL_ON = "true";

/** Node label keys (`hosts[*].labels`) the program's placement constraints match. */
export const NODE_LABELS = {
  /** The one node holding Postgres' volume (and running backups, the drill and monitoring). */
  postgres: "launchgate.postgres",
  /** The one node holding the Redis volumes. */
  redis: "launchgate.redis",
  /** Nodes whose published 80/443 the proxy listens on (host-mode ports, DNS points at them). */
  edge: "launchgate.edge",
} as const;
export type PinnedWorkload = keyof typeof NODE_LABELS;

/** The Swarm placement constraint `node.labels.<key> == true` for a pinned workload. */
export function labelConstraint(workload: PinnedWorkload): string {
  return `node.labels.${NODE_LABELS[workload]} == ${NODE_LABEL_ON}`;
}

/**
 * Label on a Swarm service's task template saying its no-new-privileges comes from the engine's
 * daemon default (`"no-new-privileges": true` in daemon.json, CIS Docker 2.18, set by the host's
 * docker step): Swarm's ContainerSpec has no such field before Engine API 1.44 and @pulumi/docker
 * 5.2.0 exposes none. The pack accepts it only on services (components/app/workload.ts).
 */
export const NNP_BY_DAEMON_LABEL = "launchgate.no-new-privileges";
export const NNP_BY_DAEMON = "daemon";
