/**
 * Signed attestations: ed25519 (node:crypto) over the canonical JSON of a payload that binds a
 * sign-off to one stack, one commit and the exact image digests, with an expiry.
 *
 * File format (`<kind>.attestation.json`, see policies/README.md):
 *   { "format": "launchgate-attestation/v1",
 *     "payload": { kind, stack, commit, images: { name: "repo@sha256:…" }, signer, issuedAt, expiresAt },
 *     "signature": "<base64 ed25519 signature over canonicalJson(payload)>" }
 * The file carries no key: the verifier looks the signer up in an allow-list
 * (`{ signer: { publicKey: "ed25519:<base64 raw 32 bytes>", kinds?: [...] } }`), so a file
 * cannot vouch for itself. Pure functions only (no I/O): shared by the policy pack and the CLI.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, KeyObject } from "node:crypto";
import { canonicalJson } from "./canonical";

export const ATTESTATION_FORMAT = "launchgate-attestation/v1";
const KEY_PREFIX = "ed25519:";

export interface AttestationPayload {
  /** Sign-off kind, e.g. `legal-counsel`, `qa`, `tech-lead`. */
  readonly kind: string;
  readonly stack: string;
  /** 40-hex git commit the sign-off is for. */
  readonly commit: string;
  /** Every image of the release, by name, pinned by digest. */
  readonly images: Readonly<Record<string, string>>;
  /** Name of the signer; must be on the allow-list. */
  readonly signer: string;
  /** ISO-8601 instants. */
  readonly issuedAt: string;
  readonly expiresAt: string;
}

export interface Attestation {
  readonly format: typeof ATTESTATION_FORMAT;
  readonly payload: AttestationPayload;
  readonly signature: string;
}

export interface AllowedSigner {
  /** `ed25519:<base64 of the raw 32-byte public key>`. */
  readonly publicKey: string;
  /** Kinds this signer may attest; absent = any kind. */
  readonly kinds?: readonly string[];
}
export type SignerAllowList = Readonly<Record<string, AllowedSigner>>;

/** What a verification must match: the release being deployed. */
export interface Binding {
  readonly stack: string;
  readonly commit: string;
  readonly images: Readonly<Record<string, string>>;
}

export type AttestationProblem =
  | "malformed"
  | "unknown-signer"
  | "signer-not-allowed-for-kind"
  | "bad-signature"
  | "wrong-stack"
  | "wrong-commit"
  | "wrong-images"
  | "not-yet-valid"
  | "expired"
  | "validity-too-long";

export type VerifyResult =
  | { readonly ok: true; readonly payload: AttestationPayload; readonly expiresInHours: number }
  | { readonly ok: false; readonly problem: AttestationProblem; readonly detail: string };

export interface VerifyOptions {
  readonly allowList: SignerAllowList;
  readonly binding: Binding;
  readonly now: Date;
  /** Longest allowed span between issuedAt and expiresAt. @default 30 */
  readonly maxValidityDays?: number;
  /** Tolerated clock skew for `issuedAt` in the future. @default 5 */
  readonly clockSkewMinutes?: number;
}

/** Generates an ed25519 key pair: PKCS#8 PEM private key and the allow-list public key string. */
export function generateSigningKey(): { privateKeyPem: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKey: encodePublicKey(publicKey),
  };
}

/** `ed25519:<base64 raw key>` for a node KeyObject. */
export function encodePublicKey(key: KeyObject): string {
  const jwk = key.export({ format: "jwk" });
  if (jwk.crv !== "Ed25519" || typeof jwk.x !== "string") throw new Error("not an ed25519 public key");
  return KEY_PREFIX + Buffer.from(jwk.x, "base64url").toString("base64");
}

/** Parses `ed25519:<base64>` into a KeyObject; throws with what was expected. */
export function decodePublicKey(text: string): KeyObject {
  const raw = text.startsWith(KEY_PREFIX)
    ? Buffer.from(text.slice(KEY_PREFIX.length), "base64")
    : Buffer.alloc(0);
  if (raw.length !== 32)
    throw new Error(
      `public key must be "ed25519:<base64 of 32 bytes>", got ${JSON.stringify(text.slice(0, 24))}`,
    );
  return createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") },
    format: "jwk",
  });
}

/** Public key string of a PEM private key (to put on the allow-list). */
export function publicKeyOfPrivate(privateKeyPem: string): string {
  return encodePublicKey(createPublicKey(createPrivateKey(privateKeyPem)));
}

/** Signs a payload with a PEM ed25519 private key. */
export function signAttestation(payload: AttestationPayload, privateKeyPem: string): Attestation {
  const key = createPrivateKey(privateKeyPem);
  if (key.asymmetricKeyType !== "ed25519")
    throw new Error(`signing key must be ed25519, got ${key.asymmetricKeyType}`);
  const signature = sign(null, Buffer.from(canonicalJson(payload)), key).toString("base64");
  return { format: ATTESTATION_FORMAT, payload, signature };
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const HOUR_MS = 3_600_000;

/** Narrows untrusted JSON to an Attestation, or explains what is wrong. */
export function parseAttestation(value: unknown): Attestation | string {
  if (typeof value !== "object" || value === null) return "not a JSON object";
  const v = value as Record<string, unknown>;
  if (v.format !== ATTESTATION_FORMAT) return `format must be "${ATTESTATION_FORMAT}"`;
  if (typeof v.signature !== "string" || v.signature.length === 0) return "signature missing";
  const p = v.payload as Record<string, unknown> | undefined;
  if (typeof p !== "object" || p === null) return "payload missing";
  for (const k of ["kind", "stack", "commit", "signer", "issuedAt", "expiresAt"]) {
    if (typeof p[k] !== "string" || p[k] === "") return `payload.${k} must be a non-empty string`;
  }
  for (const k of ["issuedAt", "expiresAt"])
    if (!ISO.test(p[k] as string)) return `payload.${k} must be an ISO-8601 UTC instant`;
  const images = p.images as Record<string, unknown> | undefined;
  if (
    typeof images !== "object" ||
    images === null ||
    Object.values(images).some((i) => typeof i !== "string")
  ) {
    return "payload.images must map names to image references";
  }
  return value as Attestation;
}

function sameImages(
  a: Readonly<Record<string, string>>,
  b: Readonly<Record<string, string>>,
): string | undefined {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const n of [...names].sort()) {
    if (a[n] !== b[n]) return `${n}: attested ${a[n] ?? "(none)"}, releasing ${b[n] ?? "(none)"}`;
  }
  return undefined;
}

function fail(problem: AttestationProblem, detail: string): VerifyResult {
  return { ok: false, problem, detail };
}

/**
 * Verifies one attestation: allow-listed signer (and kind), ed25519 signature over the canonical
 * payload, binding to stack/commit/images, and the validity window. First failure wins.
 */
export function verifyAttestation(value: unknown, o: VerifyOptions): VerifyResult {
  const att = parseAttestation(value);
  if (typeof att === "string") return fail("malformed", att);
  const p = att.payload;
  const signer = Object.prototype.hasOwnProperty.call(o.allowList, p.signer)
    ? o.allowList[p.signer]
    : undefined;
  if (!signer)
    return fail("unknown-signer", `signer "${p.signer}" is not on the allow-list (allowedSigners)`);
  if (signer.kinds && !signer.kinds.includes(p.kind)) {
    return fail(
      "signer-not-allowed-for-kind",
      `signer "${p.signer}" may attest only ${signer.kinds.join(", ")}, not "${p.kind}"`,
    );
  }
  let good = false;
  try {
    good = verify(
      null,
      Buffer.from(canonicalJson(p)),
      decodePublicKey(signer.publicKey),
      Buffer.from(att.signature, "base64"),
    );
  } catch (e) {
    return fail("bad-signature", `signature could not be checked: ${(e as Error).message}`);
  }
  if (!good)
    return fail(
      "bad-signature",
      `signature does not match the payload and ${p.signer}'s allow-listed key (forged or edited)`,
    );
  if (p.stack !== o.binding.stack)
    return fail("wrong-stack", `signed for stack "${p.stack}", deploying "${o.binding.stack}"`);
  if (p.commit !== o.binding.commit)
    return fail("wrong-commit", `signed for commit ${p.commit}, releasing ${o.binding.commit}`);
  const imageDiff = sameImages(p.images, o.binding.images);
  if (imageDiff) return fail("wrong-images", `signed for other image digests (${imageDiff})`);
  const issued = Date.parse(p.issuedAt);
  const expires = Date.parse(p.expiresAt);
  const now = o.now.getTime();
  if (issued > now + (o.clockSkewMinutes ?? 5) * 60_000)
    return fail("not-yet-valid", `issued in the future (${p.issuedAt})`);
  if (expires <= now) return fail("expired", `expired at ${p.expiresAt}`);
  const maxDays = o.maxValidityDays ?? 30;
  if (expires - issued > maxDays * 24 * HOUR_MS) {
    return fail(
      "validity-too-long",
      `valid ${((expires - issued) / (24 * HOUR_MS)).toFixed(1)} days, more than ${maxDays}`,
    );
  }
  return { ok: true, payload: p, expiresInHours: (expires - now) / HOUR_MS };
}
