/** Patterns shared by the policies and the checker (no imports: safe to load anywhere). */

/** An image reference pinned by content digest. */
export const DIGEST_PINNED = /@sha256:[a-f0-9]{64}$/;

/**
 * Env/input names that hold secrets: a secret word at the end, or followed only by qualifiers
 * that still name the secret itself (`SECRET_KEY_BASE`, `DB_PASSWORD_2`, `API_TOKEN_NEW`), never
 * by ones naming something else about it (`PASSWORD_FILE`, `TOKEN_TTL`, `SECRET_NAME`). Policies use it for placeholder values; the checker for
 * inputs that must be Pulumi secrets (it adds connection URLs, which embed credentials).
 */
export const SECRET_NAME =
  /(PASSWORD|PASSWD|(?<![A-Z])PASS|(?<![A-Z])PWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|(?<!PUBLIC|CACHE|PRIMARY|PARTITION|SORT|ROUTING|IDEMPOTENCY)_KEY|SALT|CREDENTIALS?|DSN|(?<![A-Z])AUTH)(_(BASE|NEW|OLD|PREV|PREVIOUS|CURRENT|NEXT|PRIMARY|SECONDARY|BACKUP|V?\d+|VALUE|RAW|B64|BASE64|HEX|PEM|STRING|STR))*$/i;
