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
import { HardenedHost, SshConnection } from "../components/host/HardenedHost";
import { LocalVps } from "../components/host/LocalVps";
import { SshIdentityFile } from "../components/host/SshIdentityFile";
import { Network } from "../components/network/Network";
import { Backups } from "../components/ops/Backups";
import { Monitoring } from "../components/ops/Monitoring";
import { pgbouncerMaxClientConn, type AppConfig, type LaunchgateConfig } from "./config";
import type { StackSecrets } from "./read";

/** Fixed address of Postgres on the internal network: the only SSH-forwardable destination. */
export const POSTGRES_IP = "172.30.0.10";
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
  readonly address: pulumi.Output<string>;
  readonly sshPort: pulumi.Output<number>;
  readonly privateKey: pulumi.Output<string>;
  readonly publicKey: pulumi.Output<string>;
}

function hostAccess(cfg: LaunchgateConfig, secrets: StackSecrets): HostAccess {
  if (cfg.environment === "local") {
    // The local stack creates its own disposable VPS; one generated key serves root and deployer.
    const vps = new LocalVps("vps", { sshPort: cfg.host.sshPort, publishedPorts: LOCAL_PUBLISHED_PORTS });
    return {
      address: vps.address,
      sshPort: vps.sshPort,
      privateKey: vps.privateKey,
      publicKey: vps.publicKey,
    };
  }
  // readSecrets has already refused a staging/production stack without these.
  return {
    address: pulumi.output(cfg.host.address),
    sshPort: pulumi.output(cfg.host.sshPort),
    privateKey: secrets.sshPrivateKey!,
    publicKey: pulumi.output(cfg.host.deployerPublicKey!),
  };
}

/** Host ports of the local VPS container: HTTPS/HTTP of its proxy on loopback only. */
export const LOCAL_PUBLISHED_PORTS = [
  { internal: 443, external: 8443 },
  { internal: 80, external: 8080 },
];

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
  const access = hostAccess(cfg, secrets);
  const stack = pulumi.getStack();

  const host = new HardenedHost("host", {
    bootstrap: {
      host: access.address,
      port: access.sshPort,
      user: cfg.host.bootstrapUser,
      privateKey: access.privateKey,
    },
    host: cfg.host,
    deployerPublicKey: access.publicKey,
    deployerPrivateKey: access.privateKey,
    permitOpen: [`${POSTGRES_IP}:5432`],
    // Behind Cloudflare the origin answers Cloudflare only (firewall and Docker-published ports).
    webAllowFrom: cfg.tls === "cloudflare-origin" ? CLOUDFLARE_IP_RANGES : undefined,
    runsRedis: cfg.redis.instances.length > 0,
  });
  const identity = new SshIdentityFile(
    "deployer-identity",
    { privateKey: access.privateKey, path: `.launchgate/${stack}/id_deployer` },
    { dependsOn: [host.ready] },
  );
  const connection: pulumi.Output<SshConnection> = host.deployConnection;

  // Every container goes to the VPS's own Docker engine over SSH as the deploy user.
  const vpsDocker = new docker.Provider(
    "vps-docker",
    {
      host: host.dockerHost,
      sshOpts: ["-i", identity.path, "-o", "StrictHostKeyChecking=accept-new", "-o", "IdentitiesOnly=yes"],
    },
    { dependsOn: [identity.written, host.ready] },
  );
  const onVps: pulumi.ComponentResourceOptions = { providers: { docker: vpsDocker } };

  const net = new Network("net", { internalSubnet: INTERNAL_SUBNET }, onVps);

  const tunnel = new PostgresAdminTunnel(
    "pg-admin",
    {
      connection,
      remoteAddress: POSTGRES_IP,
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
      internalNetwork: net.internalName,
      ipAddress: POSTGRES_IP,
      adminEndpoint: { host: "127.0.0.1", port: DB_TUNNEL_PORT },
      adminDependsOn: [tunnel.ready],
    },
    onVps,
  );
  const redis = new Map(
    cfg.redis.instances.map((instance) => [
      instance.name,
      new Redis(
        `redis-${instance.name}`,
        { image: cfg.redis.image, instance, internalNetwork: net.internalName },
        onVps,
      ),
    ]),
  );

  const backups = new Backups(
    "backups",
    {
      config: cfg.backups,
      connection,
      storagePath: host.storagePath,
      postgresContainer: postgres.containerName,
      databases: cfg.postgres.databases.map((d) => d.name),
      redisContainers: [...redis.values()].map((r) => r.containerName),
      releaseId: cfg.release.commit,
    },
    { dependsOn: [host.ready] },
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
          edgeNetwork: net.edgeName,
          internalNetwork: net.internalName,
          secretEnv: pulumi.secret(
            pulumi.all([pulumi.output(env), secrets.appSecrets]).apply(([resolved, all]) => ({
              ...resolved,
              ...(all[app.name] ?? {}),
            })),
          ),
          flags,
          migrationEnv: pulumi.secret(pulumi.output(migrationEnv)),
          preMigrationBackup: backups.preMigrationBackup,
          // The proxy caches a routed app's addresses: a replaced container serves on until it moved.
          drainSeconds: app.route !== undefined ? UPSTREAM_DRAIN_SECONDS : 0,
        },
        // The app and its migration job start only once the servers in their URLs are up.
        {
          ...onVps,
          dependsOn: [
            ...(app.database ? postgres.containers : []),
            ...app.redis.map((r) => redis.get(r)!.container),
          ],
        },
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
      extraServerNames: hostnames.slice(1),
      origin: behindCloudflare
        ? { trustedProxies: CLOUDFLARE_IP_RANGES, clientCaPem: ORIGIN_PULL_CA_PEM }
        : undefined,
      edgeNetwork: net.edgeName,
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
      probes: [
        { name: "postgres", container: postgres.containerName },
        ...[...redis.entries()].map(([name, r]) => ({ name: `redis-${name}`, container: r.containerName })),
        ...cfg.apps.map((a, i) => ({ name: a.name, container: apps[i]!.containerName })),
      ],
      publicUrl: proxy.url,
      backupDir: backups.backupDir,
      diskPath: host.storagePath,
      hostLabel: `${stack} (${cfg.domain})`,
      // The local stack's certificate comes from its own internal CA, unknown to the host's curl.
      insecureTls: cfg.tls === "internal-ca",
    },
    { dependsOn: [host.ready] },
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
