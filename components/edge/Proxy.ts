/**
 * Proxy: nginx on the edge network terminating TLS (≥ 1.2, HSTS, 80→443) with upstreams to the
 * apps' stable aliases; config validated with `nginx -t` before it is swapped in.
 *
 * Swap order: a one-shot check container runs `nginx -t` on exactly the config, certificate and
 * key about to be deployed (no network, nothing published); the proxy container depends on its
 * exit code, so an invalid config or a key that does not match the certificate fails the update
 * while the old proxy still serves. The proxy itself must be replaced delete-first (it holds host
 * ports 80/443, the only published ports in the program), and its start command runs `nginx -t`
 * again and refuses to start on failure.
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { afterSuccess, attachNetworks, hardened, healthTiming, shortHash } from "../app/hardening";
import { limitPids, startOneShot, type PidsLimitArgs } from "../app/pids-limit";
import { DEFAULT_PIDS_LIMITS } from "../../contract/pids-limits";
import { roleLabel } from "../../contract/roles";
import type { SshConnection } from "../host/HardenedHost";
import { renderNginxConfig, renderSplitConfig } from "./nginx/render";
import { SECRETS_DIR, SwarmPlacement, declareWorkload, swarmSecretFiles } from "../app/workload";

export {
  renderNginxConfig,
  renderSplitConfig,
  RESOLVER_VALID_SECONDS,
  UPSTREAM_CONNECT_TIMEOUT_SECONDS,
  UPSTREAM_DRAIN_SECONDS,
} from "./nginx/render";

/** Directory holding nginx.conf, cert and key in the container (a small volume, see below). */
export const CONF_DIR = "/etc/nginx/launchgate";
export const CONF_PATH = `${CONF_DIR}/nginx.conf`;
export const CERT_PATH = `${CONF_DIR}/tls/cert.pem`;
export const KEY_PATH = `${CONF_DIR}/tls/key.pem`;
/** Rollout weights (renderSplitConfig); uploaded as "all stable", rewritten by the weights step. */
export const WEIGHTS_PATH = `${CONF_DIR}/weights.conf`;
/** CA whose client certificates the proxy requires (Authenticated Origin Pulls), when behind Cloudflare. */
export const CLIENT_CA_PATH = `${CONF_DIR}/tls/origin-pull-ca.pem`;
/** Loopback port of the healthcheck endpoint inside the container. */
export const HEALTH_PORT = 8081;

/**
 * Capabilities nginx's master process needs after `cap_drop: ALL` (CIS 5.3 exception):
 * NET_BIND_SERVICE to bind 80/443, SETUID/SETGID to drop workers to the unprivileged user,
 * CHOWN to hand its temp directories (under /tmp) to that user.
 */
export const NGINX_CAPS = ["NET_BIND_SERVICE", "SETUID", "SETGID", "CHOWN"] as const;

export interface ProxyRoute {
  /** Path prefix (`/`, `/admin`). */
  readonly path: string;
  /** Upstream `alias:port` on the edge network. */
  readonly upstream: pulumi.Input<string>;
  /** During a rollout: the canary's `alias:port` and its weight in percent (0..100). */
  readonly canary?: { readonly upstream: pulumi.Input<string>; readonly weight: number };
}

/**
 * Runs inside the proxy container (`docker exec -i`), the new weights file on stdin: swap it in,
 * `nginx -t`, then `nginx -s reload` (a HUP: workers finish in-flight requests, no restart). A
 * file nginx rejects is swapped back and the step fails with the proxy untouched.
 */
export const WEIGHTS_SCRIPT = [
  "set -eu",
  `f=${WEIGHTS_PATH}`,
  'cat > "$f.new"',
  'cp "$f" "$f.old"',
  'mv "$f.new" "$f"',
  `if ! nginx -t -q -e stderr -c ${CONF_PATH}; then mv "$f.old" "$f"; echo "launchgate: weights rejected by nginx -t; previous weights kept" >&2; exit 1; fi`,
  `nginx -s reload -e stderr -c ${CONF_PATH}`,
  'echo "launchgate: weights reloaded"',
].join("; ");

/** The host command of the weights step: the script above in the proxy container. Pure. */
export function weightsCommand(containerName: string): string {
  return `docker exec -i ${containerName} /bin/sh -c '${WEIGHTS_SCRIPT}'`;
}

/** TLS protocol versions the proxy may set as its minimum. */
export const TLS_VERSIONS = ["TLSv1.2", "TLSv1.3"] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];

/** The nginx image and its TLS policy. */
export interface ProxySettings {
  /** nginx image (pinned by digest outside `local`). */
  readonly image: string;
  /** `Strict-Transport-Security: max-age`, seconds. */
  readonly hstsMaxAgeSeconds: number;
  /** Lowest TLS version accepted (`ssl_protocols` from it upwards). */
  readonly minTlsVersion: TlsVersion;
}

export interface ProxyArgs {
  /**
   * Docker Engine API version of the engine the containers run on (`launchgate:host.engineApiVersion`):
   * from 1.44 healthchecks get a start interval ({@link healthTiming}). @default 1.41 (Debian 12's docker.io)
   */
  readonly engineApiVersion?: string;
  readonly config: ProxySettings;
  /** Public host name served (the certificate's subject). */
  readonly domain: string;
  /**
   * Other host names served (the certificate's other names, e.g. `api.<domain>`); any other
   * `Host` gets no answer. @default []
   */
  readonly extraServerNames?: readonly string[];
  /**
   * Set when the proxy sits behind Cloudflare (`tls: cloudflare-origin`): the client address is
   * taken from `CF-Connecting-IP` only on connections from `trustedProxies` (Cloudflare's
   * published ranges), and TLS clients must present a certificate issued by `clientCaPem`
   * (Cloudflare's Authenticated Origin Pulls CA; the zone setting is the Dns component's).
   * @default none: direct clients, their own address
   */
  readonly origin?: {
    readonly trustedProxies: readonly string[];
    readonly clientCaPem: pulumi.Input<string>;
  };
  readonly edgeNetwork: pulumi.Input<string>;
  readonly routes: ProxyRoute[];
  /** PEM certificate chain and key the proxy serves (key is secret). */
  readonly certificatePem: pulumi.Input<string>;
  readonly privateKeyPem: pulumi.Input<string>;
  /** Host ports published for HTTP/HTTPS. @default { http: 80, https: 443 } */
  readonly ports?: { readonly http: number; readonly https: number };
  /**
   * Worker `user [group]`; must exist in the image (`nginx` in the official image and in the
   * Debian-built test image; `www-data` in a plain Debian nginx).
   * @default "nginx"
   */
  readonly workerUser?: string;
  /** Healthcheck test; the default needs curl in the image (the official image has it). */
  readonly healthcheck?: string[];
  /** Memory ceiling in MiB. @default 128 */
  readonly memoryMb?: number;
  /** CPU ceiling. @default 0.5 */
  readonly cpus?: number;
  /**
   * PIDs cgroup limit (CIS 5.29) of the proxy, the engine to apply it on, and the limit of the
   * one-shot `nginx -t` check (`job`, @default DEFAULT_PIDS_LIMITS.job), which that engine starts
   * under it (contract/pids-limits.ts). Required: the check is created stopped and only its
   * PIDs-limit command starts it.
   */
  readonly pids: PidsLimitArgs & { readonly job?: number };
  /**
   * Run as a Swarm service (typically `replicas: "global"` on the edge nodes, stop-first: host
   * ports cannot be held twice), publishing `ports` in host mode on each node running it. Config,
   * certificate and client CA become Swarm configs and the key a Swarm secret (content-hashed
   * names), so the root filesystem stays read-only. @default a container on the one host
   */
  readonly swarm?: SwarmPlacement;
  /**
   * SSH connection (deploy user) for the weights step: with it, the routes' split is applied by
   * rewriting `weights.conf` and reloading nginx over SSH, so rollout weights change without a
   * new proxy container. @default none: no weights step, every route all-stable
   */
  readonly connection?: pulumi.Input<SshConnection>;
  /** Resources the weights step waits for (the app services: a canary must be healthy first). */
  readonly weightsAfter?: pulumi.Resource[];
}

/** Where the TLS key is in a Swarm task (a secret file). */
export const SWARM_KEY_PATH = `${SECRETS_DIR}/TLS_KEY`;

/** A Swarm config (immutable) named by its content hash, mounted read-only at `path`. */
function swarmConfig(
  parent: pulumi.Resource,
  name: string,
  path: string,
  content: pulumi.Input<string>,
): docker.types.input.ServiceTaskSpecContainerSpecConfig {
  const config = new docker.ServiceConfig(
    name,
    {
      name: pulumi.output(content).apply((c) => `${name}-${shortHash([name, c], 12)}`),
      data: pulumi.output(content).apply((c) => Buffer.from(c, "utf8").toString("base64")),
    },
    { parent },
  );
  return { configId: config.id, configName: config.name, fileName: path, fileMode: 0o444 };
}

/** Start command: validate, then exec nginx in the foreground; refuse to start on a bad config. */
export const START_SCRIPT = [
  "set -eu",
  `if ! nginx -t -q -e stderr -c ${CONF_PATH}; then echo "launchgate: nginx config invalid, refusing to start" >&2; exit 1; fi`,
  `exec nginx -e stderr -c ${CONF_PATH} -g 'daemon off;'`,
].join("\n");

export class Proxy extends pulumi.ComponentResource {
  /** Public HTTPS URL. */
  public readonly url: pulumi.Output<string>;
  /** The rendered nginx.conf (no secrets), for inspection and the services harness. */
  public readonly nginxConfig: pulumi.Output<string>;
  /** Name of the proxy container. */
  public readonly containerName: pulumi.Output<string>;

  constructor(name: string, args: ProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("launchgate:edge:Proxy", name, {}, opts);
    const ports = args.ports ?? { http: 80, https: 443 };

    const conf = pulumi.all(args.routes.map((r) => pulumi.output(r.upstream))).apply((upstreams) =>
      renderNginxConfig({
        domain: args.domain,
        routes: args.routes.map((r, i) => ({ path: r.path, upstream: upstreams[i]! })),
        minTlsVersion: args.config.minTlsVersion,
        hstsMaxAgeSeconds: args.config.hstsMaxAgeSeconds,
        certPath: CERT_PATH,
        keyPath: args.swarm ? SWARM_KEY_PATH : KEY_PATH,
        workerUser: args.workerUser ?? "nginx",
        healthPort: HEALTH_PORT,
        weightsPath: WEIGHTS_PATH,
        extraServerNames: args.extraServerNames,
        origin: args.origin
          ? { trustedProxies: args.origin.trustedProxies, clientCaPath: CLIENT_CA_PATH }
          : undefined,
      }),
    );
    // What the proxy starts with: every route all-stable (no canary); depends on the routes only.
    const initialWeights = pulumi
      .all(args.routes.map((r) => pulumi.output(r.upstream)))
      .apply((upstreams) => renderSplitConfig(upstreams.map((upstream) => ({ upstream }))));
    const key = pulumi.secret(args.privateKeyPem);
    const uploads: docker.types.input.ContainerUpload[] = [
      { file: CONF_PATH, content: conf, permissions: "0644" },
      { file: WEIGHTS_PATH, content: initialWeights, permissions: "0644" },
      { file: CERT_PATH, content: args.certificatePem, permissions: "0644" },
      // Read by the root master before workers start; workers never see it.
      { file: args.swarm ? SWARM_KEY_PATH : KEY_PATH, content: key, permissions: "0600" },
      ...(args.origin
        ? [{ file: CLIENT_CA_PATH, content: args.origin.clientCaPem, permissions: "0644" }]
        : []),
    ];
    // Identifies this exact config + certificate + key (+ client CA); a truncated SHA-256 reveals nothing.
    const revision = pulumi.unsecret(
      pulumi
        .all([conf, args.certificatePem, key, args.origin?.clientCaPem ?? ""])
        .apply(([c, cert, k, ca]) => shortHash(ca ? [c, cert, k, ca] : [c, cert, k])),
    );

    // The check: same image, same files, no network at all, root filesystem writable because the
    // provider uploads files before start and Docker refuses uploads into a read-only rootfs
    // (CIS 5.12 exception for a container that runs `nginx -t` and exits).
    const check = new docker.Container(
      `${name}-config-check`,
      {
        ...hardened({ memoryMb: 64, cpus: 0.5, readOnly: false, kind: "job", capAdd: ["CHOWN"] }),
        name: pulumi.interpolate`${name}-config-check-${revision}`,
        image: args.config.image,
        networkMode: "none",
        entrypoints: ["nginx"],
        command: ["-t", "-e", "stderr", "-c", CONF_PATH],
        uploads,
        labels: [roleLabel("job"), { label: "launchgate.job", value: "nginx-config-check" }],
      },
      { parent: this },
    );
    // Created stopped; runs here, under its PIDs limit, and fails the update when `nginx -t` does.
    const checked = startOneShot(
      `${name}-config-check`,
      check,
      { engine: args.pids.engine, limit: args.pids.job ?? DEFAULT_PIDS_LIMITS.job, timeoutSeconds: 120 },
      { parent: this },
    );

    // Cert, key and config live in a small volume: uploads must land in a volume when the root
    // filesystem is read-only. It holds nothing that is not re-uploaded on every replacement.
    const confVolume = args.swarm
      ? undefined
      : new docker.Volume(
          `${name}-conf`,
          { name: `${name}-conf`, labels: [{ label: "launchgate.data", value: "proxy-config" }] },
          { parent: this },
        );

    // The split every route gets (all-stable unless a canary is in progress).
    const weights = pulumi
      .all(
        args.routes.map((r) =>
          pulumi.all([r.upstream, r.canary?.upstream]).apply(([upstream, canary]) => ({
            upstream,
            ...(canary !== undefined && r.canary
              ? { canary: { upstream: canary, weight: r.canary.weight } }
              : {}),
          })),
        ),
      )
      .apply((routes) => renderSplitConfig(routes));

    const spec: docker.ContainerArgs = {
      ...hardened({
        memoryMb: args.memoryMb ?? 128,
        cpus: args.cpus ?? 0.5,
        capAdd: [...NGINX_CAPS],
        // CIS 5.12 exception, found by the services test on a real engine: Docker refuses
        // uploads into any container whose root filesystem is read-only ("container rootfs is
        // marked read-only"), even into a volume path, and the provider delivers the config,
        // certificate and key as uploads. The files are checked by the `nginx -t` job first;
        // every capability but nginx's four is dropped and no-new-privileges is set.
        // On Swarm the files are configs and a secret, not uploads: the root stays read-only.
        readOnly: args.swarm !== undefined,
        // nginx writes only its pid and temp files, all under /tmp (see render.ts); these two are
        // the compiled-in defaults of the official and Debian builds, kept writable in case a
        // module falls back to them.
        tmpfs: {
          "/var/cache/nginx": "rw,noexec,nosuid,nodev,size=64m",
          "/var/lib/nginx": "rw,noexec,nosuid,nodev,size=64m",
        },
      }),
      name,
      image: args.config.image,
      entrypoints: ["/bin/sh", "-c"],
      command: [START_SCRIPT],
      ...(confVolume ? { volumes: [{ volumeName: confVolume.name, containerPath: CONF_DIR }], uploads } : {}),
      // The only published host ports in the program.
      ports: args.swarm
        ? undefined
        : [
            { internal: 80, external: ports.http, protocol: "tcp" },
            { internal: 443, external: ports.https, protocol: "tcp" },
          ],
      ...attachNetworks([{ name: args.edgeNetwork, aliases: [name] }]),
      labels: [
        roleLabel("proxy"),
        { label: "launchgate.proxy", value: "true" },
        { label: "launchgate.config-checked", value: afterSuccess(checked, revision) },
      ],
      healthcheck: {
        tests: args.healthcheck ?? [
          "CMD",
          "curl",
          "-fsS",
          "-o",
          "/dev/null",
          `http://127.0.0.1:${HEALTH_PORT}/healthz`,
        ],
        ...healthTiming(args.swarm ? undefined : args.engineApiVersion, 5),
        timeout: "3s",
        startPeriod: "5s",
      },
      wait: true,
      waitTimeout: 60,
      stopSignal: "SIGQUIT", // graceful: finish in-flight requests
    };
    const proxy = declareWorkload(
      name,
      spec,
      args.swarm
        ? {
            kind: "service",
            swarm: args.swarm,
            configs: [
              swarmConfig(this, `${name}-nginx-conf`, CONF_PATH, conf),
              swarmConfig(this, `${name}-weights`, WEIGHTS_PATH, weights),
              swarmConfig(this, `${name}-cert`, CERT_PATH, args.certificatePem),
              ...(args.origin
                ? [swarmConfig(this, `${name}-client-ca`, CLIENT_CA_PATH, args.origin.clientCaPem)]
                : []),
            ],
            secrets: swarmSecretFiles(this, name, [{ name: "TLS_KEY", value: key }]),
            hostPorts: [
              { target: 80, published: ports.http },
              { target: 443, published: ports.https },
            ],
          }
        : { kind: "container" },
      // Host ports 80/443 cannot be held by two containers: replace delete-first (seconds of
      // downtime, after the config check has passed).
      { parent: this, dependsOn: [checked], deleteBeforeReplace: true },
    );
    limitPids(name, proxy, args.pids, { parent: this });

    // On Swarm a weight change is a new weights config and a rolling update of the proxy (its
    // files are read-only configs there); on one host the weights step rewrites the file in place.
    if (args.connection && !args.swarm) {
      // The weights step: re-run whenever the weights or the proxy container change (a new proxy
      // starts all-stable). No `delete`: removing the step leaves the proxy as it is.
      new command.remote.Command(
        `${name}-weights`,
        {
          connection: args.connection,
          create: proxy.name.apply(weightsCommand),
          stdin: weights,
          triggers: [proxy.id, weights],
        },
        { parent: this, dependsOn: [proxy, ...(args.weightsAfter ?? [])] },
      );
    }

    this.url = pulumi.output(`https://${args.domain}`);
    this.nginxConfig = conf;
    this.containerName = proxy.name;
    this.registerOutputs({ url: this.url, nginxConfig: this.nginxConfig, containerName: this.containerName });
  }
}
