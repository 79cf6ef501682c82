/**
 * Cloudflare's published edge address ranges and its Authenticated Origin Pulls CA, kept in the
 * repository as data (nothing is fetched at deploy time, so a deployment is reproducible and an
 * outage of cloudflare.com cannot change the firewall).
 *
 * - The edge ranges live in contract/cloudflare/ (the policy pack checks the origin firewall
 *   against the same list); re-exported here.
 * - `origin-pull-ca.pem` (beside this module): Cloudflare's zone-level Authenticated Origin Pulls CA
 *   (CN=origin-pull.cloudflare.net, valid until 2029-11-01; SHA-256 fingerprint
 *   9A:1A:C2:B4:BE:15:F9:F2:7E:EE:20:A7:34:CB:A4:E9:89:8F:61:00:1B:3B:D7:C8:4B:69:B5:6A:3E:25:A2:B9),
 *   from https://developers.cloudflare.com/ssl/static/authenticated_origin_pull_ca.pem.
 *
 * Used by: the firewall (80/443 only from these ranges), nginx `set_real_ip_from` (trust
 * `CF-Connecting-IP` only from them) and `ssl_verify_client` (only Cloudflare's pulls).
 */
import * as fs from "fs";
import * as path from "path";

export {
  CLOUDFLARE_IPV4,
  CLOUDFLARE_IPV6,
  CLOUDFLARE_IP_RANGES,
  isIpv4Cidr,
  isIpv6Cidr,
  readRangeFile,
} from "../../../contract/cloudflare";

/** Directory of the data files. */
export const CLOUDFLARE_DATA_DIR = __dirname;

/** PEM of Cloudflare's Authenticated Origin Pulls CA (origin-pull-ca.pem). */
export const ORIGIN_PULL_CA_PEM: string = fs.readFileSync(path.join(__dirname, "origin-pull-ca.pem"), "utf8");
