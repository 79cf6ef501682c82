/**
 * Proxy: nginx on the edge network terminating TLS (≥ 1.2, HSTS, 80→443) with upstreams to the
 * apps' stable aliases; config validated with `nginx -t` before it is swapped in.
 * STUB: contract only; implementation pending.
 */
import * as pulumi from "@pulumi/pulumi";
import { LaunchgateComponent, LaunchgateComponentOptions } from "../base";
import type { ProxyConfig } from "../../stacks/config";

export interface ProxyRoute {
  /** Path prefix (`/`, `/admin`). */
  readonly path: string;
  /** Upstream `alias:port` on the edge network. */
  readonly upstream: pulumi.Input<string>;
}

export interface ProxyArgs {
  readonly config: ProxyConfig;
  /** Public host name served (the certificate's subject). */
  readonly domain: string;
  readonly edgeNetwork: pulumi.Input<string>;
  readonly routes: ProxyRoute[];
  /** PEM certificate chain and key the proxy serves (key is secret). */
  readonly certificatePem: pulumi.Input<string>;
  readonly privateKeyPem: pulumi.Input<string>;
  /** Host ports published for HTTP/HTTPS. @default { http: 80, https: 443 } */
  readonly ports?: { readonly http: number; readonly https: number };
}

export class Proxy extends LaunchgateComponent {
  /** Public HTTPS URL. */
  public readonly url: pulumi.Output<string>;

  constructor(name: string, args: ProxyArgs, opts?: LaunchgateComponentOptions) {
    super("launchgate:edge:Proxy", name, opts);
    this.url = pulumi.output(`https://${args.domain}`);
    this.registerOutputs({ url: this.url });
  }
}
