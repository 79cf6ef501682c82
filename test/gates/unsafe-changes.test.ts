/**
 * Table: unsafe changes to the program, its config or its evidence, each applied alone to a
 * production release that passes, each refused by the named policy. Program changes are stack
 * transformations (what an edit to a component would register); config changes override the
 * stack file; evidence changes rewrite the evidence dir.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { readStackFile } from "../../stacks/stack-file";
import type { Attestation } from "../../policies/lib/attestation";
import { EvidenceSet, attest, hoursAgo, makeSigner } from "../fixtures/evidence";
import { ProductionFixture, ROOT, SWARM_HOSTS, refusedBy, stopPack, swarmOverrides } from "./support";

after(stopPack);

type Props = Record<string, unknown>;
type Change =
  | { readonly program: pulumi.ResourceTransformation }
  | { readonly config: (release: Props) => Record<string, unknown> }
  | { readonly evidence: (valid: Required<EvidenceSet>, fx: ProductionFixture) => EvidenceSet };

/** A program change to the resource `name`: new props and/or options. */
function edit(
  name: string,
  change: (
    props: Props,
    opts: pulumi.CustomResourceOptions,
  ) => { props?: Props; opts?: pulumi.CustomResourceOptions },
): Change {
  return {
    program: (args) => {
      if (args.name !== name || args.type.startsWith("launchgate:")) return undefined;
      const r = change(args.props as Props, args.opts as pulumi.CustomResourceOptions);
      return { props: r.props ?? args.props, opts: r.opts ?? args.opts };
    },
  };
}

/** Rewrites every string inside a (possibly Output) value. */
function mapStrings(v: unknown, f: (s: string) => string): unknown {
  if (pulumi.Output.isInstance(v)) return v.apply((x) => mapStrings(x, f));
  if (typeof v === "string") return f(v);
  if (Array.isArray(v)) return v.map((x) => mapStrings(x, f));
  if (v && typeof v === "object" && !pulumi.Resource.isInstance(v))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapStrings(x, f)]));
  return v;
}
const replaceIn = (name: string, key: string, from: string | RegExp, to: string) =>
  edit(name, (p) => ({ props: { ...p, [key]: mapStrings(p[key], (s) => s.replace(from, to)) } }));
const setProp = (name: string, key: string, value: unknown) =>
  edit(name, (p) => ({ props: { ...p, [key]: value } }));
/** Appends a plain env entry (the container's env list is an array of inputs). */
const appendEnv = (name: string, env: string) =>
  edit(name, (p) => ({ props: { ...p, envs: [...(p.envs as unknown[]), env] } }));

const swapAttestation = (kind: string, make: (fx: ProductionFixture) => Attestation | null) => ({
  evidence: (valid: Required<EvidenceSet>, fx: ProductionFixture): EvidenceSet => ({
    ...valid,
    attestations: valid.attestations.flatMap((a) =>
      a.payload.kind === kind ? [make(fx)].filter((x): x is Attestation => x !== null) : [a],
    ),
  }),
});

const stagingWith = (change: (v: Props) => Props): Change => ({
  evidence: (valid) => ({
    ...valid,
    stackOutputs: {
      staging: {
        verifiedRelease: change(valid.stackOutputs.staging!.verifiedRelease as unknown as Props) as never,
      },
    },
  }),
});

/** Removes the role marker of every command with `role` (as if the step were deleted from its component). */
const dropRole = (role: string): Change => ({
  program: (args) => {
    const triggers = (args.props as Props).triggers;
    if (!Array.isArray(triggers) || !triggers.includes(`launchgate.role=${role}`)) return undefined;
    return {
      props: { ...args.props, triggers: triggers.filter((t) => t !== `launchgate.role=${role}`) },
      opts: args.opts,
    };
  },
});
/** The props' labels with the role marker changed to `role` (a relabelled resource). */
const labelsWith = (p: Props, role: string) =>
  (p.labels as { label: string; value: string }[]).map((l) =>
    l.label === "launchgate.role" ? { ...l, value: role } : l,
  );
/** A PIDs-limit command stating and applying `to` instead of `from` (command text and trigger alike). */
const pidsLimitTo = (name: string, from: number, to: string) =>
  edit(name, (p) => ({
    props: {
      ...p,
      create: mapStrings(p.create, (s) => s.replace(new RegExp(`(?<![\\w.-])${from}\\b`, "g"), to)),
      triggers: mapStrings(p.triggers, (s) =>
        s.replace(`launchgate.pids-limit=${from}`, `launchgate.pids-limit=${to}`),
      ),
    },
  }));
const dnsConfig = () => readStackFile(ROOT, "production").values.dns as Props;
/** Production's host config with `sshAllowFrom` replaced (undefined: left to the schema default). */
const hostWith = (sshAllowFrom: string[] | undefined): Props => {
  const { sshAllowFrom: _shipped, ...host } = readStackFile(ROOT, "production").values.host as Props;
  return sshAllowFrom ? { ...host, sshAllowFrom } : host;
};
const appsWith = (i: number, f: (a: Props) => Props) =>
  (readStackFile(ROOT, "production").values.apps as Props[]).map((a, j) => (j === i ? f(a) : a));

/**
 * A resource a component gained: `make` declares it once, beside the first registration of
 * `name` (with the same parent), as an edit to that component would.
 */
function addBeside(name: string, make: (opts: pulumi.CustomResourceOptions) => void): Change {
  let done = false;
  return {
    program: (args) => {
      if (!done && args.name === name) {
        done = true;
        make({ parent: args.opts.parent });
      }
      return undefined;
    },
  };
}

/** Expected "policy" of a change the program's own config validation refuses (a program error). */
const PROGRAM_ERROR = "program error (config validation)";

const flags = () => readStackFile(ROOT, "production").values.flags as Record<string, unknown>;
const OTHER_DIGEST = `sha256:${"e".repeat(64)}`;

const CASES: [string, string, Change][] = [
  // config
  [
    "a flag needing CFO approval switched on",
    "flags-attested",
    {
      config: () => ({
        flags: { ...flags(), PAYOUTS_ENABLED: { enabled: true, requiresAttestation: "cfo" } },
      }),
    },
  ],
  [
    "release commit changed after sign-off",
    "sign-offs-attested",
    { config: (r) => ({ release: { ...r, commit: "1".repeat(40) } }) },
  ],
  [
    "previous release dropped",
    "rollback-ready",
    { config: (r) => ({ release: { ...r, previous: undefined } }) },
  ],
  [
    "previous release = this release",
    "rollback-ready",
    { config: (r) => ({ release: { ...r, previous: { ...(r.previous as Props), commit: r.commit } } }) },
  ],
  [
    "previous release pinned by tag",
    "rollback-ready",
    {
      config: (r) => ({
        release: {
          ...r,
          previous: {
            commit: (r.previous as Props).commit,
            images: { "app:api": "ghcr.io/blazetv/api:1.3.0" },
          },
        },
      }),
    },
  ],
  ["backups kept 7 days", "backups-tested", { config: () => ({ backups: { retentionDays: 7 } }) }],
  [
    "compared against a staging stack that never verified it",
    "staging-verified",
    { config: (r) => ({ release: { ...r, stagingStack: "blazetv/launchgate/qa" } }) },
  ],
  [
    "alert webhook in plain text",
    "checker/secure-config",
    { config: () => ({ alertWebhookUrl: "https://hooks.example.com/T000/B000" }) },
  ],
  [
    "HSTS switched off",
    "proxy-tls",
    {
      config: () => ({
        proxy: { ...(readStackFile(ROOT, "production").values.proxy as Props), hstsMaxAgeSeconds: 0 },
      }),
    },
  ],
  // evidence
  [
    "restore drill 10 days old",
    "backups-tested",
    { evidence: (v) => ({ ...v, drill: { ok: true, finishedAt: hoursAgo(240) } }) },
  ],
  [
    "restore drill failed",
    "backups-tested",
    { evidence: (v) => ({ ...v, drill: { ok: false, finishedAt: hoursAgo(2) } }) },
  ],
  ["no restore drill", "backups-tested", { evidence: (v) => ({ ...v, drill: null }) }],
  [
    "staging smoke tests failed",
    "staging-verified",
    stagingWith((s) => ({ ...s, smokeTests: { passed: false, finishedAt: hoursAgo(3) } })),
  ],
  [
    "staging verification 100 h old",
    "staging-verified",
    stagingWith((s) => ({ ...s, smokeTests: { passed: true, finishedAt: hoursAgo(100) } })),
  ],
  [
    "staging verified other digests",
    "staging-verified",
    stagingWith((s) => ({
      ...s,
      images: { ...(s.images as Props), "app:api": `ghcr.io/blazetv/api@${OTHER_DIGEST}` },
    })),
  ],
  [
    "staging verified another commit",
    "staging-verified",
    stagingWith((s) => ({ ...s, commit: "2".repeat(40) })),
  ],
  [
    "QA signed by an unknown signer",
    "sign-offs-attested",
    swapAttestation("qa", (fx) => attest(makeSigner("mallory"), "qa", fx.binding)),
  ],
  [
    "tech lead's sign-off valid for 60 days",
    "sign-offs-attested",
    swapAttestation("tech-lead", (fx) =>
      attest(fx.signer, "tech-lead", fx.binding, { expiresHours: 24 * 60 }),
    ),
  ],
  [
    "launch comms signed for staging",
    "sign-offs-attested",
    swapAttestation("launch-comms", (fx) =>
      attest(fx.signer, "launch-comms", { ...fx.binding, stack: "staging" }),
    ),
  ],
  [
    "incident team not briefed",
    "sign-offs-attested",
    swapAttestation("incident-response-briefed", () => null),
  ],
  [
    "counsel approval missing with REAL_MONEY_ENABLED on",
    "flags-attested",
    swapAttestation("legal-counsel", () => null),
  ],
  [
    "security scan attested before it was issued",
    "sign-offs-attested",
    swapAttestation("security-scan", (fx) =>
      attest(fx.signer, "security-scan", fx.binding, { issuedHours: 3 }),
    ),
  ],
  // program
  [
    "Postgres publishes 5432",
    "container-ports",
    setProp("postgres", "ports", [{ internal: 5432, external: 5432 }]),
  ],
  [
    "Redis joins the edge network",
    "datastores-internal-only",
    edit("redis-cache", (p) => ({
      props: { ...p, networksAdvanced: [...(p.networksAdvanced as unknown[]), { name: "net-edge" }] },
    })),
  ],
  ["API without healthcheck", "container-healthcheck", setProp("app-api", "healthcheck", undefined)],
  ["API without memory limit", "container-memory-limit", setProp("app-api", "memory", undefined)],
  ["worker without restart policy", "container-restart-policy", setProp("app-worker", "restart", undefined)],
  ["admin runs as root", "container-non-root", setProp("app-admin", "user", "root")],
  ["API keeps capabilities", "container-capabilities", setProp("app-api", "capabilities", { drops: [] })],
  ["API privileged", "container-privileged", setProp("app-api", "privileged", true)],
  ["API image by tag", "images-pinned", setProp("app-api", "image", "ghcr.io/blazetv/api:1.4.0")],
  [
    "placeholder password in Postgres env",
    "no-plaintext-secrets",
    appendEnv("postgres", "REPLICATION_PASSWORD=changeme"),
  ],
  ["API key as plain env", "checker/secret-inputs", appendEnv("postgres", "STRIPE_API_KEY=sk_live_51Habc")],
  [
    "sshd permits root login",
    "host-step-effective",
    replaceIn("host-sshd", "stdin", /PermitRootLogin no/g, "PermitRootLogin yes"),
  ],
  [
    "firewall opens 5432",
    "firewall-ports",
    replaceIn(
      "host-firewall",
      "stdin",
      "LG_PUBLIC_TCP_PORTS='22 80 443'",
      "LG_PUBLIC_TCP_PORTS='22 80 443 5432'",
    ),
  ],
  [
    "proxy allows TLS 1.0",
    "proxy-tls",
    replaceIn("proxy", "uploads", /ssl_protocols /g, "ssl_protocols TLSv1 "),
  ],
  [
    "Postgres volume unprotected",
    "data-volumes-protected",
    edit("postgres-data", (_p, o) => ({ opts: { ...o, protect: false } })),
  ],
  [
    "Redis volume dropped on delete",
    "checker/retain-on-delete",
    edit("redis-queue-data", (_p, o) => ({ opts: { ...o, retainOnDelete: false } })),
  ],
  [
    "database unprotected",
    "databases-protected",
    edit("postgres-blazetv", (_p, o) => ({ opts: { ...o, protect: false } })),
  ],
  [
    "queue Redis evicts keys",
    "redis-queue-noeviction",
    replaceIn("redis-queue", "command", /noeviction/g, "allkeys-lru"),
  ],
  [
    "cache Redis without AOF",
    "redis-persistence",
    replaceIn("redis-cache", "command", /'--appendonly' 'yes'/g, "'--appendonly' 'no'"),
  ],
  [
    "migration without pre-migration backup",
    "migrations-after-backup",
    edit("app-api-migrate-pids-limit", (_p, o) => ({ opts: { ...o, dependsOn: [] } })),
  ],
  [
    "DNS record not waiting for the gate",
    "release-gate-first",
    edit("dns-blazetv-example-com", (_p, o) => ({ opts: { ...o, dependsOn: [] } })),
  ],
  // --- issue 10: each kind of unsafe change (the issue's five examples first) ---
  [
    "app container on the host network",
    "container-host-namespaces",
    setProp("app-api", "networkMode", "host"),
  ],
  // SSH reachable from the whole internet (issue 10's known gap: sshAllowFrom defaults to 0.0.0.0/0).
  [
    "SSH admitted from 0.0.0.0/0",
    "ssh-source-restricted",
    { config: () => ({ host: hostWith(["0.0.0.0/0"]) }) },
  ],
  [
    "SSH admitted from a /8 beside the admins' /24",
    "ssh-source-restricted",
    { config: () => ({ host: hostWith(["198.51.100.0/24", "10.0.0.0/8"]) }) },
  ],
  [
    "sshAllowFrom left to its default",
    "ssh-source-restricted",
    { config: () => ({ host: hostWith(undefined) }) },
  ],
  // Refused twice over: config validation (tls cloudflare-origin needs proxied records) stops the program.
  ["DNS records not proxied", PROGRAM_ERROR, { config: () => ({ dns: { ...dnsConfig(), proxied: false } }) }],
  [
    "DATABASE_PASSWORD as a plain app env value",
    "checker/secure-config",
    {
      config: () => ({
        apps: appsWith(0, (a) => ({
          ...a,
          env: { ...(a.env as Props), DATABASE_PASSWORD: "s3cr3t-Value-42" },
        })),
      }),
    },
  ],
  [
    "appSecrets with one secure and one plain value",
    "checker/secure-config",
    {
      config: () => ({
        appSecrets: {
          api: {
            LEMON_SQUEEZY_API_KEY: { secure: "v1:x" },
            PAYPAL_CLIENT_SECRET: "EHx8p2vL9mW4tR7yB3nK",
            SENTRY_DSN: { secure: "v1:x" },
          },
          worker: { SENTRY_DSN: { secure: "v1:x" } },
          admin: { ADMIN_SESSION_SECRET: { secure: "v1:x" } },
        },
      }),
    },
  ],
  ["fail2ban step removed from HardenedHost", "host-hardening-present", dropRole("host-fail2ban")],
  // containers (CIS Docker 1.6 §5)
  [
    "worker shares the host PID namespace",
    "container-host-namespaces",
    setProp("app-worker", "pidMode", "host"),
  ],
  [
    "admin shares the host IPC namespace",
    "container-host-namespaces",
    setProp("app-admin", "ipcMode", "host"),
  ],
  ["API in the host user namespace", "container-host-namespaces", setProp("app-api", "usernsMode", "host")],
  [
    "Redis adds NET_ADMIN",
    "container-capabilities",
    setProp("redis-cache", "capabilities", { drops: ["ALL"], adds: ["NET_ADMIN"] }),
  ],
  [
    "proxy adds SYS_ADMIN",
    "container-capabilities",
    setProp("proxy", "capabilities", { drops: ["ALL"], adds: ["NET_BIND_SERVICE", "SYS_ADMIN"] }),
  ],
  [
    "worker without no-new-privileges",
    "container-no-new-privileges",
    setProp("app-worker", "securityOpts", []),
  ],
  [
    "API seccomp unconfined",
    "container-security-profiles",
    setProp("app-api", "securityOpts", ["no-new-privileges:true", "seccomp=unconfined"]),
  ],
  [
    "admin AppArmor unconfined",
    "container-security-profiles",
    setProp("app-admin", "securityOpts", ["no-new-privileges:true", "apparmor=unconfined"]),
  ],
  [
    "API mounts the Docker socket",
    "container-host-mounts",
    setProp("app-api", "volumes", [
      { hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" },
    ]),
  ],
  [
    "worker mounts /etc",
    "container-host-mounts",
    setProp("app-worker", "mounts", [{ type: "bind", source: "/etc", target: "/host/etc" }]),
  ],
  ["Postgres gets /dev/sda", "container-devices", setProp("postgres", "devices", [{ hostPath: "/dev/sda" }])],
  ["API root filesystem writable", "container-read-only-root", setProp("app-api", "readOnly", false)],
  ["PgBouncer without CPU limit", "container-cpu-limit", setProp("postgres-pgbouncer", "cpus", undefined)],
  ["Redis with unlimited swap", "container-memory-limit", setProp("redis-queue", "memorySwap", -1)],
  [
    "API declares restart no to escape the healthcheck rule",
    "container-restart-policy",
    setProp("app-api", "restart", "no"),
  ],
  [
    "migration job restarts always",
    "container-restart-policy",
    setProp("app-api-migrate", "restart", "always"),
  ],
  [
    "API publishes 3000 on all interfaces",
    "container-ports",
    setProp("app-api", "ports", [{ internal: 3000, external: 3000 }]),
  ],
  [
    "proxy publishes SSH",
    "container-ports",
    edit("proxy", (p) => ({
      props: { ...p, ports: [...(p.ports as unknown[]), { internal: 22, external: 22 }] },
    })),
  ],
  ["worker on the default bridge", "container-default-bridge", setProp("app-worker", "networksAdvanced", [])],
  ["API with a cgroup parent", "container-cgroup", setProp("app-api", "cgroupParent", "/")],
  [
    "worker with raised ulimits",
    "container-ulimits",
    setProp("app-worker", "ulimits", [{ name: "nproc", soft: 65535, hard: 65535 }]),
  ],
  ["admin joins the docker group", "container-non-root", setProp("app-admin", "groupAdds", ["docker"])],
  [
    "unmarked API (marker removed) publishes a port",
    "container-ports",
    edit("app-api", (p) => ({
      props: { ...p, labels: [], ports: [{ internal: 3000, external: 3000, ip: "127.0.0.1" }] },
    })),
  ],
  // Cloudflare
  ["SSL mode Full (not strict)", "cloudflare-zone-setting-safe", setProp("dns-ssl", "value", "full")],
  ["minimum TLS 1.0", "cloudflare-zone-setting-safe", setProp("dns-min-tls-version", "value", "1.0")],
  ["Always Use HTTPS off", "cloudflare-zone-setting-safe", setProp("dns-always-use-https", "value", "off")],
  [
    "Authenticated Origin Pulls off",
    "cloudflare-zone-setting-safe",
    setProp("dns-tls-client-auth", "value", "off"),
  ],
  [
    "one record not proxied",
    "cloudflare-records-proxied",
    setProp("dns-api-blazetv-example-com", "proxied", false),
  ],
  // secrets
  [
    "Stripe key as a plain container label",
    "no-plaintext-secrets",
    edit("app-worker", (p) => ({
      props: {
        ...p,
        labels: [...(p.labels as unknown[]), { label: "stripe", value: "sk_live_51HabcdefghijKLMNOP" }],
      },
    })),
  ],
  [
    "GitHub token in a host step's command text",
    "no-plaintext-secrets",
    replaceIn("host-docker", "create", /^/, "GH=ghp_abcdefghijklmnopqrstuvwxyz0123456789 "),
  ],
  [
    "generated-looking token as a plain env value",
    "checker/secret-inputs",
    appendEnv("postgres", "UPSTREAM=Zx8pQ2vL9mW4tR7yB3nKq"),
  ],
  [
    "Redis without requirepass",
    "datastore-authentication",
    replaceIn("redis-queue", "command", /printf 'requirepass[^\n]*\n/, ""),
  ],
  [
    "Postgres trusts every host",
    "datastore-authentication",
    appendEnv("postgres", "POSTGRES_HOST_AUTH_METHOD=trust"),
  ],
  [
    "PgBouncer auth_type trust",
    "datastore-authentication",
    replaceIn("postgres-pgbouncer", "envs", /auth_type = scram-sha-256/, "auth_type = trust"),
  ],
  [
    "plain secret-named config key",
    "checker/secure-config",
    { config: () => ({ smtpPassword: "hunter2-hunter2" }) },
  ],
  // host
  [
    "sshd MaxAuthTries 6",
    "host-step-effective",
    replaceIn("host-sshd", "stdin", /MaxAuthTries 2/g, "MaxAuthTries 6"),
  ],
  [
    "sshd password auth on",
    "host-step-effective",
    replaceIn("host-sshd", "stdin", /PasswordAuthentication no/g, "PasswordAuthentication yes"),
  ],
  [
    "UFW default allow incoming",
    "host-step-effective",
    replaceIn("host-firewall", "stdin", /set_default incoming deny/g, "set_default incoming allow"),
  ],
  [
    "UFW never enabled",
    "host-step-effective",
    replaceIn("host-firewall", "stdin", /ufw --force enable/g, "true"),
  ],
  [
    "fail2ban sshd jail disabled",
    "host-step-effective",
    replaceIn("host-fail2ban", "stdin", /enabled {2}= true/g, "enabled  = false"),
  ],
  [
    "automatic security updates off",
    "host-step-effective",
    replaceIn("host-unattended-upgrades", "stdin", /Unattended-Upgrade "1"/g, 'Unattended-Upgrade "0"'),
  ],
  [
    "deploy user may sudo as anyone",
    "host-step-effective",
    replaceIn("host-bootstrap", "stdin", /ALL=\(root\)/g, "ALL=(ALL:ALL)"),
  ],
  ["firewall step removed", "host-hardening-present", dropRole("host-firewall")],
  ["sshd step removed", "host-hardening-present", dropRole("host-sshd")],
  ["unattended-upgrades step removed", "host-hardening-present", dropRole("host-unattended-upgrades")],
  // data
  [
    "app role with SUPERUSER",
    "database-roles-least-privilege",
    setProp("postgres-blazetv_app", "superuser", true),
  ],
  [
    "app role with BYPASSRLS",
    "database-roles-least-privilege",
    setProp("postgres-blazetv_app", "bypassRowLevelSecurity", true),
  ],
  ["restore drill removed", "backups-present", dropRole("drill")],
  ["backups removed", "backups-present", dropRole("backup")],
  [
    "backup timers removed",
    "backups-present",
    replaceIn("backups-install", "create", /^export LG_TIMERS='[^']*'/m, "export LG_TIMERS=''"),
  ],
  // PIDs cgroup limit (CIS 5.29): applied by a command per long-running container
  [
    "API's PIDs-limit command unmarked (no limit applied)",
    "container-pids-limit",
    edit("app-api-pids-limit", (p) => ({
      props: { ...p, triggers: (p.triggers as unknown[]).filter((t) => t !== "launchgate.role=pids-limit") },
    })),
  ],
  ["Redis PIDs limit 0", "container-pids-limit", pidsLimitTo("redis-queue-pids-limit", 512, "0")],
  ["Postgres PIDs limit -1", "container-pids-limit", pidsLimitTo("postgres-pids-limit", 512, "-1")],
  ["proxy PIDs limit unlimited", "container-pids-limit", pidsLimitTo("proxy-pids-limit", 128, "unlimited")],
  [
    "PgBouncer PIDs limit above the data-store ceiling",
    "container-pids-limit",
    pidsLimitTo("postgres-pgbouncer-pids-limit", 512, "99999"),
  ],
  [
    "admin PIDs limit above the app ceiling",
    "container-pids-limit",
    pidsLimitTo("app-admin-pids-limit", 256, "4096"),
  ],
  // One-shot jobs: the limit before the start (created stopped, started by their PIDs-limit command)
  [
    "migration job started on create (its limit would come after it ran)",
    "container-pids-limit",
    edit("app-api-migrate", (p) => ({ props: { ...p, start: true, attach: true } })),
  ],
  [
    "migration job's starter unmarked (no limit, never started under one)",
    "container-pids-limit",
    edit("app-api-migrate-pids-limit", (p) => ({
      props: { ...p, triggers: (p.triggers as unknown[]).filter((t) => t !== "launchgate.role=pids-limit") },
    })),
  ],
  [
    "config check's command sets the limit but never starts it (limitPids instead of startOneShot)",
    "container-pids-limit",
    edit("proxy-config-check-pids-limit", (p) => ({
      props: {
        ...p,
        create: mapStrings(p.create, (s) => s.replace(/ && \{ timeout .*$/, "")),
        triggers: (p.triggers as unknown[]).filter((t) => t !== "launchgate.pids-limit-starts=true"),
      },
    })),
  ],
  ["migration PIDs limit 0", "container-pids-limit", pidsLimitTo("app-api-migrate-pids-limit", 256, "0")],
  [
    "migration PIDs limit above its ceiling in config",
    PROGRAM_ERROR,
    { config: () => ({ pidsLimits: { migration: 4096 } }) },
  ],
  ["app PIDs limit 0 in config", PROGRAM_ERROR, { config: () => ({ pidsLimits: { app: 0 } }) }],
  [
    "app PIDs limit unlimited in config",
    PROGRAM_ERROR,
    { config: () => ({ pidsLimits: { app: "unlimited" } }) },
  ],
  [
    "proxy PIDs limit above its ceiling in config",
    PROGRAM_ERROR,
    { config: () => ({ pidsLimits: { proxy: 4096 } }) },
  ],
  [
    "data-store PIDs limit below Postgres's connections in config",
    PROGRAM_ERROR,
    { config: () => ({ pidsLimits: { datastore: 50 } }) },
  ],
  // command resources
  [
    "backups install replaced create-first",
    "command-delete-replacement",
    edit("backups-install", (_p, o) => ({ opts: { ...o, deleteBeforeReplace: false } })),
  ],
  [
    "monitoring install replaced create-first",
    "command-delete-replacement",
    edit("monitoring-install", (_p, o) => ({ opts: { ...o, deleteBeforeReplace: false } })),
  ],
  // Kinds found by trying changes the table did not name (each its own rule, not a string match).
  [
    "API mounts /etc through ..",
    "container-host-mounts",
    setProp("app-api", "volumes", [{ hostPath: "/srv/../etc", containerPath: "/s" }]),
  ],
  [
    "worker mounts the Docker socket via doubled slashes",
    "container-host-mounts",
    setProp("app-worker", "volumes", [{ hostPath: "//var/run//docker.sock", containerPath: "/d" }]),
  ],
  ["API drops its log (driver none)", "container-logging", setProp("app-api", "logDriver", "none")],
  [
    "worker log unbounded (json-file without max-size)",
    "container-logging",
    setProp("app-worker", "logOpts", { "max-file": "5" }),
  ],
  [
    "API lowers the unprivileged port floor",
    "container-sysctls",
    setProp("app-api", "sysctls", { "net.ipv4.ip_unprivileged_port_start": "0" }),
  ],
  [
    "plain env entry named in lower case",
    "checker/secret-inputs",
    appendEnv("postgres", "db_password=hunter2hunter2"),
  ],
  [
    "sshd offers CBC ciphers",
    "host-step-effective",
    replaceIn("host-sshd", "stdin", /LG_SSH_CIPHERS='[^']*'/, "LG_SSH_CIPHERS='aes128-cbc,aes256-ctr'"),
  ],
  [
    "sshd offers a SHA-1 key exchange",
    "host-step-effective",
    replaceIn("host-sshd", "stdin", /LG_SSH_KEX='[^']*'/, "LG_SSH_KEX='diffie-hellman-group14-sha1'"),
  ],
  [
    "sshd offers hmac-md5",
    "host-step-effective",
    replaceIn(
      "host-sshd",
      "stdin",
      /LG_SSH_MACS='[^']*'/,
      "LG_SSH_MACS='hmac-md5,hmac-sha2-256-etm@openssh.com'",
    ),
  ],
  [
    "sshd logs QUIET",
    "host-step-effective",
    replaceIn("host-sshd", "stdin", /LogLevel VERBOSE/g, "LogLevel QUIET"),
  ],
  [
    "fail2ban bans after 100 failures",
    "host-step-effective",
    replaceIn("host-fail2ban", "stdin", /maxretry = 5/g, "maxretry = 100"),
  ],
  [
    "fail2ban bans for 1 second",
    "host-step-effective",
    replaceIn("host-fail2ban", "stdin", /bantime {2}= 1h/g, "bantime  = 1s"),
  ],
  [
    "kernel accepts ICMP redirects",
    "host-step-effective",
    replaceIn("host-sysctl", "stdin", /accept_redirects = 0/g, "accept_redirects = 1"),
  ],
  [
    "docker daemon lets containers talk on the default bridge",
    "host-step-effective",
    replaceIn("host-docker", "stdin", /"icc": false/g, '"icc": true'),
  ],
  [
    "docker daemon without iptables rules",
    "host-step-effective",
    replaceIn("host-docker", "stdin", /"icc": false/g, '"icc": false,\n  "iptables": false'),
  ],
  ["sysctl step removed", "host-hardening-present", dropRole("host-sysctl")],
  ["auditd step removed", "host-hardening-present", dropRole("host-auditd")],
  ["docker daemon step removed", "host-hardening-present", dropRole("host-docker")],
  [
    "origin open to everyone behind Cloudflare",
    "origin-lockdown",
    replaceIn("host-firewall", "stdin", /LG_WEB_ALLOW_FROM='[^']*'/, "LG_WEB_ALLOW_FROM='any'"),
  ],
  [
    "nginx trusts CF-Connecting-IP from anywhere",
    "origin-lockdown",
    replaceIn("proxy", "uploads", /set_real_ip_from [^;]+;/, "set_real_ip_from 0.0.0.0/0;"),
  ],
  [
    "origin without Authenticated Origin Pulls in nginx",
    "origin-lockdown",
    replaceIn("proxy", "uploads", /ssl_verify_client on;/g, "ssl_verify_client optional;"),
  ],
  [
    "proxy offers CBC suites",
    "proxy-tls",
    replaceIn("proxy", "uploads", /ssl_ciphers [^;]+;/g, "ssl_ciphers ECDHE-RSA-AES128-SHA:AES128-SHA;"),
  ],
  // Kinds a newcomer's review found (each a rule now, not the line it was found with).
  [
    "API mounts Postgres' data volume",
    "data-volumes-private",
    setProp("app-api", "volumes", [{ volumeName: "postgres-data", containerPath: "/pg" }]),
  ],
  [
    "API shares the postgres container's mounts",
    "data-volumes-private",
    setProp("app-api", "volumes", [{ fromContainer: "postgres", containerPath: "/pg" }]),
  ],
  [
    "API relabelled job to skip the healthcheck",
    "container-healthcheck",
    edit("app-api", (p) => ({
      props: { ...p, labels: labelsWith(p, "job"), healthcheck: undefined, restart: "no" },
    })),
  ],
  [
    "worker relabelled proxy publishes 8443",
    "container-ports",
    edit("app-worker", (p) => ({
      props: { ...p, labels: labelsWith(p, "proxy"), ports: [{ internal: 3001, external: 8443 }] },
    })),
  ],
  [
    "queue Redis relabelled app without requirepass",
    "datastore-authentication",
    edit("redis-queue", (p) => ({
      props: {
        ...p,
        labels: labelsWith(p, "app"),
        command: mapStrings(p.command, (s) => s.replace(/printf 'requirepass[^\n]*\n/, "")),
      },
    })),
  ],
  [
    "Postgres password_encryption md5",
    "datastore-authentication",
    replaceIn("postgres", "command", /password_encryption=scram-sha-256/, "password_encryption=md5"),
  ],
  [
    "cache Redis requirepass empty",
    "datastore-authentication",
    replaceIn(
      "redis-cache",
      "command",
      /printf 'requirepass "%s"\\n' "\$REDIS_PASSWORD"/,
      `printf 'requirepass "%s"\\n' ""`,
    ),
  ],
  [
    "abbreviated secret name in app env (DB_PASS)",
    "checker/secure-config",
    { config: () => ({ apps: appsWith(1, (a) => ({ ...a, env: { DB_PASS: "Vq8rT2mLx9Pz4Kw" } })) }) },
  ],
  [
    "Authenticated Origin Pulls resource disabled",
    "cloudflare-origin-pulls-enabled",
    setProp("dns-authenticated-origin-pulls", "enabled", false),
  ],
  [
    "sshd Match all re-enables passwords",
    "host-step-effective",
    replaceIn(
      "host-sshd",
      "stdin",
      "DebianBanner no\nCONF",
      "DebianBanner no\nMatch all\n  PasswordAuthentication yes\nCONF",
    ),
  ],
  [
    "sshd Match Address permits root",
    "host-step-effective",
    replaceIn(
      "host-sshd",
      "stdin",
      "DebianBanner no\nCONF",
      "DebianBanner no\nMatch Address 0.0.0.0/0\n  PermitRootLogin yes\nCONF",
    ),
  ],
  [
    "sshd AllowUsers dropped",
    "host-step-effective",
    replaceIn("host-sshd", "stdin", /AllowUsers \$LG_DEPLOY_USER\n/, ""),
  ],
  [
    "UFW disabled at the end",
    "host-step-effective",
    replaceIn("host-firewall", "stdin", /$/, "\nufw --force disable\n"),
  ],
  [
    "UFW routes by default",
    "host-step-effective",
    replaceIn("host-firewall", "stdin", /set_default routed deny/, "set_default routed allow"),
  ],
  [
    "fail2ban ignores every address",
    "host-step-effective",
    replaceIn("host-fail2ban", "stdin", /\[DEFAULT\]\n/, "[DEFAULT]\nignoreip = 0.0.0.0/0 ::/0\n"),
  ],
  [
    "fail2ban bans with a dummy action",
    "host-step-effective",
    replaceIn("host-fail2ban", "stdin", /banaction = iptables-multiport/g, "banaction = dummy"),
  ],
  ["auditd rules emptied", "host-step-effective", replaceIn("host-auditd", "stdin", /^-w .*\n/gm, "")],
  [
    "Postgres fsync off",
    "postgres-durability",
    edit("postgres", (p) => ({ props: { ...p, command: [...(p.command as string[]), "-c", "fsync=off"] } })),
  ],
  [
    "Postgres full_page_writes off",
    "postgres-durability",
    edit("postgres", (p) => ({
      props: { ...p, command: [...(p.command as string[]), "-c", "full_page_writes=off"] },
    })),
  ],
  [
    "queue Redis AOF off by a later flag",
    "redis-persistence",
    replaceIn(
      "redis-queue",
      "command",
      /'--protected-mode' 'yes'/,
      "'--protected-mode' 'yes' '--appendonly' 'no'",
    ),
  ],
  [
    "queue Redis evicts by a later flag",
    "redis-queue-noeviction",
    replaceIn(
      "redis-queue",
      "command",
      /'--protected-mode' 'yes'/,
      "'--protected-mode' 'yes' '--maxmemory-policy' 'allkeys-lru'",
    ),
  ],
  [
    "cache Redis snapshots off",
    "redis-persistence",
    replaceIn("redis-cache", "command", /'--save' '900' '1' '--save' '300' '10'/, "'--save' ''"),
  ],
  [
    "backup timers yearly",
    "backups-present",
    replaceIn("backups-install", "create", /OnCalendar=[^\n']*/g, "OnCalendar=yearly"),
  ],
  // Each timer still at least daily, but the declared 6-hourly dumps are gone (issue 10's known gap).
  [
    "dumps only daily while the release declares every 6 h",
    "backups-present",
    replaceIn("backups-install", "create", /OnCalendar=\*-\*-\* [\d,/]+:/g, "OnCalendar=*-*-* 02:"),
  ],
  [
    "pre-migration backup is a no-op",
    "backups-present",
    replaceIn("backups-pre-migration", "create", /[\s\S]+/, "true"),
  ],
  ["drill every year (config)", PROGRAM_ERROR, { config: () => ({ backups: { drillEveryHours: 8760 } }) }],
  [
    "stale backups alerted after 30 days (config)",
    PROGRAM_ERROR,
    { config: () => ({ monitoring: { backupMaxAgeHours: 720 } }) },
  ],
  [
    "restore drill dated in the future",
    "backups-tested",
    { evidence: (v) => ({ ...v, drill: { ok: true, finishedAt: hoursAgo(-48) } }) },
  ],
  [
    "staging smoke tests dated in the future",
    "staging-verified",
    stagingWith((st) => ({ ...st, smokeTests: { passed: true, finishedAt: hoursAgo(-200) } })),
  ],
  // Settings as installed on the host, against the release's declared ones (backups-present).
  [
    "backups installed with 7-day retention (config still 30)",
    "backups-present",
    replaceIn(
      "backups-install",
      "create",
      /LG_RETENTION_DAYS='\\''30'\\''/g,
      "LG_RETENTION_DAYS='\\''7'\\''",
    ),
  ],
  [
    "one installed backup script keeps 3 days",
    "backups-present",
    replaceIn("backups-install", "create", /LG_RETENTION_DAYS='\\''30'\\''/, "LG_RETENTION_DAYS='\\''3'\\''"),
  ],
  [
    "installed retention longer than declared (35 of 30)",
    "backups-present",
    replaceIn(
      "backups-install",
      "create",
      /LG_RETENTION_DAYS='\\''30'\\''/g,
      "LG_RETENTION_DAYS='\\''35'\\''",
    ),
  ],
  [
    "installed retention computed on the host",
    "backups-present",
    replaceIn(
      "backups-install",
      "create",
      /LG_RETENTION_DAYS='\\''30'\\''/g,
      'LG_RETENTION_DAYS="$(cat /etc/keep)"',
    ),
  ],
  [
    "retention script ignores the setting",
    "backups-present",
    replaceIn("backups-install", "create", /\$\{LG_RETENTION_DAYS:\?\}/g, "7"),
  ],
  [
    "backups cover no database",
    "backups-present",
    replaceIn("backups-install", "create", /LG_DATABASES='\\''blazetv'\\''/g, "LG_DATABASES='\\'''\\''"),
  ],
  [
    "backups dump another container",
    "backups-present",
    replaceIn(
      "backups-install",
      "create",
      /LG_PG_CONTAINER='\\''postgres'\\''/g,
      "LG_PG_CONTAINER='\\''pg-old'\\''",
    ),
  ],
  [
    "backup services never dump Postgres",
    "backups-present",
    replaceIn(
      "backups-install",
      "create",
      /ExecStart=\/usr\/local\/lib\/launchgate\/backup-postgres\.sh (full|incremental)/g,
      "ExecStart=/bin/true",
    ),
  ],
  [
    "drill service runs nothing",
    "backups-present",
    replaceIn(
      "backups-drill",
      "create",
      /ExecStart=\/usr\/local\/lib\/launchgate\/restore-drill\.sh/,
      "ExecStart=/bin/true",
    ),
  ],
  [
    "drill restores no database",
    "backups-present",
    replaceIn("backups-drill", "create", /LG_DATABASES='\\''blazetv'\\''/g, "LG_DATABASES='\\'''\\''"),
  ],
  [
    "drill installed weekly while the release declares daily",
    "backups-present",
    replaceIn("backups-drill", "create", /OnCalendar=[^\n']*/g, "OnCalendar=weekly"),
  ],
  // Newcomer red team (2026-11-30): kinds not yet named.
  [
    "API tmpfs mounted exec over its read-only root",
    "container-read-only-root",
    edit("app-api", (p) => ({ props: { ...p, tmpfs: { "/tmp": "rw,exec,size=64m" } } })),
  ],
  [
    "API on a runtime that applies no profiles",
    "container-security-profiles",
    setProp("app-api", "runtime", "kata-unsafe"),
  ],
  ["SSL mode managed on another zone", "cloudflare-zone-tls", setProp("dns-ssl", "zoneId", "f".repeat(32))],
  [
    "Authenticated Origin Pulls (both settings) managed on another zone",
    "cloudflare-zone-tls",
    {
      program: (args) =>
        ["dns-authenticated-origin-pulls", "dns-tls-client-auth"].includes(args.name) &&
        !args.type.startsWith("launchgate:")
          ? { props: { ...args.props, zoneId: "f".repeat(32) }, opts: args.opts }
          : undefined,
    },
  ],
  [
    "password in the Postgres tunnel's update script",
    "no-plaintext-secrets",
    replaceIn("pg-admin-forward", "update", /^/, "PGPASSWORD='Zx9!qT4#vLm2@Wp8' "),
  ],
  [
    "Redis password on its command line",
    "no-plaintext-secrets",
    replaceIn("redis-queue", "command", "'--port'", "'--requirepass' 'Tq7#pW2zL9mK4vX8' '--port'"),
  ],
  [
    "Redis password in its healthcheck",
    "no-plaintext-secrets",
    edit("redis-cache", (p) => ({
      props: {
        ...p,
        healthcheck: {
          ...(p.healthcheck as Props),
          tests: ["CMD", "redis-cli", "-a", "Tq7pW2zL9mK4vX8nB3cD", "ping"],
        },
      },
    })),
  ],
  [
    "fail2ban's sshd jail watches another port",
    "host-step-effective",
    replaceIn("host-fail2ban", "stdin", "port     = $LG_SSHD_PORT", "port     = 2222"),
  ],
  [
    "PUBLIC may connect to the app database",
    "database-public-revoked",
    setProp("postgres-blazetv-revoke-public", "privileges", ["CONNECT", "TEMPORARY"]),
  ],
  [
    "queue Redis AOF never fsyncs",
    "redis-persistence",
    replaceIn("redis-queue", "command", "'--appendfsync' 'everysec'", "'--appendfsync' 'no'"),
  ],
  [
    "Postgres data volume on tmpfs",
    "data-volumes-protected",
    setProp("postgres-data", "driverOpts", { type: "tmpfs", device: "tmpfs" }),
  ],
  [
    "tmpfs over Postgres' data directory",
    "data-volumes-protected",
    edit("postgres", (p) => ({
      props: { ...p, tmpfs: { ...(p.tmpfs as Props), "/var/lib/postgresql/data": "rw,noexec,size=1g" } },
    })),
  ],
  ["monitoring install removed", "monitoring-installed", dropRole("monitoring")],
  // SSH host keys: every connection verifies the VPS's key (the command provider ignores it unless set).
  ...["host-sshd", "backups-install", "monitoring-install"].map((name): [string, string, Change] => [
    `${name} connects without the host's key`,
    "ssh-host-keys-pinned",
    edit(name, (p) => ({
      props: { ...p, connection: pulumi.output(p.connection as Props).apply(({ hostKey: _k, ...c }) => c) },
    })),
  ]),
  [
    "a remote command with an empty host key",
    "ssh-host-keys-pinned",
    edit("host-firewall", (p) => ({
      props: { ...p, connection: pulumi.output(p.connection as Props).apply((c) => ({ ...c, hostKey: "" })) },
    })),
  ],
  [
    "the bootstrap's ssh without the pinned known_hosts line",
    "ssh-host-keys-pinned",
    edit("host-bootstrap", (p) => ({
      props: {
        ...p,
        environment: pulumi.output(p.environment as Props).apply(({ LG_KNOWN_HOSTS: _l, ...e }) => e),
      },
    })),
  ],
  [
    "the DB admin tunnel back to trust on first use",
    "ssh-host-keys-pinned",
    edit("pg-admin-forward", (p) => ({
      props: {
        ...p,
        environment: pulumi.output(p.environment as Props).apply((e) => ({ ...e, KNOWN_HOSTS_LINE: "" })),
      },
    })),
  ],
  [
    "docker provider with StrictHostKeyChecking=no",
    "docker-provider-host-key",
    replaceIn("vps-docker", "sshOpts", "StrictHostKeyChecking=yes", "StrictHostKeyChecking=no"),
  ],
  [
    "docker provider trusting on first use",
    "docker-provider-host-key",
    replaceIn("vps-docker", "sshOpts", "StrictHostKeyChecking=yes", "StrictHostKeyChecking=accept-new"),
  ],
  [
    "docker provider checking against /dev/null",
    "docker-provider-host-key",
    replaceIn("vps-docker", "sshOpts", /UserKnownHostsFile=.*/, "UserKnownHostsFile=/dev/null"),
  ],
  [
    "docker provider against the operator's ~/.ssh/known_hosts",
    "docker-provider-host-key",
    // The provider's config is JSON text (`["-i", …, "-o", "UserKnownHostsFile=…", …]`).
    replaceIn("vps-docker", "sshOpts", /"-o","UserKnownHostsFile=[^"]*",/, ""),
  ],
  [
    "docker provider handing host keys to a KnownHostsCommand",
    "docker-provider-host-key",
    replaceIn("vps-docker", "sshOpts", /^\[/, '["-o","KnownHostsCommand=/usr/bin/ssh-keyscan -p %p %h",'),
  ],
  [
    "the production host's key removed from the stack",
    PROGRAM_ERROR,
    {
      config: () => {
        const { hostKey: _k, ...host } = readStackFile(ROOT, "production").values.host as Props;
        return { host };
      },
    },
  ],
  [
    "backups claim a version-scoped delete they don't have",
    "command-delete-replacement",
    edit("backups-install", (p, o) => ({
      props: { ...p, triggers: [...(p.triggers as unknown[]), "launchgate.delete=own-version"] },
      opts: { ...o, deleteBeforeReplace: false },
    })),
  ],
  // issue 10 red team, round 1 (host): each step present but made ineffective another way
  [
    "UFW defaults applied as allow whatever they are asked",
    "host-step-effective",
    replaceIn("host-firewall", "stdin", 'ufw default "$2" "$1"', 'ufw default allow "$1"'),
  ],
  [
    "DOCKER-USER without its final DROP (published ports open)",
    "host-step-effective",
    replaceIn("host-firewall", "stdin", '  echo "-A DOCKER-USER -j DROP"\n', ""),
  ],
  [
    "UFW admits every port from anywhere",
    "host-step-effective",
    replaceIn(
      "host-firewall",
      "stdin",
      "set_default incoming deny\n",
      "set_default incoming deny\nufw allow from 0.0.0.0/0\n",
    ),
  ],
  [
    "a raw iptables rule accepts all input",
    "host-step-effective",
    replaceIn(
      "host-firewall",
      "stdin",
      "set_default incoming deny\n",
      "set_default incoming deny\niptables -I INPUT 1 -j ACCEPT\n",
    ),
  ],
  [
    "fail2ban's sshd jail reads /dev/null",
    "host-step-effective",
    replaceIn("host-fail2ban", "stdin", "logpath  = /var/log/auth.log", "logpath  = /dev/null"),
  ],
  [
    "fail2ban's sshd jail disabled by a jail.d file",
    "host-step-effective",
    replaceIn(
      "host-fail2ban",
      "stdin",
      "fail2ban-client -t >/dev/null",
      "printf '[sshd]\\nenabled = false\\n' >/etc/fail2ban/jail.d/zz.local\nfail2ban-client -t >/dev/null",
    ),
  ],
  [
    "fail2ban stopped at the end of its step",
    "host-step-effective",
    replaceIn(
      "host-fail2ban",
      "stdin",
      "wait_for 30 fail2ban-client status sshd",
      "wait_for 30 fail2ban-client status sshd\nsystemctl disable --now fail2ban",
    ),
  ],
  [
    "sshd lets the deploy user forward anywhere (PermitOpen any)",
    "host-step-effective",
    replaceIn(
      "host-sshd",
      "stdin",
      'PermitOpen %s\\n\' "$LG_DEPLOY_USER" "$LG_PERMIT_OPEN"',
      'PermitOpen any\\n\' "$LG_DEPLOY_USER"',
    ),
  ],
  [
    "sshd idle sessions never end",
    "host-step-effective",
    replaceIn("host-sshd", "stdin", "ClientAliveInterval 300", "ClientAliveInterval 0"),
  ],
  [
    "unattended-upgrades blacklists every package",
    "host-step-effective",
    replaceIn(
      "host-unattended-upgrades",
      "stdin",
      'Unattended-Upgrade::Automatic-Reboot "false";',
      'Unattended-Upgrade::Package-Blacklist { ".*"; };\nUnattended-Upgrade::Automatic-Reboot "false";',
    ),
  ],
  [
    "apt's upgrade timer disabled",
    "host-step-effective",
    replaceIn(
      "host-unattended-upgrades",
      "stdin",
      "UU\n",
      "UU\nsystemctl disable --now apt-daily-upgrade.timer\n",
    ),
  ],
  [
    "accounts step grants another user sudo",
    "host-step-effective",
    replaceIn(
      "host-accounts",
      "stdin",
      "set_login_def PASS_MAX_DAYS 365\n",
      "set_login_def PASS_MAX_DAYS 365\necho 'backup ALL=(ALL) NOPASSWD: ALL' >/etc/sudoers.d/91-backup\n",
    ),
  ],
  [
    "docker step re-enables ICMP redirects after the sysctl step",
    "host-step-effective",
    replaceIn(
      "host-docker",
      "stdin",
      "ensure_pkgs docker.io\n",
      "ensure_pkgs docker.io\nsysctl -w net.ipv4.conf.all.accept_redirects=1\n",
    ),
  ],
  [
    "docker daemon without seccomp",
    "host-step-effective",
    replaceIn(
      "host-docker",
      "stdin",
      '"icc": false\n}',
      '"icc": false,\n  "seccomp-profile": "unconfined"\n}',
    ),
  ],
  [
    "file-integrity step exits before its work",
    "host-step-effective",
    replaceIn(
      "host-file-integrity",
      "stdin",
      /\nset -euo pipefail\n(?!.*set -euo pipefail)/s,
      "\nset -euo pipefail\nexit 0\n",
    ),
  ],
  [
    "backups directory world-writable",
    "host-step-effective",
    replaceIn("host-storage", "stdin", "backups 0700", "backups 0777"),
  ],
  [
    "auditd disabled when its step exits",
    "host-step-effective",
    replaceIn(
      "host-auditd",
      "stdin",
      "service_up auditd",
      "trap 'systemctl disable --now auditd' EXIT\nservice_up auditd",
    ),
  ],
  // issue 10 red team, round 1 (monitoring): one definition of "alerting configured"
  [
    "Monitoring handed an empty alert target",
    "monitoring-installed",
    setProp("monitoring-install", "stdin", "\n"),
  ],
  [
    "Monitoring handed a plain-http alert target",
    "monitoring-installed",
    setProp("monitoring-install", "stdin", "http://hooks.example.com/alerts\n"),
  ],
  // Session 7: the install's text is known at preview (it names workloads, not this release's
  // containers), so mistakes inside it are refused by `pulumi preview`, not only at `up`.
  [
    "monitor timer does not repeat",
    "monitoring-installed",
    replaceIn("monitoring-install", "create", /OnUnitActiveSec=\d+s/, ""),
  ],
  [
    "monitors alert to /dev/null",
    "monitoring-installed",
    replaceIn(
      "monitoring-install",
      "create",
      /LG_WEBHOOK_FILE=('\\'')\/etc\/launchgate\/alert-webhook/,
      "LG_WEBHOOK_FILE=$1/dev/null",
    ),
  ],
  [
    "monitoring install writes the alert target nowhere",
    "monitoring-installed",
    replaceIn(
      "monitoring-install",
      "create",
      /LG_STDIN_FILE='\/etc\/launchgate\/alert-webhook'/,
      "LG_STDIN_FILE=''",
    ),
  ],
  [
    "monitors probe no public URL",
    "monitoring-installed",
    replaceIn("monitoring-install", "create", /LG_PUBLIC_URL=('\\'')https:\/\/[^']*/, "LG_PUBLIC_URL=$1"),
  ],
  [
    "monitors probe no workload",
    "monitoring-installed",
    replaceIn("monitoring-install", "create", /LG_PROBE_CONTAINERS=('\\'')[^']*/, "LG_PROBE_CONTAINERS=$1"),
  ],
  [
    "monitors probe once a day",
    PROGRAM_ERROR,
    { config: () => ({ monitoring: { probeIntervalSeconds: 86400 } }) },
  ],
  // issue 10 red team, round 1 (data)
  [
    "app role made a member of postgres",
    "database-roles-least-privilege",
    setProp("postgres-blazetv_app", "roles", ["postgres"]),
  ],
  [
    "initdb trusts local connections",
    "datastore-authentication",
    replaceIn("postgres", "envs", "--auth-local=peer", "--auth-local=trust"),
  ],
  [
    "backups leave out the Redis data stores",
    "backups-present",
    replaceIn("backups-install", "create", /LG_REDIS_CONTAINERS='[^']*'/g, "LG_REDIS_CONTAINERS=''"),
  ],
  [
    "PgBouncer auth_type md5",
    "datastore-authentication",
    replaceIn("postgres-pgbouncer", "envs", "auth_type = scram-sha-256", "auth_type = md5"),
  ],
  // issue 10 red team, round 1 (Cloudflare): overrides of the zone's TLS for some traffic
  [
    "configuration rule sets SSL flexible for the api host",
    "cloudflare-no-weaker-overrides",
    addBeside("dns-ssl", (opts) => {
      new cloudflare.Ruleset(
        "dns-api-ssl",
        {
          zoneId: dnsConfig().zoneId as string,
          name: "api ssl",
          kind: "zone",
          phase: "http_config_settings",
          rules: [
            {
              expression: '(http.host eq "api.blazetv.example.com")',
              action: "set_config",
              actionParameters: { ssl: "flexible" },
            },
          ],
        },
        opts,
      );
    }),
  ],
  [
    "page rule turns SSL off for a path",
    "cloudflare-no-weaker-overrides",
    addBeside("dns-ssl", (opts) => {
      new cloudflare.PageRule(
        "dns-legacy",
        {
          zoneId: dnsConfig().zoneId as string,
          target: "blazetv.example.com/legacy/*",
          actions: { ssl: "off" },
        },
        opts,
      );
    }),
  ],
  [
    "admin host accepts TLS 1.0",
    "cloudflare-no-weaker-overrides",
    addBeside("dns-ssl", (opts) => {
      new cloudflare.HostnameTlsSetting(
        "dns-admin-tls",
        {
          zoneId: dnsConfig().zoneId as string,
          hostname: "admin.blazetv.example.com",
          settingId: "min_tls_version",
          value: "1.0",
        },
        opts,
      );
    }),
  ],
  [
    "port 80 serves the app instead of redirecting",
    "proxy-tls",
    replaceIn(
      "proxy",
      "uploads",
      "return 301 https://$host$request_uri;",
      "proxy_pass http://$lg_upstream_0;",
    ),
  ],
  // issue 10 red team, round 1 (containers, secrets)
  [
    "API bind-mounts the backup directory",
    "data-volumes-private",
    setProp("app-api", "volumes", [
      { hostPath: "/srv/launchgate/backups", containerPath: "/backups", readOnly: true },
    ]),
  ],
  [
    "API healthcheck that cannot fail",
    "container-healthcheck",
    setProp("app-api", "healthcheck", { tests: ["CMD", "true"], interval: "1s" }),
  ],
  [
    "app user 00:00 (uid 0) in config",
    PROGRAM_ERROR,
    { config: () => ({ apps: appsWith(0, (a) => ({ ...a, user: "00:00" })) }) },
  ],
  [
    "SECRET_KEY_BASE as a plain app env value",
    "checker/secure-config",
    {
      config: () => ({
        apps: appsWith(0, (a) => ({
          ...a,
          env: { ...(a.env as Props), SECRET_KEY_BASE: "correct-horse-battery" },
        })),
      }),
    },
  ],
  [
    "REDIS_AUTH as a plain app env value",
    "checker/secure-config",
    { config: () => ({ apps: appsWith(1, (a) => ({ ...a, env: { REDIS_AUTH: "hunter2hunter2" } })) }) },
  ],
  [
    "nginx forwards a literal Basic credential upstream",
    "checker/secret-inputs",
    replaceIn(
      "proxy",
      "uploads",
      "proxy_set_header Host $host;",
      'proxy_set_header Host $host;\n    proxy_set_header Authorization "Basic YWRtaW46VHIwdWI0ZG9yM3g=";',
    ),
  ],
  [
    "backups install writes a password file from its command text",
    "no-plaintext-secrets",
    replaceIn(
      "backups-install",
      "create",
      "export LG_FILES='",
      "export LG_FILE_99='backup:Tr0ub4dor3x'\nexport LG_FILES='0600 /etc/launchgate/rsync.secret LG_FILE_99\n",
    ),
  ],
  [
    "accounts step sets an account password in its script",
    "checker/secret-inputs",
    replaceIn(
      "host-accounts",
      "stdin",
      "set_login_def PASS_MAX_DAYS 365\n",
      "set_login_def PASS_MAX_DAYS 365\necho 'backup-ro:Tr0ub4dor3x' | chpasswd\n",
    ),
  ],
  // issue 10 red team, round 2
  [
    "HSTS for 60 seconds",
    "proxy-tls",
    {
      config: () => ({
        proxy: { ...(readStackFile(ROOT, "production").values.proxy as Props), hstsMaxAgeSeconds: 60 },
      }),
    },
  ],
  [
    "sshd config includes an unmanaged directory first",
    "host-step-effective",
    replaceIn(
      "host-sshd",
      "stdin",
      "Port $LG_SSHD_PORT\n",
      "Include /etc/ssh/extra.d/*.conf\nPort $LG_SSHD_PORT\n",
    ),
  ],
  [
    "UFW routes everything into docker0",
    "host-step-effective",
    replaceIn(
      "host-firewall",
      "stdin",
      "set_default incoming deny\n",
      "set_default incoming deny\nufw route allow in on eth0 out on docker0\n",
    ),
  ],
  [
    "nftables accepts all input",
    "host-step-effective",
    replaceIn(
      "host-firewall",
      "stdin",
      "set_default incoming deny\n",
      "set_default incoming deny\nnft insert rule inet filter input accept\n",
    ),
  ],
  [
    "audit rules switch auditing off",
    "host-step-effective",
    replaceIn(
      "host-auditd",
      "stdin",
      "-w /etc/passwd -p wa -k identity\n",
      "-e 0\n-w /etc/passwd -p wa -k identity\n",
    ),
  ],
  [
    "passwords never expire",
    "host-step-effective",
    replaceIn(
      "host-accounts",
      "stdin",
      "set_login_def PASS_MAX_DAYS 365",
      "set_login_def PASS_MAX_DAYS 99999",
    ),
  ],
];

/** Production as a 3-node Swarm cluster. */
const SWARM: Props = swarmOverrides();

/** A program change to a Swarm service's task template (`taskSpec`), or to its container spec. */
const editTask = (name: string, f: (task: Props) => Props): Change =>
  edit(name, (p) => ({ props: { ...p, taskSpec: f(p.taskSpec as Props) } }));
const editSpec = (name: string, f: (spec: Props) => Props): Change =>
  editTask(name, (t) => ({ ...t, containerSpec: f(t.containerSpec as Props) }));

/** Unsafe changes to a Swarm release's services and overlays, each refused by the named policy. */
const SWARM_CASES: [string, string, Change][] = [
  [
    "app service with a writable root",
    "container-read-only-root",
    editSpec("app-api", (c) => ({ ...c, readOnly: false })),
  ],
  [
    "app service adds SYS_ADMIN",
    "container-capabilities",
    editSpec("app-api", (c) => ({ ...c, capAdds: ["SYS_ADMIN"] })),
  ],
  [
    "app service keeps the default capabilities",
    "container-capabilities",
    editSpec("app-api", (c) => ({ ...c, capDrops: [] })),
  ],
  [
    "app service without the daemon no-new-privileges marker",
    "container-no-new-privileges",
    editSpec("app-api", (c) => ({
      ...c,
      labels: (c.labels as Props[]).filter((l) => l.label !== "launchgate.no-new-privileges"),
    })),
  ],
  [
    "app service without a memory limit",
    "container-memory-limit",
    editTask("app-api", (t) => ({ ...t, resources: { limits: { nanoCpus: 1e9 } } })),
  ],
  [
    "app service without a healthcheck",
    "container-healthcheck",
    editSpec("app-api", (c) => ({ ...c, healthcheck: undefined })),
  ],
  [
    "app service that never restarts",
    "container-restart-policy",
    editTask("app-api", (t) => ({ ...t, restartPolicy: { condition: "none" } })),
  ],
  [
    "app service publishes a port around the proxy",
    "container-ports",
    edit("app-api", (p) => ({
      props: { ...p, endpointSpec: { mode: "vip", ports: [{ targetPort: 3000, publishedPort: 3000 }] } },
    })),
  ],
  ["redis service runs as root", "container-non-root", editSpec("redis-queue", (c) => ({ ...c, user: "0" }))],
  [
    "postgres service mounts the docker socket",
    "container-host-mounts",
    editSpec("postgres", (c) => ({
      ...c,
      mounts: [...(c.mounts as Props[]), { type: "bind", source: "/var/run/docker.sock", target: "/sock" }],
    })),
  ],
  [
    "a node's host key removed",
    PROGRAM_ERROR,
    {
      config: () => ({
        hosts: SWARM_HOSTS.map(({ hostKey: _k, ...h }, i) => (i === 2 ? h : { ...h, hostKey: _k })),
      }),
    },
  ],
  [
    "app service image by tag",
    "images-pinned",
    editSpec("app-api", (c) => ({ ...c, image: "ghcr.io/blazetv/api:1.4.0" })),
  ],
  [
    "app service on the host network",
    "container-host-namespaces",
    editTask("app-api", (t) => ({ ...t, networksAdvanceds: [{ name: "host" }] })),
  ],
  [
    "app service with SELinux labelling disabled",
    "container-security-profiles",
    editSpec("app-api", (c) => ({ ...c, privileges: { seLinuxContext: { disable: true } } })),
  ],
  // issue 10 red team, round 1: data stores on a swarm are data stores
  [
    "postgres service trusts every host",
    "datastore-authentication",
    editSpec("postgres", (c) => ({
      ...c,
      env: { POSTGRES_USER: "postgres", POSTGRES_HOST_AUTH_METHOD: "trust" },
    })),
  ],
  [
    "redis service without requirepass",
    "datastore-authentication",
    editSpec("redis-queue", (c) => ({
      ...c,
      args: ["exec redis-server --appendonly yes --maxmemory-policy noeviction"],
    })),
  ],
  [
    "pgbouncer service auth_type trust",
    "datastore-authentication",
    editSpec("postgres-pgbouncer", (c) => ({
      ...c,
      env: { PGBOUNCER_INI: "[pgbouncer]\nauth_type = trust\n" },
    })),
  ],
  ["backup timers removed on a swarm", "backups-present", dropRole("backup")],
  [
    "app service gives up after one restart",
    "container-restart-policy",
    editTask("app-api", (t) => ({ ...t, restartPolicy: { condition: "on-failure", maxAttempts: 1 } })),
  ],
  [
    "a Swarm secret's data stored in plain state",
    "checker/secret-inputs",
    setProp("app-api-secret-database-url", "data", "cGxhaW4="),
  ],
  // The migration's Swarm job (`docker service create` on a manager) is judged like a container.
  [
    "migration job adds SYS_ADMIN on its create line",
    "swarm-jobs-hardened",
    replaceIn(
      "app-api-migrate",
      "create",
      "docker service create --detach",
      "docker service create --cap-add SYS_ADMIN --detach",
    ),
  ],
  [
    "migration job mounts the Docker socket",
    "swarm-jobs-hardened",
    replaceIn(
      "app-api-migrate",
      "create",
      "docker service create --detach",
      "docker service create --mount type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock --detach",
    ),
  ],
  [
    "migration job with a writable root",
    "swarm-jobs-hardened",
    replaceIn("app-api-migrate", "create", "'\\''--read-only'\\'' ", ""),
  ],
  [
    "migration job runs as root",
    "swarm-jobs-hardened",
    replaceIn(
      "app-api-migrate",
      "create",
      "'\\''--user'\\'' '\\''10001:10001'\\''",
      "'\\''--user'\\'' '\\''0'\\''",
    ),
  ],
  [
    "migration job on the host network",
    "swarm-jobs-hardened",
    replaceIn(
      "app-api-migrate",
      "create",
      "docker service create --detach",
      "docker service create --network host --detach",
    ),
  ],
  [
    "postgres volume declared on the managing engine, not on Postgres' node",
    "swarm-volumes-on-pinned-node",
    edit("postgres-data", (p, o) => ({
      props: { ...p, labels: (p.labels as Props[]).filter((l) => l.label !== "launchgate.node") },
      opts: { ...o, provider: undefined },
    })),
  ],
  [
    "redis volume labelled for its node but declared through the first manager's provider",
    "swarm-volumes-on-pinned-node",
    edit("redis-queue-data", (p, o) => ({ props: p, opts: { ...o, provider: undefined } })),
  ],
  [
    "postgres service pinned by label only (not to its volume's node)",
    "swarm-volumes-on-pinned-node",
    editTask("postgres", (t) => ({
      ...t,
      placement: {
        ...(t.placement as Props),
        constraints: ((t.placement as Props).constraints as string[]).filter(
          (c) => !/launchgate\.node/.test(c),
        ),
      },
    })),
  ],
  [
    "redis service pinned to another node than its volume",
    "swarm-volumes-on-pinned-node",
    editTask("redis-queue", (t) => ({
      ...t,
      placement: {
        ...(t.placement as Props),
        constraints: ((t.placement as Props).constraints as string[]).map((c) =>
          c.replace(/launchgate\.node == node-\d+/, "launchgate.node == node-2"),
        ),
      },
    })),
  ],
  [
    "postgres service mounts an undeclared volume",
    "swarm-volumes-on-pinned-node",
    editSpec("postgres", (c) => ({
      ...c,
      mounts: (c.mounts as Props[]).map((m) => (m.type === "volume" ? { ...m, source: "pgdata-2" } : m)),
    })),
  ],
  ["internal overlay unencrypted", "encrypted-overlays", setProp("net-internal", "options", {})],
  ["edge overlay unencrypted", "encrypted-overlays", setProp("net-edge", "options", { encrypted: "false" })],
  [
    "two managers (no Raft majority after a loss)",
    PROGRAM_ERROR,
    {
      config: () => ({
        hosts: (SWARM_HOSTS as Props[]).map((h, i) => (i === 2 ? { ...h, roles: ["worker"] } : h)),
      }),
    },
  ],
];

describe("unsafe production changes to a Swarm release are refused", () => {
  let fx: ProductionFixture;
  before(async () => {
    fx = await new ProductionFixture().init();
  });

  it("the unchanged Swarm release passes (baseline), its services checked like containers", async () => {
    fx.write();
    const r = await fx.check({ configOverrides: SWARM });
    assert.deepEqual(r.programErrors, []);
    assert.deepEqual(refusedBy(r), []);
  });

  for (const [what, policy, change] of SWARM_CASES) {
    it(`${what} → ${policy}`, async () => {
      fx.write();
      const r = await fx.check({
        transform: "program" in change ? change.program : undefined,
        configOverrides: {
          ...SWARM,
          ...("config" in change ? change.config(fx.configOverrides().release as Props) : {}),
        },
      });
      if (policy === PROGRAM_ERROR) {
        assert.ok(r.programErrors.length > 0, "the program refuses the config");
        assert.equal(r.passed, false);
        return;
      }
      assert.deepEqual(r.programErrors, [], "the changed program still runs");
      assert.deepEqual(refusedBy(r), [policy]);
    });
  }
});

describe("unsafe production changes are refused", () => {
  let fx: ProductionFixture;
  before(async () => {
    fx = await new ProductionFixture().init();
  });

  it("the unchanged release passes (baseline)", async () => {
    fx.write();
    const r = await fx.check();
    assert.deepEqual(refusedBy(r), []);
  });

  it(`has at least 145 distinct changes (${CASES.length})`, () => {
    assert.equal(new Set(CASES.map(([what]) => what)).size, CASES.length);
    assert.ok(CASES.length >= 145);
  });

  for (const [what, policy, change] of CASES) {
    it(`${what} → ${policy}`, async () => {
      fx.write("evidence" in change ? change.evidence(fx.validEvidence(), fx) : fx.validEvidence());
      const r = await fx.check({
        transform: "program" in change ? change.program : undefined,
        configOverrides: "config" in change ? change.config(fx.configOverrides().release as Props) : {},
      });
      if (policy === PROGRAM_ERROR) {
        assert.ok(r.programErrors.length > 0, "the program refuses the config");
        assert.equal(r.passed, false);
        return;
      }
      assert.deepEqual(r.programErrors, [], "the changed program still runs");
      assert.ok(
        refusedBy(r).includes(policy),
        `expected ${policy} to refuse; refused by: ${refusedBy(r).join(", ") || "nothing"}`,
      );
      assert.equal(r.passed, false);
    });
  }
});
