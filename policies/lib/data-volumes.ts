/**
 * The data-volumes-protected policy's config (one place for its default), shared with the
 * checker's retain-on-delete check, which must not load the pack's SDKs to read it.
 */

/** `launchgate.data` kinds that are regenerated, not data (their volumes need no protection). */
export const DATA_VOLUMES_PROTECTED_CONFIG = {
  regenerableKinds: { type: "array" as const, items: { type: "string" as const }, default: ["proxy-config"] },
};
