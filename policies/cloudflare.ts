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
import { known, strings } from "./lib/resources";
import { stackPolicy, typedPolicy } from "./lib/rule";

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
    const settings = new Map<string, string>();
    for (const r of args.resources.filter((x) => x.isType(ZoneSetting))) {
      const id = known(() => r.props.settingId) as string | undefined;
      if (id) settings.set(id, settingValue(r));
    }
    const aop = args.resources.some(
      (r) => r.isType(AuthenticatedOriginPullsSettings) && known(() => r.props.enabled) === true,
    );
    for (const [id, [ok, fix]] of Object.entries(REQUIRED_ZONE_SETTINGS)) {
      if (id === "tls_client_auth" && aop) continue;
      const v = settings.get(id);
      if (v === undefined)
        yield [
          `the stack serves through Cloudflare but does not manage ${id}; set ${fix} (Dns component).`,
          edge[0],
        ];
      else if (!ok(v)) yield [`zone setting ${id} is "${v}"; set ${fix}.`, edge[0]];
    }
  },
);

export const proxyTls = typedPolicy(
  {
    name: "proxy-tls",
    description: "Checks whether the proxy's nginx config allows TLS below 1.2 or omits HSTS.",
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
      if (!/add_header\s+Strict-Transport-Security\s+"?max-age=[1-9]/.test(s))
        yield 'nginx config has no HSTS header; add `add_header Strict-Transport-Security "max-age=31536000" always;`.';
    }
  },
);

export const cloudflarePolicies = [
  cloudflareRecordsProxied,
  cloudflareZoneSettingSafe,
  cloudflareZoneTls,
  proxyTls,
];
