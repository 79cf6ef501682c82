/**
 * Release: the release being deployed (commit, image digests, flags) and its gate evidence,
 * surfaced on the `release-gate` resource where the policy pack can see it.
 *
 * Why a `command:local:Command` as the gate: policies only see custom resources' inputs
 * (component inputs are not sent, pulumi/pulumi#10533), and they see them at preview only if
 * they are known then. The gate's `environment.LAUNCHGATE_GATE` holds the whole manifest as one
 * JSON string built from repo files, stack config and the staging StackReference — all known at
 * preview — so the mandatory gate policies refuse `pulumi preview`/`up` before any step runs.
 * Every other resource depends on the gate (./gate.ts), so even a resource the engine
 * would otherwise update first waits for it. `triggers` is the manifest's hash: new evidence
 * replaces the gate, which re-runs its create script — a second, run-time check of the expiry
 * of every attestation (time passes between preview and up). The real verification (signatures
 * against the pack's allow-list) stays in the policy pack, outside the program's reach.
 */
import { createHash } from "node:crypto";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import {
  GATE_ENV_KEY,
  GATE_RESOURCE_NAME,
  GateManifest,
  MANIFEST_VERSION,
  VerifiedRelease,
} from "../../contract/manifest";
import { alertTargetConfigured } from "../../contract/release-rules";
import { ReleaseEvidence, loadEvidence } from "./evidence";

/** The parts of the stack's config the gate manifest records. */
export interface ReleaseSettings {
  /** Stack kind (`local`, `staging`, `production`). */
  readonly environment: string;
  readonly release: {
    /** Git commit being released (40 hex). */
    readonly commit: string;
    /** Fully qualified staging stack whose `verifiedRelease` this release must match. */
    readonly stagingStack?: string;
    /** Evidence root, relative to the project (contract/evidence-files.ts describes the layout). */
    readonly evidenceDir: string;
    /** The release to roll back to. */
    readonly previous?: { readonly commit: string; readonly images: Readonly<Record<string, string>> };
  };
  /** Feature flags and the attestation kind each needs to be enabled. */
  readonly flags: Readonly<Record<string, { readonly requiresAttestation?: string }>>;
  /** Backup retention (days), restore-drill and dump intervals (hours), for the backups gate and policy. */
  readonly backups: {
    readonly retentionDays: number;
    readonly drillEveryHours: number;
    readonly incrementalEveryHours: number;
  };
}

export interface ReleaseArgs {
  /** Environment, release, flags and backups settings. */
  readonly config: ReleaseSettings;
  /** Every image the release runs, by role (`postgres`, `app:api`, …): what attestations bind to. */
  readonly images: Record<string, string>;
  /** Flag values as rendered into app env; `config.flags` says which need an attestation. */
  readonly flags: Record<string, boolean>;
  /**
   * The alert target (webhook URL, secret). Only whether it is an https URL reaches the gate.
   * @default none: the monitoring gate refuses production.
   */
  readonly alertTarget?: pulumi.Input<string>;
  /** Pre-loaded evidence (tests). @default loadEvidence(config.release.evidenceDir, stack) */
  readonly evidence?: ReleaseEvidence;
}

/**
 * Shell run when the gate is created or replaced, with the manifest in `$LAUNCHGATE_GATE`:
 * refuses an unreadable manifest or any attestation already expired. Node only; no repo files.
 */
export const GATE_CREATE_SCRIPT = `node -e '
const m = JSON.parse(process.env.${GATE_ENV_KEY} || "null");
if (!m || m.version !== ${MANIFEST_VERSION}) { console.error("release gate: no manifest"); process.exit(1); }
const now = Date.now();
const expired = m.attestations.filter((a) => !(Date.parse(a.content && a.content.payload && a.content.payload.expiresAt) > now));
if (expired.length > 0) { console.error("release gate: expired or unreadable attestations: " + expired.map((a) => a.file).join(", ")); process.exit(1); }
console.log("release gate open for " + m.stack + "@" + m.commit);
'`;

/** The manifest from plain inputs (pure; tested on its own). */
export function buildManifest(
  cfg: ReleaseSettings,
  stack: string,
  images: Record<string, string>,
  flags: Record<string, boolean>,
  evidence: ReleaseEvidence,
  staging: VerifiedRelease | null,
  alertTargetConfigured: boolean,
): GateManifest {
  return {
    version: MANIFEST_VERSION,
    stack,
    environment: cfg.environment,
    evidenceDir: cfg.release.evidenceDir,
    commit: cfg.release.commit,
    images,
    flags: Object.fromEntries(
      Object.entries(flags).map(([name, enabled]) => [
        name,
        { enabled, requiresAttestation: cfg.flags[name]?.requiresAttestation },
      ]),
    ),
    staging: { stack: cfg.release.stagingStack ?? null, verifiedRelease: staging },
    restoreDrill: evidence.restoreDrill,
    backups: {
      retentionDays: cfg.backups.retentionDays,
      drillEveryHours: cfg.backups.drillEveryHours,
      incrementalEveryHours: cfg.backups.incrementalEveryHours,
    },
    monitoring: { alertTargetConfigured },
    previous: cfg.release.previous ?? null,
    attestations: evidence.attestations,
    ...(evidence.verifications?.length
      ? {
          verifications: evidence.verifications.filter(
            (v) => v.commit === cfg.release.commit || v.commit === cfg.release.previous?.commit,
          ),
        }
      : {}),
    loadErrors: evidence.errors,
  };
}

/** Narrows a StackReference output to a VerifiedRelease, or null. */
export function asVerifiedRelease(v: unknown): VerifiedRelease | null {
  const r = v as Partial<VerifiedRelease> | undefined;
  if (!r || typeof r.commit !== "string" || typeof r.images !== "object" || r.images === null) return null;
  const smoke = (r.smokeTests ?? null) as { passed?: unknown; finishedAt?: unknown } | null;
  return {
    commit: r.commit,
    images: r.images,
    smokeTests: {
      passed: smoke?.passed === true,
      finishedAt: typeof smoke?.finishedAt === "string" ? smoke.finishedAt : "",
    },
  };
}

export class Release extends pulumi.ComponentResource {
  /** The release-gate resource; every other resource must depend on it. */
  public readonly gate: command.local.Command;
  /** The manifest the gate carries (what the policies decide on). */
  public readonly manifest: pulumi.Output<GateManifest>;
  /** Short summary for stack outputs: commit, images, gate manifest hash. */
  public readonly summary: pulumi.Output<{
    commit: string;
    images: Record<string, string>;
    manifestSha256: string;
  }>;

  constructor(name: string, args: ReleaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("launchgate:release:Release", name, {}, opts);
    const cfg = args.config;
    const stack = pulumi.getStack();
    const evidence = args.evidence ?? loadEvidence(cfg.release.evidenceDir, stack);
    // Production compares against what staging verified; other stacks have nothing to compare.
    const staging: pulumi.Output<VerifiedRelease | null> = cfg.release.stagingStack
      ? new pulumi.StackReference(`${name}-staging`, { name: cfg.release.stagingStack }, { parent: this })
          .getOutput("verifiedRelease")
          .apply(asVerifiedRelease)
      : pulumi.output(null);
    // Only "is it an https URL" leaves the secret; the boolean reveals nothing.
    const alerting = pulumi.unsecret(pulumi.output(args.alertTarget ?? "").apply(alertTargetConfigured));
    this.manifest = pulumi
      .all([staging, alerting])
      .apply(([s, a]) => buildManifest(cfg, stack, args.images, args.flags, evidence, s, a));
    const manifestJson = this.manifest.apply((m) => JSON.stringify(m));
    const manifestSha256 = manifestJson.apply((j) => createHash("sha256").update(j).digest("hex"));
    this.gate = new command.local.Command(
      GATE_RESOURCE_NAME,
      {
        create: GATE_CREATE_SCRIPT,
        environment: { [GATE_ENV_KEY]: manifestJson },
        triggers: [manifestSha256],
      },
      { parent: this },
    );
    this.summary = pulumi.output({ commit: cfg.release.commit, images: args.images, manifestSha256 });
    this.registerOutputs({ gate: this.gate.id, manifest: this.manifest, summary: this.summary });
  }
}
