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

/**
 * Node label naming each member (`node-<i>`, its index in `hosts`), set by the program on every
 * node (components/host/SwarmCluster.ts) and reserved: config may not set it. A constraint on it
 * pins a service to exactly one node, the one whose docker provider declares its volumes.
 */
export const NODE_NAME_LABEL = "launchgate.node";

/**
 * Marker (a trigger entry) on the commands SwarmCluster runs on one member over that member's own
 * connection (its firewall), naming it: what ties a node's name to its SSH address for the pack.
 */
export function nodeMarker(name: string): string {
  return `${NODE_NAME_LABEL}=${name}`;
}

/**
 * The name of a cluster member (resource names, {@link NODE_NAME_LABEL}): its configured
 * `hosts[].name`, else `node-<index>` by its place in `hosts`. A name is the member's identity
 * across updates: removing a host renames every later index-named one, so the program would
 * drain the wrong node and keep the removed one (stacks/config.ts requires names on staging and
 * production for that reason).
 */
export function nodeName(index: number, name?: string): string {
  return name ?? `node-${index}`;
}

/** The Swarm placement constraint pinning a service to the one node named `name`. */
export function nodeConstraint(name: string): string {
  return `node.labels.${NODE_NAME_LABEL} == ${name}`;
}

/**
 * The node a service's placement constraints pin it to: the value of its one
 * `node.labels.launchgate.node == <name>` constraint; undefined with none, with two different
 * names, or with a `!=` on that label (not one node).
 */
export function pinnedNodeOf(constraints: readonly string[]): string | undefined {
  const names = new Set<string>();
  for (const c of constraints) {
    const m = /^\s*node\.labels\.(\S+)\s*(==|!=)\s*(\S+)\s*$/.exec(c);
    if (!m || m[1] !== NODE_NAME_LABEL) continue;
    if (m[2] === "!=") return undefined;
    names.add(m[3]!);
  }
  return names.size === 1 ? [...names][0] : undefined;
}

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
