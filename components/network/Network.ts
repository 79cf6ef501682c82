/**
 * Network: the two docker networks every service joins. `edge` carries proxy↔app traffic;
 * `internal` (internal: true, no egress) carries app↔data traffic. Data stores join only
 * `internal` and publish no host port.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";

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
  readonly swarm?: { readonly encrypted: boolean };
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
