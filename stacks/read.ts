/**
 * Reads the stack's config once: plain keys into the validated `LaunchgateConfig`, secret keys
 * as secret Outputs. Which keys are secret is declared here (and in Pulumi.yaml with
 * `secret: true`); `npm run check` verifies each is `secure:` in the stack file.
 */
import * as pulumi from "@pulumi/pulumi";
import {
  CONFIG_KEYS,
  ConfigError,
  LaunchgateConfig,
  NAMESPACE,
  SECRET_CONFIG_KEYS,
  SecretKey,
  decodeConfigValue as decode,
  keyName,
  parseConfig,
} from "./config";

export interface StackSecrets {
  readonly sshPrivateKey?: pulumi.Output<string>;
  readonly alertWebhookUrl?: pulumi.Output<string>;
  /** Secret env values per app (whole map is one secret). */
  readonly appSecrets: pulumi.Output<Record<string, Record<string, string>>>;
}

/**
 * A secret key's raw value for presence/shape validation only (never logged or exported);
 * read through the runtime so the SDK does not warn about reading a secret as plain text.
 */
function rawSecret(key: SecretKey): string | undefined {
  return pulumi.runtime.getConfig(`${NAMESPACE}:${key}`);
}

/** Reads and validates the plain config for the current stack. @throws ConfigError */
export function readConfig(config = new pulumi.Config(NAMESPACE)): LaunchgateConfig {
  const raw: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    const value = config.get(key);
    if (value !== undefined) raw[key] = decode(value);
  }
  return parseConfig(raw, pulumi.getStack());
}

/**
 * Reads the secret keys as secret Outputs and checks that every secret an app declares has a
 * value, before any resource is declared.
 * @throws ConfigError naming the missing key.
 */
export function readSecrets(cfg: LaunchgateConfig, config = new pulumi.Config(NAMESPACE)): StackSecrets {
  const problems: string[] = [];
  for (const [key, rule] of Object.entries(SECRET_CONFIG_KEYS) as [
    SecretKey,
    { requiredOn: readonly string[] },
  ][]) {
    if (rule.requiredOn.includes(cfg.environment) && rawSecret(key) === undefined) {
      problems.push(
        `${NAMESPACE}:${key}: got nothing; expected a secret on ${cfg.environment} (pulumi config set --secret ${NAMESPACE}:${key} …)`,
      );
    }
  }
  const appSecretsRaw = rawSecret("appSecrets");
  const appSecrets = (appSecretsRaw === undefined ? {} : decode(appSecretsRaw)) as Record<
    string,
    Record<string, string>
  >;
  cfg.apps.forEach((app, i) => {
    for (const name of app.secretEnv) {
      if (typeof appSecrets?.[app.name]?.[name] !== "string") {
        problems.push(
          `${keyName(["apps", i, "secretEnv"])}: ${name} has no value; expected ${NAMESPACE}:appSecrets.${app.name}.${name} set as a secret`,
        );
      }
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    sshPrivateKey: config.getSecret("sshPrivateKey"),
    alertWebhookUrl: config.getSecret("alertWebhookUrl"),
    appSecrets: pulumi.secret(appSecrets),
  };
}
