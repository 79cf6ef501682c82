/**
 * AppService: one application container (API, worker/bot, admin web), pinned image, hardened
 * runtime (non-root, cap_drop ALL, no-new-privileges, read-only root), healthcheck-gated
 * create-before-delete replacement, and an optional one-shot migration after a pre-migration backup.
 *
 * Replacement: every input that forces a new container also changes the container's
 * name (a short hash suffix), so Pulumi can create the new one next to the old one
 * (`deleteBeforeReplace: false`); `wait` makes the create succeed only once the new container is
 * healthy, so a bad image fails the update while the old container keeps serving. The proxy
 * finds whichever container is live through the stable network alias `<app>`.
 *
 * Retirement of the old container (zero downtime, also on rollback and canary promotion): the
 * proxy caches the alias's addresses for a few seconds, so the old container keeps serving for
 * `drainSeconds` after its replacement is healthy (a `drain` command depending on it, whose
 * delete waits; Pulumi deletes replaced resources at the end of the update, dependents first),
 * and is then stopped gracefully (`destroyGraceSeconds`: SIGTERM, in-flight requests finish,
 * SIGKILL after STOP_GRACE_SECONDS) instead of being killed, the provider's default.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { afterSuccess, attachNetworks, hardened, healthTiming, shortHash } from "./hardening";
import * as command from "@pulumi/command";
import { DELETE_SCOPE_TRIGGER, roleLabel, roleTrigger } from "../../contract/roles";
import { limitPids, startOneShot, type PidsLimitArgs } from "./pids-limit";
import { DEFAULT_PIDS_LIMITS } from "../../contract/pids-limits";
import * as path from "path";
import type { SshConnection } from "../host/HardenedHost";
import { renderScript, shellQuote } from "../ops/remote-script";
import {
  SwarmPlacement,
  declareWorkload,
  jobExtraArgs,
  jobServiceCreateArgs,
  swarmSecretFiles,
} from "./workload";

/** The Swarm job runner (a manager runs it over SSH). */
const SWARM_JOB_SCRIPT = path.join(__dirname, "scripts", "swarm-job.sh");

/** How the healthcheck probes `GET <healthPath>`: a tool the image has, or a custom test. */
export type HealthProbe = "node" | "wget" | "curl" | readonly string[];

/** One app: what runs, how it is reached and limited. */
export interface AppSettings {
  /** App name; the container is `app-<name>`. */
  readonly name: string;
  /** Image reference (pinned by digest outside `local`). */
  readonly image: string;
  /** TCP port the app listens on inside its container. */
  readonly port: number;
  /** Command overriding the image's. */
  readonly command?: string[];
  /** Path answering the healthcheck's `GET` with 2xx. */
  readonly healthPath: string;
  /** Memory limit, MiB. */
  readonly memoryMb: number;
  /** CPU limit, in CPUs. */
  readonly cpus: number;
  /** `uid[:gid]` the process runs as; never root. */
  readonly user: string;
  readonly readOnlyRootFs: boolean;
  /** Route on the proxy (`/`, `/admin`); absent for workers, which then join no edge network. */
  readonly route?: string;
  /** Whether the app may open outbound connections (routed apps always can). */
  readonly egress: boolean;
  /** Plain env values. */
  readonly env: Readonly<Record<string, string>>;
  /** One-shot migration command, run after the pre-migration backup. */
  readonly migrate?: string[];
}

export interface AppServiceArgs {
  /**
   * Docker Engine API version of the engine the containers run on (`launchgate:host.engineApiVersion`):
   * from 1.44 healthchecks get a start interval ({@link healthTiming}). @default 1.41 (Debian 12's docker.io)
   */
  readonly engineApiVersion?: string;
  /** The app: image, port, health path, limits, env, route, migration. */
  readonly app: AppSettings;
  /** Networks: `edge` if the app has a route, always `internal` for data access. */
  readonly edgeNetwork: pulumi.Input<string>;
  readonly internalNetwork: pulumi.Input<string>;
  /** Plain env plus resolved secrets (DATABASE_URL, REDIS_URL, app secrets) — secret values stay secret. */
  readonly secretEnv: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Feature flags rendered into env (e.g. REAL_MONEY_ENABLED=false). */
  readonly flags: Record<string, boolean>;
  /**
   * Env the migration job gets on top of the app's (secret values stay secret), e.g.
   * `DATABASE_URL` straight to the server: migrations prepare statements and take session
   * advisory locks, which a transaction-mode pool does not keep. @default {}
   */
  readonly migrationEnv?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Resource that takes the pre-migration backup; the migration job runs after it. */
  readonly preMigrationBackup?: pulumi.Resource;
  /**
   * What the app and its migration must run after (the servers in their URLs, the database's
   * role, database and grants): the service container and the migration job's start wait for
   * them; the migration container itself (created stopped) is created without waiting, so its
   * create overlaps them. Use this rather than the component's `dependsOn`, which every child
   * inherits. @default []
   */
  readonly startAfter?: pulumi.Resource[];
  /**
   * How the healthcheck calls `http://127.0.0.1:<port><healthPath>` inside the container. Slim
   * and distroless images often lack curl: the app image must provide the chosen tool (`node`
   * for Node apps, busybox/GNU `wget`, `curl`) or a custom Docker healthcheck test.
   * @default "node"
   */
  readonly healthProbe?: HealthProbe;
  /** Seconds Pulumi waits for a new container to become healthy before failing the update. @default 120 */
  readonly waitTimeoutSeconds?: number;
  /** Seconds the migration job may run before the update fails. @default 600 */
  readonly migrationTimeoutSeconds?: number;
  /**
   * PIDs cgroup limit (CIS 5.29) of the app container, the engine to apply it on, and the limit of
   * the one-shot migration job (`migration`, @default DEFAULT_PIDS_LIMITS.migration), which that
   * engine starts under it (contract/pids-limits.ts). Required with `app.migrate`: the job is
   * created stopped and only its PIDs-limit command starts it.
   */
  readonly pids?: PidsLimitArgs & { readonly migration?: number };
  /**
   * Seconds a replaced container keeps serving after its replacement is healthy, before it is
   * stopped: how long a client that caches the alias's addresses (the proxy:
   * UPSTREAM_DRAIN_SECONDS) may still send it requests. Declared as a `drain` command whose
   * delete waits (a `sleep` where Pulumi runs); each release pays it once, at the end of the
   * update. @default 0: no drain step (nothing caches this container's address)
   */
  readonly drainSeconds?: number;
  /**
   * Run as a Swarm service with this placement instead of a container on one host: the same spec,
   * a stable service name (`<app>`), start-first rolling updates that roll back on a failed
   * healthcheck, and `secretEnv` delivered as secret files (`<NAME>_FILE`), never in env.
   * @default a container on the one host
   */
  readonly swarm?: SwarmPlacement;
  /**
   * The keys of `secretEnv` (each becomes a Swarm secret file). Required with `swarm`, as
   * resources are declared per key before the values are known.
   */
  readonly secretNames?: readonly string[];
  /**
   * Network alias and container-name prefix. A canary runs beside the stable version under
   * `<app>-canary` (the proxy splits between the two); the stable keeps `<app>`.
   * @default app.name
   */
  readonly alias?: string;
  /** Which version of the app this is during a rollout, as the `launchgate.variant` label. @default "stable" */
  readonly variant?: "stable" | "canary";
  /**
   * With `swarm` and `app.migrate`: a manager's deploy-user SSH connection. The migration runs
   * there as a Swarm job (`docker service create --mode replicated-job`, scripts/swarm-job.sh) on
   * the internal overlay, after the pre-migration backup; the service waits for it to succeed.
   */
  readonly managerConnection?: pulumi.Input<SshConnection>;
  /**
   * The keys of `migrationEnv` (each a secret file of the Swarm migration job instead of the app's
   * secret of the same name). Required with `swarm` when `migrationEnv` is set. @default []
   */
  readonly migrationSecretNames?: readonly string[];
}

/**
 * Seconds the provider's delete gives a container between SIGTERM and SIGKILL (`destroyGraceSeconds`,
 * also `stopTimeout` for a `docker stop` on the host): requests already inside finish. Without it
 * the provider removes the container by force (SIGKILL), cutting them off.
 */
export const STOP_GRACE_SECONDS = 10;

/**
 * Prefix of an app's workload reference on a single host (`app:<app name>`): `lg_container`
 * (components/ops/scripts/lib-workload.sh) resolves it to the app's running container (label
 * `launchgate.app`, not a canary, not its migration job), whatever the release's suffix.
 */
export const APP_WORKLOAD_PREFIX = "app:";

/** Docker healthcheck test for an HTTP GET that succeeds only on a 2xx answer. Pure; exported for tests. */
export function httpHealthTest(probe: HealthProbe, port: number, path: string): string[] {
  const url = `http://127.0.0.1:${port}${path}`;
  if (typeof probe !== "string") return [...(probe as readonly string[])];
  switch (probe) {
    case "node":
      return [
        "CMD",
        "node",
        "-e",
        `require("http").get(${JSON.stringify(url)},{timeout:4000},r=>process.exit(r.statusCode>=200&&r.statusCode<300?0:1)).on("error",()=>process.exit(1))`,
      ];
    case "wget":
      return ["CMD", "wget", "-q", "-T", "4", "-O", "/dev/null", url];
    case "curl":
      return ["CMD", "curl", "-fsS", "-m", "4", "-o", "/dev/null", url];
    default:
      throw new Error(`unknown health probe ${JSON.stringify(probe)}`);
  }
}

/** Flags as env values: always the literal "true"/"false" the apps compare against. */
export function flagEnv(flags: Record<string, boolean>): Record<string, string> {
  return Object.fromEntries(Object.entries(flags).map(([k, v]) => [k, v ? "true" : "false"]));
}

/** The secret names a Swarm rendering needs. @throws Error when `swarm` is set without them. */
function requireSecretNames(args: AppServiceArgs): readonly string[] {
  if (!args.secretNames)
    throw new Error(`app ${args.app.name}: a Swarm service needs \`secretNames\` (the keys of secretEnv)`);
  return args.secretNames;
}

/** One secret env value by name. @throws Error when the name has no value (config was checked before). */
function secretValue(env: Record<string, string>, name: string, app: string): string {
  const v = env[name];
  if (typeof v !== "string") throw new Error(`app ${app}: secret ${name} has no value`);
  return v;
}

/** `KEY=value` list, sorted so the same env always renders (and hashes) the same. */
function renderEnv(env: Record<string, string>): string[] {
  return Object.keys(env)
    .sort()
    .map((k) => `${k}=${env[k]}`);
}

export class AppService extends pulumi.ComponentResource {
  /** Stable network alias the proxy uses as upstream (`<app>`), independent of the release. */
  public readonly alias: pulumi.Output<string>;
  /** Port the app listens on. */
  public readonly port: pulumi.Output<number>;
  /** Name of the running container (changes per release for create-before-delete), or of the Swarm service. */
  public readonly containerName: pulumi.Output<string>;
  /** The container or Swarm service: what must start before dependents. */
  public readonly workload: pulumi.Resource;
  /**
   * How host ops scripts name this workload for `lg_container` (components/ops/scripts/
   * lib-workload.sh), known at preview: `app:<app name>` on a single host (the container's name
   * changes with every release), the Swarm service's name on a cluster. On a single host a
   * canary's is its app's (`lg_container` resolves `app:` to the stable container, never a canary).
   */
  public readonly workloadRef: string;

  constructor(name: string, args: AppServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("launchgate:app:AppService", name, {}, opts);
    const app = args.app;
    const alias = args.alias ?? app.name;

    // Everything that can force a new container, resolved: env (with secrets), flags, config.
    const env = pulumi.all([pulumi.output(args.secretEnv)]).apply(([secretEnv]) => ({
      // PORT tells the app where to listen, so config's `port` (healthcheck, proxy upstream)
      // and the process agree; an explicit PORT in the app's env wins.
      PORT: String(app.port),
      ...app.env,
      ...flagEnv(args.flags),
      ...(secretEnv as Record<string, string>),
    }));
    const envs = pulumi.secret(env.apply(renderEnv));
    const migrationEnvs = pulumi.secret(
      pulumi
        .all([env, pulumi.output(args.migrationEnv ?? {})])
        .apply(([e, m]) => renderEnv({ ...e, ...(m as Record<string, string>) })),
    );
    // The suffix is a truncated SHA-256 of the release inputs: it reveals nothing about the
    // secrets in them, and a secret container name would hide it from every log and policy.
    const release = pulumi.unsecret(env.apply((e) => shortHash({ app, env: renderEnv(e) })));

    const networks: docker.types.input.ContainerNetworksAdvanced[] = [
      { name: args.internalNetwork, aliases: [alias] },
    ];
    // Only apps the proxy routes to, or that must call out (`egress`), join the edge network;
    // other workers stay on the egress-free internal network.
    if (app.route !== undefined || app.egress) networks.unshift({ name: args.edgeNetwork, aliases: [alias] });

    const runtime = hardened({ memoryMb: app.memoryMb, cpus: app.cpus, readOnly: app.readOnlyRootFs });
    const labels: docker.types.input.ContainerLabel[] = [
      { label: "launchgate.app", value: app.name },
      { label: "launchgate.release", value: release },
      // Only canaries carry the label, so a stable app's inputs stay as they were before rollouts.
      ...(args.variant === "canary" ? [{ label: "launchgate.variant", value: "canary" }] : []),
    ];

    const deps: pulumi.Resource[] = [];
    const secretFiles = args.swarm
      ? swarmSecretFiles(
          this,
          name,
          requireSecretNames(args).map((n) => ({
            name: n,
            value: pulumi.output(args.secretEnv).apply((e) => secretValue(e, n, app.name)),
          })),
        )
      : [];
    const jobLabels = () => [
      ...labels,
      roleLabel("migration"),
      { label: "launchgate.job", value: "migrate" },
    ];
    const jobRuntime = () =>
      hardened({ memoryMb: app.memoryMb, cpus: app.cpus, readOnly: app.readOnlyRootFs, kind: "job" });
    if (app.migrate && args.swarm) {
      // A one-shot container cannot join the non-attachable internal overlay, and @pulumi/docker
      // 5.2.0 has no job mode: a manager runs the same spec as a Swarm job over SSH.
      if (!args.managerConnection)
        throw new Error(
          `app ${app.name}: a migration on a swarm needs \`managerConnection\` (a manager runs the job)`,
        );
      const overridden = args.migrationSecretNames ?? [];
      const jobSecrets = [
        ...secretFiles.filter((f) => !overridden.includes(f.name)),
        ...swarmSecretFiles(
          this,
          `${name}-migrate`,
          overridden.map((n) => ({
            name: n,
            value: pulumi
              .output(args.migrationEnv ?? {})
              .apply((e) => secretValue(e as Record<string, string>, n, app.name)),
          })),
        ),
      ];
      const jobName = pulumi.interpolate`${alias}-migrate-${release}`;
      // The spec's arguments (user, capabilities, read-only root, limits, mounts, plain env, role
      // labels, image, command) are known at preview, so the pack judges the job as it judges a
      // container; what is per release (the job's name, release label, secret names, the
      // overlay's id) reaches the script on stdin (LG_JOB_NAME, LG_JOB_EXTRA).
      const specArgs = jobServiceCreateArgs(
        {
          ...jobRuntime(),
          image: app.image,
          user: app.user,
          command: app.migrate,
          labels: jobLabels().filter((l) => l.label !== "launchgate.release"),
        },
        {
          env: { PORT: String(app.port), ...app.env, ...flagEnv(args.flags) },
          secretFiles: jobSecrets.map((f) => f.name),
          pidsLimit: args.pids?.migration ?? DEFAULT_PIDS_LIMITS.migration,
        },
      );
      const extraArgs = pulumi
        .all([release, pulumi.output(args.internalNetwork), pulumi.all(jobSecrets.map((f) => f.secret.name))])
        .apply(([rel, network, secretNames]) =>
          jobExtraArgs({
            labels: [{ label: "launchgate.release", value: rel }],
            networks: [network],
            secrets: jobSecrets.map((f, i) => ({ name: f.name, secretName: secretNames[i]! })),
            user: app.user,
          }),
        );
      const timeout = args.migrationTimeoutSeconds ?? 600;
      const script = renderScript(SWARM_JOB_SCRIPT, {
        LG_JOB_ARGS: specArgs.map(shellQuote).join(" "),
        LG_JOB_TIMEOUT: timeout,
      });
      const job = new command.remote.Command(
        `${name}-migrate`,
        {
          connection: args.managerConnection,
          create: script.text,
          stdin: pulumi
            .all([jobName, extraArgs])
            .apply(([n, extra]) =>
              [
                `LG_JOB_NAME=${shellQuote(n)}`,
                `LG_JOB_EXTRA=${shellQuote(extra.map(shellQuote).join(" "))}`,
                "",
              ].join("\n"),
            ),
          // Per release (the job's name carries the release hash): a new release migrates again.
          triggers: [roleTrigger("migration"), script.trigger, jobName],
        },
        {
          parent: this,
          // After the servers, role and database it migrates (startAfter) and the backup.
          dependsOn: [
            ...(args.startAfter ?? []),
            ...(args.preMigrationBackup ? [args.preMigrationBackup] : []),
            ...jobSecrets.map((f) => f.secret),
          ],
          customTimeouts: { create: `${timeout + 60}s` },
        },
      );
      labels.push({ label: "launchgate.migrated", value: job.stdout.apply(() => "true") });
      deps.push(job);
    } else if (app.migrate) {
      if (!args.pids)
        throw new Error(
          `app ${app.name}: \`pids\` is required with \`migrate\` (the migration job is started by its PIDs-limit command)`,
        );
      // One-shot: created stopped (hardened kind "job"), then started attached by its PIDs-limit
      // command under the limit; restart "no" keeps Docker from running it again. It has no
      // healthcheck (CIS 5.26 exception: it is not a service) and joins only the internal
      // network (the database).
      const job = new docker.Container(
        `${name}-migrate`,
        {
          ...jobRuntime(),
          name: pulumi.interpolate`${alias}-migrate-${release}`,
          image: app.image,
          user: app.user,
          command: app.migrate,
          envs: migrationEnvs,
          ...attachNetworks([{ name: args.internalNetwork }]),
          labels: jobLabels(),
        },
        { parent: this },
      );
      // Runs after the servers, the database and a fresh backup; bounded: a hung migration is
      // killed and fails the update.
      const migrated = startOneShot(
        `${name}-migrate`,
        job,
        {
          engine: args.pids.engine,
          limit: args.pids.migration ?? DEFAULT_PIDS_LIMITS.migration,
          timeoutSeconds: args.migrationTimeoutSeconds ?? 600,
        },
        {
          parent: this,
          dependsOn: [
            ...(args.startAfter ?? []),
            ...(args.preMigrationBackup ? [args.preMigrationBackup] : []),
          ],
        },
      );
      labels.push({ label: "launchgate.migrated", value: afterSuccess(migrated, "true") });
      deps.push(migrated);
    }

    const spec: docker.ContainerArgs = {
      ...runtime,
      name: pulumi.interpolate`${alias}-${release}`,
      image: app.image,
      user: app.user,
      ...(app.command ? { command: app.command } : {}),
      envs,
      ...attachNetworks(networks),
      labels: [roleLabel("app"), ...labels],
      healthcheck: {
        tests: httpHealthTest(args.healthProbe ?? "node", app.port, app.healthPath),
        ...healthTiming(args.swarm ? undefined : args.engineApiVersion, 5),
        timeout: "5s",
        startPeriod: "20s",
      },
      wait: true,
      waitTimeout: args.waitTimeoutSeconds ?? 120,
    };
    const service = declareWorkload(
      name,
      args.swarm
        ? { ...spec, name: alias, envs: undefined }
        : { ...spec, stopTimeout: STOP_GRACE_SECONDS, destroyGraceSeconds: STOP_GRACE_SECONDS },
      args.swarm
        ? {
            kind: "service",
            swarm: args.swarm,
            env: { PORT: String(app.port), ...app.env, ...flagEnv(args.flags) },
            secrets: secretFiles,
          }
        : { kind: "container" },
      { parent: this, dependsOn: [...(args.startAfter ?? []), ...deps], deleteBeforeReplace: false },
    );
    limitPids(name, service, args.pids, { parent: this });

    const drain = args.drainSeconds ?? 0;
    if (!Number.isInteger(drain) || drain < 0)
      throw new Error(
        `app ${app.name}: drainSeconds ${JSON.stringify(drain)} is not a whole number of seconds ≥ 0`,
      );
    if (drain > 0 && !args.swarm) {
      // Replaced with its container (the name is in `triggers`); the old one's delete runs first
      // among the old resources (it depends on the old container), so the wait comes between
      // "replacement healthy" and "old container stopped". Its delete only waits: scoped to itself.
      new command.local.Command(
        `${name}-drain`,
        {
          delete: `sleep ${drain}`,
          triggers: [service.name, roleTrigger("drain"), DELETE_SCOPE_TRIGGER],
        },
        { parent: this, dependsOn: [service] },
      );
    }

    this.alias = pulumi.output(alias);
    this.port = pulumi.output(app.port);
    this.containerName = service.name;
    this.workload = service;
    this.workloadRef = args.swarm ? alias : `${APP_WORKLOAD_PREFIX}${app.name}`;
    this.registerOutputs({ alias: this.alias, port: this.port, containerName: this.containerName });
  }
}
