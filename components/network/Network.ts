/**
 * Network: the two docker networks every service joins. `edge` carries proxy↔app traffic;
 * `internal` (internal: true, no egress) carries app↔data traffic. Data stores join only
 * `internal` and publish no host port.
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { roleTrigger } from "../../contract/roles";
import type { SshConnection } from "../host/HardenedHost";
import { renderScript } from "../ops/remote-script";

const DB_ADMIN_SCRIPT = path.join(__dirname, "scripts", "db-admin-network.sh");

/**
 * The DB admin network of a swarm: where the host's sshd reaches Postgres (an overlay address is
 * reachable only inside the overlay). @pulumi/docker 5.2.0's Network has no `scope`/`configFrom`,
 * so SSH commands make it (scripts/db-admin-network.sh).
 */
export interface DbAdminNetworkArgs {
  /** Deploy-user connections of the nodes Postgres may run on (its pinned node): the config-only network. */
  readonly nodes: readonly pulumi.Input<SshConnection>[];
  /** A manager's deploy-user connection: the swarm-scoped network. */
  readonly manager: pulumi.Input<SshConnection>;
  /** IPv4 subnet: a /30, so the one task on it always gets the one address (`.2`). */
  readonly subnet: string;
}

/** Gateway (first address) of an IPv4 subnet `a.b.c.d/n`. Pure. */
export function subnetGateway(subnet: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(subnet);
  if (!m) throw new Error(`subnet: expected a.b.c.d/n, got ${JSON.stringify(subnet)}`);
  const ip = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  const n = ((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) >>> 0;
  const base = bits === 0 ? 0 : (n & (~0 << (32 - bits))) >>> 0;
  const g = base + 1;
  return [g >>> 24, (g >>> 16) & 255, (g >>> 8) & 255, g & 255].join(".");
}

export interface NetworkArgs {
  /** Subnet of the internal network; fixed so the DB admin address is known. @default "172.30.0.0/24" */
  readonly internalSubnet?: string;
  /**
   * Subnet of the edge network; fixed so it cannot collide with the internal one or the host's
   * LAN when the daemon picks pools. @default "172.31.0.0/24"
   */
  readonly edgeSubnet?: string;
  /**
   * Swarm overlays instead of local bridges: `internal` is internal and not attachable (only
   * services join it), `edge` is attachable. `encrypted` turns on IPsec between nodes (the
   * `encrypted-overlays` policy requires it on staging/production); the sandbox kernel has no
   * IPsec, so the local stack leaves it off. @default bridges on the one host
   */
  readonly swarm?: { readonly encrypted: boolean; readonly dbAdmin?: DbAdminNetworkArgs };
}

/** Driver options of an overlay: `encrypted` (IPsec ESP between nodes) when asked. */
export function overlayOptions(encrypted: boolean): Record<string, string> {
  return encrypted ? { encrypted: "true" } : {};
}

/** Labels marking the networks as managed by this program (visible in `docker network ls`). */
function labels(role: string): docker.types.input.NetworkLabel[] {
  return [
    { label: "launchgate.managed", value: "true" },
    { label: "launchgate.role", value: role },
  ];
}

export class Network extends pulumi.ComponentResource {
  /** Name of the edge network (proxy + apps). */
  public readonly edgeName: pulumi.Output<string>;
  /** Name of the internal, egress-free network (apps + data stores). */
  public readonly internalName: pulumi.Output<string>;
  /** Subnet of the internal network. */
  public readonly internalSubnet: string;
  /** Network ids (what a Swarm service's `networksAdvanceds` takes). */
  public readonly edgeId: pulumi.Output<string>;
  public readonly internalId: pulumi.Output<string>;
  /** Id of the DB admin network (swarm with `dbAdmin`): Postgres joins it. */
  public readonly dbAdminId?: pulumi.Output<string>;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("launchgate:network:Network", name, {}, opts);
    this.internalSubnet = args.internalSubnet ?? "172.30.0.0/24";

    const edge = new docker.Network(
      `${name}-edge`,
      {
        name: `${name}-edge`,
        ...(args.swarm
          ? { driver: "overlay", attachable: true, options: overlayOptions(args.swarm.encrypted) }
          : { driver: "bridge" }),
        ipamConfigs: [{ subnet: args.edgeSubnet ?? "172.31.0.0/24" }],
        labels: labels("edge"),
      },
      { parent: this },
    );
    // internal: true gives the bridge no gateway route out, so a compromised app or data store
    // cannot exfiltrate over it; only the edge network (apps with a route) has egress.
    const internal = new docker.Network(
      `${name}-internal`,
      {
        name: `${name}-internal`,
        ...(args.swarm
          ? { driver: "overlay", attachable: false, options: overlayOptions(args.swarm.encrypted) }
          : { driver: "bridge" }),
        internal: true,
        ipamConfigs: [{ subnet: this.internalSubnet }],
        labels: labels("internal"),
      },
      { parent: this },
    );

    const dbAdmin = args.swarm?.dbAdmin;
    if (dbAdmin) {
      const net = `${name}-db-admin`;
      const env = (mode: string) => ({
        LG_MODE: mode,
        LG_NAME: net,
        LG_SUBNET: dbAdmin.subnet,
        LG_GATEWAY: subnetGateway(dbAdmin.subnet),
      });
      const step = (
        resource: string,
        connection: pulumi.Input<SshConnection>,
        mode: string,
        deps: pulumi.Resource[],
      ) => {
        const create = renderScript(DB_ADMIN_SCRIPT, env(mode));
        const del = renderScript(DB_ADMIN_SCRIPT, env(`remove-${mode}`));
        return new command.remote.Command(
          resource,
          {
            connection,
            create: create.text,
            delete: del.text,
            triggers: [roleTrigger("db-admin-network"), create.trigger, dbAdmin.subnet],
          },
          // Fixed names: replaced delete-first (the old delete would remove the new network).
          { parent: this, dependsOn: deps, deleteBeforeReplace: true },
        );
      };
      const configs = dbAdmin.nodes.map((c, i) => step(`${net}-config-${i}`, c, "config", []));
      const swarmNet = step(net, dbAdmin.manager, "swarm", configs);
      this.dbAdminId = swarmNet.stdout.apply((o) => (o ?? "").trim());
    }

    this.edgeName = edge.name;
    this.internalName = internal.name;
    this.edgeId = edge.id;
    this.internalId = internal.id;
    this.registerOutputs({
      edgeName: this.edgeName,
      internalName: this.internalName,
      internalSubnet: this.internalSubnet,
    });
  }
}
