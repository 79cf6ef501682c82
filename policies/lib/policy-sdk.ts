/**
 * The pack's own @pulumi/policy (resolved from policies/), re-exported for tests so the
 * unknown-checking proxy they build throws the same `UnknownValueError` class the policies catch.
 */
export { UnknownValueError, unknownCheckingProxy } from "@pulumi/policy";
