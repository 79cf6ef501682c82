/**
 * Composition: declares the whole deployment for one stack from its validated config, in the
 * runbook's order (host → networks → data → backups → apps → proxy → DNS → monitoring), every
 * resource gated on the release gate (components/release/gate.ts). Pure wiring: decisions live in the components and in
 * the small functions below, which are tested on their own.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { AppService } from "../components/app/AppService";
import { Postgres } from "../components/data/Postgres";
import { PostgresAdminTunnel } from "../components/data/PostgresAdminTunnel";
import { Redis } from "../components/data/Redis";
import { CLOUDFLARE_IP_RANGES, ORIGIN_PULL_CA_PEM } from "../components/edge/cloudflare";
import { Dns, recordNames } from "../components/edge/Dns";
import { InternalCa } from "../components/edge/InternalCa";
import { OriginCertificate } from "../components/edge/OriginCertificate";
import { Proxy, UPSTREAM_DRAIN_SECONDS } from "../components/edge/Proxy";
import { HardenedHost, HardenedHostArgs, SshConnection } from "../components/host/HardenedHost";
import { LocalVps } from "../components/host/LocalVps";
import { SwarmCluster } from "../components/host/SwarmCluster";
import { SshIdentityFile } from "../components/host/SshIdentityFile";
import { knownHostsLine } from "../components/host/known-hosts";
import { Network } from "../components/network/Network";
import { Backups } from "../components/ops/Backups";
import { Monitoring } from "../components/ops/Monitoring";
import type { EngineCli } from "../components/app/pids-limit";
import type { SwarmPlacement } from "../components/app/workload";
import { NODE_LABELS, NODE_LABEL_ON, labelConstraint, nodeName } from "../contract/placement";
import type { DataNode } from "../components/data/volume";
import {
  datastorePidsLimit,
  pgbouncerMaxClientConn,
  postgresPidsLimit,
  type AppConfig,
  type ClusterHostConfig,
  type LaunchgateConfig,
} from "./config";
import type { StackSecrets } from "./read";

/** Fixed address of Postgres on the internal network: the only SSH-forwardable destination. */
export const POSTGRES_IP = "172.30.0.10";
/**
 * On a swarm: the DB admin network (a /30 swarm-scoped internal bridge, Network `dbAdmin`) and
 * Postgres' one address on it, on its node: the only SSH-forwardable destination there.
 */
export const POSTGRES_ADMIN_SUBNET = "172.30.1.0/30";
export const POSTGRES_ADMIN_IP = "172.30.1.2";
export const INTERNAL_SUBNET = "172.30.0.0/24";
/** Local end of the DB admin tunnel on the machine running Pulumi. */
export const DB_TUNNEL_PORT = 15432;

/** What the stack exports (see index.ts). */
export interface Deployment {
  readonly url: pulumi.Output<string>;
  readonly host: pulumi.Output<{ address: string; sshPort: number; dockerHost: string; storagePath: string }>;
  readonly backupDir: pulumi.Output<string>;
  readonly drillResultPath: pulumi.Output<string>;
  readonly alerting: pulumi.Output<boolean>;
  readonly dnsNames?: pulumi.Output<string[]>;
  readonly caCertPem?: pulumi.Output<string>;
}

/** Where the VPS is and how to log in first, per stack kind. */
interface HostAccess {
  /** Address other cluster members reach it on (a local VPS's container address). @default address */
  readonly memberAddress?: pulumi.Output<string>;
  readonly address: pulumi.Output<string>;
  readonly sshPort: pulumi.Output<number>;
  readonly privateKey: pulumi.Output<string>;
  readonly publicKey: pulumi.Output<string>;
  /** The host's SSH host public key, pinned (config `hostKey`, or the local VPS's generated one). */
  readonly hostKey: pulumi.Output<string>;
}

/** Access to a disposable local VPS: loopback SSH with its generated key, its container address for peers. */
function vpsAccess(vps: LocalVps, hostKey: string | undefined): HostAccess {
  return {
    address: vps.address,
    sshPort: vps.sshPort,
    privateKey: vps.privateKey,
    publicKey: vps.publicKey,
    // A key set in config wins (a VPS container made outside the program, as the e2e test's).
    hostKey: hostKey ? pulumi.output(hostKey) : vps.hostKey,
    memberAddress: vps.networkAddress,
  };
}

function hostAccess(cfg: LaunchgateConfig, secrets: StackSecrets): HostAccess {
  if (cfg.environment === "local") {
    // The local stack creates its own disposable VPS; one generated key serves root and deployer.
    return vpsAccess(
      new LocalVps("vps", {
        sshPort: cfg.host.sshPort,
        publishedPorts: LOCAL_PUBLISHED_PORTS,
        pidsLimit: cfg.pidsLimits.vps,
      }),
      cfg.host.hostKey,
    );
  }
  // readSecrets has already refused a staging/production stack without these.
  return {
    address: pulumi.output(cfg.host.address),
    sshPort: pulumi.output(cfg.host.sshPort),
    privateKey: secrets.sshPrivateKey!,
    publicKey: pulumi.output(cfg.host.deployerPublicKey!),
    // parseConfig has refused a staging/production host without it.
    hostKey: pulumi.output(cfg.host.hostKey!),
  };
}

/** The managing host (its engine receives every workload), the data host (Postgres' node) and access. */
interface DeclaredHosts {
  /** The Swarm cluster (placement swarm): services wait for its members. */
  readonly cluster?: SwarmCluster;
  readonly access: HostAccess;
  readonly host: HardenedHost;
  readonly dataHost: HardenedHost;
  /** The node holding Redis' volumes (its backups run there): `dataHost` on single-host. */
  readonly redisHost: HardenedHost;
  /** The pinned host key lines of every host the docker providers reach (one per line). */
  readonly knownHosts: pulumi.Output<string>;
  /** Swarm: the nodes holding Postgres' and Redis' volumes (name, its HardenedHost, its access). */
  readonly dataNodes?: Record<"postgres" | "redis", DeclaredNode>;
  /** Deploy connections of the nodes needing the DB admin network's config (swarm: Postgres' node, the manager). */
  readonly dbAdminNodes?: pulumi.Input<SshConnection>[];
}

/** Placement `single-host`: one HardenedHost (`host`) runs everything. */
function declareSingleHost(
  cfg: LaunchgateConfig,
  secrets: StackSecrets,
  webAllowFrom: readonly string[] | undefined,
): DeclaredHosts {
  const access = hostAccess(cfg, secrets);
  const host = new HardenedHost("host", {
    ...hostArgs(cfg, access),
    permitOpen: [`${POSTGRES_IP}:5432`],
    webAllowFrom,
    runsRedis: cfg.redis.instances.length > 0,
  });
  return { access, host, dataHost: host, redisHost: host, knownHosts: knownHostsOf(access) };
}

/** One cluster member as declared: its name (`node-<i>`), HardenedHost and SSH access. */
interface DeclaredNode {
  readonly name: string;
  readonly host: HardenedHost;
  readonly access: HostAccess;
}

/** The known_hosts line pinning `access`'s host key at its SSH address. */
function knownHostsOf(access: HostAccess): pulumi.Output<string> {
  return pulumi
    .all([access.address, access.sshPort, access.hostKey])
    .apply(([h, p, k]) => knownHostsLine(h, p, k));
}

/** HardenedHost's login and settings for a host reached through `access`. */
function hostArgs(
  cfg: LaunchgateConfig,
  access: HostAccess,
): Pick<HardenedHostArgs, "bootstrap" | "host" | "deployerPublicKey" | "deployerPrivateKey"> {
  return {
    bootstrap: {
      host: access.address,
      port: access.sshPort,
      user: cfg.host.bootstrapUser,
      privateKey: access.privateKey,
      hostKey: access.hostKey,
    },
    host: cfg.host,
    deployerPublicKey: access.publicKey,
    deployerPrivateKey: access.privateKey,
  };
}

/**
 * Placement `swarm`: one HardenedHost per `hosts` entry (its `name`, else `node-<i>`), with `host`'s login
 * settings. The first manager's engine receives the services (Swarm schedules them); Postgres'
 * node runs backups, the drill and monitoring.
 */
function declareCluster(
  cfg: LaunchgateConfig,
  secrets: StackSecrets,
  webAllowFrom: readonly string[] | undefined,
): DeclaredHosts {
  const firstEdge = cfg.hosts.findIndex((h) => h.labels[NODE_LABELS.edge] === NODE_LABEL_ON);
  const pg = pinnedNode(cfg.hosts, "postgres");
  const rd = pinnedNode(cfg.hosts, "redis");
  const nodes: DeclaredNode[] = cfg.hosts.map((h, i) => {
    const access = nodeAccess(cfg, secrets, h, i === firstEdge);
    const host = new HardenedHost(nodeName(i, h.name), {
      ...hostArgs(cfg, access),
      webAllowFrom,
      runsRedis: i === rd,
      // The DB admin tunnel forwards to Postgres' address on its node's DB admin network only.
      ...(i === pg ? { permitOpen: [`${POSTGRES_ADMIN_IP}:5432`] } : {}),
    });
    return { name: nodeName(i, h.name), access, host };
  });
  const managerIndex = cfg.hosts.findIndex((h) => h.roles.includes("manager"));
  const manager = nodes[managerIndex]!;
  const cluster = new SwarmCluster("swarm", {
    nodes: cfg.hosts.map((h, i) => ({
      name: nodes[i]!.name,
      connection: nodes[i]!.host.deployConnection,
      address: nodes[i]!.access.memberAddress ?? pulumi.output(h.address),
      roles: h.roles,
      labels: h.labels,
      ready: nodes[i]!.host.ready,
    })),
  });
  return {
    cluster,
    access: manager.access,
    host: manager.host,
    dataHost: nodes[pg]!.host,
    redisHost: nodes[rd]!.host,
    dataNodes: { postgres: nodes[pg]!, redis: nodes[rd]! },
    // The docker providers reach the first manager and the data nodes, each by its pinned key.
    knownHosts: pulumi.all(nodes.map((n) => knownHostsOf(n.access))).apply((lines) => lines.join("\n")),
    dbAdminNodes: [...new Set([pg, managerIndex])].map((i) => nodes[i]!.host.deployConnection),
  };
}

/** SSH access to one cluster node: a disposable VPS container on `local`, else the configured address. */
function nodeAccess(
  cfg: LaunchgateConfig,
  secrets: StackSecrets,
  node: ClusterHostConfig,
  publishesWeb: boolean,
): HostAccess {
  if (cfg.environment === "local") {
    // Only one VPS container can hold the loopback web ports; the others are reached by address.
    return vpsAccess(
      new LocalVps(`vps-${nodeName(cfg.hosts.indexOf(node), node.name)}`, {
        sshPort: node.sshPort,
        publishedPorts: publishesWeb ? LOCAL_PUBLISHED_PORTS : [],
      }),
      node.hostKey,
    );
  }
  return {
    address: pulumi.output(node.address),
    sshPort: pulumi.output(node.sshPort),
    privateKey: secrets.sshPrivateKey!,
    publicKey: pulumi.output(cfg.host.deployerPublicKey!),
    hostKey: pulumi.output(node.hostKey!),
  };
}

/** Host ports of the local VPS container: HTTPS/HTTP of its proxy on loopback only. */
export const LOCAL_PUBLISHED_PORTS = [
  { internal: 443, external: 8443 },
  { internal: 80, external: 8080 },
];

/** How each workload is placed on a Swarm cluster (placement `swarm`). */
export interface SwarmPlacements {
  readonly postgres: SwarmPlacement;
  readonly pgbouncer: SwarmPlacement;
  readonly redis: SwarmPlacement;
  readonly app: SwarmPlacement;
  readonly proxy: SwarmPlacement;
  /** Overlays encrypted (IPsec) between nodes. */
  readonly encrypted: boolean;
}

/**
 * The placement of every workload on a cluster of `cfg.hosts`. Pure.
 * - Postgres and Redis are pinned to their labelled node (their volumes are node-local) and
 *   replaced stop-first (two servers must never share a data directory); PgBouncer runs beside
 *   Postgres.
 * - Apps run `hosts − 1` replicas (at least 1), at most one per node: when one node is lost, its
 *   task has a free node to move to and the service is back to full replicas.
 * - The proxy is global on the edge nodes with host-mode ports, replaced stop-first per node.
 * - `local` uses `dnsrr` endpoints and unencrypted overlays because the sandbox kernel has no IPVS
 *   (VIPs and the routing mesh don't route) and no IPsec (encrypted overlays carry nothing between
 *   nodes); staging and production use VIPs and encrypted overlays (policy `encrypted-overlays`).
 */
export function swarmPlacements(cfg: LaunchgateConfig): SwarmPlacements {
  const local = cfg.environment === "local";
  const endpointMode = local ? "dnsrr" : "vip";
  const pinned = (workload: "postgres" | "redis"): SwarmPlacement => ({
    constraints: [labelConstraint(workload)],
    replicas: 1,
    order: "stop-first",
    endpointMode,
  });
  return {
    postgres: pinned("postgres"),
    redis: pinned("redis"),
    pgbouncer: {
      constraints: [labelConstraint("postgres")],
      replicas: 1,
      order: "start-first",
      endpointMode,
    },
    app: {
      replicas: Math.max(1, cfg.hosts.length - 1),
      maxReplicasPerNode: 1,
      order: "start-first",
      endpointMode,
    },
    proxy: { constraints: [labelConstraint("edge")], replicas: "global", order: "stop-first", endpointMode },
    encrypted: !local,
  };
}

/** The node holding a pinned workload's volume (config validation guarantees exactly one). */
export function pinnedNode(hosts: readonly ClusterHostConfig[], workload: "postgres" | "redis"): number {
  return hosts.findIndex((h) => h.labels[NODE_LABELS[workload]] === NODE_LABEL_ON);
}

/** The env names an app's secrets arrive under (DATABASE_URL, REDIS_*_URL, its `secretEnv`). */
export function appSecretNames(app: AppConfig): string[] {
  return [
    ...(app.database ? ["DATABASE_URL"] : []),
    ...app.redis.map((r) => redisEnvName(app, r)),
    ...app.secretEnv,
  ];
}

/** Name of the env var carrying a Redis instance's URL for an app. */
export function redisEnvName(app: AppConfig, instance: string): string {
  return app.redis.length === 1 ? "REDIS_URL" : `REDIS_${instance.toUpperCase().replace(/-/g, "_")}_URL`;
}

/** Feature flags as the env the apps read (`REAL_MONEY_ENABLED=false`). */
export function flagValues(cfg: LaunchgateConfig): Record<string, boolean> {
  return Object.fromEntries(Object.entries(cfg.flags).map(([k, f]) => [k, f.enabled]));
}

/**
 * The stable image of `app` while a rollout is in progress (`release.canaryWeight` set): the
 * recorded previous release's image, when it differs from the one being rolled out; otherwise
 * undefined (no canary for this app: not routed, unchanged, or no rollout).
 */
export function canaryStableImage(cfg: LaunchgateConfig, app: AppConfig): string | undefined {
  if (!cfg.release.rollout || cfg.release.canaryWeight === undefined || app.route === undefined)
    return undefined;
  const prev = cfg.release.previous?.images[`app:${app.name}`];
  return prev !== undefined && prev !== app.image ? prev : undefined;
}

/**
 * Declares every resource for `cfg`. Called after the release gate's stack transformation is
 * registered (stacks/index.ts), so every resource declared here waits for the gate.
 */
export function composeDeployment(cfg: LaunchgateConfig, secrets: StackSecrets): Deployment {
  const stack = pulumi.getStack();
  const swarm = cfg.placement === "swarm" ? swarmPlacements(cfg) : undefined;
  // Behind Cloudflare the origin answers Cloudflare only (firewall and Docker-published ports).
  const webAllowFrom = cfg.tls === "cloudflare-origin" ? CLOUDFLARE_IP_RANGES : undefined;
  const { access, host, dataHost, redisHost, cluster, dbAdminNodes, dataNodes, knownHosts } = swarm
    ? declareCluster(cfg, secrets, webAllowFrom)
    : declareSingleHost(cfg, secrets, webAllowFrom);
  // The deploy user's key, and the pinned host keys for the docker providers' ssh (the managing
  // host's; on a swarm every member's): the promote driver reads and checks the same files.
  const knownHostsPath = `.launchgate/${stack}/known_hosts`;
  const identity = new SshIdentityFile(
    "deployer-identity",
    {
      privateKey: access.privateKey,
      path: `.launchgate/${stack}/id_deployer`,
      knownHosts: {
        path: knownHostsPath,
        line: knownHosts,
      },
    },
    { dependsOn: [host.ready] },
  );
  // Backups, the drill, monitoring and the DB admin tunnel run on the node holding Postgres (the
  // one host on single-host).
  const connection: pulumi.Output<SshConnection> = dataHost.deployConnection;

  // A host's own Docker engine over SSH as the deploy user, its host key checked against the
  // pinned one; on a swarm only once every member has joined.
  const engineOf = (name: string, on: HardenedHost) =>
    new docker.Provider(
      name,
      {
        host: on.dockerHost,
        sshOpts: [
          "-i",
          identity.path,
          "-o",
          "IdentitiesOnly=yes",
          "-o",
          `UserKnownHostsFile=${knownHostsPath}`,
          "-o",
          "StrictHostKeyChecking=yes",
        ],
      },
      { dependsOn: [identity.written, on.ready, ...(cluster?.members ?? [])] },
    );
  // Every container (on a swarm: every service) goes to the managing host's engine.
  const vpsDocker = engineOf("vps-docker", host);
  const onVps: pulumi.ComponentResourceOptions = { providers: { docker: vpsDocker } };
  // On a swarm, each data store's volumes are declared on the engine of the node it is pinned to.
  const engines = new Map<HardenedHost, docker.Provider>([[host, vpsDocker]]);
  const dataNode = (workload: "postgres" | "redis"): DataNode => {
    const n = dataNodes![workload];
    if (!engines.has(n.host)) engines.set(n.host, engineOf(`vps-docker-${n.name}`, n.host));
    return { name: n.name, docker: engines.get(n.host)! };
  };
  // PIDs limits are applied (and one-shot jobs started) with the Docker CLI on the engine that
  // holds the containers and services: the managing host's (on a swarm the first manager, where
  // `docker service update` works and the one-shot containers are), over SSH as the deploy user.
  const engine: EngineCli = { ssh: host.deployConnection };

  const net = new Network(
    "net",
    {
      internalSubnet: INTERNAL_SUBNET,
      ...(swarm
        ? {
            swarm: {
              encrypted: swarm.encrypted,
              dbAdmin: {
                nodes: dbAdminNodes!,
                manager: host.deployConnection,
                subnet: POSTGRES_ADMIN_SUBNET,
              },
            },
          }
        : {}),
    },
    onVps,
  );
  // A Swarm service joins networks by id; a container by name.
  const edgeNetwork = swarm ? net.edgeId : net.edgeName;
  const internalNetwork = swarm ? net.internalId : net.internalName;

  const tunnel = new PostgresAdminTunnel(
    "pg-admin",
    {
      connection,
      remoteAddress: swarm ? POSTGRES_ADMIN_IP : POSTGRES_IP,
      localPort: DB_TUNNEL_PORT,
    },
    { dependsOn: [identity.written] },
  );
  const postgres = new Postgres(
    "postgres",
    {
      config: {
        ...cfg.postgres,
        pgbouncer: { ...cfg.postgres.pgbouncer, maxClientConn: pgbouncerMaxClientConn(cfg.postgres) },
      },
      internalNetwork,
      ipAddress: POSTGRES_IP,
      engineApiVersion: cfg.host.engineApiVersion,
      ...(swarm
        ? {
            swarm: {
              server: swarm.postgres,
              dataNode: dataNode("postgres"),
              pgbouncer: swarm.pgbouncer,
              adminNetwork: net.dbAdminId,
            },
          }
        : {}),
      adminEndpoint: { host: "127.0.0.1", port: DB_TUNNEL_PORT },
      adminDependsOn: [tunnel.ready],
      pids: { engine, server: postgresPidsLimit(cfg), pgbouncer: datastorePidsLimit(cfg) },
    },
    onVps,
  );
  const redis = new Map(
    cfg.redis.instances.map((instance) => [
      instance.name,
      new Redis(
        `redis-${instance.name}`,
        {
          image: cfg.redis.image,
          instance,
          internalNetwork,
          engineApiVersion: cfg.host.engineApiVersion,
          pids: { engine, limit: datastorePidsLimit(cfg) },
          ...(swarm ? { swarm: { placement: swarm.redis, dataNode: dataNode("redis") } } : {}),
        },
        onVps,
      ),
    ]),
  );

  const backups = new Backups(
    "backups",
    {
      config: cfg.backups,
      connection,
      storagePath: dataHost.storagePath,
      postgresContainer: postgres.containerName,
      databases: cfg.postgres.databases.map((d) => d.name),
      redisContainers: [...redis.values()].map((r) => r.containerName),
      // Ops for a store run on the node holding it.
      ...(redisHost !== dataHost && redis.size > 0
        ? { redisNode: { connection: redisHost.deployConnection, storagePath: redisHost.storagePath } }
        : {}),
      releaseId: cfg.release.commit,
      placement: cfg.placement,
    },
    { dependsOn: [dataHost.ready, redisHost.ready] },
  );

  const flags = flagValues(cfg);
  const canaries = new Map<string, AppService>();
  const apps = cfg.apps.map((app) => {
    const env: Record<string, pulumi.Input<string>> = {};
    const migrationEnv: Record<string, pulumi.Input<string>> = {};
    if (app.database) {
      const pooled = postgres.databaseUrls.apply((urls) => urls[app.database!]!);
      const direct = postgres.directUrls.apply((urls) => urls[app.database!]!);
      env.DATABASE_URL = app.databaseConnection === "direct" ? direct : pooled;
      // Migrations go straight to the server whatever the app uses (session semantics).
      migrationEnv.DATABASE_URL = direct;
    }
    for (const r of app.redis) env[redisEnvName(app, r)] = redis.get(r)!.url;
    const service = (name: string, appCfg: AppConfig, variant?: { alias: string; variant: "canary" }) =>
      new AppService(
        name,
        {
          app: appCfg,
          ...variant,
          edgeNetwork,
          internalNetwork,
          engineApiVersion: cfg.host.engineApiVersion,
          ...(swarm
            ? {
                swarm: swarm.app,
                secretNames: appSecretNames(app),
                // The first manager runs the migration job; the job's DATABASE_URL is the direct one.
                managerConnection: host.deployConnection,
                migrationSecretNames: app.database ? ["DATABASE_URL"] : [],
              }
            : {}),
          secretEnv: pulumi.secret(
            pulumi.all([pulumi.output(env), secrets.appSecrets]).apply(([resolved, all]) => ({
              ...resolved,
              ...(all[app.name] ?? {}),
            })),
          ),
          flags,
          migrationEnv: pulumi.secret(pulumi.output(migrationEnv)),
          preMigrationBackup: backups.preMigrationBackup,
          startAfter: [
            ...(app.database ? [...postgres.containers, ...postgres.databaseResources[app.database]!] : []),
            ...app.redis.map((r) => redis.get(r)!.container),
          ],
          pids: { engine, limit: cfg.pidsLimits.app, migration: cfg.pidsLimits.migration },
          // The proxy caches a routed app's addresses: a replaced container serves on until it moved.
          drainSeconds: app.route !== undefined ? UPSTREAM_DRAIN_SECONDS : 0,
        },
        // The app and its migration run only once the servers in their URLs are up and its
        // database exists (`startAfter`, not the component's dependsOn: the migration container,
        // created stopped, need not wait to be created).
        onVps,
      );
    const stableImage = canaryStableImage(cfg, app);
    if (stableImage === undefined) return service(`app-${app.name}`, app);
    // Rollout in progress: the running release keeps its resource and alias; the canary runs
    // beside it under `<app>-canary` and the proxy splits by `release.canaryWeight`.
    canaries.set(
      app.name,
      service(`app-${app.name}-canary`, app, { alias: `${app.name}-canary`, variant: "canary" }),
    );
    return service(`app-${app.name}`, { ...app, image: stableImage });
  });

  const hostnames = recordNames(cfg.domain, cfg.dns?.records ?? []);
  let certPem: pulumi.Output<string>;
  let keyPem: pulumi.Output<string>;
  let caCertPem: pulumi.Output<string> | undefined;
  if (cfg.tls === "internal-ca") {
    const ca = new InternalCa("internal-ca", { hostnames });
    certPem = ca.certPem;
    keyPem = ca.keyPem;
    caCertPem = ca.caCertPem;
  } else {
    const origin = new OriginCertificate("origin-cert", { hostnames });
    certPem = origin.certPem;
    keyPem = origin.keyPem;
  }

  const behindCloudflare = cfg.tls === "cloudflare-origin";
  const dns = cfg.dns
    ? new Dns("dns", {
        config: cfg.dns,
        domain: cfg.domain,
        address: access.address,
        authenticatedOriginPulls: behindCloudflare,
      })
    : undefined;

  const proxy = new Proxy(
    "proxy",
    {
      config: cfg.proxy,
      domain: cfg.domain,
      engineApiVersion: cfg.host.engineApiVersion,
      extraServerNames: hostnames.slice(1),
      origin: behindCloudflare
        ? { trustedProxies: CLOUDFLARE_IP_RANGES, clientCaPem: ORIGIN_PULL_CA_PEM }
        : undefined,
      edgeNetwork,
      ...(swarm ? { swarm: swarm.proxy } : {}),
      routes: cfg.apps
        .map((app, i) => ({ app, service: apps[i]! }))
        .filter(({ app }) => app.route !== undefined)
        .map(({ app, service }) => {
          const canary = canaries.get(app.name);
          return {
            path: app.route!,
            upstream: pulumi.interpolate`${service.alias}:${service.port}`,
            ...(canary
              ? {
                  canary: {
                    // The canary's container name, unique per release: a canary replacing an
                    // aborted one never shares a DNS name (and nginx's resolver cache) with it.
                    upstream: pulumi.interpolate`${canary.containerName}:${canary.port}`,
                    weight: cfg.release.canaryWeight!,
                  },
                }
              : {}),
          };
        }),
      certificatePem: certPem,
      privateKeyPem: keyPem,
      pids: { engine, limit: cfg.pidsLimits.proxy, job: cfg.pidsLimits.job },
      // Stacks with a rollout change weights by reload over SSH (seed 004), never by a new proxy.
      ...(cfg.release.rollout ? { connection, weightsAfter: [...apps, ...canaries.values()] } : {}),
    },
    // The zone sends its origin-pull certificate before the proxy starts requiring it.
    { ...onVps, dependsOn: dns ? [dns] : [] },
  );

  const monitoring = new Monitoring(
    "monitoring",
    {
      config: cfg.monitoring,
      connection,
      alertWebhookUrl: secrets.alertWebhookUrl ?? pulumi.output(""),
      // Names known at preview (not the containers' outputs: an app's changes per release), so
      // the install's text, and every mistake in it, is judged by `pulumi preview` too.
      probes: [
        { name: "postgres", container: postgres.workloadRef },
        ...[...redis.entries()].map(([name, r]) => ({ name: `redis-${name}`, container: r.workloadRef })),
        ...cfg.apps.map((a, i) => ({ name: a.name, container: apps[i]!.workloadRef })),
      ],
      publicUrl: proxy.url,
      backupDir: backups.backupDir,
      diskPath: dataHost.storagePath,
      hostLabel: `${stack} (${cfg.domain})`,
      // The local stack's certificate comes from its own internal CA, unknown to the host's curl.
      insecureTls: cfg.tls === "internal-ca",
      placement: cfg.placement,
    },
    // Installed once what it probes runs (its first probe would otherwise report them missing).
    {
      dependsOn: [
        dataHost.ready,
        ...postgres.containers,
        ...[...redis.values()].map((r) => r.container),
        ...apps.map((a) => a.workload),
      ],
    },
  );

  return {
    url: proxy.url,
    host: pulumi
      .all([access.address, access.sshPort, host.dockerHost, host.storagePath])
      .apply(([address, sshPort, dockerHost, storagePath]) => ({
        address,
        sshPort,
        dockerHost,
        storagePath,
      })),
    backupDir: backups.backupDir,
    drillResultPath: backups.drillResultPath,
    alerting: monitoring.alerting,
    dnsNames: dns?.names,
    caCertPem,
  };
}
