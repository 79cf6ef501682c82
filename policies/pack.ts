/** Every policy of the pack, by domain. Default enforcement is advisory; config/<stack>.json raises it. */
import type { Policy } from "@pulumi/policy";
import { dataPolicies } from "./data";
import { gatePolicies } from "./gates";
import { securityPolicies } from "./security";

export const PACK_NAME = "launchgate";
export const policies: Policy[] = [...gatePolicies, ...securityPolicies, ...dataPolicies];
