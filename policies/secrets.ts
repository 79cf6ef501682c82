/**
 * Secrets the engine's policies can judge. Policies see secrets unwrapped (@pulumi/policy
 * deserializes with `proxySecrets=false`), so a real secret passed correctly looks like a literal
 * here; these policies therefore refuse only what is wrong even as a secret: placeholder or
 * well-known values, credentials in command text (visible in `ps`) or labels (visible to anyone
 * with `docker inspect`), and data stores without authentication. Value formats and entropy on
 * plain inputs, traced secret config and `secure:` per leaf are the checker's (`checker/…`).
 */
import { Container } from "@pulumi/docker/container";
import { Command as LocalCommand } from "@pulumi/command/local/command";
import { Command as RemoteCommand } from "@pulumi/command/remote/command";
import { pgSetting, viewOfContainer } from "./lib/container-view";
import { SECRET_NAME } from "./lib/patterns";
import { known, strings } from "./lib/resources";
import { secretFormatIn } from "./lib/secret-values";
import { typedPolicies, typedPolicy } from "./lib/rule";

const WEAK_VALUE =
  /^(|changeme|change-me|password|passw0rd|secret|admin|root|test|example|placeholder|todo|default|letmein|123456|xxx+)$/i;
const URL_WITH_WEAK_PASSWORD =
  /\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:(changeme|password|secret|admin|root|test|example)@/i;

export const noPlaintextSecrets = typedPolicies(
  {
    name: "no-plaintext-secrets",
    description:
      "Checks whether container or command inputs hold a placeholder/well-known secret value, or a credential in command text or labels.",
    protectsAgainst:
      "guessable credentials, and credentials readable in `ps`, `docker inspect` or the state file",
    benchmark: "OWASP ASVS 2.10 / 6.4 (secret management); seed 002",
    fix: "generate the value (random.RandomPassword) or read it with config.requireSecret; pass it by env/stdin, never in command text or labels",
  },
  [Container, LocalCommand, RemoteCommand],
  function* (props, args) {
    const isContainer = args.type === "docker:index/container:Container";
    if (isContainer) {
      for (const env of strings(known(() => props.envs))) {
        const [key = "", ...rest] = env.split("=");
        if (SECRET_NAME.test(key) && WEAK_VALUE.test(rest.join("=")))
          yield `env ${key} has a placeholder value; set it from a random password or a secret config key (pulumi config set --secret).`;
      }
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
    // Text that is visible whatever its secretness: command lines and labels.
    const visible = isContainer
      ? [...strings(known(() => props.labels))]
      : ["create", "update", "delete"].flatMap((k) => [...strings(known(() => props[k]))]);
    for (const s of visible) {
      const format = secretFormatIn(s);
      if (format) {
        yield `${isContainer ? "a label" : "the command text"} holds a ${format}; pass it on stdin or as a secret env entry, never in ${isContainer ? "labels" : "command text (visible in ps)"}.`;
        break;
      }
    }
  },
);

/** Postgres auth methods that authenticate nobody. */
const PG_NO_AUTH = /\b(trust|password)\b/;

export const datastoreAuthentication = typedPolicy(
  {
    name: "datastore-authentication",
    description:
      "Checks whether every data store (role datastore) requires authentication: Postgres scram (no trust), PgBouncer auth_type not trust/any, Redis requirepass.",
    protectsAgainst:
      "any process on the internal network (a compromised app, a migration job) reading or changing every database without a password",
    benchmark: "CIS PostgreSQL 16 §4/§5 (authentication); Redis security guide (requirepass, protected mode)",
    fix: "keep the Postgres/PgBouncer/Redis components' generated passwords and SCRAM auth",
  },
  Container,
  function* (props) {
    const c = viewOfContainer(props);
    // The engine marker alone makes it a data store: relabelling the role does not lift the rule.
    if (c.role !== "datastore" && c.datastore === undefined) return;
    const envs = [...strings(known(() => props.envs))];
    const env = (name: string) => envs.find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1);
    const command = c.executable.join("\n");
    if (c.datastore === "postgres" || c.datastore === undefined) {
      const method = env("POSTGRES_HOST_AUTH_METHOD");
      if (method !== undefined && method !== "scram-sha-256")
        yield `POSTGRES_HOST_AUTH_METHOD=${method} lets clients in without SCRAM; remove it (default scram-sha-256).`;
      const initdb = env("POSTGRES_INITDB_ARGS") ?? "";
      const weak = /--auth(?:-host|-local)?[= ](\S+)/g;
      for (const m of initdb.matchAll(weak))
        if (PG_NO_AUTH.test(m[1]!) && !/--auth-local[= ]/.test(m[0]))
          yield `POSTGRES_INITDB_ARGS sets ${m[0]}; use --auth-host=scram-sha-256.`;
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
