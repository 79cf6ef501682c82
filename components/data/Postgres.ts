/**
 * Postgres: PostgreSQL container on the internal network with a protected, retained volume,
 * tuning from config, a pg_isready healthcheck and a random superuser password; least-privilege
 * roles and databases through @pulumi/postgresql; PgBouncer in front for pooling.
 *
 * Nothing here publishes a host port. Role/database management reaches the server through
 * `adminEndpoint` (an SSH local forward to `ipAddress:5432`, see PostgresAdminTunnel).
 */
import * as crypto from "crypto";
import * as docker from "@pulumi/docker";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { attachNetworks, hardened, healthTiming, patientProbe } from "../app/hardening";
import { limitPids, type EngineCli } from "../app/pids-limit";
import { datastoreLabels } from "../../contract/roles";
import { SECRETS_DIR, SwarmPlacement, declareWorkload, swarmSecretFiles } from "../app/workload";
import { declareDataVolume, pinnedTo, type DataNode } from "./volume";

/** Port PgBouncer listens on (inside the internal network only). */
export const PGBOUNCER_PORT = 6432;
/** Where PGDATA lives inside the server container (the volume's mount point). */
export const PGDATA = "/var/lib/postgresql/data";

/** The server's readiness check: accepting connections over TCP (the entrypoint's init server listens only on its socket). */
export const POSTGRES_READY_CHECK = [
  "pg_isready",
  "-q",
  "-h",
  "127.0.0.1",
  "-p",
  "5432",
  "-U",
  "postgres",
] as const;

/**
 * Seconds the server's first probes wait for readiness (`patientProbe`), under its 5 s probe
 * timeout: initdb and the first start take 1–3 s on a small VPS.
 */
export const POSTGRES_FIRST_READY_WAIT_SECONDS = 4;

/** PgBouncer pool modes (its `pool_mode`). */
export const POOL_MODES = ["session", "transaction", "statement"] as const;
export type PoolMode = (typeof POOL_MODES)[number];

/** A database and the least-privilege login role that owns it. */
export interface PostgresDatabase {
  readonly name: string;
  readonly role: string;
}

/** The server, its tuning, databases and pooler. Sizes in MiB. */
export interface PostgresSettings {
  /** Server image (pinned by digest outside `local`). */
  readonly image: string;
  /** Container memory limit, MiB. */
  readonly memoryMb: number;
  /** `max_connections`. */
  readonly maxConnections: number;
  /** `shared_buffers`, MiB. */
  readonly sharedBuffersMb: number;
  /** `effective_cache_size`, MiB. */
  readonly effectiveCacheSizeMb: number;
  /** `work_mem`, MiB. */
  readonly workMemMb: number;
  /** Databases with their owning roles. */
  readonly databases: readonly PostgresDatabase[];
  readonly pgbouncer: {
    /** PgBouncer image. */
    readonly image: string;
    readonly poolMode: PoolMode;
    /** `default_pool_size` (server connections per database/user pair). */
    readonly defaultPoolSize: number;
    /** `max_client_conn` (the stack's default: 20 × `maxConnections`). */
    readonly maxClientConn: number;
    /** `max_prepared_statements` (PgBouncer ≥ 1.21); 0 = off. */
    readonly maxPreparedStatements: number;
    /** `server_login_retry`, seconds. */
    readonly serverLoginRetrySeconds: number;
    /** `query_wait_timeout`, seconds. */
    readonly queryWaitTimeoutSeconds: number;
  };
}

export interface PostgresArgs {
  /**
   * Docker Engine API version of the engine the containers run on (`launchgate:host.engineApiVersion`):
   * from 1.44 healthchecks get a start interval ({@link healthTiming}). @default 1.41 (Debian 12's docker.io)
   */
  readonly engineApiVersion?: string;
  /** Image, memory, tuning, databases/roles and PgBouncer settings. */
  readonly config: PostgresSettings;
  /** Internal network the server and PgBouncer join; no host port is published. */
  readonly internalNetwork: pulumi.Input<string>;
  /** Fixed address of the server on the internal network (the DB admin endpoint). */
  readonly ipAddress: string;
  /**
   * Where the @pulumi/postgresql provider reaches the server for role/database management
   * (an SSH local forward to `ipAddress:5432`).
   */
  readonly adminEndpoint: { readonly host: pulumi.Input<string>; readonly port: pulumi.Input<number> };
  /** Resources the admin endpoint needs (e.g. the SSH tunnel) before roles are managed. */
  readonly adminDependsOn?: pulumi.Resource[];
  /**
   * Server command; the tuning flags (`-c key=value`) are appended. The official image's
   * entrypoint initialises PGDATA and accepts `postgres`; an image built from Debian packages
   * needs its own entrypoint that runs initdb and a full path such as
   * `/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/data`.
   * @default ["postgres"]
   */
  readonly serverCommand?: string[];
  /**
   * User the server runs as. A name, so it resolves to the image's own postgres uid (999 in the
   * official image, a system uid on Debian). Never root: initdb refuses root anyway.
   * @default "postgres"
   */
  readonly serverUser?: string;
  /** PgBouncer binary (on PATH in Debian's package and the common images). @default "pgbouncer" */
  readonly pgbouncerBinary?: string;
  /** User PgBouncer runs as (it refuses root). @default "postgres" */
  readonly pgbouncerUser?: string;
  /**
   * PgBouncer healthcheck test. The default needs `pg_isready` in the PgBouncer image
   * (postgresql-client); images without it should pass a check they can run.
   * @default ["CMD", "pg_isready", "-h", "127.0.0.1", "-p", "6432"]
   */
  readonly pgbouncerHealthcheck?: string[];
  /** CPU ceiling of the server container. @default 1 */
  readonly cpus?: number;
  /** PIDs cgroup limits (CIS 5.29) of the server and PgBouncer, and the engine to apply them on. */
  readonly pids?: {
    readonly engine: EngineCli;
    /** Server: at least max_connections + POSTGRES_AUX_TASKS (contract/pids-limits.ts). */
    readonly server: number;
    readonly pgbouncer: number;
  };
  /**
   * Run the server and PgBouncer as Swarm services: the server placed by `server` and pinned to
   * `dataNode` (its volume is node-local and declared on that node; no fixed address: PgBouncer reaches it by service name), PgBouncer by `pgbouncer`;
   * passwords and the auth file as secret files, never in env. @default containers on the one host
   */
  readonly swarm?: {
    readonly server: SwarmPlacement;
    /** The node holding the data volume: the volume is declared there and the server pinned to it. */
    readonly dataNode: DataNode;
    readonly pgbouncer: SwarmPlacement;
    /**
     * Id of the DB admin network (Network's `dbAdminId`) the server also joins: its one address
     * there is what the admin tunnel forwards to from the server's node. @default none
     */
    readonly adminNetwork?: pulumi.Input<string>;
  };
}

/** `-c key=value` flags for the server from the tuning config. Pure; exported for tests. */
export function tuningFlags(cfg: PostgresSettings): string[] {
  const settings: [string, string][] = [
    // The official image sets this in postgresql.conf after initdb; Debian's default is
    // localhost. Explicit, so both listen on the internal network (the only one attached).
    ["listen_addresses", "*"],
    ["max_connections", String(cfg.maxConnections)],
    ["shared_buffers", `${cfg.sharedBuffersMb}MB`],
    ["effective_cache_size", `${cfg.effectiveCacheSizeMb}MB`],
    ["work_mem", `${cfg.workMemMb}MB`],
    ["password_encryption", "scram-sha-256"],
  ];
  return settings.flatMap(([k, v]) => ["-c", `${k}=${v}`]);
}

/**
 * pgbouncer.ini for the configured databases. Pure; holds no secret (passwords are in the auth file).
 *
 * Sizing (DESIGN §2, issue 12): `max_client_conn` defaults to 20 × `max_connections`, so a burst
 * of 10× clients queues for a pooled server connection (up to `query_wait_timeout`) instead of being
 * refused; `max_prepared_statements` (PgBouncer ≥ 1.21) lets drivers that prepare named
 * statements use transaction mode; `server_login_retry` and `server_connect_timeout` are short so
 * the pool reconnects within about a second of Postgres answering again (PgBouncer's default
 * retry of 15 s turned a 0.4 s crash into 15 s of errors).
 */
export function pgbouncerIni(cfg: PostgresSettings, serverAddress: string, authFile: string): string {
  const dbs = cfg.databases.map((d) => `${d.name} = host=${serverAddress} port=5432 dbname=${d.name}`);
  const b = cfg.pgbouncer;
  return [
    "[databases]",
    ...dbs,
    "",
    "[pgbouncer]",
    "listen_addr = 0.0.0.0",
    `listen_port = ${PGBOUNCER_PORT}`,
    // Clients and PgBouncer both authenticate with SCRAM; the auth file holds the role passwords.
    "auth_type = scram-sha-256",
    `auth_file = ${authFile}`,
    `pool_mode = ${cfg.pgbouncer.poolMode}`,
    `default_pool_size = ${cfg.pgbouncer.defaultPoolSize}`,
    `max_client_conn = ${b.maxClientConn}`,
    `max_prepared_statements = ${b.maxPreparedStatements}`,
    `server_login_retry = ${b.serverLoginRetrySeconds}`,
    "server_connect_timeout = 2",
    `query_wait_timeout = ${b.queryWaitTimeoutSeconds}`,
    // Common drivers send this on connect; PgBouncer would refuse the connection otherwise.
    "ignore_startup_parameters = extra_float_digits",
    // No unix socket, no pid file: the root filesystem is read-only and nothing uses them.
    "unix_socket_dir =",
    "",
  ].join("\n");
}

/**
 * File descriptors PgBouncer holds besides its client and server sockets: listen sockets, the
 * DNS resolver's, its log and stdio, with room to spare. (PgBouncer's own estimate, logged at
 * start as "max expected fd use", is `max_client_conn` + its pools + about 30.)
 */
export const PGBOUNCER_OWN_FDS = 64;

/**
 * Open files (`RLIMIT_NOFILE`) PgBouncer needs to accept `max_client_conn` clients: one socket per
 * client, one per pooled server connection (`default_pool_size` × databases, one role each), plus
 * {@link PGBOUNCER_OWN_FDS}. PgBouncer never raises its own soft limit: at the 1024 Docker ≥ 25
 * gives containers (containerd's default), 1,000 clients of a 2,000 `max_client_conn` were
 * refused, whatever the ini said (issue 12). The start script raises the soft limit to this
 * (within the engine's hard limit: 524288 from Docker ≥ 25, 1048576 under Debian's docker.io
 * unit), the same on one host and on Swarm (whose services have no ulimits input); no container
 * `ulimits` override (CIS 5.19, policy container-ulimits), which could not exceed the daemon's own
 * hard limit anyway. Pure.
 */
export function pgbouncerFileLimit(cfg: PostgresSettings): number {
  const servers = cfg.pgbouncer.defaultPoolSize * cfg.databases.length;
  return cfg.pgbouncer.maxClientConn + servers + PGBOUNCER_OWN_FDS;
}

/**
 * PgBouncer's container memory, MiB: 64 for the process plus 12 KiB per `max_client_conn`, at
 * least 128. Measured (PgBouncer 1.24): 10,000 clients waiting at login held 66 MiB (about 7 KiB
 * each, its packet buffer included); 12 KiB leaves room for queued queries' buffers. The default
 * sizing (2,000 clients) stays at 128 MiB; 100,000 clients get 1,236 MiB instead of being
 * OOM-killed at 128. Pure.
 */
export function pgbouncerMemoryMb(cfg: PostgresSettings): number {
  return Math.max(128, 64 + Math.ceil((cfg.pgbouncer.maxClientConn * 12) / 1024));
}

/** PBKDF2 iterations of a SCRAM-SHA-256 verifier (PostgreSQL's default `scram_iterations`). */
export const SCRAM_ITERATIONS = 4096;

/**
 * A SCRAM-SHA-256 verifier in PostgreSQL's `pg_authid` format (RFC 5802/7677):
 * `SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>`. Pure.
 *
 * The role's password is set to this verifier (PostgreSQL stores a pre-hashed SCRAM secret as
 * given) and PgBouncer's auth file holds the same string. PgBouncer then checks a client's proof
 * with a few HMACs instead of running PBKDF2 (4096 × HMAC-SHA-256) per login on its single thread
 * — with plaintext passwords in the auth file, a burst of 1,000 logins kept it busy for tens of
 * seconds — and logs in to the server with the client's own proof (SCRAM pass-through, which
 * needs the verifiers to be identical on both sides).
 */
export function scramVerifier(password: string, salt: Buffer, iterations = SCRAM_ITERATIONS): string {
  const salted = crypto.pbkdf2Sync(password.normalize("NFKC"), salt, iterations, 32, "sha256");
  const hmac = (key: Buffer, msg: string) => crypto.createHmac("sha256", key).update(msg).digest();
  const storedKey = crypto.createHash("sha256").update(hmac(salted, "Client Key")).digest();
  const serverKey = hmac(salted, "Server Key");
  const b64 = (b: Buffer) => b.toString("base64");
  return `SCRAM-SHA-256$${iterations}:${b64(salt)}$${b64(storedKey)}:${b64(serverKey)}`;
}

/** PgBouncer auth file line for a role (`"name" "password"`), quotes doubled per its format. */
function authLine(role: string, password: string): string {
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  return `${q(role)} ${q(password)}`;
}

/**
 * Writes the ini and auth file to tmpfs from env and execs PgBouncer, so the read-only root
 * filesystem needs no upload and the passwords are never in the command line. First raises the
 * soft open-files limit to {@link pgbouncerFileLimit}; exits 1 with the numbers when
 * the container's hard limit is lower (rather than refusing clients later).
 */
function pgbouncerScript(binary: string, cfg: PostgresSettings, authFromSecretFile = false): string {
  const need = pgbouncerFileLimit(cfg);
  const why =
    `max_client_conn ${cfg.pgbouncer.maxClientConn} + ${need - cfg.pgbouncer.maxClientConn - PGBOUNCER_OWN_FDS} ` +
    `server connections + ${PGBOUNCER_OWN_FDS} of its own`;
  return [
    "set -eu",
    `soft=$(ulimit -S -n)`,
    `if [ "$soft" != unlimited ] && [ "$soft" -lt ${need} ]; then`,
    `  ulimit -S -n ${need} 2>/dev/null || { echo "pgbouncer: needs ${need} open files (${why}; launchgate:postgres.pgbouncer.maxClientConn), but the container's hard limit is $(ulimit -H -n): raise the engine's nofile limit (dockerd LimitNOFILE or default-ulimits) or lower maxClientConn" >&2; exit 1; }`,
    "fi",
    "umask 077",
    'printf "%s" "$PGBOUNCER_INI" > /tmp/pgbouncer.ini',
    // On Swarm the auth file is the secret file itself (auth_file points at it).
    ...(authFromSecretFile
      ? []
      : ['printf "%s\\n" "$PGBOUNCER_AUTH" > /tmp/userlist.txt', "unset PGBOUNCER_AUTH"]),
    `exec ${binary} /tmp/pgbouncer.ini`,
  ].join("\n");
}

export class Postgres extends pulumi.ComponentResource {
  /** Container name of the server (used by backups via `docker exec`). */
  public readonly containerName: pulumi.Output<string>;
  /** The server's container or Swarm service name, known at preview (for `lg_container`). */
  public readonly workloadRef: string;
  /** Named volume holding PGDATA (protected, retained on delete). */
  public readonly volumeName: pulumi.Output<string>;
  /** Superuser password (secret). */
  public readonly superuserPassword: pulumi.Output<string>;
  /** Per database: postgres:// URL through PgBouncer for its role (secret). */
  public readonly databaseUrls: pulumi.Output<Record<string, string>>;
  /**
   * Per database: postgres:// URL straight to the server (session semantics) for its role
   * (secret): for migrations and apps with `databaseConnection: direct`. Each such client holds
   * a server connection, within the connections PgBouncer's pools leave free.
   */
  public readonly directUrls: pulumi.Output<Record<string, string>>;
  /** The server and PgBouncer containers: what a client (app, migration job) must start after. */
  public readonly containers: pulumi.Resource[];
  /**
   * Per database: its role and the database, which a client must also start after: the URLs name
   * them from config (they do not depend on them), so a client that only needs to exist early (a
   * one-shot job created stopped) is not held back by them. Not the PUBLIC revoke: no client
   * needs it, so it is applied beside the clients' start rather than before it.
   */
  public readonly databaseResources: Record<string, pulumi.Resource[]>;
  /** Network alias apps use to reach PgBouncer. */
  public readonly poolerHost: pulumi.Output<string>;

  constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super("launchgate:data:Postgres", name, {}, opts);
    const cfg = args.config;
    const poolerAlias = `${name}-pgbouncer`;

    const superPassword = new random.RandomPassword(
      `${name}-superuser`,
      { length: 32, special: false },
      { parent: this },
    );

    // The data outlives every container and even `pulumi destroy`: losing it is not recoverable
    // from the program, only from backups.
    // On a swarm: on the node the server is pinned to (./volume.ts).
    const volume = declareDataVolume(this, name, "postgres", args.swarm?.dataNode);

    const serverSpec: docker.ContainerArgs = {
      ...hardened({
        memoryMb: cfg.memoryMb,
        cpus: args.cpus ?? 1,
        // The server's unix socket and lock file; the official entrypoint's temporary
        // init server also listens there.
        tmpfs: { "/var/run/postgresql": "rw,noexec,nosuid,nodev,size=1m" },
      }),
      name,
      image: cfg.image,
      user: args.serverUser ?? "postgres",
      command: [...(args.serverCommand ?? ["postgres"]), ...tuningFlags(cfg)],
      envs: args.swarm
        ? undefined
        : [
            // Explicitly secret: the env must stay encrypted in state whatever the provider marks.
            pulumi.secret(pulumi.interpolate`POSTGRES_PASSWORD=${superPassword.result}`),
            "POSTGRES_USER=postgres",
            `PGDATA=${PGDATA}`,
            // Only the superuser may connect before roles exist; app roles come from the provider.
            "POSTGRES_INITDB_ARGS=--auth-host=scram-sha-256 --auth-local=peer",
          ],
      volumes: [{ volumeName: volume.name, containerPath: PGDATA }],
      labels: datastoreLabels("postgres"),
      // Parallel query workers use POSIX shared memory; docker's 64 MiB default is too small.
      shmSize: 128,
      ...attachNetworks(
        args.swarm
          ? [
              { name: args.internalNetwork, aliases: [name] },
              ...(args.swarm.adminNetwork ? [{ name: args.swarm.adminNetwork }] : []),
            ]
          : [{ name: args.internalNetwork, ipv4Address: args.ipAddress, aliases: [name] }],
      ),
      healthcheck: {
        // Patient until first ready: a new volume's initdb outlasts the first probe (issue 12).
        tests: patientProbe(POSTGRES_READY_CHECK, POSTGRES_FIRST_READY_WAIT_SECONDS),
        // ~10 s of failed probes before "unhealthy" (the monitor alerts on it), not 10 minutes.
        ...healthTiming(args.swarm ? undefined : args.engineApiVersion, 10),
        timeout: "5s",
        startPeriod: "60s",
      },
      wait: true,
      waitTimeout: 180,
      // Postgres flushes and checkpoints on SIGINT (fast shutdown) rather than aborting.
      stopSignal: "SIGINT",
      stopTimeout: 60,
    };
    const server = declareWorkload(
      name,
      serverSpec,
      args.swarm
        ? {
            kind: "service",
            swarm: pinnedTo(args.swarm.server, args.swarm.dataNode),
            env: {
              POSTGRES_USER: "postgres",
              PGDATA,
              POSTGRES_INITDB_ARGS: "--auth-host=scram-sha-256 --auth-local=peer",
            },
            secrets: swarmSecretFiles(this, name, [
              { name: "POSTGRES_PASSWORD", value: superPassword.result },
            ]),
          }
        : { kind: "container" },
      // A fixed container name cannot exist twice (and two servers must never share the data
      // volume): replace delete-first. The volume is protected and retained, so data survives.
      { parent: this, deleteBeforeReplace: true },
    );
    limitPids(name, server, args.pids && { engine: args.pids.engine, limit: args.pids.server }, {
      parent: this,
    });

    // Role and database management goes through the admin endpoint, which exists only once the
    // server is healthy and the tunnel is open.
    const admin = new postgresql.Provider(
      `${name}-admin`,
      {
        host: args.adminEndpoint.host,
        port: args.adminEndpoint.port,
        username: "postgres",
        password: pulumi.secret(superPassword.result),
        database: "postgres",
        // The tunnel is SSH-encrypted end to end and the server listens only on the internal
        // network, so TLS inside it would add a certificate to manage and no protection.
        sslmode: "disable",
        superuser: true,
        connectTimeout: 30,
      },
      { parent: this, dependsOn: [...(args.adminDependsOn ?? []), server] },
    );

    const roleSecrets: pulumi.Output<string>[] = [];
    const urls: Record<string, pulumi.Output<string>> = {};
    const direct: Record<string, pulumi.Output<string>> = {};
    const databaseResources: Record<string, pulumi.Resource[]> = {};
    for (const db of cfg.databases) {
      const password = new random.RandomPassword(
        `${name}-${db.role}-password`,
        { length: 32, special: false },
        { parent: this },
      );
      // Stable per role (kept in state like the password): the verifier must not change on every run.
      const salt = new random.RandomPassword(
        `${name}-${db.role}-scram-salt`,
        { length: 16, special: false },
        { parent: this },
      );
      const verifier = pulumi.secret(
        pulumi
          .all([password.result, salt.result])
          .apply(([pw, s]) => scramVerifier(pw, Buffer.from(s, "utf8"))),
      );
      // LOGIN only: the app role cannot create databases or roles, bypass RLS or replicate.
      const role = new postgresql.Role(
        `${name}-${db.role}`,
        {
          name: db.role,
          login: true,
          // The SCRAM verifier, not the password: PgBouncer's auth file holds the same one.
          password: verifier,
          superuser: false,
          createDatabase: false,
          createRole: false,
          replication: false,
          bypassRowLevelSecurity: false,
          inherit: true,
        },
        { parent: this, provider: admin, protect: true },
      );
      const database = new postgresql.Database(
        `${name}-${db.name}`,
        { name: db.name, owner: role.name, encoding: "UTF8", template: "template0", allowConnections: true },
        { parent: this, provider: admin, protect: true, retainOnDelete: true },
      );
      // PUBLIC gets CONNECT and TEMP on every new database by default; take them away so one app
      // role cannot open another app's database.
      new postgresql.Grant(
        `${name}-${db.name}-revoke-public`,
        { database: database.name, role: "public", objectType: "database", privileges: [] },
        { parent: this, provider: admin },
      );
      // The role's name from config, not `role.name`: PgBouncer only needs the name and verifier
      // in its auth file (it logs in when a client comes), so it must not wait for the role to be
      // created on a healthy server (that put it after Postgres + the roles on every deploy).
      roleSecrets.push(verifier.apply((v) => authLine(db.role, v)));
      // The URLs too (issue 12): a client waits for `databaseResources` explicitly, so a migration
      // job can be created while the server and its roles come up, and only run after them.
      urls[db.name] = pulumi.secret(
        pulumi.interpolate`postgres://${db.role}:${password.result}@${poolerAlias}:${PGBOUNCER_PORT}/${db.name}`,
      );
      direct[db.name] = pulumi.secret(
        pulumi.interpolate`postgres://${db.role}:${password.result}@${name}:5432/${db.name}`,
      );
      databaseResources[db.name] = [role, database];
    }

    const bouncerHealth = args.pgbouncerHealthcheck ?? [
      "CMD",
      "pg_isready",
      "-h",
      "127.0.0.1",
      "-p",
      String(PGBOUNCER_PORT),
    ];
    const authFile = args.swarm ? `${SECRETS_DIR}/PGBOUNCER_AUTH` : "/tmp/userlist.txt";
    const authLines = pulumi.all(roleSecrets).apply((lines) => lines.join("\n"));
    const poolerSpec: docker.ContainerArgs = {
      // PgBouncer is single-threaded and small; 128 MiB holds thousands of clients, more grow it
      // (pgbouncerMemoryMb). One whole CPU: it is on every query's path, and a 0.5 quota
      // throttles it for half of each CFS period — a burst of 1,000 logins then took over a
      // minute (issue 12).
      ...hardened({ memoryMb: pgbouncerMemoryMb(cfg), cpus: 1 }),
      name: poolerAlias,
      image: cfg.pgbouncer.image,
      user: args.pgbouncerUser ?? "postgres",
      // Same entrypoint for every image, so an image's own config generator never runs.
      entrypoints: ["/bin/sh", "-c"],
      command: [pgbouncerScript(args.pgbouncerBinary ?? "pgbouncer", cfg, args.swarm !== undefined)],
      envs: args.swarm
        ? undefined
        : [
            `PGBOUNCER_INI=${pgbouncerIni(cfg, args.ipAddress, authFile)}`,
            pulumi.secret(pulumi.all(roleSecrets).apply((lines) => `PGBOUNCER_AUTH=${lines.join("\n")}`)),
          ],
      ...attachNetworks([{ name: args.internalNetwork, aliases: [poolerAlias] }]),
      labels: datastoreLabels("pgbouncer"),
      healthcheck: {
        tests: bouncerHealth,
        ...healthTiming(args.swarm ? undefined : args.engineApiVersion, 10),
        timeout: "5s",
        startPeriod: "10s",
      },
      wait: true,
      waitTimeout: 60,
    };
    const pooler = declareWorkload(
      poolerAlias,
      poolerSpec,
      args.swarm
        ? {
            kind: "service",
            swarm: args.swarm.pgbouncer,
            // On the overlay the server is reached by its service name (no fixed address).
            env: { PGBOUNCER_INI: pgbouncerIni(cfg, name, authFile) },
            secrets: swarmSecretFiles(this, poolerAlias, [
              { name: "PGBOUNCER_AUTH", value: authLines.apply((l) => `${l}\n`) },
            ]),
          }
        : { kind: "container" },
      // Fixed name (the apps' DATABASE_URL host): replace delete-first, like the server.
      // Started beside the server, not after it: PgBouncer connects to Postgres only when a client
      // comes (retrying every serverLoginRetrySeconds), and its healthcheck asks PgBouncer itself,
      // so waiting for the server first only added one health interval to every deploy (issue 12:
      // all-healthy beside the compose baseline). Its clients (apps, migrations) wait for both.
      { parent: this, deleteBeforeReplace: true },
    );
    limitPids(poolerAlias, pooler, args.pids && { engine: args.pids.engine, limit: args.pids.pgbouncer }, {
      parent: this,
    });

    this.containers = [server, pooler];
    this.databaseResources = databaseResources;
    this.containerName = server.name;
    this.workloadRef = name;
    this.volumeName = volume.name;
    this.superuserPassword = pulumi.secret(superPassword.result);
    this.databaseUrls = pulumi.secret(pulumi.all(urls));
    this.directUrls = pulumi.secret(pulumi.all(direct));
    this.poolerHost = pooler.name.apply(() => poolerAlias);
    this.registerOutputs({
      containerName: this.containerName,
      volumeName: this.volumeName,
      superuserPassword: this.superuserPassword,
      databaseUrls: this.databaseUrls,
      directUrls: this.directUrls,
      poolerHost: this.poolerHost,
    });
  }
}
