/**
 * Container-runtime hardening shared by every container the program declares (CIS Docker
 * Benchmark v1.6 §5). One place, so a control is added or relaxed for all containers at once and
 * every exception is a named, commented parameter instead of a silent difference between files.
 *
 * Controls applied here (CIS v1.6 section in brackets):
 * - capabilities: drop ALL, add back only what the caller names [5.3]
 * - never privileged [5.4]; host network/PID/IPC namespaces are never set, so the daemon's private
 *   defaults apply [5.9, 5.15, 5.16]
 * - memory limit with swap capped at the same value, CPU limit [5.10, 5.11]
 * - read-only root filesystem with tmpfs for the paths that must be writable [5.12]
 * - restart `unless-stopped` for services (a crash-looping service is caught by its healthcheck and
 *   the `wait` on create, not by a retry cap), `no` for one-shot jobs [5.14]
 * - `no-new-privileges` [5.25]
 * - a healthcheck is required by the callers' types [5.26]
 * - bounded json-file logs so a chatty container cannot fill the disk
 *
 * PIDs cgroup limit [5.29]: @pulumi/docker 5.2.0 has no `pidsLimit` input, so ./pids-limit.ts
 * applies it on the engine with a command per container; one-shot jobs are created stopped here
 * (`kind: "job"`) and started by that command once their limit is set (contract/pids-limits.ts).
 */
import * as crypto from "crypto";
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { shellQuote } from "../ops/remote-script";

/**
 * Healthcheck interval of every service container. Docker runs the first probe one interval
 * after start and marks a container healthy only on a passing probe, so the interval is what
 * each dependency level (Postgres → PgBouncer → apps → proxy) waits after being ready.
 * `start_interval` (a fast interval only during `start_period`) needs Engine API 1.44 (Docker
 * 25); Debian bookworm's docker.io is 20.10 (API 1.41), for which the docker provider's client
 * refuses it, so on such an engine (see {@link healthTiming}) the interval itself is short: healthy ≤ 1 s after ready, at the cost of one probe per second per container.
 * A `wait` container counts as created when the docker provider's own poll (an inspect right
 * after the start, then one a second) sees it healthy, so a container whose first probe passes
 * at +1 s is reported at +2 s: each health-gated level of a deploy costs about 2 s. An interval
 * below 1 s (minus the probe's run time) would make it 1 s, but every probe is a `docker exec`
 * (runc): about 30–40 ms of CPU each on the 2-core test machine (issue 12: 31 ms for a bash
 * /dev/tcp probe, 42 ms for the node probe), so 1 s already costs ~0.3 CPU·s/s for 8 containers
 * and halving it doubles that for every container for its whole life, to save ~1 s per deploy.
 * Services that are slow to get ready the first time use a {@link patientProbe} instead.
 */
export const HEALTH_INTERVAL = "1s";

/**
 * The Docker Engine API version from which a healthcheck may set `start_interval` (Docker 25).
 * Below it the docker provider's client refuses such a container ("specify health-check start
 * interval" requires API version 1.44), so the program sets it only for a host declared at or
 * above it (`launchgate:host.engineApiVersion`).
 */
export const START_INTERVAL_MIN_API = "1.44";

/**
 * Engine API version assumed when none is declared: Debian 12 (bookworm)'s docker.io 20.10.
 */
export const DEFAULT_ENGINE_API_VERSION = "1.41";

/** Probe interval while starting, on engines with `start_interval` ({@link START_INTERVAL_MIN_API}). */
export const HEALTH_START_INTERVAL = "250ms";

/**
 * Probe interval once healthy, on engines with `start_interval`: the start interval gets a
 * container healthy within ~0.25 s of readiness, so the steady interval need not be short and each
 * container costs a fifth of the probes (a probe is a `docker exec`, ~30–40 ms of CPU).
 */
export const HEALTH_STEADY_INTERVAL_SECONDS = 5;

/** A Docker Engine API version: `1.<minor>`, no leading zero (`docker version --format '{{.Server.APIVersion}}'`). */
export const ENGINE_API_VERSION = /^1\.(0|[1-9]\d*)$/;

/**
 * Engine API versions compared numerically (`1.9` < `1.41` < `1.44`).
 * @throws Error for anything but `1.<minor>` (a Docker release such as `20.10` is not an API version).
 */
export function engineApiAtLeast(version: string, min: string): boolean {
  const minor = (v: string) => {
    if (!ENGINE_API_VERSION.test(v))
      throw new Error(`not a Docker Engine API version (1.<minor>, e.g. 1.41): ${JSON.stringify(v)}`);
    return Number(v.slice(2));
  };
  return minor(version) >= minor(min);
}

/** A healthcheck's timing: `interval`, `retries` and, where the engine has it, `startInterval`. */
export interface HealthTiming {
  readonly interval: string;
  readonly retries: number;
  readonly startInterval?: string;
}

/**
 * Healthcheck timing for a container on an engine of API `engineApiVersion` (undefined: a Swarm
 * service, whose spec in the docker provider has no start interval), such that at least
 * `unhealthyAfterSeconds` of failing probes (and at least 2 probes) mark it unhealthy:
 * - below {@link START_INTERVAL_MIN_API} (and Swarm services): every {@link HEALTH_INTERVAL},
 *   `unhealthyAfterSeconds` retries;
 * - from it: every {@link HEALTH_START_INTERVAL} until first healthy (within `start_period`), then
 *   every {@link HEALTH_STEADY_INTERVAL_SECONDS} s with retries covering at least that time (≥ 2:
 *   one failed probe alone never marks a container unhealthy; so 5 s asked gives 10 s).
 * @throws Error for a malformed version or a non-positive `unhealthyAfterSeconds`.
 */
export function healthTiming(
  engineApiVersion: string | undefined,
  unhealthyAfterSeconds: number,
): HealthTiming {
  if (!Number.isInteger(unhealthyAfterSeconds) || unhealthyAfterSeconds < 1)
    throw new Error(
      `healthTiming: unhealthyAfterSeconds must be a whole number ≥ 1, got ${unhealthyAfterSeconds}`,
    );
  if (engineApiVersion === undefined || !engineApiAtLeast(engineApiVersion, START_INTERVAL_MIN_API))
    return { interval: HEALTH_INTERVAL, retries: unhealthyAfterSeconds };
  return {
    interval: `${HEALTH_STEADY_INTERVAL_SECONDS}s`,
    startInterval: HEALTH_START_INTERVAL,
    retries: Math.max(2, Math.ceil(unhealthyAfterSeconds / HEALTH_STEADY_INTERVAL_SECONDS)),
  };
}

/**
 * Where a {@link patientProbe} notes that its container has passed once: under the `/tmp` tmpfs
 * every container gets, so it is gone when the container starts again.
 */
export const READY_MARK = "/tmp/.launchgate-ready";

/** How often a {@link patientProbe} asks again while it waits, in seconds. */
export const PATIENT_PROBE_STEP_SECONDS = 0.1;

/**
 * A healthcheck test (`CMD-SHELL`) that runs `check` (argv, exit 0 = ready) and, until it has
 * passed once since the container started, waits for it within one probe: it asks again every
 * {@link PATIENT_PROBE_STEP_SECONDS} for up to `waitSeconds` (keep it under the healthcheck's
 * `timeout`) before failing, then marks the container (`mark`, @default {@link READY_MARK}).
 * Docker runs the first probe one interval after the start, and Engine 20.10 has no
 * `start_interval`: a plain probe that
 * finds the service still starting (Postgres's initdb on a new volume: 1–3 s) fails, and the next
 * chance is a whole interval later, plus the docker provider's 1 s health poll for `wait`. A
 * patient probe turns healthy within ~0.1 s of readiness instead. Once marked, a probe is `check`
 * alone, so failure detection afterwards is as without it (retries × interval). Needs `/bin/sh`,
 * `sleep` with fractional seconds (coreutils, busybox) and a writable `/tmp` (hardened's tmpfs).
 * @throws Error for an empty `check`, a `waitSeconds` below one step, or a `mark` that is not a
 * plain absolute path.
 */
export function patientProbe(
  check: readonly string[],
  waitSeconds: number,
  mark: string = READY_MARK,
): string[] {
  if (check.length === 0) throw new Error("patientProbe: empty check");
  // (the epsilon: 0.3 / 0.1 is 2.999… in binary floating point)
  const tries = Math.floor(waitSeconds / PATIENT_PROBE_STEP_SECONDS + 1e-9);
  if (!Number.isFinite(tries) || tries < 1)
    throw new Error(
      `patientProbe: waitSeconds ${waitSeconds} is below one step (${PATIENT_PROBE_STEP_SECONDS} s)`,
    );
  if (!/^\/[\w./-]+$/.test(mark))
    throw new Error(`patientProbe: mark ${JSON.stringify(mark)} is not a plain absolute path`);
  const cmd = check.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : shellQuote(a))).join(" ");
  return [
    "CMD-SHELL",
    `if [ -e ${mark} ]; then exec ${cmd}; fi; i=0; ` +
      `until ${cmd}; do i=$((i+1)); [ "$i" -lt ${tries} ] || exit 1; sleep ${PATIENT_PROBE_STEP_SECONDS}; done; ` +
      `touch ${mark} 2>/dev/null; exit 0`,
  ];
}

/** Log rotation for the json-file driver: 5 × 10 MiB per container. */
export const LOG_OPTS: Readonly<Record<string, string>> = { "max-size": "10m", "max-file": "5" };

/** Every container gets exactly this security option. */
export const NO_NEW_PRIVILEGES = "no-new-privileges:true";

export interface HardeningOptions {
  /** Memory ceiling in MiB; swap is capped at the same value (no swap beyond the limit). */
  readonly memoryMb: number;
  /** CPU ceiling (e.g. 0.5, 2). */
  readonly cpus: number;
  /** Whether the root filesystem is mounted read-only. @default true */
  readonly readOnly?: boolean;
  /**
   * Writable tmpfs mounts (path → mount options). `/tmp` is always added; callers add the
   * paths their process writes (sockets, pid files, caches).
   */
  readonly tmpfs?: Readonly<Record<string, string>>;
  /** Capabilities added back after dropping ALL; each must be justified at the call site. @default [] */
  readonly capAdd?: readonly string[];
  /**
   * `service` restarts unless stopped; `job` (one-shot) never restarts and is created stopped
   * (`start: false`), to be started by `startOneShot` (./pids-limit.ts) under its PIDs limit.
   * @default "service"
   */
  readonly kind?: "service" | "job";
}

/** The tmpfs every container gets: no exec, no setuid, bounded. */
export const TMP_TMPFS = "rw,noexec,nosuid,nodev,size=64m";

/**
 * Hardened runtime settings for a `docker.Container`. Spread first, then set image, command,
 * networks and healthcheck: `new docker.Container(n, { ...hardened({...}), image, ... })`.
 */
export function hardened(o: HardeningOptions): Partial<docker.ContainerArgs> {
  const capAdd = [...(o.capAdd ?? [])];
  const job = o.kind === "job";
  return {
    privileged: false,
    capabilities: capAdd.length > 0 ? { drops: ["ALL"], adds: capAdd } : { drops: ["ALL"] },
    securityOpts: [NO_NEW_PRIVILEGES],
    readOnly: o.readOnly ?? true,
    tmpfs: { "/tmp": TMP_TMPFS, ...(o.tmpfs ?? {}) },
    memory: o.memoryMb,
    memorySwap: o.memoryMb,
    cpus: String(o.cpus),
    restart: job ? "no" : "unless-stopped",
    logDriver: "json-file",
    logOpts: { ...LOG_OPTS },
    // Give processes time to flush (Postgres checkpoint, Redis AOF fsync) before SIGKILL.
    destroyGraceSeconds: 30,
    ...(job ? ONE_SHOT_LIFECYCLE : {}),
  };
}

/**
 * How the provider handles a one-shot container: created, not started (its PIDs-limit command
 * starts it, attached, and reports its exit); `attach`/`logs`/`wait` off, as the provider's attach
 * would return at once for a container that never started; `mustRun` off so a refresh keeps the
 * exited container; kept after exit (`rm` off) for `docker logs`.
 */
const ONE_SHOT_LIFECYCLE = {
  start: false,
  attach: false,
  logs: false,
  wait: false,
  mustRun: false,
  rm: false,
} as const satisfies Partial<docker.ContainerArgs>;

/**
 * Networks for a container. `networkMode` is deliberately left unset: with `networksAdvanced`
 * the provider disconnects the container from the daemon's default bridge (which has egress and
 * reaches every other container) before connecting it to these networks, and naming one of them
 * as `networkMode` as well would connect it twice.
 */
export function attachNetworks(
  networks: readonly docker.types.input.ContainerNetworksAdvanced[],
): Pick<docker.ContainerArgs, "networksAdvanced"> {
  if (networks.length === 0) throw new Error("a container needs at least one network");
  return { networksAdvanced: [...networks] };
}

/** Short, stable content hash (hex) used for release-specific names and change labels. */
export function shortHash(value: unknown, length = 8): string {
  return crypto.createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, length);
}

/**
 * `value`, once the one-shot job that `starter` (its `startOneShot` command) runs has exited 0: the
 * Output resolves only after the command succeeded, and a failed job fails the command, so a
 * resource fed this (e.g. a label) is not created or updated after a failed migration or check.
 * Unknown at preview, which is fine.
 */
export function afterSuccess(
  starter: pulumi.CustomResource,
  value: pulumi.Input<string>,
): pulumi.Output<string> {
  return pulumi.all([starter.id, value]).apply(([, v]) => v);
}
