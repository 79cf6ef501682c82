/**
 * Secrets the engine's policies can judge. Policies see secrets unwrapped (@pulumi/policy
 * deserializes with `proxySecrets=false`), so a real secret passed correctly looks like a literal
 * here; these policies therefore refuse only what is wrong even as a secret: placeholder or
 * well-known values, credentials in command text (visible in `ps`) or labels (visible to anyone
 * with `docker inspect`), and data stores without authentication. Value formats and entropy on
 * plain inputs, traced secret config and `secure:` per leaf are the checker's (`checker/…`).
 */
import { Container } from "@pulumi/docker/container";
import { Service } from "@pulumi/docker/service";
import { Command as LocalCommand } from "@pulumi/command/local/command";
import { Command as RemoteCommand } from "@pulumi/command/remote/command";
import { pgSetting, viewOf } from "./lib/container-view";
import { SECRET_NAME } from "./lib/patterns";
import { TYPES, known, strings } from "./lib/resources";
import { credentialArgumentIn, isPublicKeyMaterial, secretFormatIn } from "./lib/secret-values";
import { installedFiles, scriptOf } from "./host";

/** Paths of files that hold credentials (password/token/secret files, .pgpass, .netrc, private keys). */
const CREDENTIAL_FILE =
  /(secret|passw|token|credential|htpasswd|\.pgpass$|\.netrc$|\.key$|id_(rsa|ed25519|ecdsa)$|private)/i;
import { typedPolicies } from "./lib/rule";

const WEAK_VALUE =
  /^(|changeme|change-me|password|passw0rd|secret|admin|root|test|example|placeholder|todo|default|letmein|123456|xxx+)$/i;
const URL_WITH_WEAK_PASSWORD =
  /\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:(changeme|password|secret|admin|root|test|example)@/i;

/** Env of a container (`NAME=value` list) or a Swarm task template (`{NAME: value}`), as pairs. */
function envPairs(type: string, props: Record<string, unknown>): [string, string][] {
  if (type === TYPES.container)
    return [...strings(known(() => props.envs))].map((e) => {
      const [key = "", ...rest] = e.split("=");
      return [key, rest.join("=")];
    });
  const task = (known(() => props.taskSpec) ?? {}) as Record<string, unknown>;
  const spec = (known(() => task.containerSpec) ?? {}) as Record<string, unknown>;
  const env = (known(() => spec.env) ?? {}) as Record<string, unknown>;
  return Object.keys(env).flatMap((k) => {
    const v = known(() => env[k]);
    return typeof v === "string" ? [[k, v] as [string, string]] : [];
  });
}

export const noPlaintextSecrets = typedPolicies(
  {
    name: "no-plaintext-secrets",
    description:
      "Checks whether container, service or command inputs hold a placeholder/well-known secret value, or a credential in command text, command lines, healthchecks or labels.",
    protectsAgainst:
      "guessable credentials, and credentials readable in `ps`, `docker inspect` or the state file",
    benchmark:
      "OWASP ASVS 2.10 / 6.4 (secret management); CIS Docker 1.6 §4.10 (no secrets in image/run config); seed 002",
    fix: "generate the value (random.RandomPassword) or read it with config.requireSecret; pass it by env/stdin or a secret file, never in command text, command lines or labels",
  },
  [Container, Service, LocalCommand, RemoteCommand],
  function* (props, args) {
    const isCommand = args.type === TYPES.localCommand || args.type === TYPES.remoteCommand;
    if (!isCommand) {
      for (const [key, value] of envPairs(args.type, props))
        if (SECRET_NAME.test(key) && WEAK_VALUE.test(value))
          yield `env ${key} has a placeholder value; set it from a random password or a secret config key (pulumi config set --secret).`;
    } else {
      const env = (known(() => props.environment) ?? {}) as Record<string, unknown>;
      for (const key of Object.keys(env)) {
        const v = known(() => env[key]);
        if (typeof v === "string" && SECRET_NAME.test(key) && WEAK_VALUE.test(v))
          yield `environment ${key} has a placeholder value; set it from a random password or a secret config key.`;
      }
    }
    for (const s of strings(props)) {
      if (URL_WITH_WEAK_PASSWORD.test(s)) {
        yield "a connection URL embeds a well-known password; use a generated secret.";
        break;
      }
    }
    // Text that is visible whatever its secretness: command text, command lines, healthchecks
    // (`ps`, `docker inspect`) and labels.
    const c = isCommand ? undefined : viewOf(args.type, props);
    const visible: [string, string[]][] = c
      ? [
          ["a label", Object.values(c.labels)],
          ["the command line", c.executable],
          ["the healthcheck", c.healthTests],
        ]
      : [
          [
            "the command text",
            ["create", "update", "delete"].flatMap((k) => [...strings(known(() => props[k]))]),
          ],
        ];
    // Files a host install writes from its command text: a credential file there is in the text.
    if (isCommand)
      for (const [file, content] of installedFiles(scriptOf(props))) {
        if (CREDENTIAL_FILE.test(file) && content.trim() !== "" && !isPublicKeyMaterial(content))
          yield `the command installs ${file} with its content in the command text (visible in ps and the state); deliver a credential file on stdin (renderInstall stdinFile) from a Pulumi secret.`;
        // Each installed file as the host will read it (its quoting undone): a credential there.
        const found = secretFormatIn(content) ?? credentialArgumentIn(content);
        if (found)
          yield `the command installs ${file} holding a credential (${found}); pass it on stdin or as a secret file, never in the installed text.`;
      }
    for (const [where, texts] of visible) {
      // Exec-form arrays are one command line (words joined by spaces); scripts keep their lines.
      const text = texts.join(isCommand ? "\n" : " ");
      const found = secretFormatIn(text) ?? credentialArgumentIn(text);
      if (found)
        yield `${where} holds a credential (${found}); pass it on stdin, as a secret env entry or a secret file, never in ${where === "a label" ? "labels" : `${where} (visible in ps and docker inspect)`}.`;
    }
  },
);

/** Postgres auth methods that authenticate nobody. */
const PG_NO_AUTH = /\b(trust|password)\b/;

export const datastoreAuthentication = typedPolicies(
  {
    name: "datastore-authentication",
    description:
      "Checks whether every data store (role datastore) requires authentication: Postgres scram (no trust), PgBouncer auth_type not trust/any, Redis requirepass.",
    protectsAgainst:
      "any process on the internal network (a compromised app, a migration job) reading or changing every database without a password",
    benchmark: "CIS PostgreSQL 16 §4/§5 (authentication); Redis security guide (requirepass, protected mode)",
    fix: "keep the Postgres/PgBouncer/Redis components' generated passwords and SCRAM auth",
  },
  [Container, Service],
  function* (props, args) {
    // Containers and Swarm services' task templates alike (env as a `NAME=value` list or a map).
    const c = viewOf(args.type, props);
    // The engine marker alone makes it a data store: relabelling the role does not lift the rule.
    if (c.role !== "datastore" && c.datastore === undefined) return;
    const pairs = envPairs(args.type, props);
    const env = (name: string) => pairs.find(([k]) => k === name)?.[1];
    const command = c.executable.join("\n");
    if (c.datastore === "postgres" || c.datastore === undefined) {
      const method = env("POSTGRES_HOST_AUTH_METHOD");
      if (method !== undefined && method !== "scram-sha-256")
        yield `POSTGRES_HOST_AUTH_METHOD=${method} lets clients in without SCRAM; remove it (default scram-sha-256).`;
      const initdb = env("POSTGRES_INITDB_ARGS") ?? "";
      const weak = /--auth(?:-host|-local)?[= ](\S+)/g;
      for (const m of initdb.matchAll(weak))
        if (PG_NO_AUTH.test(m[1]!))
          yield `POSTGRES_INITDB_ARGS sets ${m[0]}; use --auth-host=scram-sha-256 (and --auth-local=peer).`;
      const encryption = pgSetting(c.executable, "password_encryption");
      if (encryption !== undefined && encryption !== "scram-sha-256")
        yield `password_encryption=${encryption} stores passwords with a weak hash; use scram-sha-256 (CIS PostgreSQL 16 §5).`;
      if (/hba_file|\btrust\b/.test(command) && c.datastore === "postgres")
        yield "the server command changes client authentication (trust / hba_file); keep SCRAM for every host connection.";
    }
    if (c.datastore === "pgbouncer") {
      const ini = [env("PGBOUNCER_INI") ?? "", command].join("\n");
      const m = /^\s*auth_type\s*=\s*(\S+)/m.exec(ini);
      if (!m) yield "PgBouncer has no auth_type; set `auth_type = scram-sha-256`.";
      else if (["trust", "any", "plain"].includes(m[1]!))
        yield `PgBouncer auth_type = ${m[1]} authenticates nobody; set \`auth_type = scram-sha-256\`.`;
      else if (m[1] !== "scram-sha-256")
        yield `PgBouncer auth_type = ${m[1]} is not SCRAM (md5 hashes are weak, hba delegates to a file the pack cannot see); set \`auth_type = scram-sha-256\` (CIS PostgreSQL 16 §5).`;
    }
    if (c.datastore === "redis") {
      if (!/requirepass/.test(command))
        yield "Redis has no requirepass; start it with the component's generated password.";
      else if (
        /requirepass\s*(""|'')/.test(command) ||
        /requirepass[^\n]*%s[^\n]*?\s(""|'')\s*(>|\||\)|;|$)/m.test(command)
      )
        yield 'Redis requirepass is empty (`requirepass ""` turns authentication off); pass the generated password.';
      if (/--protected-mode['"]?\s+['"]?no\b/.test(command))
        yield "Redis runs with protected mode off; keep `--protected-mode yes`.";
      if (/\bnopass\b/.test(command)) yield "a Redis ACL user has nopass; give every user a password.";
    }
  },
);

export const secretPolicies = [noPlaintextSecrets, datastoreAuthentication];
