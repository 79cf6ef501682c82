/**
 * The gate CLI's commands as functions returning the text to print (so tests call them directly).
 * Errors are GateCliError with a message that says what to do.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  AttestationPayload,
  Binding,
  SignerAllowList,
  VerifyResult,
  generateSigningKey,
  publicKeyOfPrivate,
  signAttestation,
  verifyAttestation,
} from "../../policies/lib/attestation";
import { ATTESTATION_DIR, ATTESTATION_SUFFIX, attestationFileName } from "../../contract/evidence-files";
import { GateCliError, readJson, readText, writeFile } from "./files";

export interface KeygenOptions {
  readonly signer: string;
  readonly outDir: string;
}

/** Creates `<outDir>/<signer>.key` (PKCS#8 PEM, 0600) and prints the allow-list entry. */
export function keygen(o: KeygenOptions): string {
  if (!/^[a-z0-9][a-z0-9._@-]*$/i.test(o.signer))
    throw new GateCliError(`--signer must be a simple name, got "${o.signer}"`);
  const keyFile = path.join(o.outDir, `${o.signer}.key`);
  if (fs.existsSync(keyFile)) throw new GateCliError(`refusing to overwrite existing key ${keyFile}`);
  const { privateKeyPem, publicKey } = generateSigningKey();
  writeFile(keyFile, privateKeyPem, true);
  writeFile(path.join(o.outDir, `${o.signer}.pub`), `${publicKey}\n`);
  const entry = JSON.stringify({ [o.signer]: { publicKey } }, null, 2);
  return `wrote ${keyFile} (keep it private; never commit it)\nadd to sign-offs-attested.allowedSigners in policies/config/<stack>.json:\n${entry}`;
}

export interface SignOptions {
  readonly kind: string;
  readonly signer: string;
  readonly keyFile: string;
  readonly binding: Binding;
  readonly validForMs: number;
  readonly now: Date;
  /** Evidence root; the file goes to `<root>/<stack>/attestations/<kind>.attestation.json`. */
  readonly evidenceRoot: string;
}

/** Signs an attestation for the release and writes it where the Release component reads it. */
export function signCommand(o: SignOptions): string {
  const pem = readText(
    o.keyFile,
    "signing key",
    `create one with: npm run gate -- keygen --signer ${o.signer}`,
  );
  const payload: AttestationPayload = {
    kind: o.kind,
    stack: o.binding.stack,
    commit: o.binding.commit,
    images: o.binding.images,
    signer: o.signer,
    issuedAt: o.now.toISOString(),
    expiresAt: new Date(o.now.getTime() + o.validForMs).toISOString(),
  };
  let att;
  try {
    att = signAttestation(payload, pem);
  } catch (e) {
    throw new GateCliError(`cannot sign with ${o.keyFile}: ${(e as Error).message}`);
  }
  const file = path.join(o.evidenceRoot, o.binding.stack, ATTESTATION_DIR, attestationFileName(o.kind));
  writeFile(file, `${JSON.stringify(att, null, 2)}\n`);
  return `signed ${o.kind} for ${o.binding.stack}@${o.binding.commit.slice(0, 12)} as ${o.signer} (public key ${publicKeyOfPrivate(pem)}), expires ${payload.expiresAt}\nwrote ${file}`;
}

/** One line describing a verification result. */
export function describe(file: string, r: VerifyResult): string {
  return r.ok
    ? `OK       ${file}: ${r.payload.kind} by ${r.payload.signer}, expires in ${r.expiresInHours.toFixed(1)} h`
    : `REFUSED  ${file}: ${r.problem}: ${r.detail}`;
}

export interface VerifyCommandOptions {
  readonly file: string;
  readonly allowList: SignerAllowList;
  readonly binding: Binding;
  readonly now: Date;
  readonly maxValidityDays?: number;
}

/** Verifies one file; throws GateCliError (non-zero exit) when refused. */
export function verifyCommand(o: VerifyCommandOptions): string {
  const content = readJson(o.file, "attestation", "sign one with: npm run gate -- sign …");
  const r = verifyAttestation(content, {
    allowList: o.allowList,
    binding: o.binding,
    now: o.now,
    maxValidityDays: o.maxValidityDays,
  });
  const line = describe(o.file, r);
  if (!r.ok) throw new GateCliError(line);
  return line;
}

export interface StatusOptions {
  readonly evidenceRoot: string;
  readonly allowList: SignerAllowList;
  readonly binding: Binding;
  readonly requiredKinds: readonly string[];
  readonly now: Date;
  readonly maxValidityDays?: number;
}

/** Every attestation of the stack verified, plus the required kinds still missing. */
export function statusCommand(o: StatusOptions): { text: string; ok: boolean } {
  const dir = path.join(o.evidenceRoot, o.binding.stack, ATTESTATION_DIR);
  const files = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(ATTESTATION_SUFFIX))
        .sort()
    : [];
  const valid = new Set<string>();
  const lines = files.map((f) => {
    const file = path.join(dir, f);
    let content: unknown;
    try {
      content = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
      return `REFUSED  ${file}: malformed: ${(e as Error).message}`;
    }
    const r = verifyAttestation(content, {
      allowList: o.allowList,
      binding: o.binding,
      now: o.now,
      maxValidityDays: o.maxValidityDays,
    });
    if (r.ok) valid.add(r.payload.kind);
    return describe(file, r);
  });
  const missing = o.requiredKinds.filter((k) => !valid.has(k));
  lines.push(
    missing.length === 0 ? "all required sign-offs present" : `missing sign-offs: ${missing.join(", ")}`,
  );
  return {
    text: [`attestations for ${o.binding.stack}@${o.binding.commit.slice(0, 12)} in ${dir}:`, ...lines].join(
      "\n",
    ),
    ok: missing.length === 0,
  };
}
