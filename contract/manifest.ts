/**
 * The gate manifest: everything the release gates decide on, carried as ONE JSON string in the
 * `environment` of the `release-gate` command (a custom resource registered first), so the policy
 * engine sees it at preview time (component inputs never reach policies: pulumi/pulumi#10533).
 * Built by components/release/evidence.ts; read by the gate policies and the checker's report.
 */
export const GATE_ENV_KEY = "LAUNCHGATE_GATE";
export const GATE_RESOURCE_NAME = "release-gate";
export const GATE_RESOURCE_TYPE = "command:local:Command";
export const MANIFEST_VERSION = 1;

/** Staging's `verifiedRelease` stack output. */
export interface VerifiedRelease {
  readonly commit: string;
  readonly images: Readonly<Record<string, string>>;
  readonly smokeTests: { readonly passed: boolean; readonly finishedAt: string };
}

/** The newest restore-drill record (`evidence/<stack>/restore-drill/*.json`). */
export interface RestoreDrillRecord {
  readonly ok: boolean;
  readonly finishedAt: string;
  /** Dump restored and what was verified (e.g. table row counts). */
  readonly dump?: string;
  readonly checks?: Readonly<Record<string, unknown>>;
  /** File it was read from, for the report. */
  readonly file: string;
}

/** A post-deploy verification mark as recorded (`evidence/<stack>/verify/<commit>-<after>.json`). */
export interface VerificationMark {
  readonly commit: string;
  /** The mark: `30m`, `1h`, `24h` (launchgate:release.verify). */
  readonly after: string;
  readonly passed: boolean;
  readonly checkedAt: string;
  readonly file: string;
}

/** An attestation file as found, before verification (verification needs the pack's allow-list). */
export interface FoundAttestation {
  readonly file: string;
  /** Parsed JSON of the file, or the parse error. */
  readonly content: unknown;
}

export interface GateManifest {
  readonly version: typeof MANIFEST_VERSION;
  readonly stack: string;
  readonly environment: string;
  /** `launchgate:release.evidenceDir` as configured (for messages saying where evidence goes). */
  readonly evidenceDir: string;
  readonly commit: string;
  /** Every image the release runs, by name (`app:<name>`, `postgres`, `redis`, `proxy`, …). */
  readonly images: Readonly<Record<string, string>>;
  readonly flags: Readonly<
    Record<string, { readonly enabled: boolean; readonly requiresAttestation?: string }>
  >;
  /** Staging stack name and its verified release (null when unreadable or not configured). */
  readonly staging: { readonly stack: string | null; readonly verifiedRelease: VerifiedRelease | null };
  readonly restoreDrill: RestoreDrillRecord | null;
  readonly backups: {
    readonly retentionDays: number;
    readonly drillEveryHours: number;
    /** Hours between dumps (launchgate:backups.incrementalEveryHours); absent in manifests written before. */
    readonly incrementalEveryHours?: number;
  };
  readonly monitoring: { readonly alertTargetConfigured: boolean };
  readonly previous: { readonly commit: string; readonly images: Readonly<Record<string, string>> } | null;
  readonly attestations: readonly FoundAttestation[];
  /**
   * Verification marks recorded for the release running now (`previous`) and this one; absent in
   * manifests written before progressive delivery (treated as none).
   */
  readonly verifications?: readonly VerificationMark[];
  /** Problems the loader met (unreadable files …), shown in reports. */
  readonly loadErrors: readonly string[];
}

/**
 * Reads the manifest from a resource's props (`environment.LAUNCHGATE_GATE`), or undefined if the
 * resource is not the release gate. Throws on a gate whose manifest is not valid JSON.
 */
export function manifestOf(props: Record<string, unknown>): GateManifest | undefined {
  const env = props["environment"] as Record<string, unknown> | undefined;
  const raw = env?.[GATE_ENV_KEY];
  if (typeof raw !== "string") return undefined;
  const parsed = JSON.parse(raw) as GateManifest;
  if (parsed.version !== MANIFEST_VERSION)
    throw new Error(`gate manifest version ${String(parsed.version)} is not ${MANIFEST_VERSION}`);
  return parsed;
}

/** Hours between an ISO instant and `now` (NaN when unparseable). */
export function ageHours(iso: string, now: Date): number {
  return (now.getTime() - Date.parse(iso)) / 3_600_000;
}
