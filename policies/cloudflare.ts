/**
 * Cloudflare in front of the origin (seed 001 "Cloudflare DNS + SSL"; Cloudflare's SSL/TLS
 * recommendations): origin records proxied, zone SSL Full (strict), minimum TLS 1.2, Always Use
 * HTTPS and Authenticated Origin Pulls — on every stack that serves through Cloudflare (any
 * Cloudflare record or Origin CA certificate in the stack, i.e. `tls: cloudflare-origin`).
 */
import { AuthenticatedOriginPullsSettings } from "@pulumi/cloudflare/authenticatedOriginPullsSettings";
import { DnsRecord } from "@pulumi/cloudflare/dnsRecord";
import { OriginCaCertificate } from "@pulumi/cloudflare/originCaCertificate";
import { ZoneSetting } from "@pulumi/cloudflare/zoneSetting";
import type { PolicyResource } from "@pulumi/policy";
import { Container } from "@pulumi/docker/container";
import { Command as RemoteCommand } from "@pulumi/command/remote/command";
import { CLOUDFLARE_IP_RANGES } from "../contract/cloudflare";
import { ROLE_LABEL } from "../contract/roles";
import { labelMap } from "./lib/container-view";
import { known, strings } from "./lib/resources";
import { stackPolicy, typedPolicy } from "./lib/rule";
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

export const proxyTls = typedPolicy(
  {
    name: "proxy-tls",
    description:
      "Checks whether the proxy's nginx config allows TLS below 1.2 or TLS 1.2 suites without forward secrecy/AEAD, or omits HSTS.",
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
      if (!/add_header\s+Strict-Transport-Security\s+"?max-age=[1-9]/.test(s))
        yield 'nginx config has no HSTS header; add `add_header Strict-Transport-Security "max-age=31536000" always;`.';
    }
  },
);

export const cloudflarePolicies = [
  cloudflareRecordsProxied,
  cloudflareZoneSettingSafe,
  cloudflareZoneTls,
  cloudflareOriginPullsEnabled,
  originLockdown,
  proxyTls,
];
