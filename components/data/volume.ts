/**
 * The data volume of a data store (Postgres, Redis), declared once for both placements: a named
 * docker volume labelled `launchgate.data=<kind>`, protected and retained on delete (the data
 * outlives every container and even `pulumi destroy`: only backups bring it back).
 *
 * On a Swarm cluster a named volume is node-local: a task mounting `postgres-data` gets the
 * volume of that name on whichever node runs it, and Swarm creates an empty, unlabelled,
 * unprotected one there when none exists. So the volume is declared through a docker provider
 * for the one node the store is pinned to ({@link DataNode}), labelled with that node's name, and
 * the service's placement is pinned to the same node by {@link pinnedTo} — both from one
 * `DataNode`, so they cannot name different nodes (policy `swarm-volumes-on-pinned-node`).
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { NODE_NAME_LABEL, nodeConstraint } from "../../contract/placement";
import type { SwarmPlacement } from "../app/workload";

/** Label on volumes holding data (`launchgate.data=postgres|redis-<role>`; policies/data.ts reads it). */
const DATA_LABEL = "launchgate.data";

/** The one Swarm node holding a data store's volumes. */
export interface DataNode {
  /** The node's name, as its `launchgate.node` label carries it (contract/placement.ts `nodeName`). */
  readonly name: string;
  /** A docker provider for that node's own engine (SSH to the node, its pinned host key). */
  readonly docker: pulumi.ProviderResource;
}

/**
 * `placement` pinned to `node`: its constraints plus `node.labels.launchgate.node == <name>`.
 * Pure.
 */
export function pinnedTo(placement: SwarmPlacement, node: DataNode): SwarmPlacement {
  return { ...placement, constraints: [...(placement.constraints ?? []), nodeConstraint(node.name)] };
}

/**
 * Declares the data volume `<name>-data` holding `kind` data, a child of `parent`: on `node`'s
 * engine with the `launchgate.node` label when given (Swarm), else on the parent's provider.
 */
export function declareDataVolume(
  parent: pulumi.Resource,
  name: string,
  kind: string,
  node?: DataNode,
): docker.Volume {
  return new docker.Volume(
    `${name}-data`,
    {
      name: `${name}-data`,
      labels: [
        { label: DATA_LABEL, value: kind },
        ...(node ? [{ label: NODE_NAME_LABEL, value: node.name }] : []),
      ],
    },
    { parent, protect: true, retainOnDelete: true, ...(node ? { provider: node.docker } : {}) },
  );
}
