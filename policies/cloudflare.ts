/**
 * Cloudflare in front of the origin (seed 001 "Cloudflare DNS + SSL"; Cloudflare's SSL/TLS
 * recommendations): origin records proxied, zone SSL Full (strict), minimum TLS 1.2, Always Use
 * HTTPS and Authenticated Origin Pulls — on every stack that serves through Cloudflare (any
 * Cloudflare record or Origin CA certificate in the stack, i.e. `tls: cloudflare-origin`).
 */
import { AuthenticatedOriginPullsSettings } from "@pulumi/cloudflare/authenticatedOriginPullsSettings";
import { DnsRecord } from "@pulumi/cloudflare/dnsRecord";
import { HostnameTlsSetting } from "@pulumi/cloudflare/hostnameTlsSetting";
import { PageRule } from "@pulumi/cloudflare/pageRule";
import { Ruleset } from "@pulumi/cloudflare/ruleset";
import { OriginCaCertificate } from "@pulumi/cloudflare/originCaCertificate";
import { ZoneSetting } from "@pulumi/cloudflare/zoneSetting";
import type { PolicyResource } from "@pulumi/policy";
import { Container } from "@pulumi/docker/container";
import { Command as RemoteCommand } from "@pulumi/command/remote/command";
import { CLOUDFLARE_IP_RANGES } from "../contract/cloudflare";
import { ROLE_LABEL } from "../contract/roles";
import { labelMap } from "./lib/container-view";
import { known, strings } from "./lib/resources";
import { stackPolicy, typedPolicies, typedPolicy } from "./lib/rule";
import { roleOfCommand, scriptExports, scriptOf } from "./host";

/** Record types that point at the origin and so hide it only when proxied. */
const ORIGIN_RECORD_TYPES = ["A", "AAAA", "CNAME"];

export const cloudflareRecordsProxied = typedPolicy(
  {
    name: "cloudflare-records-proxied",
    description: "Checks whether every A/AAAA/CNAME record Cloudflare serves for the origin is proxied.",
    protectsAgainst:
      "a DNS-only record publishing the origin's IP, so clients (and attackers) bypass Cloudflare's TLS, WAF and origin-pull authentication",
    benchmark: "Cloudflare docs: proxied records; seed 001",
    fix: "set launchgate:dns.proxied to true (records are created with `proxied: true`)",
  },
  DnsRecord,
  function* (props) {
    const type = known(() => props.type) as string | undefined;
    if (type !== undefined && !ORIGIN_RECORD_TYPES.includes(type.toUpperCase())) return;
    if (known(() => props.proxied) !== true)
      yield `${type ?? "record"} ${known(() => props.name) ?? ""} is DNS-only and exposes the origin's address; set launchgate:dns.proxied: true.`;
  },
);

/** Zone settings a strict-TLS origin needs: setting id → [accepted values, fix]. */
export const REQUIRED_ZONE_SETTINGS: Readonly<Record<string, [(v: string) => boolean, string]>> = {
  ssl: [(v) => v === "strict" || v === "full_strict", 'SSL/TLS mode Full (strict): `ssl = "strict"`'],
  min_tls_version: [(v) => ["1.2", "1.3"].includes(v), 'minimum TLS 1.2: `min_tls_version = "1.2"`'],
  always_use_https: [(v) => v === "on", 'Always Use HTTPS: `always_use_https = "on"`'],
  tls_client_auth: [(v) => v === "on", 'Authenticated Origin Pulls: `tls_client_auth = "on"`'],
};

const settingValue = (r: { props: Record<string, unknown> }) => {
  const v = known(() => r.props.value);
  return typeof v === "string" ? v : v === true ? "on" : v === false ? "off" : JSON.stringify(v);
};

export const cloudflareZoneSettingSafe = typedPolicy(
  {
    name: "cloudflare-zone-setting-safe",
    description:
      "Checks whether a managed zone setting for SSL mode, minimum TLS, Always Use HTTPS or Authenticated Origin Pulls holds the safe value.",
    protectsAgainst:
      "Cloudflare talking to the origin without verifying its certificate (Flexible/Full), TLS 1.0/1.1 to clients, plain HTTP, or an origin accepting any client",
    benchmark:
      "Cloudflare SSL/TLS: Full (strict), minimum TLS version, Always Use HTTPS, Authenticated Origin Pulls",
    fix: "keep components/edge/Dns.ts ZONE_TLS_SETTINGS",
  },
  ZoneSetting,
  function* (props) {
    const id = known(() => props.settingId) as string | undefined;
    const rule = id ? REQUIRED_ZONE_SETTINGS[id] : undefined;
    if (!rule) return;
    const value = settingValue({ props });
    if (!rule[0](value)) yield `zone setting ${id} is "${value}"; set ${rule[1]}.`;
    if (known(() => props.enabled) === false)
      yield `zone setting ${id} is disabled; remove \`enabled: false\`.`;
  },
);

export const cloudflareOriginPullsEnabled = typedPolicy(
  {
    name: "cloudflare-origin-pulls-enabled",
    description: "Checks whether a managed Authenticated Origin Pulls setting is enabled.",
    protectsAgainst:
      "an origin that accepts TLS from anyone, so Cloudflare's WAF and rate limits can be bypassed",
    benchmark: "Cloudflare SSL/TLS: Authenticated Origin Pulls (zone-level)",
    fix: "keep `enabled: true` on the Dns component's AuthenticatedOriginPullsSettings",
  },
  AuthenticatedOriginPullsSettings,
  function* (props) {
    if (known(() => props.enabled) === false)
      yield "Authenticated Origin Pulls is disabled for the zone; set `enabled: true` (nginx requires Cloudflare's client certificate).";
  },
);

/**
 * Cloudflare's per-request overrides of the zone's TLS settings: a Page Rule's actions, a
 * Configuration Rule (Ruleset phase `http_config_settings`, action `set_config`) and a per-hostname
 * TLS setting each win over the zone setting for the traffic they match, so each is held to the
 * zone's rule (REQUIRED_ZONE_SETTINGS). Pure: the problems of one resource's props.
 */
export function* tlsOverrideProblems(type: string, props: Record<string, unknown>): Generator<string> {
  const ssl = REQUIRED_ZONE_SETTINGS.ssl!;
  const minTls = REQUIRED_ZONE_SETTINGS.min_tls_version!;
  const judge = function* (where: string, a: Record<string, unknown>) {
    const mode = known(() => a.ssl);
    if (typeof mode === "string" && !ssl[0](mode))
      yield `${where} sets SSL "${mode}" for the traffic it matches, below the zone's Full (strict); remove it or set ${ssl[1]}.`;
    if (known(() => a.automaticHttpsRewrites) === false || known(() => a.automaticHttpsRewrites) === "off")
      yield `${where} turns Automatic HTTPS Rewrites off; remove the override.`;
    if (known(() => a.disableSecurity) === true)
      yield `${where} turns Cloudflare's security features off (disableSecurity); remove it.`;
  };
  if (type === "cloudflare:index/pageRule:PageRule") {
    yield* judge(
      `page rule ${String(known(() => props.target) ?? "")}`,
      (known(() => props.actions) ?? {}) as Record<string, unknown>,
    );
  } else if (type === "cloudflare:index/ruleset:Ruleset") {
    const rules = (known(() => props.rules) ?? []) as Record<string, unknown>[];
    for (const r of Array.isArray(rules) ? rules : [])
      yield* judge(
        `ruleset ${String(known(() => props.name) ?? "")} rule "${String(known(() => r.expression) ?? "")}"`,
        (known(() => r.actionParameters) ?? {}) as Record<string, unknown>,
      );
  } else {
    const id = known(() => props.settingId);
    const value = known(() => props.value);
    if (id === "min_tls_version" && typeof value === "string" && !minTls[0](value))
      yield `hostname ${String(known(() => props.hostname) ?? "")} sets min_tls_version "${value}", below the zone's; set ${minTls[1]}.`;
  }
}

export const cloudflareNoWeakerOverrides = typedPolicies(
  {
    name: "cloudflare-no-weaker-overrides",
    description:
      "Checks whether a Page Rule, a Configuration Rule (Ruleset) or a per-hostname TLS setting lowers, for the traffic it matches, what the zone settings hold: SSL below Full (strict), minimum TLS below 1.2, HTTPS rewrites or security features off.",
    protectsAgainst:
      "the zone's Full (strict), TLS 1.2 and HTTPS rules quietly undone for one host or path (e.g. `ssl: flexible` for api.*), which Cloudflare applies over the zone setting",
    benchmark:
      "Cloudflare docs: Configuration Rules and Page Rules override zone settings; per-hostname TLS settings; Cloudflare SSL/TLS recommendations",
    fix: "remove the override; change the zone setting (components/edge/Dns.ts ZONE_TLS_SETTINGS) if a stricter value is meant",
  },
  [PageRule, Ruleset, HostnameTlsSetting],
  (props, args) => tlsOverrideProblems(args.type, props),
);

/** The `server { … }` blocks of an nginx config, outermost-first (brace-matched). */
export function nginxServerBlocks(conf: string): string[] {
  const out: string[] = [];
  for (const m of conf.matchAll(/(^|[\s;{}])server\s*\{/g)) {
    let depth = 0;
    const start = m.index! + m[0].length - 1;
    for (let i = start; i < conf.length; i++) {
      if (conf[i] === "{") depth++;
      else if (conf[i] === "}" && --depth === 0) {
        out.push(conf.slice(start + 1, i));
        break;
      }
    }
  }
  return out;
}

/**
 * Problems of an nginx config's plain-HTTP servers: a server listening on a public port 80 may only
 * redirect to https (or close unknown hosts with 444), never serve content (proxy_pass, root,
 * alias, fastcgi/uwsgi/grpc) over HTTP — the origin's side of Always Use HTTPS.
 */
export function* plainHttpProblems(conf: string): Generator<string> {
  for (const block of nginxServerBlocks(conf)) {
    const listens = [...block.matchAll(/^\s*listen\s+([^;]+);/gm)].map((m) => m[1]!.trim());
    const plain = listens.filter((l) => !/\bssl\b/.test(l) && !/^(127\.|\[::1\]|localhost)/.test(l));
    if (plain.length === 0) continue;
    const serves = /^\s*(proxy_pass|root|alias|fastcgi_pass|uwsgi_pass|grpc_pass|scgi_pass)\s/m.exec(block);
    if (serves)
      yield `nginx serves content over plain HTTP (listen ${plain[0]}: ${serves[1]}); a port-80 server may only \`return 301 https://$host$request_uri\`.`;
  }
}

const isCloudflareEdge = (r: PolicyResource) => r.isType(DnsRecord) || r.isType(OriginCaCertificate);

export const cloudflareZoneTls = stackPolicy(
  {
    name: "cloudflare-zone-tls",
    description:
      "Checks whether a stack served through Cloudflare manages SSL Full (strict), minimum TLS 1.2, Always Use HTTPS and Authenticated Origin Pulls for its zone.",
    protectsAgainst:
      "a zone left at Cloudflare's defaults (Flexible/Full SSL, TLS 1.0, HTTP allowed, origin pulls unauthenticated) while the stack relies on Cloudflare",
    benchmark: "Cloudflare SSL/TLS recommendations; seed 001",
    fix: "keep the Dns component (its ZoneSetting resources) on every stack with tls: cloudflare-origin",
  },
  function* (args) {
    const edge = args.resources.filter(isCloudflareEdge);
    if (edge.length === 0) return;
    // Settings count for the zone the records are in: a setting managed on another zone leaves
    // this one at Cloudflare's defaults. A zone id unknown at preview counts for every zone.
    const zoneOf = (r: PolicyResource) => known(() => r.props.zoneId) as string | undefined;
    const recordZones = [...new Set(edge.filter((r) => r.isType(DnsRecord)).flatMap((r) => zoneOf(r) ?? []))];
    const forZone = (r: PolicyResource, zone: string | undefined) =>
      zone === undefined || zoneOf(r) === undefined || zoneOf(r) === zone;
    for (const zone of recordZones.length > 0 ? recordZones : [undefined]) {
      const where = zone === undefined ? "" : ` of zone ${zone}`;
      const settings = new Map<string, string>();
      for (const r of args.resources.filter((x) => x.isType(ZoneSetting) && forZone(x, zone))) {
        const id = known(() => r.props.settingId) as string | undefined;
        if (id) settings.set(id, settingValue(r));
      }
      const aop = args.resources.some(
        (r) =>
          r.isType(AuthenticatedOriginPullsSettings) &&
          forZone(r, zone) &&
          known(() => r.props.enabled) === true,
      );
      for (const [id, [ok, fix]] of Object.entries(REQUIRED_ZONE_SETTINGS)) {
        if (id === "tls_client_auth" && aop) continue;
        const v = settings.get(id);
        if (v === undefined)
          yield [
            `the stack serves through Cloudflare but does not manage ${id}${where}; set ${fix} (Dns component).`,
            edge[0],
          ];
        else if (!ok(v)) yield [`zone setting ${id}${where} is "${v}"; set ${fix}.`, edge[0]];
      }
    }
  },
);

/**
 * Behind Cloudflare the origin answers only Cloudflare (Cloudflare docs "Protect your origin
 * server"): the firewall opens 80/443 only to Cloudflare's published ranges, nginx believes
 * `CF-Connecting-IP` only from those ranges and requires Authenticated Origin Pulls' client
 * certificate. The ranges are contract/cloudflare/ips-v*.txt, the same list the program uses.
 */
export const originLockdown = stackPolicy(
  {
    name: "origin-lockdown",
    description:
      "Checks whether a stack served through Cloudflare lets only Cloudflare's ranges reach 80/443, trusts CF-Connecting-IP only from them and requires origin-pull client certificates.",
    protectsAgainst:
      "clients reaching the origin around Cloudflare (its WAF, TLS and rate limits), and forged client addresses in logs, rate limits and fail2ban",
    benchmark:
      "Cloudflare docs: protect your origin server (allowlist Cloudflare IPs, Authenticated Origin Pulls, restore visitor IPs)",
    fix: "keep HardenedHost webAllowFrom = Cloudflare's ranges and the proxy's `origin` settings on tls: cloudflare-origin stacks",
  },
  function* (args) {
    const edge = args.resources.filter(isCloudflareEdge);
    if (edge.length === 0) return;
    const cloudflare = new Set(CLOUDFLARE_IP_RANGES);
    for (const r of args.resources.filter((x) => x.isType(RemoteCommand))) {
      if (roleOfCommand(r.props) !== "host-firewall") continue;
      const from = scriptExports(scriptOf(r.props)).get("LG_WEB_ALLOW_FROM");
      if (from === undefined) continue; // unknown at preview
      const outside = from.split(/\s+/).filter((c) => c !== "" && !cloudflare.has(c));
      if (outside.length > 0 || from.trim() === "")
        yield [
          `the firewall lets ${outside.join(", ") || "nobody"} reach 80/443 on a stack served through Cloudflare; allow only Cloudflare's ranges (HardenedHost webAllowFrom).`,
          r,
        ];
    }
    for (const r of args.resources.filter((x) => x.isType(Container))) {
      if (labelMap(known(() => r.props.labels))[ROLE_LABEL] !== "proxy") continue;
      for (const conf of strings(known(() => r.props.uploads))) {
        if (!/\bssl_certificate\s/.test(conf)) continue; // not the nginx.conf
        const trusted = [...conf.matchAll(/set_real_ip_from\s+([^;\s]+)\s*;/g)].map((m) => m[1]!);
        const wrong = trusted.filter((c) => !cloudflare.has(c));
        if (wrong.length > 0)
          yield [
            `nginx believes CF-Connecting-IP from ${wrong.join(", ")}; trust only Cloudflare's ranges.`,
            r,
          ];
        if (!/^\s*real_ip_header\s+CF-Connecting-IP\s*;/m.test(conf))
          yield [
            "nginx does not restore the client address from CF-Connecting-IP; set the proxy's `origin` settings.",
            r,
          ];
        if (!/^\s*ssl_verify_client\s+on\s*;/m.test(conf))
          yield [
            "nginx accepts TLS clients without Cloudflare's origin-pull certificate; set `ssl_verify_client on` (proxy `origin`).",
            r,
          ];
      }
    }
  },
);

/** Shortest HSTS max-age accepted, in seconds (one year: OWASP HSTS cheat sheet, hstspreload.org). */
export const HSTS_MIN_MAX_AGE = 31536000;

export const proxyTls = typedPolicy(
  {
    name: "proxy-tls",
    description:
      "Checks whether the proxy's nginx config allows TLS below 1.2 or TLS 1.2 suites without forward secrecy/AEAD, omits HSTS, or serves content over plain HTTP (port 80 may only redirect to https).",
    protectsAgainst: "downgrade to broken TLS versions and first-request HTTP interception",
    benchmark: "Mozilla server-side TLS (intermediate); OWASP HSTS; seed 001",
    fix: "`ssl_protocols TLSv1.2 TLSv1.3;`, proxy.hstsMaxAgeSeconds > 0",
  },
  Container,
  function* (props) {
    for (const s of strings(known(() => props.uploads))) {
      const protocols = /ssl_protocols\s+([^;]+);/.exec(s);
      if (!protocols) continue;
      const weak = protocols[1]!.split(/\s+/).filter((p) => /^(SSLv\d|TLSv1(\.[01])?)$/.test(p));
      if (weak.length > 0)
        yield `nginx allows ${weak.join(", ")}; set \`ssl_protocols TLSv1.2 TLSv1.3;\` (proxy.minTlsVersion).`;
      // Mozilla intermediate: AEAD suites with forward secrecy only; no cipher list = OpenSSL's
      // defaults, which still include CBC and RSA key exchange.
      const ciphers = /ssl_ciphers\s+([^;]+);/
        .exec(s)?.[1]
        ?.trim()
        .replace(/^["']|["']$/g, "");
      const weakSuites = (ciphers ?? "")
        .split(":")
        .filter(
          (c) =>
            c !== "" &&
            !c.startsWith("!") &&
            !/^(ECDHE|DHE)-[A-Z0-9]+-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/.test(c),
        );
      if (ciphers === undefined)
        yield "nginx sets no ssl_ciphers (OpenSSL's defaults include CBC and static-RSA suites); keep TLS12_CIPHERS (Mozilla intermediate).";
      else if (weakSuites.length > 0)
        yield `nginx offers ${weakSuites.join(", ")}; offer only forward-secret AEAD suites (Mozilla intermediate, TLS12_CIPHERS).`;
      yield* plainHttpProblems(s);
      const hsts = /add_header\s+Strict-Transport-Security\s+"?max-age=(\d+)/.exec(s);
      if (!hsts || Number(hsts[1]) === 0)
        yield 'nginx config has no HSTS header; add `add_header Strict-Transport-Security "max-age=31536000" always;`.';
      else if (Number(hsts[1]) < HSTS_MIN_MAX_AGE)
        yield `nginx sends HSTS for only ${hsts[1]} s; browsers forget it within the hour: keep max-age ≥ ${HSTS_MIN_MAX_AGE} (one year; proxy.hstsMaxAgeSeconds).`;
    }
  },
);

export const cloudflarePolicies = [
  cloudflareRecordsProxied,
  cloudflareNoWeakerOverrides,
  cloudflareZoneSettingSafe,
  cloudflareZoneTls,
  cloudflareOriginPullsEnabled,
  originLockdown,
  proxyTls,
];
