/**
 * Postgres: PostgreSQL container on the internal network with a protected, retained volume,
 * tuning from config, a pg_isready healthcheck and a random superuser password; least-privilege
 * roles and databases through @pulumi/postgresql; PgBouncer in front for pooling.
 *
 * Nothing here publishes a host port. Role/database management reaches the server through
 * `adminEndpoint` (an SSH local forward to `ipAddress:5432`, see PostgresAdminTunnel).
 */
import * as docker from "@pulumi/docker";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { attachNetworks, hardened } from "../app/hardening";
import { datastoreLabels } from "../../contract/roles";

/** Port PgBouncer listens on (inside the internal network only). */
export const PGBOUNCER_PORT = 6432;
/** Where PGDATA lives inside the server container (the volume's mount point). */
export const PGDATA = "/var/lib/postgresql/data";

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
    /** `max_client_conn`. */
    readonly maxClientConn: number;
  };
}

export interface PostgresArgs {
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

/** pgbouncer.ini for the configured databases. Pure; holds no secret (passwords are in the auth file). */
export function pgbouncerIni(cfg: PostgresSettings, serverAddress: string, authFile: string): string {
  const dbs = cfg.databases.map((d) => `${d.name} = host=${serverAddress} port=5432 dbname=${d.name}`);
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
    `max_client_conn = ${cfg.pgbouncer.maxClientConn}`,
    // Common drivers send this on connect; PgBouncer would refuse the connection otherwise.
    "ignore_startup_parameters = extra_float_digits",
    // No unix socket, no pid file: the root filesystem is read-only and nothing uses them.
    "unix_socket_dir =",
    "",
  ].join("\n");
}

/** PgBouncer auth file line for a role (`"name" "password"`), quotes doubled per its format. */
function authLine(role: string, password: string): string {
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  return `${q(role)} ${q(password)}`;
}

/**
 * Writes the ini and auth file to tmpfs from env and execs PgBouncer, so the read-only root
 * filesystem needs no upload and the passwords are never in the command line.
 */
function pgbouncerScript(binary: string): string {
  return [
    "set -eu",
    "umask 077",
    'printf "%s" "$PGBOUNCER_INI" > /tmp/pgbouncer.ini',
    'printf "%s\\n" "$PGBOUNCER_AUTH" > /tmp/userlist.txt',
    "unset PGBOUNCER_AUTH",
    `exec ${binary} /tmp/pgbouncer.ini`,
  ].join("\n");
}

export class Postgres extends pulumi.ComponentResource {
  /** Container name of the server (used by backups via `docker exec`). */
  public readonly containerName: pulumi.Output<string>;
  /** Named volume holding PGDATA (protected, retained on delete). */
  public readonly volumeName: pulumi.Output<string>;
  /** Superuser password (secret). */
  public readonly superuserPassword: pulumi.Output<string>;
  /** Per database: postgres:// URL through PgBouncer for its role (secret). */
  public readonly databaseUrls: pulumi.Output<Record<string, string>>;
  /** The server and PgBouncer containers: what a client (app, migration job) must start after. */
  public readonly containers: pulumi.Resource[];
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
    const volume = new docker.Volume(
      `${name}-data`,
      { name: `${name}-data`, labels: [{ label: "launchgate.data", value: "postgres" }] },
      { parent: this, protect: true, retainOnDelete: true },
    );

    const server = new docker.Container(
      name,
      {
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
        envs: [
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
        ...attachNetworks([{ name: args.internalNetwork, ipv4Address: args.ipAddress, aliases: [name] }]),
        healthcheck: {
          tests: ["CMD", "pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres"],
          interval: "10s",
          timeout: "5s",
          retries: 5,
          startPeriod: "60s",
        },
        wait: true,
        waitTimeout: 180,
        // Postgres flushes and checkpoints on SIGINT (fast shutdown) rather than aborting.
        stopSignal: "SIGINT",
        stopTimeout: 60,
      },
      // A fixed container name cannot exist twice (and two servers must never share the data
      // volume): replace delete-first. The volume is protected and retained, so data survives.
      { parent: this, deleteBeforeReplace: true },
    );

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
    for (const db of cfg.databases) {
      const password = new random.RandomPassword(
        `${name}-${db.role}-password`,
        { length: 32, special: false },
        { parent: this },
      );
      // LOGIN only: the app role cannot create databases or roles, bypass RLS or replicate.
      const role = new postgresql.Role(
        `${name}-${db.role}`,
        {
          name: db.role,
          login: true,
          password: pulumi.secret(password.result),
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
      roleSecrets.push(pulumi.all([role.name, password.result]).apply(([r, p]) => authLine(r, p)));
      urls[db.name] = pulumi.secret(
        pulumi.interpolate`postgres://${role.name}:${password.result}@${poolerAlias}:${PGBOUNCER_PORT}/${database.name}`,
      );
    }

    const bouncerHealth = args.pgbouncerHealthcheck ?? [
      "CMD",
      "pg_isready",
      "-h",
      "127.0.0.1",
      "-p",
      String(PGBOUNCER_PORT),
    ];
    const pooler = new docker.Container(
      poolerAlias,
      {
        // PgBouncer is single-threaded and small; a quarter of the server's memory is ample.
        ...hardened({ memoryMb: 128, cpus: 0.5 }),
        name: poolerAlias,
        image: cfg.pgbouncer.image,
        user: args.pgbouncerUser ?? "postgres",
        // Same entrypoint for every image, so an image's own config generator never runs.
        entrypoints: ["/bin/sh", "-c"],
        command: [pgbouncerScript(args.pgbouncerBinary ?? "pgbouncer")],
        envs: [
          `PGBOUNCER_INI=${pgbouncerIni(cfg, args.ipAddress, "/tmp/userlist.txt")}`,
          pulumi.secret(pulumi.all(roleSecrets).apply((lines) => `PGBOUNCER_AUTH=${lines.join("\n")}`)),
        ],
        ...attachNetworks([{ name: args.internalNetwork, aliases: [poolerAlias] }]),
        labels: datastoreLabels("pgbouncer"),
        healthcheck: { tests: bouncerHealth, interval: "10s", timeout: "5s", retries: 5, startPeriod: "10s" },
        wait: true,
        waitTimeout: 60,
      },
      // Fixed name (the apps' DATABASE_URL host): replace delete-first, like the server.
      { parent: this, dependsOn: [server], deleteBeforeReplace: true },
    );

    this.containers = [server, pooler];
    this.containerName = server.name;
    this.volumeName = volume.name;
    this.superuserPassword = pulumi.secret(superPassword.result);
    this.databaseUrls = pulumi.secret(pulumi.all(urls));
    this.poolerHost = pooler.name.apply(() => poolerAlias);
    this.registerOutputs({
      containerName: this.containerName,
      volumeName: this.volumeName,
      superuserPassword: this.superuserPassword,
      databaseUrls: this.databaseUrls,
      poolerHost: this.poolerHost,
    });
  }
}
