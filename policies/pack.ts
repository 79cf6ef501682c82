/** Every policy of the pack, by domain. Default enforcement is advisory; config/<stack>.json raises it. */
import type { Policy } from "@pulumi/policy";
import { cloudflarePolicies } from "./cloudflare";
import { containerPolicies } from "./containers";
import { dataPolicies } from "./data";
import { gatePolicies } from "./gates";
import { hostPolicies } from "./host";
import { secretPolicies } from "./secrets";

export const PACK_NAME = "launchgate";
/** Domain of each group, in README order. */
export const DOMAINS: [string, Policy[]][] = [
  ["gates", gatePolicies],
  ["containers", containerPolicies],
  ["cloudflare / edge", cloudflarePolicies],
  ["secrets", secretPolicies],
  ["host", hostPolicies],
  ["data", dataPolicies],
];
export const policies: Policy[] = DOMAINS.flatMap(([, p]) => p);
export { RATIONALE } from "./lib/rule";
