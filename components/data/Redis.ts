/**
 * Redis: one redis-server container per configured instance, AOF + RDB persistence on a
 * protected volume, `maxmemory`, eviction by role, `requirepass` from a random password.
 *
 * The password reaches the server through a secret env var that the start script writes into a
 * 0600 config file on tmpfs, so it is in neither the command line (`docker inspect` Args, `ps`)
 * nor any plain input. No host port is published; only the internal network is attached.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { attachNetworks, hardened, healthTiming } from "../app/hardening";
import { limitPids, type PidsLimitArgs } from "../app/pids-limit";
import { datastoreLabels } from "../../contract/roles";
import { SECRETS_DIR, SwarmPlacement, declareWorkload, swarmSecretFiles } from "../app/workload";
import { declareDataVolume, pinnedTo, type DataNode } from "./volume";

export const REDIS_PORT = 6379;

/** What an instance holds: `queue` and `session` keep every key (noeviction); `cache` evicts (allkeys-lru). */
export const REDIS_ROLES = ["queue", "session", "cache"] as const;
export type RedisRole = (typeof REDIS_ROLES)[number];

/** One Redis instance. */
export interface RedisInstance {
  /** Instance name; the container is `redis-<name>`. */
  readonly name: string;
  /** Decides the eviction policy ({@link evictionPolicy}) and the data volume's `launchgate.data` marker. */
  readonly role: RedisRole;
  /** `maxmemory`, in MiB; the container's memory limit is {@link redisContainerMemoryMb} of it (fork headroom). */
  readonly maxMemoryMb: number;
}

export interface RedisArgs {
  /**
   * Docker Engine API version of the engine the containers run on (`launchgate:host.engineApiVersion`):
   * from 1.44 healthchecks get a start interval ({@link healthTiming}). @default 1.41 (Debian 12's docker.io)
   */
  readonly engineApiVersion?: string;
  /** Image reference (pinned by digest outside `local`). */
  readonly image: string;
  /** Name, role (`queue`/`session` keep every key; `cache` evicts) and memory ceiling. */
  readonly instance: RedisInstance;
  /** Internal network the server joins; it publishes no host port. */
  readonly internalNetwork: pulumi.Input<string>;
  /**
   * Data directory (the volume's mount point). `/data` is the official image's; an image built
   * from Debian's redis-server package would use `/var/lib/redis` (owned by its redis user).
   * @default "/data"
   */
  readonly dataDir?: string;
  /** User the server runs as; a name so it resolves to the image's own uid. @default "redis" */
  readonly user?: string;
  /** CPU ceiling (Redis executes commands on one thread). @default 0.5 */
  readonly cpus?: number;
  /** PIDs cgroup limit (CIS 5.29) and the engine to apply it on (contract/pids-limits.ts). */
  readonly pids?: PidsLimitArgs;
  /**
   * Run as a Swarm service placed by `placement` and pinned to `dataNode` (its volume is
   * node-local and declared on that node), the password as the secret file
   * `/run/secrets/REDIS_PASSWORD`. @default a container on the one host
   */
  readonly swarm?: { readonly placement: SwarmPlacement; readonly dataNode: DataNode };
}

/** Where the password file is in a Swarm task. */
export const REDIS_PASSWORD_FILE = `${SECRETS_DIR}/REDIS_PASSWORD`;

/** Eviction policy for a role: queues and sessions must never lose keys; caches may. */
export function evictionPolicy(role: RedisRole): "noeviction" | "allkeys-lru" {
  switch (role) {
    case "queue":
    case "session":
      return "noeviction";
    case "cache":
      return "allkeys-lru";
  }
}

/** redis-server arguments (no secret). Pure; exported for tests and the services harness. */
export function redisServerArgs(instance: RedisInstance, dataDir: string): string[] {
  return [
    "--dir",
    dataDir,
    // AOF for durability between snapshots, RDB snapshots for fast restarts and backup copies.
    "--appendonly",
    "yes",
    "--appendfsync",
    "everysec",
    // Separate words, as redis-server parses `--save 900 1` (one quoted "900 1" is not portable).
    "--save",
    "900",
    "1",
    "--save",
    "300",
    "10",
    "--maxmemory",
    `${instance.maxMemoryMb}mb`,
    "--maxmemory-policy",
    evictionPolicy(instance.role),
    "--port",
    String(REDIS_PORT),
    "--bind",
    "0.0.0.0",
    // With requirepass set, protected mode would only matter without a password; explicit anyway.
    "--protected-mode",
    "yes",
  ];
}

/**
 * Container memory ceiling (MiB) for a Redis whose `maxmemory` is `maxMemoryMb`:
 * `ceil(2.25 × maxmemory) + 64`.
 *
 * An AOF rewrite or RDB save forks; the child shares the parent's pages copy-on-write, and every
 * page the parent writes during the rewrite is copied, so under sustained writes the pair can
 * hold up to twice the dataset (1× parent + 1× copied pages). `maxmemory` bounds the dataset as
 * Redis counts it, not the allocator's fragmentation (+0.25×), nor the AOF rewrite buffer, client
 * buffers and the process itself (+64 MiB). Measured (issue 12): 256 MiB maxmemory under
 * sustained writes was OOM-killed in a 416 MiB container during an automatic AOF rewrite and ran
 * clean at 640 MiB, which is what this formula gives. The host also needs
 * `vm.overcommit_memory = 1` (host step) so the fork itself is not refused.
 */
export function redisContainerMemoryMb(maxMemoryMb: number): number {
  return Math.ceil(2.25 * maxMemoryMb) + 64;
}

/** Single-quotes a word for /bin/sh. */
function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Start script: writes `requirepass` from $REDIS_PASSWORD to a 0600 file on tmpfs, drops the var
 * from the server's environment and execs redis-server with that file plus the plain arguments.
 */
export function redisStartScript(instance: RedisInstance, dataDir: string, passwordFile?: string): string {
  return [
    "set -eu",
    "umask 077",
    // On Swarm the password is a secret file, never in env.
    ...(passwordFile ? [`REDIS_PASSWORD="$(cat ${passwordFile})"`] : []),
    `printf 'requirepass "%s"\\n' "$REDIS_PASSWORD" > /tmp/redis-auth.conf`,
    "unset REDIS_PASSWORD",
    `exec redis-server /tmp/redis-auth.conf ${redisServerArgs(instance, dataDir).map(shQuote).join(" ")}`,
  ].join("\n");
}

/** Healthcheck: an authenticated PING (REDISCLI_AUTH keeps the password off redis-cli's argv). */
export const REDIS_HEALTHCHECK = [
  "CMD-SHELL",
  `REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p ${REDIS_PORT} ping | grep -q PONG`,
];

/** The same healthcheck reading the password from its Swarm secret file. */
export const REDIS_SWARM_HEALTHCHECK = [
  "CMD-SHELL",
  `REDISCLI_AUTH="$(cat ${REDIS_PASSWORD_FILE})" redis-cli -h 127.0.0.1 -p ${REDIS_PORT} ping | grep -q PONG`,
];

export class Redis extends pulumi.ComponentResource {
  /** The server container: what a client must start after. */
  public readonly container: pulumi.Resource;
  /** redis:// URL with the password (secret). */
  public readonly url: pulumi.Output<string>;
  /** Container name (used by backups to copy the RDB). */
  public readonly containerName: pulumi.Output<string>;
  /** The server's container or Swarm service name, known at preview (for `lg_container`). */
  public readonly workloadRef: string;
  /** Named volume holding AOF + RDB. */
  public readonly volumeName: pulumi.Output<string>;

  constructor(name: string, args: RedisArgs, opts?: pulumi.ComponentResourceOptions) {
    super("launchgate:data:Redis", name, {}, opts);
    const dataDir = args.dataDir ?? "/data";

    const password = new random.RandomPassword(
      `${name}-password`,
      { length: 32, special: false },
      { parent: this },
    );

    // Queue and session data outlive the container; a cache's volume is kept too, as losing it
    // only costs a warm-up but deleting it should still be a deliberate act.
    // On a swarm: on the node the server is pinned to (./volume.ts).
    const volume = declareDataVolume(this, name, `redis-${args.instance.role}`, args.swarm?.dataNode);

    const spec: docker.ContainerArgs = {
      // Container ceiling above maxmemory: AOF rewrite forks and copy-on-write needs headroom.
      ...hardened({ memoryMb: redisContainerMemoryMb(args.instance.maxMemoryMb), cpus: args.cpus ?? 0.5 }),
      name,
      image: args.image,
      user: args.user ?? "redis",
      // Same entrypoint for the official and the Debian-built image: no entrypoint-side chown.
      entrypoints: ["/bin/sh", "-c"],
      command: [redisStartScript(args.instance, dataDir, args.swarm ? REDIS_PASSWORD_FILE : undefined)],
      // Explicitly secret: the env must stay encrypted in state whatever the provider marks.
      envs: args.swarm ? undefined : [pulumi.secret(pulumi.interpolate`REDIS_PASSWORD=${password.result}`)],
      volumes: [{ volumeName: volume.name, containerPath: dataDir }],
      labels: datastoreLabels("redis"),
      ...attachNetworks([{ name: args.internalNetwork, aliases: [name] }]),
      healthcheck: {
        tests: args.swarm ? REDIS_SWARM_HEALTHCHECK : REDIS_HEALTHCHECK,
        ...healthTiming(args.swarm ? undefined : args.engineApiVersion, 10),
        timeout: "3s",
        // Replaying a large AOF on start can take a while before PING answers.
        startPeriod: "30s",
      },
      wait: true,
      waitTimeout: 120,
    };
    const server = declareWorkload(
      name,
      spec,
      args.swarm
        ? {
            kind: "service",
            swarm: pinnedTo(args.swarm.placement, args.swarm.dataNode),
            secrets: swarmSecretFiles(this, name, [{ name: "REDIS_PASSWORD", value: password.result }]),
          }
        : { kind: "container" },
      // A fixed container name cannot exist twice (and two servers must never share the data
      // volume): replace delete-first. The volume is protected and retained, so data survives.
      { parent: this, deleteBeforeReplace: true },
    );
    limitPids(name, server, args.pids, { parent: this });

    this.container = server;
    this.url = pulumi.secret(pulumi.interpolate`redis://:${password.result}@${name}:${REDIS_PORT}`);
    this.containerName = server.name;
    this.workloadRef = name;
    this.volumeName = volume.name;
    this.registerOutputs({ url: this.url, containerName: this.containerName, volumeName: this.volumeName });
  }
}
