/**
 * Records the docker (and @pulumi/postgresql) resources the real program declares for a stack,
 * by running `stacks/index.ts` under the Pulumi mock runtime with that stack's config file.
 *
 * The mocks emulate the few providers whose outputs the containers consume, so the recorded
 * inputs are runnable: `random` passwords become real random strings and `tls` keys and
 * certificates are made with node:crypto + openssl from the recorded tls inputs (curve, subject,
 * SANs, CA flag, allowed uses). Everything else echoes its inputs, as in the unit tests.
 * Only resources on the VPS's docker provider are kept for the harness: the local stack's
 * disposable VPS container itself is the host test's business (test/host).
 */
import { runInPulumiStack } from "@pulumi/pulumi/runtime/stack";
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { setAllConfig } from "@pulumi/pulumi/runtime/config";
import { recordOptions, type RecordedOptions, type RecordedResource } from "../support/mocks";
import { urnKey } from "../support/harness";
import { readStackFile } from "../../stacks/stack-file";
import { PIDS_LIMIT_COMMAND_ROLE, parsePidsLimitCommand } from "../../contract/pids-limits";
import { commandRoleOf } from "../../contract/roles";

type Json = any;

export interface ProgramRecording {
  /** Docker + postgresql resources on the VPS (+ any `keepTypes`), in registration order. */
  readonly resources: RecordedResource[];
  /** Every registration (type, name, provider, inputs with secrets unwrapped). */
  readonly all: { type: string; name: string; provider: string; inputs: Json }[];
  /** The emulated InternalCa's CA certificate (what the test trusts). */
  readonly caCertPem?: string;
  /** Resource options the engine would get (deleteBeforeReplace, protect, …) by `type name`. */
  readonly options: Map<string, RecordedOptions>;
  /** `command:remote:Command` resources (host steps over SSH) with their inputs, e.g. the proxy's weights step. */
  readonly commands: RecordedResource[];
}

const REPO = path.resolve(__dirname, "../..");
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** Replaces serialized secrets (`{<sig>: …, value}`) by their values, deeply. */
export function unwrapSecrets(v: Json): Json {
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (v && typeof v === "object") {
    if (SECRET_SIG in v) return unwrapSecrets(v.value);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
  }
  return v;
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"], timeout: 20_000 });
}

function subjectArg(subject: Json): string {
  const parts: string[] = [];
  if (subject?.organization) parts.push(`O=${subject.organization}`);
  if (subject?.commonName) parts.push(`CN=${subject.commonName}`);
  return `/${parts.join("/")}`;
}

const USE_KU: Record<string, string> = {
  digital_signature: "digitalSignature",
  key_encipherment: "keyEncipherment",
  cert_signing: "keyCertSign",
  crl_signing: "cRLSign",
};
const USE_EKU: Record<string, string> = { server_auth: "serverAuth", client_auth: "clientAuth" };

function extensions(inputs: Json, sans: string[]): string {
  const uses: string[] = inputs.allowedUses ?? [];
  const unknown = uses.filter((u) => !USE_KU[u] && !USE_EKU[u]);
  if (unknown.length) throw new Error(`tls emulation: allowedUses ${unknown.join(", ")} not mapped`);
  const ku = uses.filter((u) => USE_KU[u]).map((u) => USE_KU[u]);
  const eku = uses.filter((u) => USE_EKU[u]).map((u) => USE_EKU[u]);
  const lines: string[] = [];
  if (inputs.isCaCertificate) {
    lines.push(
      `basicConstraints=critical,CA:TRUE${inputs.maxPathLength !== undefined ? `,pathlen:${inputs.maxPathLength}` : ""}`,
    );
  } else lines.push("basicConstraints=critical,CA:FALSE");
  if (ku.length) lines.push(`keyUsage=critical,${ku.join(",")}`);
  if (eku.length) lines.push(`extendedKeyUsage=${eku.join(",")}`);
  if (sans.length) lines.push(`subjectAltName=${sans.join(",")}`);
  return lines.join("\n") + "\n";
}

/** subjectAltName entries of a CertRequest's inputs (`DNS:…`, `IP:…`). */
function sansOf(inputs: Json): string[] {
  return [
    ...(inputs.dnsNames ?? []).map((n: string) => `DNS:${n}`),
    ...(inputs.ipAddresses ?? []).map((n: string) => `IP:${n}`),
  ];
}

/** Emulated outputs for providers whose results the containers consume. */
export function emulateOutputs(
  type: string,
  name: string,
  inputs: Json,
  csrSans: Map<string, string[]>,
  seed: string,
): Record<string, unknown> {
  const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), "lg-svc-tls-"));
  switch (type) {
    case "random:index/randomPassword:RandomPassword": {
      // Stable per (seed, resource name), like a password kept in the stack's state across updates.
      const length = inputs.length ?? 16;
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
      let result = "";
      for (let i = 0; result.length < length; i++) {
        for (const b of crypto.createHmac("sha256", seed).update(`${name}/${i}`).digest()) {
          if (result.length < length) result += alphabet[b % alphabet.length];
        }
      }
      return { result, bcryptHash: "" };
    }
    case "tls:index/privateKey:PrivateKey": {
      if (inputs.algorithm === "ED25519") {
        // Only the local VPS's SSH key uses this; its contents matter to nothing the harness runs.
        const { privateKey, publicKey } = crypto.generateKeyPairSync("ed25519");
        const raw = (publicKey.export({ type: "spki", format: "der" }) as Buffer).subarray(-32);
        const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
        const blob = Buffer.concat([str(Buffer.from("ssh-ed25519")), str(raw)]).toString("base64");
        return {
          privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
          privateKeyOpenssh: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
          publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
          publicKeyOpenssh: `ssh-ed25519 ${blob}\n`,
        };
      }
      if (inputs.algorithm !== "ECDSA" || (inputs.ecdsaCurve ?? "P224") !== "P256") {
        throw new Error(
          `tls emulation: only ECDSA P256 and ED25519 keys are emulated (got ${inputs.algorithm} ${inputs.ecdsaCurve})`,
        );
      }
      const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
      return {
        privateKeyPem: privateKey.export({ type: "sec1", format: "pem" }).toString(),
        privateKeyPemPkcs8: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
        publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
      };
    }
    case "tls:index/selfSignedCert:SelfSignedCert": {
      const d = dir();
      try {
        fs.writeFileSync(path.join(d, "key.pem"), inputs.privateKeyPem);
        const days = String(Math.max(1, Math.ceil((inputs.validityPeriodHours ?? 24) / 24)));
        const exts = extensions(inputs, [])
          .trim()
          .split("\n")
          .flatMap((l) => ["-addext", l]);
        openssl(d, [
          "req",
          "-x509",
          "-new",
          "-key",
          "key.pem",
          "-subj",
          subjectArg(inputs.subject),
          "-days",
          days,
          "-out",
          "cert.pem",
          ...exts,
        ]);
        return { certPem: fs.readFileSync(path.join(d, "cert.pem"), "utf8") };
      } finally {
        fs.rmSync(d, { recursive: true, force: true });
      }
    }
    case "tls:index/certRequest:CertRequest": {
      const d = dir();
      try {
        fs.writeFileSync(path.join(d, "key.pem"), inputs.privateKeyPem);
        const sans = sansOf(inputs);
        openssl(d, [
          "req",
          "-new",
          "-key",
          "key.pem",
          "-subj",
          subjectArg(inputs.subject),
          "-out",
          "csr.pem",
          ...(sans.length ? ["-addext", `subjectAltName=${sans.join(",")}`] : []),
        ]);
        const pem = fs.readFileSync(path.join(d, "csr.pem"), "utf8");
        csrSans.set(pem, sans);
        return { certRequestPem: pem };
      } finally {
        fs.rmSync(d, { recursive: true, force: true });
      }
    }
    case "tls:index/locallySignedCert:LocallySignedCert": {
      const d = dir();
      try {
        fs.writeFileSync(path.join(d, "csr.pem"), inputs.certRequestPem);
        fs.writeFileSync(path.join(d, "ca.pem"), inputs.caCertPem);
        fs.writeFileSync(path.join(d, "ca.key"), inputs.caPrivateKeyPem);
        fs.writeFileSync(
          path.join(d, "ext.cnf"),
          extensions(inputs, csrSans.get(inputs.certRequestPem) ?? []),
        );
        const days = String(Math.max(1, Math.ceil((inputs.validityPeriodHours ?? 24) / 24)));
        openssl(d, [
          "x509",
          "-req",
          "-in",
          "csr.pem",
          "-CA",
          "ca.pem",
          "-CAkey",
          "ca.key",
          "-CAcreateserial",
          "-days",
          days,
          "-extfile",
          "ext.cnf",
          "-out",
          "cert.pem",
        ]);
        return { certPem: fs.readFileSync(path.join(d, "cert.pem"), "utf8") };
      } finally {
        fs.rmSync(d, { recursive: true, force: true });
      }
    }
    default:
      // Commands (host hardening, image builds) run nowhere here; their text output is empty.
      return type.startsWith("command:") ? { stdout: "", stderr: "" } : {};
  }
}

/**
 * Generated keys and certificates stay what they were for the same seed, resource and inputs, as
 * they would in a stack's state across updates (a second recording must not rotate the CA).
 */
const tlsState = new Map<string, Record<string, unknown>>();
const statefulOutputs: typeof emulateOutputs = (type, name, inputs, csrSans, seed) => {
  if (!type.startsWith("tls:")) return emulateOutputs(type, name, inputs, csrSans, seed);
  const key = `${seed}\0${type}\0${name}\0${JSON.stringify(inputs)}`;
  let out = tlsState.get(key);
  if (!out) {
    out = emulateOutputs(type, name, inputs, csrSans, seed);
    tlsState.set(key, out);
  }
  if (type === "tls:index/certRequest:CertRequest") csrSans.set(out.certRequestPem as string, sansOf(inputs));
  return out;
};

/** Stack config as the CLI would hand it to the program (`launchgate:key` → string). */
function stackConfig(stack: string, overrides: Record<string, unknown>): Record<string, string> {
  const file = readStackFile(REPO, stack);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...file.values, ...overrides })) {
    out[`launchgate:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
  }
  for (const [k, v] of Object.entries(file.foreign)) out[k] = typeof v === "string" ? v : JSON.stringify(v);
  return out;
}

/**
 * Runs the program for `stack` (config overrides by key, e.g. `apps` or `flags`) and returns what
 * it declares on the VPS's docker engine plus the postgresql roles/databases/grants.
 * Can be called again with other overrides (the runtime is reset each time); random passwords
 * are stable for the same `seed`, as they would be in a stack's state. `keepTypes` keeps further
 * resource types (e.g. `command:remote:Command` for the end-to-end test), with their inputs and
 * dependencies, in `resources`.
 */
export async function recordProgram(
  stack = "local",
  overrides: Record<string, unknown> = {},
  seed = "launchgate-services-test",
  keepOpts: {
    readonly keepTypes?: readonly string[];
    /**
     * Keep the PIDs-limit commands of the kept containers (components/app/pids-limit.ts). The
     * starters of one-shot containers (`startOneShot`) are always kept: they run the job.
     */
    readonly keepPidsLimits?: boolean;
  } = {},
): Promise<ProgramRecording> {
  const all: { type: string; name: string; provider: string; inputs: Json; urn?: string }[] = [];
  const csrSans = new Map<string, string[]>();
  let caCertPem: string | undefined;
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs = unwrapSecrets(args.inputs);
        const extra = statefulOutputs(args.type, args.name, inputs, csrSans, seed);
        if (args.type === "tls:index/selfSignedCert:SelfSignedCert" && inputs.isCaCertificate)
          caCertPem = extra.certPem as string;
        all.push({ type: args.type, name: args.name, provider: args.provider ?? "", inputs });
        // A container's id changes with its inputs, as a replacement gives it a new one (so what
        // is triggered by the id, e.g. its PIDs-limit command, is replaced with it).
        const id =
          args.type === "docker:index/container:Container"
            ? `${args.name}-${crypto.createHash("sha256").update(JSON.stringify(inputs)).digest("hex").slice(0, 12)}`
            : `${args.name}-id`;
        return { id, state: { ...args.inputs, ...extra } };
      },
      call() {
        return {};
      },
    },
    "launchgate",
    stack,
    false,
  );
  const opts = recordOptions();
  setAllConfig(stackConfig(stack, overrides));
  // Re-run the program's modules (config is read at construction; components are stateless).
  for (const key of Object.keys(require.cache)) {
    const rel = path.relative(REPO, key);
    if (
      !rel.startsWith("..") &&
      !rel.split(path.sep).includes("node_modules") &&
      !rel.startsWith(`test${path.sep}`)
    )
      delete require.cache[key];
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { buildStack } = require("../../stacks/index") as typeof import("../../stacks/index");
  // Inside a root stack resource, as the language host runs the program (the release gate
  // reaches every resource through a stack transformation, which needs the stack).
  await runInPulumiStack(async () => buildStack());
  // Wait until registrations stop arriving (every apply chain resolved).
  let last = -1;
  for (let i = 0; i < 200 && all.length !== last; i++) {
    last = all.length;
    await new Promise((r) => setTimeout(r, 50));
  }
  const onVps = (p: string) => p.includes("vps-docker");
  const vpsContainers = new Set(
    all
      .filter((r) => r.type === "docker:index/container:Container" && onVps(r.provider))
      .map((r) => r.inputs.name as string),
  );
  const pidsLimitOfKept = (r: { type: string; inputs: Json }) => {
    if (!r.type.startsWith("command:") || commandRoleOf(r.inputs.triggers ?? []) !== PIDS_LIMIT_COMMAND_ROLE)
      return false;
    const parsed = parsePidsLimitCommand(String(r.inputs.create));
    return (
      (keepOpts.keepPidsLimits === true || parsed?.start !== undefined) &&
      vpsContainers.has(parsed?.container ?? "")
    );
  };
  const keep = all.filter(
    (r) =>
      (r.type.startsWith("docker:index/") && onVps(r.provider)) ||
      r.type.startsWith("postgresql:index/") ||
      (keepOpts.keepTypes ?? []).includes(r.type) ||
      pidsLimitOfKept(r),
  );
  // Dependencies as the engine orders them: each kept resource's dependency URNs, followed
  // through resources the harness does not run (providers, commands, random, tls) to the kept
  // ones behind them.
  // The provider counts too: a role waits for its postgresql provider, which waits for the server.
  const providerOf = new Map(
    all.map((r) => [`${r.type} ${r.name}`, r.provider.split("::").slice(0, -1).join("::")]),
  );
  const depsOf = new Map(
    opts.all.map((o) => {
      const k = `${o.type} ${o.name}`;
      const p = providerOf.get(k);
      return [k, p ? [...o.dependencies, p] : o.dependencies];
    }),
  );
  const keptKeys = new Set(keep.map((r) => `${r.type} ${r.name}`));
  const closure = (k: string, seen = new Set<string>()): string[] => {
    const out: string[] = [];
    for (const urn of depsOf.get(k) ?? []) {
      const dk = urnKey(urn);
      if (keptKeys.has(dk)) out.push(urn);
      else if (!seen.has(dk)) {
        seen.add(dk);
        out.push(...closure(dk, seen));
      }
    }
    return [...new Set(out)];
  };
  return {
    resources: keep.map((r) => ({
      type: r.type,
      name: r.name,
      inputs: r.inputs,
      dependencies: closure(`${r.type} ${r.name}`),
      provider: r.provider,
    })),
    all: all.map((r) => ({ type: r.type, name: r.name, provider: r.provider, inputs: r.inputs })),
    caCertPem,
    options: new Map(opts.all.map((o) => [`${o.type} ${o.name}`, o])),
    commands: all
      .filter((r) => r.type === "command:remote:Command")
      .map((r) => ({ type: r.type, name: r.name, inputs: r.inputs })),
  };
}
