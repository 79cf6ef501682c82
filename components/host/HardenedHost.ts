/**
 * HardenedHost: turns a fresh Debian VPS into the hardened host the runbooks assume, as a chain
 * of idempotent remote scripts (one file each under ./scripts, hashed into `triggers`).
 * STUB: contract only; implementation pending.
 */
import * as pulumi from "@pulumi/pulumi";
import { LaunchgateComponent, LaunchgateComponentOptions } from "../base";
import type { HostConfig } from "../../stacks/config";

export interface SshConnection {
  readonly host: pulumi.Input<string>;
  readonly port: pulumi.Input<number>;
  readonly user: pulumi.Input<string>;
  readonly privateKey: pulumi.Input<string>;
}

export interface HardenedHostArgs {
  /** How to reach the fresh VPS (bootstrap user, usually root) for the first step. */
  readonly bootstrap: SshConnection;
  /** Host settings from config: deploy user, storage path, SSH source ranges, timezone. */
  readonly host: HostConfig;
  /** OpenSSH public key installed for the deploy user. */
  readonly deployerPublicKey: pulumi.Input<string>;
  /** Private key matching `deployerPublicKey`, used by every step after bootstrap. */
  readonly deployerPrivateKey: pulumi.Input<string>;
  /** TCP ports the firewall opens to the world. @default [22, 80, 443] */
  readonly publicTcpPorts?: number[];
  /** `ip:port` destinations the deploy user may reach through SSH local forwarding (DB admin). @default [] */
  readonly permitOpen?: pulumi.Input<string>[];
}

export class HardenedHost extends LaunchgateComponent {
  /** Docker engine URI over SSH as the deploy user (`ssh://deployer@host:port`). */
  public readonly dockerHost: pulumi.Output<string>;
  /** Root of persistent app storage on the host. */
  public readonly storagePath: pulumi.Output<string>;
  /** Connection for later remote commands (deploy user). */
  public readonly deployConnection: pulumi.Output<SshConnection>;
  /** The last hardening step; later host commands depend on it. */
  public readonly ready: pulumi.Resource;

  constructor(name: string, args: HardenedHostArgs, opts?: LaunchgateComponentOptions) {
    super("launchgate:host:HardenedHost", name, opts);
    this.ready = this;
    this.dockerHost = pulumi.interpolate`ssh://${args.host.deployUser}@${args.bootstrap.host}:${args.bootstrap.port}`;
    this.storagePath = pulumi.output(args.host.storagePath);
    this.deployConnection = pulumi.secret(pulumi.output({
      host: args.bootstrap.host,
      port: args.bootstrap.port,
      user: args.host.deployUser,
      privateKey: args.deployerPrivateKey,
    }));
    this.registerOutputs({ dockerHost: this.dockerHost, storagePath: this.storagePath, deployConnection: this.deployConnection });
  }
}
