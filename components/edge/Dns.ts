/**
 * Dns: Cloudflare records (proxied) for the domain and its extra names, and zone TLS settings
 * (SSL strict, always HTTPS, minimum TLS 1.2).
 * STUB: contract only; implementation pending.
 */
import * as pulumi from "@pulumi/pulumi";
import { LaunchgateComponent, LaunchgateComponentOptions } from "../base";
import type { DnsConfig } from "../../stacks/config";

export interface DnsArgs {
  readonly config: DnsConfig;
  readonly domain: string;
  /** Public IPv4 of the VPS. */
  readonly address: pulumi.Input<string>;
}

export class Dns extends LaunchgateComponent {
  /** Fully qualified names created. */
  public readonly names: pulumi.Output<string[]>;

  constructor(name: string, args: DnsArgs, opts?: LaunchgateComponentOptions) {
    super("launchgate:edge:Dns", name, opts);
    this.names = pulumi.output([args.domain]);
    this.registerOutputs({ names: this.names });
  }
}
