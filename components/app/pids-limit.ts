/**
 * Applies a container's PIDs cgroup limit (CIS Docker Benchmark v1.6 §5.29) on its own engine,
 * since @pulumi/docker 5.2.0's `Container` has no `pidsLimit` input: after the create for a
 * long-running container or Swarm service ({@link limitPids}), before the start for a one-shot
 * container created stopped ({@link startOneShot}). Limits by role and the command texts:
 * contract/pids-limits.ts.
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import {
  PIDS_LIMIT_COMMAND_ROLE,
  PIDS_LIMIT_STARTS_TRIGGER,
  PIDS_LIMIT_TRIGGER,
  oneShotStartCommand,
  pidsLimitCommand,
  servicePidsLimitCommand,
} from "../../contract/pids-limits";
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
 * Digest of everything the provider sends when it updates a Swarm service (its whole spec but the
 * registry `auth`, which holds a password and is left out rather than hashed into plain state):
 * any change means the provider wrote a spec without a PIDs limit, so the limit is set again.
 */
function serviceSpecDigest(s: docker.Service): pulumi.Output<string> {
  return pulumi
    .jsonStringify({
      name: s.name,
      labels: s.labels,
      taskSpec: s.taskSpec,
      mode: s.mode,
      updateConfig: s.updateConfig,
      rollbackConfig: s.rollbackConfig,
      endpointSpec: s.endpointSpec,
    })
    .apply((j) => `spec-sha256=${crypto.createHash("sha256").update(j).digest("hex")}`);
}

/**
 * Declares `<containerResource>-pids-limit`: for a container, runs `docker update --pids-limit`
 * on it and checks it took, once the container is created (healthy, for `wait` containers),
 * triggered by the container's id so a replacement gets the limit again; for a Swarm service,
 * runs `docker service update --limit-pids` on a manager (the engine given) once the service has
 * converged, triggered by its id and a digest of its spec so the limit is set again after every
 * provider update (which resets it: contract/pids-limits.ts). A changed limit is applied in place
 * (the command runs again). Nothing to delete: the limit goes with its container or service.
 * @throws Error when `limit` is not a positive integer.
 */
export function limitPids(
  containerResource: string,
  container: docker.Container | docker.Service,
  args: PidsLimitArgs | undefined,
  opts: pulumi.CustomResourceOptions,
): command.remote.Command | command.local.Command | undefined {
  // A component declared without `pids` gets none: the container-pids-limit policy refuses that.
  if (!args) return undefined;
  if (!Number.isInteger(args.limit) || args.limit < 1)
    throw new Error(`PIDs limit must be a positive integer, got ${args.limit}`);
  const name = `${containerResource}-pids-limit`;
  const service = docker.Service.isInstance(container) ? container : undefined;
  const inputs = {
    create: service
      ? service.name.apply((n) => servicePidsLimitCommand(args.limit, n))
      : container.name.apply((n) => pidsLimitCommand(args.limit, n)),
    // The role marker, the limit as a literal (policies read it at preview) and the container's
    // id (a service's: and its spec digest).
    triggers: [
      roleTrigger(PIDS_LIMIT_COMMAND_ROLE),
      `${PIDS_LIMIT_TRIGGER}${args.limit}`,
      container.id,
      ...(service ? [serviceSpecDigest(service)] : []),
    ],
  };
  return declareCommand(name, inputs, args.engine, { ...opts, dependsOn: [container] });
}

/** A command resource on `engine`: remote over SSH, or local. */
function declareCommand(
  name: string,
  inputs: { create: pulumi.Input<string>; triggers: pulumi.Input<unknown>[] },
  engine: EngineCli,
  opts: pulumi.CustomResourceOptions,
): command.remote.Command | command.local.Command {
  return "ssh" in engine
    ? new command.remote.Command(name, { connection: engine.ssh, ...inputs }, opts)
    : new command.local.Command(name, inputs, opts);
}

/**
 * Declares `<containerResource>-pids-limit` for a one-shot container created stopped (`start:
 * false`: `hardened({ kind: "job" })`): it sets and checks the container's PIDs limit, then starts
 * it attached and waits for it (contract/pids-limits.ts `oneShotStartCommand`), so the job's first
 * process already runs under the limit. The command fails when the job exits non-zero or runs
 * longer than `timeoutSeconds` (then the container is killed): whatever must wait for the job
 * depends on this command, not on the container; `opts.dependsOn` is what the job must run after
 * (the container itself may be created before it). Its stdout/stderr (the job's output) are secret
 * outputs: a job runs with the app's secrets in its environment. Triggered by the container's id
 * (a new container runs once more) and the limit (a changed limit runs the job again); its
 * triggers say that it starts the container (PIDS_LIMIT_STARTS_TRIGGER) for policies at preview.
 * @throws Error when `limit` is not a positive integer or `timeoutSeconds` not a whole number ≥ 1.
 */
export function startOneShot(
  containerResource: string,
  container: docker.Container,
  args: PidsLimitArgs & { readonly timeoutSeconds: number },
  opts: pulumi.CustomResourceOptions,
): command.remote.Command | command.local.Command {
  if (!Number.isInteger(args.limit) || args.limit < 1)
    throw new Error(`PIDs limit must be a positive integer, got ${args.limit}`);
  const inputs = {
    create: container.name.apply((n) => oneShotStartCommand(args.limit, n, args.timeoutSeconds)),
    triggers: [
      roleTrigger(PIDS_LIMIT_COMMAND_ROLE),
      `${PIDS_LIMIT_TRIGGER}${args.limit}`,
      PIDS_LIMIT_STARTS_TRIGGER,
      container.id,
    ],
  };
  const after = opts.dependsOn ? (Array.isArray(opts.dependsOn) ? opts.dependsOn : [opts.dependsOn]) : [];
  return declareCommand(`${containerResource}-pids-limit`, inputs, args.engine, {
    ...opts,
    dependsOn: [container, ...(after as pulumi.Input<pulumi.Resource>[])],
    additionalSecretOutputs: ["stdout", "stderr"],
  });
}
