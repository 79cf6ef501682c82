/**
 * Network: the two docker networks every service joins. `edge` carries proxy↔app traffic;
 * `internal` (internal: true, no egress) carries app↔data traffic. Data stores join only
 * `internal` and publish no host port.
 * STUB: contract only; implementation pending.
 */
import * as pulumi from "@pulumi/pulumi";
import { LaunchgateComponent, LaunchgateComponentOptions } from "../base";

export interface NetworkArgs {
  /** Subnet of the internal network; fixed so the DB admin address is known. @default "172.30.0.0/24" */
  readonly internalSubnet?: string;
}

export class Network extends LaunchgateComponent {
  /** Name of the edge network (proxy + apps). */
  public readonly edgeName: pulumi.Output<string>;
  /** Name of the internal, egress-free network (apps + data stores). */
  public readonly internalName: pulumi.Output<string>;
  /** Subnet of the internal network. */
  public readonly internalSubnet: string;

  constructor(name: string, args: NetworkArgs, opts?: LaunchgateComponentOptions) {
    super("launchgate:network:Network", name, opts);
    this.internalSubnet = args.internalSubnet ?? "172.30.0.0/24";
    this.edgeName = pulumi.output(`${name}-edge`);
    this.internalName = pulumi.output(`${name}-internal`);
    this.registerOutputs({ edgeName: this.edgeName, internalName: this.internalName });
  }
}
