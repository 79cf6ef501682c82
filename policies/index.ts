/**
 * The launchgate policy pack, as the Pulumi CLI runs it:
 *   pulumi preview --policy-pack policies --policy-pack-config policies/config/<stack>.json
 * Policies live in ./pack.ts (shared with the offline checker); enforcement per stack is set
 * in ./config/<stack>.json.
 */
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, policies } from "./pack";

new PolicyPack(PACK_NAME, { policies, enforcementLevel: "advisory" });
