/**
 * Renders the proxy's nginx.conf. Pure (no Pulumi), so the exact config is unit-tested and can be
 * checked with `nginx -t` by the services harness.
 *
 * Choices:
 * - Upstreams are resolved per request through Docker's embedded DNS (`resolver 127.0.0.11` and a
 *   variable in `proxy_pass`): an app replaced by a new container (new name, same alias) is found
 *   without reloading nginx. A literal `proxy_pass http://api:3000` would pin the IP at start.
 * - Zero-downtime replacement of an upstream container (release, rollback, canary promotion):
 *   nginx keeps a resolved alias for RESOLVER_VALID_SECONDS (Docker's DNS says 600 s), so a
 *   worker may still hold only the old container's address for that long after the new one
 *   joined the network. The old container therefore keeps serving UPSTREAM_DRAIN_SECONDS after
 *   its replacement is healthy (AppService's drain step); by then every cached answer holds the
 *   new address too, and a request the old one no longer takes (connection refused, or no answer
 *   once it is gone: `proxy_connect_timeout`) moves on to the next address
 *   (`proxy_next_upstream error timeout`: a failed connect for any method, a failure after the
 *   request was sent only for idempotent ones, nginx's rule since 1.9.13).
 * - Every writable path (pid, temp dirs) is under /tmp, a tmpfs: the root filesystem is read-only.
 * - Logs go to stdout/stderr (docker's bounded json-file log). The access log is one JSON object
 *   per request (`log_format launchgate`): app, variant (stable/canary), status, request time —
 *   what the rollout analysis (tools/promote/rollout.ts) computes error rate and p95 from.
 * - Progressive delivery (seed 004): each route's traffic is split between its stable and canary
 *   upstream by `split_clients` in a separate file, `weights.conf` (see renderSplitConfig). The
 *   proxy starts with "all stable"; a rollout rewrites only that file and reloads nginx (HUP), so
 *   a weight change never restarts the proxy nor drops a connection.
 * - Only the declared host names are served. A default server on 80 closes the connection
 *   without a response (`return 444`) and the default server on 443 refuses the TLS handshake
 *   (`ssl_reject_handshake`, no certificate shown), so a scan of the origin's IP learns nothing.
 * - The client's address reaches the apps only as nginx determined it: `X-Forwarded-For` and
 *   `X-Real-IP` are set to `$remote_addr` (never appended to what the client sent) and every
 *   other client-IP / forwarding header a client could forge is removed (CLIENT_IP_HEADERS).
 * - Behind Cloudflare (`origin`): `$remote_addr` comes from `CF-Connecting-IP`, trusted only
 *   when the connection comes from Cloudflare's published ranges (`set_real_ip_from`); and TLS
 *   clients must present a certificate from Cloudflare's Authenticated Origin Pulls CA
 *   (`ssl_verify_client on`), otherwise the connection is closed without a response.
 */

export interface NginxRoute {
  /** Path prefix: `/` or `/segment` (no trailing slash). */
  readonly path: string;
  /** `alias:port` on the edge network. */
  readonly upstream: string;
}

export interface NginxConfigInput {
  /** Host name served over HTTPS (server_name). */
  readonly domain: string;
  readonly routes: readonly NginxRoute[];
  /** Lowest TLS version accepted. */
  readonly minTlsVersion: "TLSv1.2" | "TLSv1.3";
  /** HSTS max-age; 0 disables HSTS in browsers (header still sent, as the standard allows). */
  readonly hstsMaxAgeSeconds: number;
  /** Paths of the certificate chain and key inside the container. */
  readonly certPath: string;
  readonly keyPath: string;
  /** `user` directive for worker processes (`user [group]`). */
  readonly workerUser: string;
  /** Loopback-only port answering `/healthz` for the container healthcheck. */
  readonly healthPort: number;
  /**
   * Path of the weights file (renderSplitConfig) inside the container.
   * @default none: every route all-stable, inline (no rollout possible without a reload of a new file)
   */
  readonly weightsPath?: string;
  /** More host names served besides `domain` (the certificate's other names). @default [] */
  readonly extraServerNames?: readonly string[];
  /**
   * The origin sits behind Cloudflare: trust `CF-Connecting-IP` only from `trustedProxies`
   * (Cloudflare's published ranges) and require a client certificate issued by the CA at
   * `clientCaPath` (Cloudflare's Authenticated Origin Pulls CA). @default none (direct clients)
   */
  readonly origin?: {
    readonly trustedProxies: readonly string[];
    readonly clientCaPath: string;
  };
}

/** A route's split: its stable upstream and, during a rollout, the canary and its weight. */
export interface SplitRoute {
  /** `alias:port` of the stable version (the route's upstream). */
  readonly upstream: string;
  readonly canary?: {
    /** `alias:port` of the canary version. */
    readonly upstream: string;
    /** Percent of requests sent to the canary, 0..100. */
    readonly weight: number;
  };
}

/**
 * Request headers that carry a client address or the original request's scheme/host/path and
 * that apps or frameworks may believe: removed before proxying (the ones nginx sets itself,
 * X-Forwarded-For, X-Real-IP, X-Forwarded-Proto and Host, are overwritten instead). Names as
 * sent by Cloudflare, Akamai, Fastly, RFC 7239 and common frameworks.
 */
export const CLIENT_IP_HEADERS = [
  "Forwarded",
  "X-Forwarded",
  "Forwarded-For",
  "X-Forwarded-Host",
  "X-Forwarded-Port",
  "X-Forwarded-Server",
  "X-Forwarded-Prefix",
  "X-Original-Forwarded-For",
  "X-Client-IP",
  "Client-IP",
  "X-Cluster-Client-IP",
  "True-Client-IP",
  "CF-Connecting-IP",
  "CF-Connecting-IPv6",
  "Fastly-Client-IP",
  "X-Host",
  "X-Original-URL",
  "X-Rewrite-URL",
] as const;

/**
 * Seconds nginx keeps a resolved upstream alias (`resolver … valid=`). Short, because it bounds
 * how long a replaced container must keep serving; a lookup to Docker's embedded DNS is local.
 */
export const RESOLVER_VALID_SECONDS = 2;

/**
 * Seconds a replaced upstream container must keep serving after its replacement is healthy:
 * the resolver validity, + 1 s because nginx expires cache entries on its whole-second clock,
 * + 2 s margin. AppService's drain step waits this long before the old container is stopped;
 * `checker/upstream-drain` refuses a program where that wait is not longer than the validity.
 */
export const UPSTREAM_DRAIN_SECONDS = RESOLVER_VALID_SECONDS + 3;

/**
 * Connect timeout to an upstream on the Docker network (`proxy_connect_timeout`), seconds. A
 * container answers a connect within milliseconds; a removed one never answers (its address no
 * longer exists), so this bounds what a request pays before it moves to the next address.
 * 2 s leaves room for one SYN retransmission (1 s) to a busy but live container.
 */
export const UPSTREAM_CONNECT_TIMEOUT_SECONDS = 2;

const UPSTREAM = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?:\d{1,5}$/;
const ROUTE_PATH = /^\/([A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*)?$/;
const DOMAIN = /^[a-z0-9.-]+$/;
const SERVER_NAME = /^(\*\.)?[a-z0-9.-]+$/;
const CIDR = /^[0-9a-fA-F.:]+\/\d{1,3}$/;
const CONF_FILE = /^\/[A-Za-z0-9._/-]+$/;

/** Mozilla "intermediate" TLS 1.2 ciphers (TLS 1.3 suites are not configurable here and all strong). */
export const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/** Headers on every HTTPS response (`always`: also on errors, which attackers see too). */
export function securityHeaders(hstsMaxAgeSeconds: number): [string, string][] {
  return [
    ["Strict-Transport-Security", `max-age=${hstsMaxAgeSeconds}; includeSubDomains`],
    ["X-Content-Type-Options", "nosniff"],
    ["X-Frame-Options", "DENY"],
    ["Referrer-Policy", "strict-origin-when-cross-origin"],
    ["Permissions-Policy", "camera=(), microphone=(), geolocation=()"],
  ];
}

/** Throws with the offending value when a route could inject nginx syntax or is malformed. */
export function validateRoutes(routes: readonly NginxRoute[]): void {
  if (routes.length === 0) throw new Error("proxy: at least one route is required");
  const seen = new Set<string>();
  for (const r of routes) {
    if (!ROUTE_PATH.test(r.path))
      throw new Error(`proxy: route path ${JSON.stringify(r.path)} is not a plain /prefix`);
    if (!UPSTREAM.test(r.upstream))
      throw new Error(`proxy: upstream ${JSON.stringify(r.upstream)} for ${r.path} is not alias:port`);
    if (seen.has(r.path)) throw new Error(`proxy: route ${r.path} is declared twice`);
    seen.add(r.path);
  }
}

/** The app a route serves, as logged: the upstream's network alias. */
export function routeApp(upstream: string): string {
  return upstream.split(":")[0]!;
}

/**
 * The weights file: per route, `split_clients` on `$request_id` (independent per request) picks
 * the variant and a `map` its upstream. Weight 0 (or no canary) sends everything to stable, 100
 * everything to the canary. Pure; the same text the rollout command writes and `nginx -t` checks.
 */
export function renderSplitConfig(routes: readonly SplitRoute[]): string {
  const out = ["# Rendered by launchgate (components/edge/nginx/render.ts): rollout weights per route."];
  routes.forEach((r, i) => {
    if (!UPSTREAM.test(r.upstream))
      throw new Error(`proxy: upstream ${JSON.stringify(r.upstream)} is not alias:port`);
    const c = r.canary;
    if (c && !UPSTREAM.test(c.upstream))
      throw new Error(`proxy: canary upstream ${JSON.stringify(c.upstream)} is not alias:port`);
    if (c && !(Number.isInteger(c.weight) && c.weight >= 0 && c.weight <= 100))
      throw new Error(`proxy: canary weight ${JSON.stringify(c.weight)} is not an integer 0..100`);
    const weight = c?.weight ?? 0;
    const split =
      weight === 0
        ? ["  * stable;"]
        : weight === 100
          ? ["  * canary;"]
          : [`  ${weight}% canary;`, "  * stable;"];
    out.push(
      `split_clients "\${request_id}" $lg_variant_${i} {`,
      ...split,
      "}",
      `map $lg_variant_${i} $lg_upstream_${i} {`,
      ...(c ? [`  canary ${c.upstream};`] : []),
      `  default ${r.upstream};`,
      "}",
    );
  });
  return `${out.join("\n")}\n`;
}

/** JSON access log, one object per request (`"lg":1` marks it for the rollout analysis). */
export const ACCESS_LOG_FORMAT =
  `'{"lg":1,"msec":"$msec","app":"$lg_app","variant":"$lg_variant","status":"$status",' ` +
  `'"request_time":"$request_time","upstream":"$upstream_addr","uri":"$uri"}'`;

function locationBlocks(r: NginxRoute, i: number): string[] {
  const body = [
    `    set $lg_app ${routeApp(r.upstream)};`,
    `    set $lg_variant $lg_variant_${i};`,
    `    proxy_pass http://$lg_upstream_${i};`,
  ];
  if (r.path === "/") return ["  location / {", ...body, "  }"];
  // `/admin` and `/admin/...` but not `/administrator`; ^~ so no regex location can take over.
  return [`  location = ${r.path} {`, ...body, "  }", `  location ^~ ${r.path}/ {`, ...body, "  }"];
}

/** The whole nginx.conf. */
export function renderNginxConfig(c: NginxConfigInput): string {
  validateRoutes(c.routes);
  if (!DOMAIN.test(c.domain)) throw new Error(`proxy: domain ${JSON.stringify(c.domain)} is not a DNS name`);
  const protocols = c.minTlsVersion === "TLSv1.3" ? "TLSv1.3" : "TLSv1.2 TLSv1.3";
  const headers = securityHeaders(c.hstsMaxAgeSeconds).map(([k, v]) => `  add_header ${k} "${v}" always;`);
  const locations = c.routes.flatMap((r, i) => locationBlocks(r, i));
  const extra = c.extraServerNames ?? [];
  extra.forEach((n) => {
    if (!SERVER_NAME.test(n)) throw new Error(`proxy: server name ${JSON.stringify(n)} is not a DNS name`);
  });
  const names = [...new Set([c.domain, ...extra])].join(" ");
  let realIp: string[] = [];
  let clientAuth: string[] = [];
  if (c.origin) {
    const { trustedProxies, clientCaPath } = c.origin;
    if (trustedProxies.length === 0)
      throw new Error("proxy: origin.trustedProxies is empty; expected Cloudflare's ranges");
    trustedProxies.forEach((r) => {
      if (!CIDR.test(r)) throw new Error(`proxy: trusted proxy range ${JSON.stringify(r)} is not a CIDR`);
    });
    if (!CONF_FILE.test(clientCaPath))
      throw new Error(`proxy: client CA path ${JSON.stringify(clientCaPath)} is not an absolute file path`);
    realIp = [
      "  # Behind Cloudflare: the client address is CF-Connecting-IP, believed only from Cloudflare.",
      ...trustedProxies.map((r) => `  set_real_ip_from ${r};`),
      "  real_ip_header CF-Connecting-IP;",
      "  real_ip_recursive off;",
    ];
    clientAuth = [
      "    # Authenticated Origin Pulls: only Cloudflare's certificate opens this server.",
      `    ssl_client_certificate ${clientCaPath};`,
      "    ssl_verify_client on;",
      "    ssl_verify_depth 2;",
      "    error_page 495 496 = @no_client_certificate;",
      "    location @no_client_certificate {",
      "      return 444;",
      "    }",
    ];
  }
  return [
    "# Rendered by launchgate (components/edge/nginx/render.ts); do not edit on the host.",
    `user ${c.workerUser};`,
    "worker_processes auto;",
    "pid /tmp/nginx.pid;",
    "error_log stderr warn;",
    "",
    "events {",
    "  worker_connections 1024;",
    "}",
    "",
    "http {",
    "  server_tokens off;",
    `  log_format launchgate escape=json ${ACCESS_LOG_FORMAT};`,
    "  access_log /dev/stdout launchgate;",
    "  default_type application/octet-stream;",
    "  client_max_body_size 10m;",
    "  client_body_temp_path /tmp/client_body;",
    "  proxy_temp_path /tmp/proxy;",
    "  fastcgi_temp_path /tmp/fastcgi;",
    "  uwsgi_temp_path /tmp/uwsgi;",
    "  scgi_temp_path /tmp/scgi;",
    "  # Docker's embedded DNS: re-resolve app aliases so a replaced container is found.",
    `  resolver 127.0.0.11 valid=${RESOLVER_VALID_SECONDS}s ipv6=off;`,
    "  resolver_timeout 5s;",
    "  # Header names with underscores (X_Forwarded_For) are dropped, not passed on.",
    "  ignore_invalid_headers on;",
    "  underscores_in_headers off;",
    ...realIp,
    "  # Rollout weights (stable/canary per route); rewritten + reloaded by a rollout step.",
    ...(c.weightsPath
      ? [`  include ${c.weightsPath};`]
      : renderSplitConfig(c.routes.map((r) => ({ upstream: r.upstream })))
          .trimEnd()
          .split("\n")
          .map((l) => `  ${l}`)),
    "",
    "  # Unknown host names get nothing: no response on 80, no TLS handshake on 443.",
    "  server {",
    "    listen 80 default_server;",
    "    server_name _;",
    "    return 444;",
    "  }",
    "  server {",
    "    listen 443 ssl http2 default_server;",
    "    server_name _;",
    "    ssl_reject_handshake on;",
    "  }",
    "",
    "  # Plain HTTP only redirects; nothing is served over it.",
    "  server {",
    "    listen 80;",
    `    server_name ${names};`,
    '    set $lg_app "";',
    '    set $lg_variant "";',
    "    location / {",
    "      return 301 https://$host$request_uri;",
    "    }",
    "  }",
    "",
    "  # Container healthcheck, loopback only (not published).",
    "  server {",
    `    listen 127.0.0.1:${c.healthPort};`,
    "    location = /healthz {",
    "      access_log off;",
    '      return 200 "ok\\n";',
    "    }",
    "  }",
    "",
    "  server {",
    "    listen 443 ssl http2;",
    `    server_name ${names};`,
    '    set $lg_app "";',
    '    set $lg_variant "";',
    `    ssl_certificate ${c.certPath};`,
    `    ssl_certificate_key ${c.keyPath};`,
    `    ssl_protocols ${protocols};`,
    `    ssl_ciphers ${TLS12_CIPHERS};`,
    "    ssl_prefer_server_ciphers off;",
    "    ssl_session_timeout 1d;",
    "    ssl_session_cache shared:TLS:10m;",
    "    ssl_session_tickets off;",
    ...clientAuth,
    ...headers.map((h) => `  ${h}`),
    "    proxy_http_version 1.1;",
    "    proxy_set_header Host $host;",
    "    # The client address as nginx determined it; never what the client claimed.",
    "    proxy_set_header X-Real-IP $remote_addr;",
    "    proxy_set_header X-Forwarded-For $remote_addr;",
    "    proxy_set_header X-Forwarded-Proto https;",
    ...CLIENT_IP_HEADERS.map((h) => `    proxy_set_header ${h} "";`),
    '    proxy_set_header Connection "";',
    `    proxy_connect_timeout ${UPSTREAM_CONNECT_TIMEOUT_SECONDS}s;`,
    "    # A replaced container that refuses or no longer answers: try the alias's next address.",
    "    proxy_next_upstream error timeout;",
    "    proxy_next_upstream_tries 3;",
    "    proxy_read_timeout 60s;",
    ...locations.map((l) => `  ${l}`),
    "  }",
    "}",
    "",
  ].join("\n");
}
