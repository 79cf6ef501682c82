/**
 * Dns: Cloudflare records for the domain and its extra names, proxied through Cloudflare, and
 * the zone's TLS settings (SSL "strict" so Cloudflare verifies the origin certificate, Always
 * Use HTTPS, minimum TLS 1.2) — seed 001's "Cloudflare DNS + SSL" step as state.
 */
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";

/** The Cloudflare zone and the records in it. */
export interface DnsSettings {
  /** Cloudflare zone id (32 hex digits). */
  readonly zoneId: string;
  /** Extra hostnames (besides the domain) pointing at the VPS, e.g. `api`, `admin`. */
  readonly records: readonly string[];
  /** Through Cloudflare's proxy (TTL automatic) or DNS-only (TTL 300 s). */
  readonly proxied: boolean;
}

export interface DnsArgs {
  /** Zone id, extra record names and whether records are proxied. */
  readonly config: DnsSettings;
  /** Apex or main host name served (e.g. `blazetv.example.com`). */
  readonly domain: string;
  /** Public IPv4 of the VPS. */
  readonly address: pulumi.Input<string>;
  /**
   * Zone-level Authenticated Origin Pulls: Cloudflare presents its origin-pull client certificate
   * to the origin, which the proxy requires (`tls: cloudflare-origin`). Turning it off while the
   * proxy requires the certificate makes every proxied request fail. @default false
   */
  readonly authenticatedOriginPulls?: boolean;
}

/** Zone settings enforced for a strict-TLS origin. Values as Cloudflare's API names them. */
export const ZONE_TLS_SETTINGS: Readonly<Record<string, string>> = {
  ssl: "strict",
  always_use_https: "on",
  min_tls_version: "1.2",
  tls_1_3: "on",
  automatic_https_rewrites: "on",
  // Authenticated Origin Pulls (zone level): Cloudflare presents its client certificate to the origin.
  tls_client_auth: "on",
};

/** Fully qualified names for the domain and its extra records (`api` → `api.<domain>`). */
export function recordNames(domain: string, records: readonly string[]): string[] {
  return [domain, ...records.map((r) => `${r}.${domain}`)];
}

export class Dns extends pulumi.ComponentResource {
  /** Fully qualified names created. */
  public readonly names: pulumi.Output<string[]>;

  constructor(name: string, args: DnsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("launchgate:edge:Dns", name, {}, opts);
    const names = recordNames(args.domain, args.config.records);
    for (const fqdn of names) {
      new cloudflare.DnsRecord(
        `${name}-${fqdn.replace(/\*/g, "wildcard").replace(/\./g, "-")}`,
        {
          zoneId: args.config.zoneId,
          name: fqdn,
          type: "A",
          content: args.address,
          proxied: args.config.proxied,
          // ttl 1 means "automatic", the only value Cloudflare accepts for proxied records.
          ttl: args.config.proxied ? 1 : 300,
          comment: "managed by launchgate",
        },
        { parent: this },
      );
    }
    for (const [settingId, value] of Object.entries(ZONE_TLS_SETTINGS)) {
      new cloudflare.ZoneSetting(
        `${name}-${settingId.replace(/_/g, "-")}`,
        { zoneId: args.config.zoneId, settingId, value },
        { parent: this },
      );
    }
    // Enabled before the proxy requires it (compose makes the proxy depend on this component):
    // Cloudflare sending a client certificate the origin does not ask for is harmless.
    if (args.authenticatedOriginPulls) {
      new cloudflare.AuthenticatedOriginPullsSettings(
        `${name}-authenticated-origin-pulls`,
        { zoneId: args.config.zoneId, enabled: true },
        { parent: this },
      );
    }
    this.names = pulumi.output(names);
    this.registerOutputs({ names: this.names });
  }
}
