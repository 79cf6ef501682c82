/**
 * Redis: one redis-server container per configured instance, AOF + RDB persistence on a
 * protected volume, `maxmemory`, eviction by role, `requirepass` from a random password.
 * STUB: contract only; implementation pending.
 */
import * as pulumi from "@pulumi/pulumi";
import { LaunchgateComponent, LaunchgateComponentOptions } from "../base";
import type { RedisInstanceConfig } from "../../stacks/config";

export interface RedisArgs {
  /** Image reference (pinned by digest outside `local`). */
  readonly image: string;
  /** Name, role (`queue`/`session` keep every key; `cache` evicts) and memory ceiling. */
  readonly instance: RedisInstanceConfig;
  /** Internal network the server joins; it publishes no host port. */
  readonly internalNetwork: pulumi.Input<string>;
}

export class Redis extends LaunchgateComponent {
  /** redis:// URL with the password (secret). */
  public readonly url: pulumi.Output<string>;
  /** Container name (used by backups to copy the RDB). */
  public readonly containerName: pulumi.Output<string>;
  /** Named volume holding AOF + RDB. */
  public readonly volumeName: pulumi.Output<string>;

  constructor(name: string, args: RedisArgs, opts?: LaunchgateComponentOptions) {
    super("launchgate:data:Redis", name, opts);
    void args;
    this.url = pulumi.secret(`redis://:stub@${name}:6379`);
    this.containerName = pulumi.output(name);
    this.volumeName = pulumi.output(`${name}-data`);
    this.registerOutputs({ url: this.url, containerName: this.containerName, volumeName: this.volumeName });
  }
}
