/**
 * One workload spec, two renderings (DESIGN "Placement: one host, or a Swarm cluster"): every
 * component builds its container exactly once, as the `docker.ContainerArgs` it has always declared
 * (hardened by ./hardening.ts), and {@link declareWorkload} renders that spec either as that
 * `docker.Container` (placement `single-host`, unchanged) or as a `docker.Service` on a Docker
 * Swarm cluster with the same image, user, capabilities, read-only root, limits, healthcheck and
 * role markers, plus what only a cluster has: placement constraints, replicas, health-gated
 * `start-first` rolling updates that roll back by themselves, and secrets as files.
 *
 * The conversion is strict: a container field without a Swarm equivalent makes it throw instead of
 * being dropped silently, so a control added to `hardened()` later cannot vanish on the cluster.
 * What Swarm (Engine 20.10, @pulumi/docker 5.2.0) cannot express, and what stands in for it:
 * - `no-new-privileges` has no service field before Engine API 1.44: the engine's daemon.json
 *   default (`"no-new-privileges": true`, CIS 2.18, components/host/scripts/docker.sh) applies to
 *   every task container; the service carries the {@link NNP_BY_DAEMON_LABEL} marker saying so.
 * - `memorySwap`: a task's swap is not capped separately; the memory limit still holds.
 * - tmpfs mount flags (noexec, nosuid): Swarm's tmpfs mounts take only size and mode.
 * - `shmSize`: a tmpfs mount on /dev/shm of the same size.
 * - fixed network addresses (`ipv4Address`): tasks get addresses from the overlay; clients use the
 *   service name.
 */
import type * as docker from "@pulumi/docker";
import * as dockerNs from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { shortHash } from "./hardening";
import { NNP_BY_DAEMON, NNP_BY_DAEMON_LABEL } from "../../contract/placement";

/** Where Swarm mounts secret files in a task container. */
export const SECRETS_DIR = "/run/secrets";

/** How a Service's tasks are found and reached on the cluster. */
export type EndpointMode = "vip" | "dnsrr";

/** How one workload is placed on a Swarm cluster. */
export interface SwarmPlacement {
  /** Placement constraints, e.g. `node.labels.launchgate.postgres == true`. @default [] */
  readonly constraints?: readonly string[];
  /** `global`: one task per node matching the constraints; else this many replicas. @default 1 */
  readonly replicas?: number | "global";
  /** At most this many tasks of the service per node (apps spread across nodes). @default unlimited */
  readonly maxReplicasPerNode?: number;
  /**
   * Rolling-update order: `start-first` (new task healthy before the old one stops: apps) or
   * `stop-first` (a node-local volume or a host port cannot be shared: data stores, the proxy).
   */
  readonly order: "start-first" | "stop-first";
  /**
   * `vip` (a virtual IP load-balanced by IPVS) or `dnsrr` (DNS returns every task's address).
   * IPVS is missing from the sandbox kernel, so the local stack uses `dnsrr` (stacks/compose.ts).
   */
  readonly endpointMode: EndpointMode;
  /** Seconds a new task is watched for failure before the update goes on. @default 30 */
  readonly monitorSeconds?: number;
}

/** A secret value delivered to a task as the file `/run/secrets/<name>`, named `<name>_FILE` in env. */
export interface SecretFile {
  /** Env-style name (`DATABASE_URL`); the file is `/run/secrets/DATABASE_URL`. */
  readonly name: string;
  readonly value: pulumi.Input<string>;
}

/** The rendering a component asks for: today's container, or a service on the cluster. */
export type WorkloadRendering =
  | { readonly kind: "container" }
  | {
      readonly kind: "service";
      readonly swarm: SwarmPlacement;
      /** Plain env (no secrets): container `envs` are not carried over. */
      readonly env?: pulumi.Input<Record<string, pulumi.Input<string>>>;
      /** Secrets as files ({@link swarmSecretFiles} creates them). */
      readonly secrets?: readonly SecretFileRef[];
      /** Swarm configs (non-secret files such as nginx.conf) mounted read-only. */
      readonly configs?: readonly docker.types.input.ServiceTaskSpecContainerSpecConfig[];
      /** Ports published on each node running a task (host mode: no routing mesh). */
      readonly hostPorts?: readonly { readonly target: number; readonly published: number }[];
    };

/** A created docker.Secret and where the task finds it. */
export interface SecretFileRef {
  readonly name: string;
  readonly secret: docker.Secret;
}

/** Swarm restart policy of a long-running task: restart on any exit, paced. */
const SERVICE_RESTART = { condition: "any", delay: "5s", window: "60s" } as const;

/** A Docker duration (`30s`) from seconds. */
function seconds(s: number): string {
  return `${s}s`;
}

/** Container fields {@link toServiceArgs} renders (everything else throws). */
const RENDERED = new Set([
  "name",
  "image",
  "user",
  "entrypoints",
  "command",
  "envs",
  "privileged",
  "capabilities",
  "securityOpts",
  "readOnly",
  "tmpfs",
  "memory",
  "memorySwap",
  "cpus",
  "restart",
  "logDriver",
  "logOpts",
  "destroyGraceSeconds",
  "stopTimeout",
  "stopSignal",
  "volumes",
  "labels",
  "networksAdvanced",
  "healthcheck",
  "shmSize",
  // Container-only lifecycle (Pulumi waits on a container's health; a Service waits through
  // convergeConfig instead).
  "wait",
  "waitTimeout",
  "ports",
]);

/** Size of a tmpfs from its Docker mount options (`size=64m`), in bytes. */
export function tmpfsSizeBytes(options: string): number | undefined {
  const m = /(?:^|,)size=(\d+)([kmg]?)(?:,|$)/i.exec(options);
  if (!m) return undefined;
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g"];
  return Number(m[1]) * unit;
}

/**
 * Owner and mode of a task's secret files: the task's numeric uid:gid with 0400; root with 0400
 * when the task runs as root (nginx's master reads the key, its workers cannot); a named user
 * (postgres, redis) has an image-specific uid, so the file is 0444 inside the task's private
 * tmpfs, which only that one process tree sees. Pure.
 */
export function secretFileOwner(user: string | undefined): { uid: string; gid: string; mode: number } {
  if (user === undefined || user === "") return { uid: "0", gid: "0", mode: 0o400 };
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!m) return { uid: "0", gid: "0", mode: 0o444 };
  return { uid: m[1]!, gid: m[2] ?? m[1]!, mode: 0o400 };
}

/**
 * The env entries pointing a task at its secret files: `<NAME>_FILE=/run/secrets/<NAME>` (the
 * convention of the official postgres/redis images). Pure.
 */
export function secretFileEnv(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((n) => [`${n}_FILE`, `${SECRETS_DIR}/${n}`]));
}

/**
 * Name of a Swarm secret: `<prefix>-<name>-<content hash>`. Swarm secrets are immutable, so a new
 * value is a new secret (a rotation is a new secret + a rolling update + the old one deleted after
 * the service moved on). The hash is a truncated SHA-256 of prefix, name and value: it changes
 * with the value and reveals nothing useful about a generated secret. Pure.
 */
export function secretName(prefix: string, name: string, value: string): string {
  return `${prefix}-${name.toLowerCase().replace(/_/g, "-")}-${shortHash([prefix, name, value], 12)}`;
}

/**
 * One `docker.Secret` per file, content-hashed names, children of `parent`. The resource name is
 * stable (`<prefix>-secret-<name>`); its `name` input changes with the value, which replaces it
 * create-first: the service switches to the new secret, then the old one is deleted.
 */
export function swarmSecretFiles(
  parent: pulumi.Resource,
  prefix: string,
  files: readonly SecretFile[],
): SecretFileRef[] {
  return files.map((f) => ({
    name: f.name,
    secret: new dockerNs.Secret(
      `${prefix}-secret-${f.name.toLowerCase().replace(/_/g, "-")}`,
      {
        name: pulumi.unsecret(pulumi.output(f.value).apply((v) => secretName(prefix, f.name, v))),
        data: pulumi.secret(pulumi.output(f.value).apply((v) => Buffer.from(v, "utf8").toString("base64"))),
        labels: [{ label: "launchgate.secret", value: f.name }],
      },
      { parent },
    ),
  }));
}

type Args = Record<string, unknown>;

/**
 * Renders a container spec as a Swarm service (pure over the inputs it is given; resources such as
 * secrets are created by the caller). @throws Error naming a container field with no Swarm rendering.
 */
export function toServiceArgs(
  container: docker.ContainerArgs,
  rendering: Extract<WorkloadRendering, { kind: "service" }>,
): docker.ServiceArgs {
  const c = container as unknown as Args;
  for (const key of Object.keys(c)) {
    if (c[key] !== undefined && !RENDERED.has(key))
      throw new Error(`container field "${key}" has no Swarm service rendering (components/app/workload.ts)`);
  }
  if (container.privileged) throw new Error("a privileged container cannot become a Swarm service");
  const swarm = rendering.swarm;
  const oneShot = container.restart === "no";
  const caps = (container.capabilities ?? {}) as docker.types.input.ContainerCapabilities;
  const tmpfs = (container.tmpfs ?? {}) as Record<string, string>;
  const shm = container.shmSize as number | undefined;
  const mounts: docker.types.input.ServiceTaskSpecContainerSpecMount[] = [
    ...((container.volumes ?? []) as docker.types.input.ContainerVolume[]).map((v) => ({
      type: "volume",
      source: v.volumeName,
      target: v.containerPath as pulumi.Input<string>,
    })),
    ...Object.entries(tmpfs).map(([target, options]) => ({
      type: "tmpfs",
      target,
      tmpfsOptions: { sizeBytes: tmpfsSizeBytes(options), mode: 0o1777 },
    })),
    ...(shm ? [{ type: "tmpfs", target: "/dev/shm", tmpfsOptions: { sizeBytes: shm * 1024 ** 2 } }] : []),
  ];
  const user = container.user as string | undefined;
  const owner = secretFileOwner(user);
  const secretRefs = (rendering.secrets ?? []).map((s) => ({
    secretId: s.secret.id,
    secretName: s.secret.name,
    fileName: s.name,
    fileUid: owner.uid,
    fileGid: owner.gid,
    fileMode: owner.mode,
  }));
  const env = pulumi
    .output(rendering.env ?? {})
    .apply((e) => ({ ...e, ...secretFileEnv((rendering.secrets ?? []).map((s) => s.name)) }));
  // Kept a plain list (not one Output): a label computed later (a release hash) must not hide the
  // role marker from policies at preview.
  const nnp = { label: NNP_BY_DAEMON_LABEL, value: NNP_BY_DAEMON };
  const labels: pulumi.Input<pulumi.Input<docker.types.input.ContainerLabel>[]> = Array.isArray(
    container.labels,
  )
    ? [...(container.labels as pulumi.Input<docker.types.input.ContainerLabel>[]), nnp]
    : pulumi.output(container.labels ?? []).apply((ls) => [...(ls ?? []), nnp]);
  const health = container.healthcheck as docker.types.input.ContainerHealthcheck | undefined;
  // The provider's service healthcheck has no start interval: a caller must not ask for one.
  if (health?.startInterval !== undefined)
    throw new Error(
      `a Swarm service's healthcheck cannot set startInterval (the docker provider's service spec has none); use healthTiming(undefined, …)`,
    );
  const monitor = seconds(swarm.monitorSeconds ?? 30);
  const grace = (container.stopTimeout ?? container.destroyGraceSeconds) as number | undefined;
  const memoryMb = container.memory as number | undefined;
  const cpus = container.cpus as string | undefined;
  const networks = ((container.networksAdvanced ?? []) as docker.types.input.ContainerNetworksAdvanced[]).map(
    (n) => ({ id: n.name, aliases: n.aliases }),
  );
  return {
    name: container.name,
    labels,
    taskSpec: {
      containerSpec: {
        image: container.image,
        user,
        ...(container.entrypoints ? { commands: container.entrypoints } : {}),
        ...(container.command ? { args: container.command } : {}),
        env,
        capDrops: caps.drops,
        capAdds: caps.adds,
        readOnly: container.readOnly,
        mounts,
        labels,
        ...(health
          ? { healthcheck: health as docker.types.input.ServiceTaskSpecContainerSpecHealthcheck }
          : {}),
        ...(container.stopSignal ? { stopSignal: container.stopSignal } : {}),
        ...(grace !== undefined ? { stopGracePeriod: pulumi.output(grace).apply(seconds) } : {}),
        secrets: secretRefs,
        ...(rendering.configs ? { configs: [...rendering.configs] } : {}),
      },
      resources: {
        limits: {
          ...(memoryMb !== undefined
            ? { memoryBytes: pulumi.output(memoryMb).apply((m) => m * 1024 ** 2) }
            : {}),
          ...(cpus !== undefined
            ? { nanoCpus: pulumi.output(cpus).apply((n) => Math.round(Number(n) * 1e9)) }
            : {}),
        },
      },
      restartPolicy: oneShot ? { condition: "none" } : { ...SERVICE_RESTART },
      ...(container.logDriver
        ? {
            logDriver: {
              name: container.logDriver as pulumi.Input<string>,
              options: container.logOpts as Record<string, string>,
            },
          }
        : {}),
      networksAdvanceds: networks,
      placement: {
        constraints: [...(swarm.constraints ?? [])],
        ...(swarm.maxReplicasPerNode !== undefined ? { maxReplicas: swarm.maxReplicasPerNode } : {}),
      },
    },
    mode: swarm.replicas === "global" ? { global: true } : { replicated: { replicas: swarm.replicas ?? 1 } },
    // Health-gated: a task counts as failed when its healthcheck fails within `monitor`, and a
    // failed update rolls back by itself to the previous spec.
    updateConfig: {
      parallelism: 1,
      delay: "0s",
      order: swarm.order,
      failureAction: "rollback",
      monitor,
      maxFailureRatio: "0",
    },
    // A rollback stops the failed task first: it holds the one node a start-first replacement
    // could use when `maxReplicasPerNode` spreads the replicas (moby/moby#40797: start-first
    // cannot place the rolled-back task, and the restarted failing task pauses the rollback).
    // The failed task serves nothing (not healthy), so stopping it first costs no capacity.
    rollbackConfig: {
      parallelism: 1,
      delay: "0s",
      order: "stop-first",
      failureAction: "pause",
      monitor,
      maxFailureRatio: "0",
    },
    // Pulumi waits until every task runs (and a rollback fails the update) before dependents go on.
    convergeConfig: { delay: "2s", timeout: "5m" },
    endpointSpec: {
      mode: swarm.endpointMode,
      ...(rendering.hostPorts && rendering.hostPorts.length > 0
        ? {
            ports: rendering.hostPorts.map((p) => ({
              targetPort: p.target,
              publishedPort: p.published,
              protocol: "tcp",
              publishMode: "host",
            })),
          }
        : {}),
    },
  };
}

/** Container fields {@link jobServiceCreateArgs} renders (everything else throws). */
const JOB_RENDERED = new Set([
  "name",
  "image",
  "user",
  "command",
  "privileged",
  "capabilities",
  "securityOpts",
  "readOnly",
  "tmpfs",
  "memory",
  "memorySwap",
  "cpus",
  "restart",
  "logDriver",
  "logOpts",
  "destroyGraceSeconds",
  "labels",
  "networksAdvanced",
  // A one-shot container's lifecycle on one engine (created stopped, started by its PIDs-limit
  // command): a Swarm job is started by the swarm, with its PIDs limit in the spec.
  "start",
  "attach",
  "logs",
  "wait",
  "mustRun",
  "rm",
]);

/** What a Swarm job gets besides its container spec (resolved values). */
export interface JobExtras {
  /** Plain env (no secrets). */
  readonly env: Readonly<Record<string, string>>;
  /** Env-style names of the job's secret files (`<NAME>_FILE=/run/secrets/<NAME>` in env). @default [] */
  readonly secretFiles?: readonly string[];
  /** Network ids the job joins (the internal overlay; or given per release, {@link jobExtraArgs}). @default [] */
  readonly networks?: readonly string[];
  /** PIDs cgroup limit of the job's task (CIS 5.29; `--limit-pids`, Docker 20.10+). */
  readonly pidsLimit: number;
}

/** What a Swarm job gets per release, known only once the release's resources exist. */
export interface JobReleaseExtras {
  /** Labels computed per release (`launchgate.release`), on the service and its task. */
  readonly labels: readonly { readonly label: string; readonly value: string }[];
  /** Network ids the job joins. */
  readonly networks: readonly string[];
  /** Secret files: env-style name (the file) and the Swarm secret's (content-hashed) name. */
  readonly secrets: readonly { readonly name: string; readonly secretName: string }[];
  /** The job's user (owner of its secret files, {@link secretFileOwner}). */
  readonly user?: string;
}

/**
 * The per-release `docker service create` options of a Swarm job: labels, networks and secret
 * files. Options only (no image, no command): they go before {@link jobServiceCreateArgs}'s. Pure.
 */
export function jobExtraArgs(extra: JobReleaseExtras): string[] {
  const args: string[] = [];
  for (const l of extra.labels)
    args.push("--label", `${l.label}=${l.value}`, "--container-label", `${l.label}=${l.value}`);
  for (const n of extra.networks) args.push("--network", n);
  const owner = secretFileOwner(extra.user);
  for (const s of extra.secrets)
    args.push(
      "--secret",
      `source=${s.secretName},target=${s.name},uid=${owner.uid},gid=${owner.gid},mode=0${owner.mode.toString(8)}`,
    );
  return args;
}

/**
 * A one-shot container spec (`hardened({ kind: "job" })`, resolved values) as the arguments of
 * `docker service create` for a Swarm job (`--mode replicated-job`, Engine API 1.41 / Docker 20.10;
 * @pulumi/docker 5.2.0's Service has no job mode, so a manager runs it: scripts/swarm-job.sh). The
 * same user, capabilities, read-only root, limits (memory, CPU, PIDs), tmpfs, logging and role labels as the container;
 * secrets as files (`<NAME>_FILE`), never in env. No-new-privileges and the swap cap stand in as in
 * {@link toServiceArgs}. Strict: a container field without a rendering throws. Pure; no `--name`.
 * @throws Error naming the field, or when the spec is not a one-shot (`restart: "no"`).
 */
export function jobServiceCreateArgs(
  container: Readonly<Record<string, unknown>>,
  extras: JobExtras,
): string[] {
  for (const key of Object.keys(container)) {
    if (container[key] !== undefined && !JOB_RENDERED.has(key))
      throw new Error(`container field "${key}" has no Swarm job rendering (components/app/workload.ts)`);
  }
  if (container.privileged) throw new Error("a privileged container cannot become a Swarm job");
  if (container.restart !== "no")
    throw new Error(`a job runs once: restart must be "no", got ${String(container.restart)}`);
  const args = ["--mode", "replicated-job", "--restart-condition", "none"];
  const user = container.user as string | undefined;
  if (user) args.push("--user", user);
  if (container.readOnly) args.push("--read-only");
  const caps = (container.capabilities ?? {}) as { drops?: string[]; adds?: string[] };
  for (const c of caps.drops ?? []) args.push("--cap-drop", c);
  for (const c of caps.adds ?? []) args.push("--cap-add", c);
  if (container.memory !== undefined)
    args.push("--limit-memory", String(Number(container.memory) * 1024 ** 2));
  if (container.cpus !== undefined) args.push("--limit-cpu", String(container.cpus));
  if (!Number.isInteger(extras.pidsLimit) || extras.pidsLimit < 1)
    throw new Error(`PIDs limit must be a positive integer, got ${extras.pidsLimit}`);
  args.push("--limit-pids", String(extras.pidsLimit));
  for (const [target, options] of Object.entries((container.tmpfs ?? {}) as Record<string, string>)) {
    const size = tmpfsSizeBytes(options);
    args.push(
      "--mount",
      `type=tmpfs,destination=${target}${size ? `,tmpfs-size=${size}` : ""},tmpfs-mode=1777`,
    );
  }
  if (container.logDriver) args.push("--log-driver", String(container.logDriver));
  for (const [k, v] of Object.entries((container.logOpts ?? {}) as Record<string, string>))
    args.push("--log-opt", `${k}=${v}`);
  if (container.destroyGraceSeconds !== undefined)
    args.push("--stop-grace-period", seconds(Number(container.destroyGraceSeconds)));
  const labels = [
    ...((container.labels ?? []) as { label: string; value: string }[]),
    { label: NNP_BY_DAEMON_LABEL, value: NNP_BY_DAEMON },
  ];
  for (const l of labels)
    args.push("--label", `${l.label}=${l.value}`, "--container-label", `${l.label}=${l.value}`);
  for (const n of extras.networks ?? []) args.push("--network", n);
  const env = { ...extras.env, ...secretFileEnv(extras.secretFiles ?? []) };
  for (const k of Object.keys(env).sort()) args.push("--env", `${k}=${env[k]}`);
  args.push(String(container.image), ...((container.command ?? []) as string[]));
  return args;
}

/**
 * Declares a workload: the container spec as a `docker.Container` (single host, exactly as the
 * component always did) or as a `docker.Service` (Swarm). `opts` apply to either.
 */
export function declareWorkload(
  name: string,
  container: docker.ContainerArgs,
  rendering: WorkloadRendering,
  opts: pulumi.CustomResourceOptions,
): docker.Container | docker.Service {
  if (rendering.kind === "container") return new dockerNs.Container(name, container, opts);
  return new dockerNs.Service(name, toServiceArgs(container, rendering), opts);
}
