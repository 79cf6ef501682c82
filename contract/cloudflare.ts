/**
 * Cloudflare's published edge address ranges, kept in the repository as data (nothing is fetched
 * at deploy time, so a deployment is reproducible and an outage of cloudflare.com cannot change the
 * firewall). Shared by the program (firewall, nginx `set_real_ip_from`) and the policy pack
 * (`firewall-origin-lockdown`), hence in contract/.
 *
 * Files beside this module: `cloudflare/ips-v4.txt`, `cloudflare/ips-v6.txt`, one CIDR a line,
 * exactly as https://www.cloudflare.com/ips-v4 and https://www.cloudflare.com/ips-v6 publish them.
 * Refresh with `bash scripts/refresh-cloudflare-ips.sh` and review the diff before committing.
 */
import * as fs from "fs";
import * as path from "path";

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const V6 = /^[0-9a-f:]+::?[0-9a-f:]*\/(\d{1,3})$/i;

/** True for an IPv4 CIDR (`a.b.c.d/n`, octets ≤ 255, n ≤ 32). */
export function isIpv4Cidr(s: string): boolean {
  const m = V4.exec(s);
  return m !== null && m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
}

/** True for an IPv6 CIDR in the compressed form Cloudflare publishes (`2400:cb00::/32`, n ≤ 128). */
export function isIpv6Cidr(s: string): boolean {
  const m = V6.exec(s);
  return m !== null && Number(m[1]) <= 128 && (s.match(/::/g)?.length ?? 0) <= 1;
}

/**
 * Reads one range file: one CIDR a line, blank lines and `#` comments ignored.
 * @throws naming the file, the line and the value when a line is not a CIDR of the family.
 */
export function readRangeFile(file: string, family: "ipv4" | "ipv6"): string[] {
  const ok = family === "ipv4" ? isIpv4Cidr : isIpv6Cidr;
  const out: string[] = [];
  fs.readFileSync(file, "utf8")
    .split("\n")
    .forEach((raw, i) => {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) return;
      if (!ok(line))
        throw new Error(`${file}:${i + 1}: got ${JSON.stringify(line)}; expected an ${family} CIDR`);
      out.push(line);
    });
  if (out.length === 0) throw new Error(`${file}: no ${family} ranges; expected Cloudflare's published list`);
  return out;
}

const DATA_DIR = path.join(__dirname, "cloudflare");

/** Cloudflare's IPv4 edge ranges (cloudflare/ips-v4.txt). */
export const CLOUDFLARE_IPV4: readonly string[] = readRangeFile(path.join(DATA_DIR, "ips-v4.txt"), "ipv4");
/** Cloudflare's IPv6 edge ranges (cloudflare/ips-v6.txt). */
export const CLOUDFLARE_IPV6: readonly string[] = readRangeFile(path.join(DATA_DIR, "ips-v6.txt"), "ipv6");
/** Both families, IPv4 first. */
export const CLOUDFLARE_IP_RANGES: readonly string[] = [...CLOUDFLARE_IPV4, ...CLOUDFLARE_IPV6];
