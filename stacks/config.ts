/**
 * Typed, validated stack configuration.
 *
 * Config is read once (see `readConfig` in ./read.ts) and validated here by a pure function, so
 * bad input fails before any resource is declared, with one message per problem naming the
 * config key, the value received and what is expected.
 */
import { z } from "zod";
import { sshHostKeyProblem } from "../contract/ssh-host-key";
import { POOL_MODES } from "../components/data/Postgres";
import { REDIS_ROLES } from "../components/data/Redis";
import { TLS_VERSIONS } from "../components/edge/Proxy";
import {
  DEFAULT_ENGINE_API_VERSION,
  ENGINE_API_VERSION,
  engineApiAtLeast,
} from "../components/app/hardening";
import { MAX_BACKUP_AGE_HOURS, MAX_PROBE_INTERVAL_SECONDS } from "../contract/monitoring";
import { DEFAULT_PIDS_LIMITS, MAX_PIDS_LIMITS, POSTGRES_AUX_TASKS } from "../contract/pids-limits";
import { NODE_LABELS, NODE_LABEL_ON, NODE_NAME_LABEL, nodeName } from "../contract/placement";

/** The three kinds of stack this program knows; gates are mandatory only on `production`. */
export const ENVIRONMENTS = ["local", "staging", "production"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** Project config namespace: keys are written `launchgate:<key>` in stack files. */
export const NAMESPACE = "launchgate";

/** Image reference pinned by content digest (`repo@sha256:<64 hex>`). */
export const DIGEST_REF = /^[a-z0-9][a-z0-9._\-/:]*@sha256:[a-f0-9]{64}$/;
/** A full git commit id (40 lowercase hex digits). */
export const COMMIT_SHA = /^[a-f0-9]{40}$/;
const NAME = /^[a-z][a-z0-9-]{0,30}$/;
const NAME_EXPECTED = "a name: a-z first, then a-z, 0-9, - (at most 31 characters)";
const ENV_NAME = /^[A-Z][A-Z0-9_]*$/;
const ENV_NAME_EXPECTED = "an environment variable name: A-Z first, then A-Z, 0-9, _ (e.g. SESSION_SECRET)";
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

const port = z.number().int().min(1).max(65535);
const ipv4 = z
  .string()
  .regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/)
  .refine((s) => s.split(".").every((o) => Number(o) <= 255), "an IPv4 address");
const cidr = z.string().refine((s) => {
  const [ip, bits, ...rest] = s.split("/");
  return (
    rest.length === 0 && ipv4.safeParse(ip).success && /^\d{1,2}$/.test(bits ?? "") && Number(bits) <= 32
  );
}, "an IPv4 CIDR such as 203.0.113.0/24");
const hostAddress = z
  .string()
  // A dotted-numeric value is an IPv4 address or nothing (so 300.1.2.3 is not a "host name").
  .refine(
    (s) => (/^[\d.]+$/.test(s) ? ipv4.safeParse(s).success : HOSTNAME.test(s)),
    "an IPv4 address or a DNS name",
  );
/** An OpenSSH host public key: key type, then base64 (no host name, no comment). */
const sshHostKey = z.string().superRefine((s, ctx) => {
  const problem = sshHostKeyProblem(s);
  if (problem)
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `an SSH host public key such as 'ssh-ed25519 AAAA…' (ssh-keyscan -t ed25519 <address>, the line without the host name): ${problem}`,
    });
});
const imageRef = z.string().regex(/^[a-z0-9][a-z0-9._\-/:@]*$/, "a container image reference");

const hostSchema = z
  .object({
    /** IP or DNS name of the VPS; `127.0.0.1` for the local disposable VPS. */
    address: hostAddress,
    sshPort: port.default(22),
    /**
     * The host's SSH host public key, pinned: `ssh-ed25519 AAAA…` (a line of `ssh-keyscan -t
     * ed25519 <address>` without the host name; verify its fingerprint out of band, e.g. from the
     * provider's console). Every SSH connection the program makes to the host checks it: the
     * remote commands (the command provider's `connection.hostKey`), the bootstrap, the DB
     * admin tunnel and the docker provider. Required on staging and production; on `local` the
     * disposable VPS's generated key is pinned instead.
     */
    hostKey: sshHostKey.optional(),
    /** User the first connection uses (root on a fresh VPS) before hardening locks it out. */
    bootstrapUser: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]*$/)
      .default("root"),
    /** Non-root user that owns deployments; member of the docker group. */
    deployUser: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]*$/)
      .default("deployer"),
    /** OpenSSH public key installed for the deploy user (local: generated when absent). */
    deployerPublicKey: z
      .string()
      .regex(/^ssh-(ed25519|rsa) [A-Za-z0-9+/=]+( .*)?$/)
      .optional(),
    /** Root of the app's persistent storage on the host. */
    storagePath: z
      .string()
      .regex(/^\/[a-z0-9_./-]+$/)
      .default("/srv/launchgate"),
    /** Source ranges allowed to reach SSH (UFW rule). */
    sshAllowFrom: z.array(cidr).min(1).default(["0.0.0.0/0"]),
    timezone: z.string().default("UTC"),
    /**
     * The Docker Engine API version of the host's engine, as `docker version --format
     * '{{.Server.APIVersion}}'` prints it: 1.41 for Debian 12's docker.io 20.10 (the default), 1.45
     * for Debian 13's 26.1. From 1.44 (Docker 25) containers' healthchecks probe
     * every 250 ms until first healthy and every 5 s after; below it every 1 s (the engine has no
     * start interval, and the provider refuses one). Declaring more than the engine has fails the
     * first container create; the hardened host's docker step checks it.
     */
    engineApiVersion: z
      .string({ invalid_type_error: "a string such as '1.45' (quote it: YAML reads 1.45 as a number)" })
      .regex(
        ENGINE_API_VERSION,
        "a Docker Engine API version such as 1.41, not the Docker release (docker version --format '{{.Server.APIVersion}}')",
      )
      .refine((v) => !ENGINE_API_VERSION.test(v) || engineApiAtLeast(v, DEFAULT_ENGINE_API_VERSION), {
        message: `Docker Engine API ${DEFAULT_ENGINE_API_VERSION} (Docker 20.10) or later`,
      })
      .default(DEFAULT_ENGINE_API_VERSION),
  })
  .strict();

/** Swarm node roles: managers hold the Raft log and schedule; workers only run tasks. */
export const NODE_ROLES = ["manager", "worker"] as const;
/** How workloads are placed: one Docker engine, or a Docker Swarm cluster over `hosts`. */
export const PLACEMENTS = ["single-host", "swarm"] as const;
export type Placement = (typeof PLACEMENTS)[number];
/** A Docker node label key (`launchgate.postgres`, `zone`): lowercase, dots and dashes. */
const NODE_LABEL_KEY = /^[a-z][a-z0-9.-]{0,62}$/;

const clusterHostSchema = z
  .object({
    /**
     * The node's stable name (`^[a-z][a-z0-9-]{0,30}$`, unique): its resource names and its
     * `launchgate.node` label, which pins data stores to it. Default `node-<index>` (its place in
     * `hosts`), which shifts when an earlier host is removed — so the program would drain and
     * remove the wrong node and re-harden the others. Required on staging and production with
     * placement `swarm`.
     */
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,30}$/, "a node name: a lowercase letter, then up to 30 of a-z, 0-9 and -")
      .optional(),
    /** IP or DNS name of the node (reachable by the other members on the Swarm ports). */
    address: hostAddress,
    sshPort: port.default(22),
    /**
     * The host's SSH host public key, pinned: `ssh-ed25519 AAAA…` (a line of `ssh-keyscan -t
     * ed25519 <address>` without the host name; verify its fingerprint out of band, e.g. from the
     * provider's console). Every SSH connection the program makes to the host checks it: the
     * remote commands (the command provider's `connection.hostKey`), the bootstrap, the DB
     * admin tunnel and the docker provider. Required on staging and production; on `local` the
     * disposable VPS's generated key is pinned instead.
     */
    hostKey: sshHostKey.optional(),
    /** `manager` (Raft member, schedules) and/or `worker`; the first manager initialises the swarm. */
    roles: z.array(z.enum(NODE_ROLES)).min(1).default(["worker"]),
    /**
     * Docker node labels placement constraints match (`node.labels.<key> == <value>`): the
     * contract keys in contract/placement.ts pin Postgres, Redis and the proxy's edge nodes.
     */
    labels: z
      .record(z.string().regex(NODE_LABEL_KEY, "a node label key such as launchgate.postgres"), z.string())
      .default({}),
  })
  .strict();

/**
 * The most clients PgBouncer may be configured for (`maxClientConn`, explicit or derived): 10× the
 * highest `postgres.maxConnections`, each client a socket (pgbouncerFileLimit in
 * components/data/Postgres.ts).
 */
export const PGBOUNCER_MAX_CLIENT_CONN = 100_000;

const postgresSchema = z
  .object({
    image: imageRef,
    memoryMb: z.number().int().min(256).default(1024),
    maxConnections: z.number().int().min(10).max(10000).default(100),
    sharedBuffersMb: z.number().int().min(16).default(256),
    effectiveCacheSizeMb: z.number().int().min(16).default(768),
    workMemMb: z.number().int().min(1).default(4),
    /** Databases with their owning least-privilege role. */
    databases: z
      .array(
        z
          .object({
            name: z.string().regex(NAME, NAME_EXPECTED),
            role: z
              .string()
              .regex(
                /^[a-z][a-z0-9_]{0,30}$/,
                "a Postgres role name: a-z first, then a-z, 0-9, _ (at most 31 characters)",
              ),
          })
          .strict(),
      )
      .min(1)
      .default([{ name: "app", role: "app" }]),
    pgbouncer: z
      .object({
        image: imageRef,
        poolMode: z.enum(POOL_MODES).default("transaction"),
        /** Server connections per database (transaction mode: concurrent transactions). */
        defaultPoolSize: z.number().int().min(1).default(20),
        /**
         * Client connections PgBouncer accepts; beyond the pool they queue (up to
         * `queryWaitTimeoutSeconds`) instead of being refused. @default 20 × postgres.maxConnections
         * (a burst of 10× plus the apps' own connections must still fit)
         */
        maxClientConn: z.number().int().min(1).max(PGBOUNCER_MAX_CLIENT_CONN).optional(),
        /**
         * Named prepared statements tracked per server connection, so drivers that prepare
         * (Prisma, pgx, JDBC, `pgbench -M prepared`) work in transaction mode. Needs PgBouncer ≥
         * 1.21; 0 turns it off (then such apps must use `databaseConnection: direct`).
         */
        maxPreparedStatements: z.number().int().min(0).max(100000).default(200),
        /**
         * Seconds PgBouncer waits before retrying a failed server login (fractions allowed). Its
         * default of 15 s turned a 0.4 s Postgres crash into 15 s of errors; 0.5 s keeps the apps'
         * recovery within about a second of Postgres answering, at two login attempts a second
         * while it is down.
         */
        serverLoginRetrySeconds: z.number().min(0.1).max(60).default(0.5),
        /** Seconds a queued client waits for a server connection before an error. */
        queryWaitTimeoutSeconds: z.number().int().min(1).max(3600).default(120),
      })
      .strict(),
  })
  .strict();

/** The largest Redis `maxMemoryMb` (1 TiB): beyond any one host; a larger value is a typo. */
export const REDIS_MAX_MEMORY_MB = 1_048_576;

const redisSchema = z
  .object({
    image: imageRef,
    instances: z
      .array(
        z
          .object({
            name: z.string().regex(NAME, NAME_EXPECTED),
            /** Eviction follows the role (components/data/Redis.ts `REDIS_ROLES`). */
            role: z.enum(REDIS_ROLES),
            /** `maxmemory`; the container gets ceil(2.25 × maxMemoryMb) + 64 MiB (fork headroom). */
            maxMemoryMb: z.number().int().min(16).max(REDIS_MAX_MEMORY_MB).default(256),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

const appSchema = z
  .object({
    name: z.string().regex(NAME, NAME_EXPECTED),
    image: imageRef,
    /** Port the app listens on inside its container. */
    port: port,
    command: z.array(z.string()).optional(),
    healthPath: z.string().startsWith("/").default("/health"),
    memoryMb: z.number().int().min(32).default(512),
    cpus: z.number().positive().max(64).default(1),
    /** uid:gid the process runs as; never root. */
    user: z
      .string()
      .regex(/^\d+(:\d+)?$/)
      // uid (and gid) 0 however written: Docker reads "00" and "000:0" as root too.
      .refine((u) => u.split(":").every((id) => Number(id) !== 0), "a non-root uid and gid")
      .default("10001:10001"),
    readOnlyRootFs: z.boolean().default(true),
    /** Route on the proxy: `/` for the main site, `/admin` for the admin web; absent for workers. */
    route: z.string().startsWith("/").optional(),
    /**
     * Whether the app may open outbound connections (payment APIs, a chat bot's API). Routed apps
     * always can (they sit on the edge network); the internal network alone has no egress.
     */
    egress: z.boolean().default(false),
    env: z.record(z.string().regex(ENV_NAME, ENV_NAME_EXPECTED), z.string()).default({}),
    /** Names of secret env vars; values come from the `appSecrets` secret config key. */
    secretEnv: z.array(z.string().regex(ENV_NAME, ENV_NAME_EXPECTED)).default([]),
    database: z.string().regex(NAME, NAME_EXPECTED).optional(),
    /**
     * How the app reaches `database`: `pooled` through PgBouncer (transaction mode), or `direct`
     * to the server (session semantics: session advisory locks, LISTEN, SET). The migration job
     * always gets the direct URL.
     */
    databaseConnection: z.enum(["pooled", "direct"]).default("pooled"),
    redis: z.array(z.string().regex(NAME, NAME_EXPECTED)).default([]),
    /** One-shot migration command, run after a pre-migration backup. */
    migrate: z.array(z.string()).min(1).optional(),
  })
  .strict();

const flagSchema = z
  .object({
    enabled: z.boolean(),
    /** Attestation kind that must be present and valid for the flag to be on in production. */
    requiresAttestation: z
      .string()
      .regex(/^[a-z][a-z-]*$/)
      .optional(),
    description: z.string().optional(),
  })
  .strict();

const proxySchema = z
  .object({
    image: imageRef,
    hstsMaxAgeSeconds: z.number().int().min(0).default(31536000),
    minTlsVersion: z.enum(TLS_VERSIONS).default("TLSv1.2"),
  })
  .strict();

/** A role's PIDs cgroup limit: 1 (no unlimited 0/-1) up to the policy pack's ceiling. */
const pidsLimit = (role: keyof typeof MAX_PIDS_LIMITS) => z.number().int().min(1).max(MAX_PIDS_LIMITS[role]);

/** PIDs cgroup limits by container role, in tasks (CIS 5.29; defaults and ceilings: contract/pids-limits.ts). */
const pidsLimitsSchema = z
  .object({
    app: pidsLimit("app").default(DEFAULT_PIDS_LIMITS.app),
    /**
     * Redis and PgBouncer get this (default 512); the Postgres server gets it too, and by default
     * at least `postgres.maxConnections` + 64 (one process per connection plus its auxiliary ones).
     */
    datastore: pidsLimit("datastore").optional(),
    proxy: pidsLimit("proxy").default(DEFAULT_PIDS_LIMITS.proxy),
    /** One-shot jobs (the proxy's `nginx -t` check), set before they start. */
    job: pidsLimit("job").default(DEFAULT_PIDS_LIMITS.job),
    /** One-shot migration jobs (the app's image running `migrate`), set before they start. */
    migration: pidsLimit("migration").default(DEFAULT_PIDS_LIMITS.migration),
    /** The local stack's disposable VPS container (its nested containers have their own). */
    vps: pidsLimit("vps").default(DEFAULT_PIDS_LIMITS.vps),
  })
  .strict();

const dnsSchema = z
  .object({
    zoneId: z.string().regex(/^[a-f0-9]{32}$/, "a 32-hex-digit Cloudflare zone id"),
    /** Extra hostnames (besides `domain`) pointing at the VPS, e.g. `api`, `admin`. */
    records: z.array(z.string().regex(/^[a-z0-9*][a-z0-9-]*$/)).default([]),
    proxied: z.boolean().default(true),
  })
  .strict();

const backupsSchema = z
  .object({
    dailyAt: z.string().regex(HHMM, "HH:MM (24h, UTC)").default("02:00"),
    incrementalEveryHours: z.number().int().min(1).max(24).default(6),
    retentionDays: z.number().int().min(1).default(30),
    /** rsync-over-ssh destination for off-site copies, e.g. `backup@vault.example.com:/srv/launchgate`. */
    offsiteTarget: z
      .string()
      .regex(/^[a-z0-9_.-]+@[a-z0-9.-]+:\/[\w./-]*$/)
      .optional(),
    /** How often the restore drill runs, in hours (at most weekly, 168: the backups-tested gate wants a fresh drill). */
    drillEveryHours: z.number().int().min(1).max(168).default(24),
  })
  .strict();

const monitoringSchema = z
  .object({
    /** Seconds between probes (at most MAX_PROBE_INTERVAL_SECONDS: an outage pages someone within minutes). */
    probeIntervalSeconds: z.number().int().min(10).max(MAX_PROBE_INTERVAL_SECONDS).default(60),
    cpuWarnPercent: z.number().min(1).max(100).default(70),
    cpuCritPercent: z.number().min(1).max(100).default(90),
    memoryWarnPercent: z.number().min(1).max(100).default(80),
    memoryCritPercent: z.number().min(1).max(100).default(85),
    diskWarnPercent: z.number().min(1).max(100).default(80),
    errorRateWarnPercent: z.number().min(0).max(100).default(1),
    errorRateCritPercent: z.number().min(0).max(100).default(5),
    /** Max age of the newest backup before an alert, in hours (at most 48: a missed daily dump must page someone). */
    backupMaxAgeHours: z.number().int().min(1).max(MAX_BACKUP_AGE_HOURS).default(26),
  })
  .strict()
  .refine((m) => m.cpuWarnPercent < m.cpuCritPercent, "cpuWarnPercent below cpuCritPercent")
  .refine((m) => m.memoryWarnPercent < m.memoryCritPercent, "memoryWarnPercent below memoryCritPercent")
  .refine(
    (m) => m.errorRateWarnPercent < m.errorRateCritPercent,
    "errorRateWarnPercent below errorRateCritPercent",
  );

/** A duration as written in config: `90s`, `30m`, `1h`, `24h`, `7d`. */
export const DURATION = /^([1-9]\d{0,5})(s|m|h|d)$/;
const DURATION_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Milliseconds of a DURATION string (`30m` → 1 800 000). @throws on anything else. */
export function durationMs(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new Error(`${JSON.stringify(text)} is not a duration such as 30m, 1h, 24h`);
  return Number(m[1]) * DURATION_MS[m[2] as keyof typeof DURATION_MS];
}

const percent = z.number().min(0).max(100);

/**
 * Canary analysis of one step's window (seed 004 "When to Rollback": error rate > 5 %, p95 > 5 s).
 * The canary fails a window when its error rate (5xx answers / requests, in percent) is
 * **greater than** `maxErrorRatePercent` or its p95 latency is **greater than** `maxP95Ms`; a
 * window with fewer than `minRequests` canary requests is inconclusive and is extended (at most
 * `maxInconclusiveWindows` times) before it counts as failed.
 */
export const analysisSchema = z
  .object({
    maxErrorRatePercent: percent.default(5),
    maxP95Ms: z.number().int().min(1).default(5000),
    minRequests: z.number().int().min(1).default(20),
    maxInconclusiveWindows: z.number().int().min(0).max(10).default(2),
  })
  .strict();

/**
 * Progressive delivery (seed 004 "Gradual Rollout Plan"): canary weights in percent, each held
 * for `stepSeconds` and judged by `analysis`. The last step must be 100 (the canary becomes the
 * only version). Absent: a release replaces the running one at once (health-gated).
 */
export const rolloutSchema = z
  .object({
    steps: z
      .array(z.number().int().min(1).max(100))
      .min(1)
      .default([10, 25, 50, 100])
      .refine((s) => s.every((w, i) => i === 0 || w > s[i - 1]!), "strictly increasing weights")
      .refine((s) => s[s.length - 1] === 100, "weights ending at 100"),
    stepSeconds: z.number().int().min(1).max(86_400).default(300),
    analysis: analysisSchema.default({}),
  })
  .strict();

/**
 * One post-deploy verification mark (seed 004 "Post-Deployment Validation": 30 min, 1 h, 24 h,
 * error rate < 1 %, p95 < 2 s). The mark passes only when the error rate is **below**
 * `maxErrorRatePercent` and p95 **below** `maxP95Ms` over the window since the previous mark.
 */
export const verifyCheckSchema = z
  .object({
    after: z.string().regex(DURATION, "a duration such as 30m, 1h, 24h"),
    maxErrorRatePercent: percent.default(1),
    maxP95Ms: z.number().int().min(1).default(2000),
  })
  .strict();

export const DEFAULT_VERIFY = [
  { after: "30m", maxErrorRatePercent: 1, maxP95Ms: 2000 },
  { after: "1h", maxErrorRatePercent: 1, maxP95Ms: 2000 },
  { after: "24h", maxErrorRatePercent: 1, maxP95Ms: 2000 },
];

const releaseSchema = z
  .object({
    /** Git commit being released (40 hex). */
    commit: z.string().regex(COMMIT_SHA, "a 40-hex-digit git commit"),
    /** Fully qualified staging stack (`org/launchgate/staging`) whose verified release this one must match. */
    stagingStack: z.string().optional(),
    /** Folder (relative to the project) holding the signed attestations for this stack. */
    evidenceDir: z.string().default("evidence"),
    /** The release to roll back to: its commit and image per app. */
    previous: z
      .object({
        commit: z.string().regex(COMMIT_SHA, "a 40-hex-digit git commit"),
        images: z.record(z.string(), imageRef),
      })
      .strict()
      .optional(),
    rollout: rolloutSchema.optional(),
    verify: z
      .array(verifyCheckSchema)
      .default(DEFAULT_VERIFY)
      .refine(
        (v) => v.every((c, i) => i === 0 || durationMs(c.after) > durationMs(v[i - 1]!.after)),
        "marks in increasing order of `after`",
      ),
    /**
     * Weight (percent) of the canary during a rollout; written by `npm run promote` at each step,
     * removed when the canary becomes the only version. Needs `rollout` and `previous`.
     */
    canaryWeight: z.number().int().min(0).max(100).optional(),
  })
  .strict();

/** The whole config, as the stack file holds it (before defaults). */
export const configSchema = z
  .object({
    environment: z.enum(ENVIRONMENTS),
    domain: z.string().regex(HOSTNAME, "a DNS name such as app.example.com"),
    host: hostSchema,
    /** Where workloads run: `single-host` (`host`, docker containers) or `swarm` (`hosts`, docker services). */
    placement: z.enum(PLACEMENTS).default("single-host"),
    /**
     * The cluster's nodes for `placement: swarm` (the shared login settings come from `host`);
     * empty for `single-host`.
     */
    hosts: z.array(clusterHostSchema).default([]),
    postgres: postgresSchema,
    redis: redisSchema,
    apps: z.array(appSchema).min(1),
    flags: z.record(z.string().regex(ENV_NAME, ENV_NAME_EXPECTED), flagSchema).default({}),
    proxy: proxySchema,
    pidsLimits: pidsLimitsSchema.default({}),
    tls: z.enum(["internal-ca", "cloudflare-origin"]),
    dns: dnsSchema.optional(),
    backups: backupsSchema.default({}),
    monitoring: monitoringSchema.default({}),
    release: releaseSchema,
    /**
     * Result of the post-deploy smoke tests for `release.commit`, written by `npm run promote`
     * after they pass; exported as `verifiedRelease` for production's staging gate.
     */
    verification: z
      .object({
        commit: z.string().regex(COMMIT_SHA, "a 40-hex-digit git commit"),
        passed: z.boolean(),
        finishedAt: z.string().datetime({ message: "an ISO-8601 UTC timestamp" }),
      })
      .strict()
      .optional(),
  })
  .strict();

export type LaunchgateConfig = z.infer<typeof configSchema>;
export type HostConfig = LaunchgateConfig["host"];
export type ClusterHostConfig = LaunchgateConfig["hosts"][number];
export type PostgresConfig = LaunchgateConfig["postgres"];
export type RedisConfig = LaunchgateConfig["redis"];
export type RedisInstanceConfig = RedisConfig["instances"][number];
export type AppConfig = LaunchgateConfig["apps"][number];
export type FlagConfig = LaunchgateConfig["flags"][string];
export type ProxyConfig = LaunchgateConfig["proxy"];
export type DnsConfig = NonNullable<LaunchgateConfig["dns"]>;
export type BackupsConfig = LaunchgateConfig["backups"];
export type MonitoringConfig = LaunchgateConfig["monitoring"];
export type ReleaseConfig = LaunchgateConfig["release"];
export type RolloutConfig = z.infer<typeof rolloutSchema>;
export type AnalysisConfig = RolloutConfig["analysis"];
export type VerifyCheck = ReleaseConfig["verify"][number];
export type VerificationConfig = NonNullable<LaunchgateConfig["verification"]>;

/**
 * Secret config keys (read as secret Outputs by stacks/read.ts, never validated here), with the
 * stack kinds that require them. Each must be `secure:` in the stack file.
 */
export const SECRET_CONFIG_KEYS = {
  /** Private key for the VPS: root on first contact, then the deploy user. Generated on `local`. */
  sshPrivateKey: { requiredOn: ["staging", "production"] },
  /** Alert webhook (e.g. Slack incoming webhook). `local` writes alerts to a file on the host. */
  alertWebhookUrl: { requiredOn: ["staging", "production"] },
  /** Per-app secret env values: `{ "<app>": { "<NAME>": "<value>" } }`. */
  appSecrets: { requiredOn: [] },
} as const satisfies Record<string, { requiredOn: readonly Environment[] }>;
export type SecretKey = keyof typeof SECRET_CONFIG_KEYS;

/** A config path as keys and array indexes: `["apps", 0, "image"]` is `launchgate:apps[0].image`. */
export type ConfigPath = (string | number)[];

/**
 * Where each image role the release runs lives in config: `postgres`, `pgbouncer`, `redis`,
 * `proxy` and `app:<name>` per app. The one mapping the release's image list, the digest check
 * and promotion's config edits use.
 */
export function imageConfigPaths(apps: readonly { readonly name: string }[]): Record<string, ConfigPath> {
  return {
    postgres: ["postgres", "image"],
    pgbouncer: ["postgres", "pgbouncer", "image"],
    redis: ["redis", "image"],
    proxy: ["proxy", "image"],
    ...Object.fromEntries(apps.map((a, i) => [appRole(a.name), ["apps", i, "image"]])),
  };
}

/** The image role of an app: `app:<name>` ({@link imageConfigPaths}). */
export function appRole(name: string): string {
  return `app:${name}`;
}

/** Whether an image role is an app's (`app:<name>`) rather than a data store's or the proxy's. */
export function isAppRole(role: string): boolean {
  return role.startsWith(appRole(""));
}

/** Every image the release runs, by role ({@link imageConfigPaths}). */
export function releaseImages(cfg: LaunchgateConfig): Record<string, string> {
  return Object.fromEntries(
    Object.entries(imageConfigPaths(cfg.apps)).map(([role, path]) => [role, String(valueAt(cfg, path))]),
  );
}

/** Keys allowed at a config path, for "did you mean" hints. */
function knownKeys(path: (string | number)[]): string[] {
  let schema: z.ZodTypeAny = configSchema;
  for (const p of path) {
    while (
      schema instanceof z.ZodDefault ||
      schema instanceof z.ZodOptional ||
      schema instanceof z.ZodEffects
    ) {
      schema = schema instanceof z.ZodEffects ? schema.innerType() : schema._def.innerType;
    }
    if (schema instanceof z.ZodObject) schema = schema.shape[p as string];
    else if (schema instanceof z.ZodArray) schema = schema.element;
    else if (schema instanceof z.ZodRecord) schema = schema.valueSchema;
    if (!schema) return [];
  }
  while (
    schema instanceof z.ZodDefault ||
    schema instanceof z.ZodOptional ||
    schema instanceof z.ZodEffects
  ) {
    schema = schema instanceof z.ZodEffects ? schema.innerType() : schema._def.innerType;
  }
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

/** The config keys, in the order they are documented in Pulumi.yaml. */
export const CONFIG_KEYS = Object.keys(configSchema.shape) as (keyof LaunchgateConfig)[];

/** Raised for invalid config; `problems` has one line per bad key. */
export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid launchgate config:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

/** Renders a config path as it is written in a stack file: `launchgate:apps[0].image`. */
export function keyName(path: (string | number)[]): string {
  const [head, ...rest] = path;
  const tail = rest.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("");
  return `${NAMESPACE}:${String(head ?? "")}${tail}`;
}

/** The value at a config path (`["apps", 0, "image"]`), or undefined when any step is missing. */
export function valueAt(raw: unknown, path: (string | number)[]): unknown {
  let v: unknown = raw;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

/**
 * What an issue is about, as shown after "got": for an env/flag name that fails its pattern (zod
 * reports a record key at the key's path), the key itself — `got key "session_secret"` names what
 * to change; otherwise the value at the path.
 */
function received(input: unknown, issue: z.ZodIssue): string {
  const last = issue.path[issue.path.length - 1];
  if (
    issue.code === "invalid_string" &&
    issue.message === ENV_NAME_EXPECTED &&
    typeof last === "string" &&
    !ENV_NAME.test(last)
  )
    return `key ${JSON.stringify(last)}`;
  return show(valueAt(input, issue.path));
}

function show(v: unknown): string {
  if (v === undefined) return "nothing";
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function expected(issue: z.ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      if (issue.received === "undefined") return `a value of type ${issue.expected} (required)`;
      // A key's own wording (`invalid_type_error`) over zod's default "Expected …, received …".
      if (!/^Expected /.test(issue.message)) return issue.message;
      return `${/^[aeiou]/.test(issue.expected) ? "an" : "a"} ${issue.expected}`;
    case "invalid_enum_value":
      return `one of ${issue.options.map((o) => JSON.stringify(o)).join(", ")}`;
    case "invalid_string":
      return issue.message !== "Invalid" ? issue.message : `a string matching ${String(issue.validation)}`;
    case "too_small":
      return issue.type === "array" ? `at least ${issue.minimum} item(s)` : `a value >= ${issue.minimum}`;
    case "too_big":
      return issue.type === "array" ? `at most ${issue.maximum} item(s)` : `a value <= ${issue.maximum}`;
    case "not_integer" as string:
      return "an integer";
    default:
      return issue.message;
  }
}

/** One line per schema issue, naming the key, the value received and what is expected. */
function problemsOf(error: z.ZodError, input: unknown): string[] {
  return error.issues.flatMap((issue) =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map(
          (k) =>
            `${keyName([...issue.path, k])}: got ${show(valueAt(input, [...issue.path, k]))}; expected no such key (a typo? known: ${knownKeys(issue.path).join(", ")})`,
        )
      : [`${keyName(issue.path)}: got ${received(input, issue)}; expected ${expected(issue)}`],
  );
}

/**
 * Server connections kept free of PgBouncer's pools: `superuser_reserved_connections` (3) plus
 * direct connections for migrations, backups and the restore drill (5).
 */
export const POSTGRES_RESERVED_CONNECTIONS = 8;

/**
 * PgBouncer's `max_client_conn`: the configured value, else 20 × `postgres.maxConnections` (at most
 * {@link PGBOUNCER_MAX_CLIENT_CONN}), so a
 * burst of 10× `max_connections` clients queues even while the apps hold their own connections
 * (at exactly 10× the burst's last clients were refused). A client costs PgBouncer one file
 * descriptor and a few KiB.
 */
export function pgbouncerMaxClientConn(pg: PostgresConfig): number {
  // Capped at the key's own bound, which is still 10× the highest maxConnections.
  return pg.pgbouncer.maxClientConn ?? Math.min(20 * pg.maxConnections, PGBOUNCER_MAX_CLIENT_CONN);
}

/** PIDs limit of Redis and PgBouncer: `pidsLimits.datastore`, else the role default. */
export function datastorePidsLimit(cfg: LaunchgateConfig): number {
  return cfg.pidsLimits.datastore ?? DEFAULT_PIDS_LIMITS.datastore;
}

/** Tasks the Postgres server needs at `maxConnections`: a process per connection plus its own. */
export function postgresMinPidsLimit(pg: PostgresConfig): number {
  return pg.maxConnections + POSTGRES_AUX_TASKS;
}

/**
 * PIDs limit of the Postgres server: `pidsLimits.datastore` when set (config validation refuses
 * less than {@link postgresMinPidsLimit}), else the larger of the role default and that minimum.
 */
export function postgresPidsLimit(cfg: LaunchgateConfig): number {
  return (
    cfg.pidsLimits.datastore ?? Math.max(DEFAULT_PIDS_LIMITS.datastore, postgresMinPidsLimit(cfg.postgres))
  );
}

/** PgBouncer sizing against the server's `max_connections`. Pure. */
function postgresPoolChecks(
  cfg: LaunchgateConfig,
): { path: (string | number)[]; value: unknown; expected: string }[] {
  const pg = cfg.postgres;
  const out: { path: (string | number)[]; value: unknown; expected: string }[] = [];
  const pools = pg.pgbouncer.defaultPoolSize * pg.databases.length;
  const room = pg.maxConnections - POSTGRES_RESERVED_CONNECTIONS;
  if (pools > room) {
    out.push({
      path: ["postgres", "pgbouncer", "defaultPoolSize"],
      value: pg.pgbouncer.defaultPoolSize,
      expected: `at most ${Math.floor(room / pg.databases.length)}: ${pg.databases.length} database pool(s) must fit in launchgate:postgres.maxConnections (${pg.maxConnections}) minus ${POSTGRES_RESERVED_CONNECTIONS} reserved`,
    });
  }
  const maxClient = pgbouncerMaxClientConn(pg);
  if (maxClient < pools) {
    out.push({
      path: ["postgres", "pgbouncer", "maxClientConn"],
      value: maxClient,
      expected: `at least the pooled server connections (${pools}); clients beyond the pools queue, so 20 × maxConnections (${20 * pg.maxConnections}) is the default`,
    });
  }
  return out;
}

/**
 * The cluster's shape (`placement`, `hosts`): a swarm needs hosts, an odd number of managers (Raft
 * needs a majority; with three or more hosts, three managers survive the loss of one) and exactly
 * one node labelled for each node-local data store plus at least one edge node. Pure.
 */
function clusterChecks(
  cfg: LaunchgateConfig,
): { path: (string | number)[]; value: unknown; expected: string }[] {
  const out: { path: (string | number)[]; value: unknown; expected: string }[] = [];
  if (cfg.placement === "single-host") {
    if (cfg.hosts.length > 0)
      out.push({
        path: ["hosts"],
        value: cfg.hosts.map((h) => h.address),
        expected:
          'no hosts with placement "single-host" (its one host is launchgate:host); set launchgate:placement to "swarm" for a cluster',
      });
    return out;
  }
  if (cfg.hosts.length === 0) {
    out.push({ path: ["hosts"], value: [], expected: 'at least one host with placement "swarm"' });
    return out;
  }
  const names = new Set<string>();
  cfg.hosts.forEach((h, i) => {
    if (h.name === undefined && cfg.environment !== "local")
      out.push({
        path: ["hosts", i, "name"],
        value: undefined,
        expected: `a stable node name (e.g. "${nodeName(i)}") on ${cfg.environment}: an index-named node is renamed when an earlier host is removed, and the program would drain the wrong one`,
      });
    const name = nodeName(i, h.name);
    if (names.has(name))
      out.push({ path: ["hosts", i, "name"], value: name, expected: "a node name unique among hosts" });
    names.add(name);
  });
  const seen = new Set<string>();
  cfg.hosts.forEach((h, i) => {
    const key = `${h.address}:${h.sshPort}`;
    if (seen.has(key))
      out.push({
        path: ["hosts", i, "address"],
        value: h.address,
        expected: "an address:sshPort unique among hosts",
      });
    seen.add(key);
  });
  const managers = cfg.hosts.filter((h) => h.roles.includes("manager")).length;
  const wanted = cfg.hosts.length >= 3 ? "at least 3 managers" : "1 manager";
  if (managers === 0 || managers % 2 === 0 || (cfg.hosts.length >= 3 && managers < 3))
    out.push({
      path: ["hosts"],
      value: `${managers} manager(s) among ${cfg.hosts.length} host(s)`,
      expected: `an odd number of hosts with role "manager" — ${wanted} for ${cfg.hosts.length} host(s) (Raft quorum)`,
    });
  cfg.hosts.forEach((h, i) => {
    if (h.labels[NODE_NAME_LABEL] !== undefined)
      out.push({
        path: ["hosts", i, "labels", NODE_NAME_LABEL],
        value: h.labels[NODE_NAME_LABEL],
        expected: `no ${NODE_NAME_LABEL} label: the program sets it to the node's name (${nodeName(i, h.name)}), which pins data stores to their node`,
      });
  });
  for (const [workload, label] of Object.entries(NODE_LABELS)) {
    const count = cfg.hosts.filter((h) => h.labels[label] === NODE_LABEL_ON).length;
    const needOne = workload !== "edge";
    if (needOne ? count !== 1 : count === 0)
      out.push({
        path: ["hosts"],
        value: `${count} host(s) labelled ${label}=${NODE_LABEL_ON}`,
        expected: needOne
          ? `exactly one host with labels.${label}: "${NODE_LABEL_ON}" (its ${workload} volume lives on that node)`
          : `at least one host with labels.${label}: "${NODE_LABEL_ON}" (the proxy's published ports)`,
      });
  }
  return out;
}

/** Problems that only make sense across keys or per environment. */
function crossChecks(
  cfg: LaunchgateConfig,
): { path: (string | number)[]; value: unknown; expected: string }[] {
  const out: { path: (string | number)[]; value: unknown; expected: string }[] = [];
  const requireDigest = cfg.environment !== "local";
  const images = imageConfigPaths(cfg.apps);
  for (const path of Object.values(images)) {
    const image = String(valueAt(cfg, path));
    if (requireDigest && !DIGEST_REF.test(image)) {
      out.push({
        path,
        value: image,
        expected: `an image pinned by digest (repo@sha256:<64 hex>) on ${cfg.environment}`,
      });
    } else if (/:latest(@|$)/.test(image) || (!image.includes(":") && !image.includes("@"))) {
      out.push({ path, value: image, expected: "an explicit tag or digest, never :latest or no tag" });
    }
  }
  out.push(...postgresPoolChecks(cfg));
  const pids = cfg.pidsLimits.datastore;
  if (pids !== undefined && pids < postgresMinPidsLimit(cfg.postgres)) {
    out.push({
      path: ["pidsLimits", "datastore"],
      value: pids,
      expected: `at least ${postgresMinPidsLimit(cfg.postgres)}: Postgres runs a process per connection (launchgate:postgres.maxConnections ${cfg.postgres.maxConnections}) plus ${POSTGRES_AUX_TASKS} of its own`,
    });
  }
  out.push(...clusterChecks(cfg));
  const seen = new Set<string>();
  cfg.apps.forEach((a, i) => {
    if (seen.has(a.name))
      out.push({ path: ["apps", i, "name"], value: a.name, expected: "a name unique among apps" });
    seen.add(a.name);
    if (a.database && !cfg.postgres.databases.some((d) => d.name === a.database)) {
      out.push({
        path: ["apps", i, "database"],
        value: a.database,
        expected: `one of launchgate:postgres.databases[*].name (${cfg.postgres.databases.map((d) => d.name).join(", ")})`,
      });
    }
    a.redis.forEach((r, j) => {
      if (!cfg.redis.instances.some((x) => x.name === r)) {
        out.push({
          path: ["apps", i, "redis", j],
          value: r,
          expected: `one of launchgate:redis.instances[*].name (${cfg.redis.instances.map((x) => x.name).join(", ")})`,
        });
      }
    });
  });
  const redisNames = new Set<string>();
  cfg.redis.instances.forEach((r, i) => {
    if (redisNames.has(r.name))
      out.push({
        path: ["redis", "instances", i, "name"],
        value: r.name,
        expected: "a unique instance name",
      });
    redisNames.add(r.name);
  });
  const routes = cfg.apps.filter((a) => a.route).map((a) => a.route);
  if (routes.length === 0)
    out.push({ path: ["apps"], value: "(no route)", expected: "at least one app with a `route`" });
  if (cfg.environment !== "local") {
    // An unpinned host key lets whoever answers on the address receive every command and secret.
    const hostKeyExpected = `the host's SSH host public key ("ssh-ed25519 AAAA…", from ssh-keyscan, verified out of band) on ${cfg.environment}`;
    if (cfg.placement === "swarm")
      cfg.hosts.forEach((h, i) => {
        if (!h.hostKey)
          out.push({ path: ["hosts", i, "hostKey"], value: undefined, expected: hostKeyExpected });
      });
    else if (!cfg.host.hostKey)
      out.push({ path: ["host", "hostKey"], value: undefined, expected: hostKeyExpected });
    if (cfg.tls !== "cloudflare-origin")
      out.push({ path: ["tls"], value: cfg.tls, expected: `"cloudflare-origin" on ${cfg.environment}` });
    if (!cfg.dns)
      out.push({ path: ["dns"], value: undefined, expected: `a Cloudflare zone on ${cfg.environment}` });
  }
  if (cfg.release.canaryWeight !== undefined) {
    if (!cfg.release.rollout)
      out.push({
        path: ["release", "canaryWeight"],
        value: cfg.release.canaryWeight,
        expected: "no canaryWeight without launchgate:release.rollout",
      });
    if (!cfg.release.previous)
      out.push({
        path: ["release", "canaryWeight"],
        value: cfg.release.canaryWeight,
        expected: "no canaryWeight without launchgate:release.previous (the stable version)",
      });
  }
  if (cfg.tls === "cloudflare-origin" && cfg.dns && !cfg.dns.proxied) {
    out.push({
      path: ["dns", "proxied"],
      value: false,
      expected:
        "true with tls cloudflare-origin (the origin then accepts only Cloudflare's addresses and certificate)",
    });
  }
  if (cfg.environment === "production" && !cfg.release.stagingStack) {
    out.push({
      path: ["release", "stagingStack"],
      value: undefined,
      expected: "the staging stack whose verified release production must match (org/project/stack)",
    });
  }
  return out;
}

/**
 * Validates raw config (as parsed from the stack file, keys without the namespace) and applies
 * defaults. `stackName` fills `environment` when the key is absent.
 * @throws ConfigError listing every problem, each naming key, value and expectation.
 */
export function parseConfig(raw: Record<string, unknown>, stackName: string): LaunchgateConfig {
  const input = { environment: stackName, ...raw };
  for (const key of Object.keys(SECRET_CONFIG_KEYS)) delete (input as Record<string, unknown>)[key];
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(problemsOf(parsed.error, input));
  const cross = crossChecks(parsed.data);
  if (cross.length > 0) {
    throw new ConfigError(
      cross.map((c) => `${keyName(c.path)}: got ${show(c.value)}; expected ${c.expected}`),
    );
  }
  return parsed.data;
}

/**
 * A stack's config as the Automation API returns it (`Stack.getAllConfig()`, i.e.
 * `pulumi config --json`): `{ "launchgate:<key>": { value, secret } }`, structured values as JSON
 * text. Keys of other namespaces (providers) may be present.
 */
export type ConfigMap = Record<string, { value: string; secret?: boolean }>;

/** Parses a config string as JSON when it is JSON (objects, numbers, booleans), else keeps it. */
export function decodeConfigValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/**
 * Validates some top-level keys of a {@link ConfigMap} by this schema, defaults applied: for tools
 * (promotion) that read a few keys of a stack's config without building the stack. The checks
 * across keys and per environment ({@link parseConfig}) need the whole config and are not run.
 * @throws ConfigError with one line per problem naming key, value and expectation, worded as
 *   {@link parseConfig} words them.
 */
export function parseConfigKeys<K extends (typeof CONFIG_KEYS)[number]>(
  map: ConfigMap,
  keys: readonly K[],
): Pick<LaunchgateConfig, K> {
  const input: Record<string, unknown> = {};
  for (const key of keys) {
    const entry = map[`${NAMESPACE}:${key}`];
    if (entry !== undefined) input[key] = decodeConfigValue(entry.value);
  }
  const mask: { [P in (typeof CONFIG_KEYS)[number]]?: true } = Object.fromEntries(keys.map((k) => [k, true]));
  const parsed = configSchema.pick(mask).safeParse(input);
  if (!parsed.success) throw new ConfigError(problemsOf(parsed.error, input));
  return parsed.data as Pick<LaunchgateConfig, K>;
}
