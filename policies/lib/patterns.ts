/** Patterns shared by the policies and the checker (no imports: safe to load anywhere). */

/** An image reference pinned by content digest. */
export const DIGEST_PINNED = /@sha256:[a-f0-9]{64}$/;

/**
 * Env/input names that hold secrets. Policies use it for placeholder values; the checker for
 * inputs that must be Pulumi secrets (it adds connection URLs, which embed credentials).
 */
export const SECRET_NAME =
  /(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?|DSN)$/i;
