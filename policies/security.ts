/**
 * Security baseline (seeds 001/002, CIS Docker Benchmark v1.6 §5, dev-sec ssh-baseline): data
 * stores unreachable from outside, hardened containers, pinned images, SSH and firewall
 * settings, no plaintext secrets, TLS on the proxy.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { DIGEST_PINNED, SECRET_NAME } from "./lib/patterns";
import { ContainerProps, TYPES, dataStoreKind, known, onType, stackOfUrn, strings } from "./lib/resources";
import { configWithDefaults } from "./lib/config";

export const noDatastoreHostPorts: ResourceValidationPolicy = {
  name: "no-datastore-host-ports",
  description: "Checks whether a Postgres, PgBouncer or Redis container publishes a host port.",
  validateResource: onType<ContainerProps>(TYPES.container, (c, args, report) => {
    const kind = dataStoreKind(c, args.name);
    if (kind && (c.ports ?? []).length > 0) {
      report(
        `${kind} publishes host port(s) ${(c.ports ?? []).map((p) => p.external ?? p.internal).join(", ")}; remove \`ports\` — apps reach it on the internal network.`,
      );
    }
  }),
};

export const datastoresInternalOnly: StackValidationPolicy = {
  name: "datastores-internal-only",
  description:
    "Checks whether data-store containers join only docker networks created with `internal: true`.",
  validateStack: (args, report) => {
    const internal = new Set(
      args.resources
        .filter((r) => r.type === TYPES.network && r.props.internal === true)
        .map((r) => r.props.name as string),
    );
    for (const r of args.resources.filter((x) => x.type === TYPES.container)) {
      const c = r.props as ContainerProps;
      const kind = dataStoreKind(c, r.name);
      if (!kind) continue;
      const outside = (c.networksAdvanced ?? []).map((n) => n.name).filter((n) => !internal.has(n));
      if (c.networkMode && c.networkMode !== "none" && !internal.has(c.networkMode))
        outside.push(c.networkMode);
      if (outside.length > 0 || (c.networksAdvanced ?? []).length === 0) {
        report(
          `${kind} container ${r.name} joins ${outside.join(", ") || "the default bridge"}; attach it only to the internal network.`,
          r.urn,
        );
      }
    }
  },
};

/** A container check: returns the fix when the container fails it, undefined when it passes. */
function containerPolicy(
  name: string,
  description: string,
  check: (c: ContainerProps) => string | undefined,
): ResourceValidationPolicy {
  return {
    name,
    description,
    validateResource: onType<ContainerProps>(TYPES.container, (c, _args, report) => {
      const problem = check(c);
      if (problem) report(problem);
    }),
  };
}

export const containerHealthcheck = containerPolicy(
  "container-healthcheck",
  "Checks whether every long-running container (restart policy other than `no`) declares a healthcheck.",
  (c) =>
    c.restart !== "no" && (c.healthcheck?.tests ?? []).length === 0
      ? 'no healthcheck; set `healthcheck.tests` (e.g. ["CMD", "curl", "-f", "http://127.0.0.1:<port>/health"]).'
      : undefined,
);

export const containerMemoryLimit = containerPolicy(
  "container-memory-limit",
  "Checks whether every container has a memory limit.",
  (c) =>
    !(typeof c.memory === "number" && c.memory > 0)
      ? "no memory limit; set `memory` (MiB) from the app's `memoryMb`."
      : undefined,
);

export const containerRestartPolicy = containerPolicy(
  "container-restart-policy",
  "Checks whether every container has a restart policy.",
  (c) =>
    !c.restart
      ? 'no restart policy; set `restart: "unless-stopped"` (or "no" for one-shot jobs).'
      : undefined,
);

export const containerNonRoot: ResourceValidationPolicy = {
  name: "container-non-root",
  description:
    "Checks whether every container runs as a non-root user, unless the pack config documents an exception.",
  configSchema: {
    // Resource name → why it must start as root (reviewed in the pack config, not the program).
    properties: { rootExceptions: { type: "object", default: {} } },
  },
  validateResource: onType<ContainerProps>(TYPES.container, (c, args, report) => {
    const exceptions = args.getConfig<{ rootExceptions?: Record<string, string> }>().rootExceptions ?? {};
    if (c.user && !/^(root|0)(:|$)/.test(c.user)) return;
    if (typeof exceptions[args.name] === "string" && exceptions[args.name]!.length > 0) return;
    report(
      `runs as ${c.user ? `"${c.user}"` : "the image's default user"}; set \`user\` to a non-root uid:gid (e.g. "10001:10001"), or document why in container-non-root.rootExceptions.`,
    );
  }),
};

export const containerCapabilitiesDropped = containerPolicy(
  "container-capabilities-dropped",
  "Checks whether every container drops all Linux capabilities, is unprivileged and sets no-new-privileges.",
  (c) => {
    if (c.privileged) return "runs privileged; remove `privileged: true`.";
    if (!(c.capabilities?.drops ?? []).includes("ALL"))
      return 'keeps default capabilities; set `capabilities.drops: ["ALL"]` and add back only what is needed.';
    if (!(c.securityOpts ?? []).includes("no-new-privileges:true"))
      return 'may gain privileges; add "no-new-privileges:true" to `securityOpts`.';
    return undefined;
  },
);

export const imagesPinned: ResourceValidationPolicy = {
  name: "images-pinned",
  description:
    "Checks whether container images are pinned by digest outside `local` and never use `:latest` or no tag.",
  validateResource: onType<ContainerProps>(TYPES.container, (c, args, report) => {
    const image = c.image ?? "";
    const lastPart = image.split("/").pop() ?? image;
    if (/:latest(@|$)/.test(image) || (!lastPart.includes(":") && !lastPart.includes("@"))) {
      report(`image "${image}" floats (:latest or no tag); pin it as repo@sha256:<digest>.`);
    } else if (
      stackOfUrn(args.urn) !== "local" &&
      !DIGEST_PINNED.test(image) &&
      !/^sha256:[a-f0-9]{64}$/.test(image)
    ) {
      report(
        `image "${image}" is pinned by tag only; on ${stackOfUrn(args.urn)} use repo@sha256:<digest> (the digest staging verified).`,
      );
    }
  }),
};

const WEAK_VALUE = /^(|changeme|change-me|password|secret|admin|test|example|placeholder|todo|xxx+)$/i;
const URL_WITH_PASSWORD = /\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:(changeme|password|secret|admin|test|example)@/i;

export const noPlaintextSecrets: ResourceValidationPolicy = {
  name: "no-plaintext-secrets",
  description:
    "Checks whether container env or command inputs hold a placeholder or well-known secret value.",
  validateResource: (args, report) => {
    // Policies see secrets unwrapped, so this catches literals that are weak whatever their
    // secretness; `npm run check` additionally verifies that secret-named inputs are Pulumi secrets.
    if (args.type === TYPES.container) {
      for (const env of strings(known(() => args.props.envs))) {
        const [key = "", ...rest] = env.split("=");
        if (SECRET_NAME.test(key) && WEAK_VALUE.test(rest.join("="))) {
          report(
            `env ${key} has a placeholder value; set it from a random password or a secret config key (pulumi config set --secret).`,
          );
        }
      }
    }
    if (
      args.type === TYPES.container ||
      args.type === TYPES.remoteCommand ||
      args.type === TYPES.localCommand
    ) {
      for (const s of strings(args.props)) {
        if (URL_WITH_PASSWORD.test(s))
          report("a connection URL embeds a well-known password; use a generated secret.");
      }
    }
  },
};

const SSHD_RISKY: [RegExp, string][] = [
  [/^\s*PermitRootLogin\s+(?!no\b)\S+/im, "PermitRootLogin must be `no`"],
  [/^\s*PasswordAuthentication\s+(?!no\b)\S+/im, "PasswordAuthentication must be `no`"],
  [/^\s*PermitEmptyPasswords\s+(?!no\b)\S+/im, "PermitEmptyPasswords must be `no`"],
];

export const sshHardened: ResourceValidationPolicy = {
  name: "ssh-hardened",
  description: "Checks whether host commands configure sshd to allow root login or password authentication.",
  validateResource: onType<Record<string, unknown>>(TYPES.remoteCommand, (props, _args, report) => {
    for (const s of strings(props)) {
      for (const [re, fix] of SSHD_RISKY) {
        const m = re.exec(s);
        if (m) report(`sshd config sets "${m[0].trim()}"; ${fix} (components/host/scripts/sshd.sh).`);
      }
    }
  }),
};

export const sshBaselinePresent: StackValidationPolicy = {
  name: "ssh-baseline-present",
  description:
    "Checks whether the stack configures sshd with root login and password authentication disabled.",
  validateStack: (args, report) => {
    const commands = args.resources.filter((r) => r.type === TYPES.remoteCommand);
    if (commands.length === 0) return; // no managed host in this stack
    const text = commands.flatMap((r) => [...strings(r.props)]).join("\n");
    if (!/^\s*PermitRootLogin\s+no\b/m.test(text) || !/^\s*PasswordAuthentication\s+no\b/m.test(text)) {
      report(
        "no host step sets `PermitRootLogin no` and `PasswordAuthentication no`; keep the HardenedHost sshd step.",
      );
    }
  },
};

/** Ports a host step opens: `LG_PUBLIC_TCP_PORTS` (env or exported in the script) and literal `ufw allow` rules. */
function openedPorts(text: string): string[] {
  const fromEnv = [...text.matchAll(/LG_PUBLIC_TCP_PORTS=['"]?([\d ]*)/g)].flatMap((m) => m[1]!.split(/\s+/));
  const fromUfw = [...text.matchAll(/ufw\s+allow\s+(?:in\s+)?(\d+)/g)].map((m) => m[1]!);
  return [...fromEnv, ...fromUfw].filter((p) => p !== "");
}

export const firewallPorts: ResourceValidationPolicy = {
  name: "firewall-ports",
  description: "Checks whether the host firewall opens only the allowed public TCP ports.",
  configSchema: {
    properties: { allowedPorts: { type: "array", items: { type: "number" }, default: [22, 80, 443] } },
  },
  validateResource: onType<Record<string, unknown>>(TYPES.remoteCommand, (props, args, report) => {
    const allowed = new Set(
      configWithDefaults<{ allowedPorts: number[] }>(
        args.getConfig(),
        firewallPorts.configSchema,
      ).allowedPorts.map(String),
    );
    const env = known(() => (props.environment as Record<string, string> | undefined)?.LG_PUBLIC_TCP_PORTS);
    const opened = [
      ...(env ?? "").split(/\s+/).filter((p) => p !== ""),
      ...[...strings(props)].flatMap(openedPorts),
    ];
    const extra = [...new Set(opened.filter((p) => !allowed.has(p)))];
    if (extra.length > 0)
      report(
        `firewall opens ${extra.join(", ")}; open only ${[...allowed].join("/")} (HardenedHost publicTcpPorts).`,
      );
  }),
};

export const proxyTls: ResourceValidationPolicy = {
  name: "proxy-tls",
  description: "Checks whether proxy config allows TLS below 1.2 or omits HSTS.",
  validateResource: (args, report) => {
    for (const s of strings(args.props)) {
      const protocols = /ssl_protocols\s+([^;]+);/.exec(s);
      if (!protocols) continue;
      const weak = protocols[1]!.split(/\s+/).filter((p) => /^(SSLv\d|TLSv1(\.[01])?)$/.test(p));
      if (weak.length > 0)
        report(
          `nginx allows ${weak.join(", ")}; set \`ssl_protocols TLSv1.2 TLSv1.3;\` (proxy.minTlsVersion).`,
        );
      if (!/add_header\s+Strict-Transport-Security\s+"?max-age=[1-9]/.test(s)) {
        report(
          'nginx config has no HSTS header; add `add_header Strict-Transport-Security "max-age=31536000" always;`.',
        );
      }
    }
  },
};

export const securityPolicies = [
  noDatastoreHostPorts,
  datastoresInternalOnly,
  containerHealthcheck,
  containerMemoryLimit,
  containerRestartPolicy,
  containerNonRoot,
  containerCapabilitiesDropped,
  imagesPinned,
  noPlaintextSecrets,
  sshHardened,
  sshBaselinePresent,
  firewallPorts,
  proxyTls,
];
