/**
 * Applies a container's PIDs cgroup limit (CIS Docker Benchmark v1.6 §5.29) on its own engine,
 * since @pulumi/docker 5.2.0's `Container` has no `pidsLimit` input. Limits by role, the command
 * text and the one-shot exception: contract/pids-limits.ts.
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { PIDS_LIMIT_COMMAND_ROLE, PIDS_LIMIT_TRIGGER, pidsLimitCommand } from "../../contract/pids-limits";
import { roleTrigger } from "../../contract/roles";
import type { SshConnection } from "../host/HardenedHost";

/**
 * How to run the Docker CLI against the engine a container runs on: over SSH as the deploy user
 * (the VPS's engine, the one the docker provider reaches over `ssh://`), or on the machine
 * running Pulumi (the local stack's disposable VPS container, on the local engine).
 */
export type EngineCli = { readonly ssh: pulumi.Input<SshConnection> } | { readonly local: true };

/** A container's PIDs limit and where its engine is. */
export interface PidsLimitArgs {
  /** Tasks (processes + threads) the container may have; a positive integer. */
  readonly limit: number;
  readonly engine: EngineCli;
}

/**
 * Declares `<containerResource>-pids-limit`: runs `docker update --pids-limit` on the
 * container and checks it took, once the container is created (healthy, for `wait` containers).
 * Triggered by the container's id, so a replacement gets the limit again; a changed limit is
 * applied in place (the command runs again). Nothing to delete: the limit goes with its container.
 * @throws Error when `limit` is not a positive integer.
 */
export function limitPids(
  containerResource: string,
  container: docker.Container | docker.Service,
  args: PidsLimitArgs | undefined,
  opts: pulumi.CustomResourceOptions,
): command.remote.Command | command.local.Command | undefined {
  // A Swarm service has no PIDs limit in Docker 20.10's service spec (a known gap), and a
  // component declared without `pids` gets none: the container-pids-limit policy refuses that.
  if (!args || !docker.Container.isInstance(container)) return undefined;
  if (!Number.isInteger(args.limit) || args.limit < 1)
    throw new Error(`PIDs limit must be a positive integer, got ${args.limit}`);
  const name = `${containerResource}-pids-limit`;
  const inputs = {
    create: container.name.apply((n) => pidsLimitCommand(args.limit, n)),
    // The role marker, the limit as a literal (policies read it at preview) and the container's id.
    triggers: [roleTrigger(PIDS_LIMIT_COMMAND_ROLE), `${PIDS_LIMIT_TRIGGER}${args.limit}`, container.id],
  };
  const options = { ...opts, dependsOn: [container] };
  return "ssh" in args.engine
    ? new command.remote.Command(name, { connection: args.engine.ssh, ...inputs }, options)
    : new command.local.Command(name, inputs, options);
}
