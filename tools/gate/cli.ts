/**
 * `npm run gate -- <command>`: create signing keys, sign, verify and list release attestations.
 *
 *   keygen --signer NAME [--out DIR]
 *   sign   --kind KIND --signer NAME --key FILE --stack S (--release FILE | --commit C --image name=ref …) [--valid-for 7d] [--evidence DIR]
 *   verify FILE --pack-config FILE --stack S (--release FILE | --commit C --image name=ref …) [--at ISO]
 *   status --stack S --pack-config FILE (--release FILE | --commit C --image name=ref …) [--evidence DIR]
 *   fetch-drill --stack S --host USER@ADDR [--port 22] [--identity FILE] [--known-hosts FILE]
 *               [--remote-path P] [--evidence DIR]
 *
 * `--release FILE` is the `{ commit, images }` JSON `npm run check -- --stack S --release-out FILE` writes.
 */
import { parseArgs } from "node:util";
import type { Binding } from "../../policies/lib/attestation";
import { keygen, signCommand, statusCommand, verifyCommand } from "./commands";
import { DEFAULT_DRILL_PATH, fetchDrill } from "./drill";
import { GateCliError, parseDuration, parseImages, readAllowList, readJson } from "./files";

const OPTIONS = {
  signer: { type: "string" },
  out: { type: "string", default: ".launchgate/keys" },
  kind: { type: "string" },
  key: { type: "string" },
  stack: { type: "string" },
  release: { type: "string" },
  commit: { type: "string" },
  image: { type: "string", multiple: true, default: [] as string[] },
  "valid-for": { type: "string", default: "7d" },
  evidence: { type: "string", default: "evidence" },
  "pack-config": { type: "string" },
  "max-validity-days": { type: "string" },
  /** Evaluate as of this ISO instant (e.g. "will it still hold at launch time?"). @default now */
  at: { type: "string" },
  /** fetch-drill: the deploy user's SSH target, port, identity and the drill result's path. */
  host: { type: "string" },
  port: { type: "string", default: "22" },
  identity: { type: "string" },
  /** fetch-drill: known_hosts file with the host's key. @default the user's ~/.ssh/known_hosts */
  "known-hosts": { type: "string" },
  "remote-path": { type: "string", default: DEFAULT_DRILL_PATH },
  ssh: { type: "string", default: "ssh" },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

function need(v: Values, name: keyof Values): string {
  const x = v[name];
  if (typeof x !== "string" || x === "") throw new GateCliError(`missing --${name}`);
  return x;
}

function binding(v: Values): Binding {
  const stack = need(v, "stack");
  if (v.release) {
    const r = readJson(
      v.release,
      "release file",
      "write it with: npm run check -- --stack <s> --release-out FILE",
    ) as Partial<Binding>;
    if (typeof r.commit !== "string" || typeof r.images !== "object" || r.images === null) {
      throw new GateCliError(`${v.release} must hold { "commit": "<40 hex>", "images": { name: ref } }`);
    }
    return { stack, commit: r.commit, images: r.images };
  }
  return { stack, commit: need(v, "commit"), images: parseImages(v.image ?? []) };
}

/** Kinds the stack's pack config requires (sign-offs-attested.requiredKinds), else none. */
function requiredKinds(packConfig: string): string[] {
  const json = readJson(packConfig, "pack config", "") as Record<
    string,
    { requiredKinds?: string[] } | undefined
  >;
  return json["sign-offs-attested"]?.requiredKinds ?? [];
}

function run(argv: string[]): { text: string; ok: boolean } {
  const { values: v, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  const [command, file] = positionals;
  const now = v.at ? new Date(v.at) : new Date();
  if (Number.isNaN(now.getTime())) throw new GateCliError(`--at must be an ISO-8601 instant, got "${v.at}"`);
  const maxValidityDays = v["max-validity-days"] ? Number(v["max-validity-days"]) : undefined;
  switch (command) {
    case "keygen":
      return { text: keygen({ signer: need(v, "signer"), outDir: v.out ?? ".launchgate/keys" }), ok: true };
    case "sign":
      return {
        text: signCommand({
          kind: need(v, "kind"),
          signer: need(v, "signer"),
          keyFile: need(v, "key"),
          binding: binding(v),
          validForMs: parseDuration(v["valid-for"] ?? "7d"),
          now,
          evidenceRoot: v.evidence ?? "evidence",
        }),
        ok: true,
      };
    case "verify": {
      if (!file)
        throw new GateCliError(
          "usage: verify FILE --pack-config FILE --stack S (--release FILE | --commit C --image name=ref)",
        );
      const allowList = readAllowList(need(v, "pack-config"));
      return {
        text: verifyCommand({ file, allowList, binding: binding(v), now, maxValidityDays }),
        ok: true,
      };
    }
    case "status": {
      const packConfig = need(v, "pack-config");
      return statusCommand({
        evidenceRoot: v.evidence ?? "evidence",
        allowList: readAllowList(packConfig),
        binding: binding(v),
        requiredKinds: requiredKinds(packConfig),
        now,
        maxValidityDays,
      });
    }
    case "fetch-drill": {
      const port = Number(v.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw new GateCliError(`--port must be 1-65535, got "${v.port}"`);
      return {
        text: fetchDrill({
          stack: need(v, "stack"),
          target: need(v, "host"),
          port,
          identity: v.identity,
          knownHostsFile: v["known-hosts"],
          remotePath: v["remote-path"] ?? DEFAULT_DRILL_PATH,
          evidenceRoot: v.evidence ?? "evidence",
          ssh: v.ssh,
        }),
        ok: true,
      };
    }
    default:
      throw new GateCliError(
        `unknown command "${command ?? ""}"; use keygen | sign | verify | status | fetch-drill`,
      );
  }
}

try {
  const { text, ok } = run(process.argv.slice(2));
  console.log(text);
  process.exitCode = ok ? 0 : 1;
} catch (e) {
  console.error(e instanceof GateCliError ? `gate: ${e.message}` : e);
  process.exitCode = 2;
}
