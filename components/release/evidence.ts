/**
 * Evidence loader: reads the release's gate evidence from the repo (no Pulumi runtime, no
 * network), so it is plain data the Release component folds into the gate manifest.
 *
 * Layout under `<projectRoot>/<release.evidenceDir>/<stack>/` (see policies/lib/evidence-files.ts):
 *   attestations/<kind>.attestation.json   signed sign-offs (`npm run gate -- sign …`)
 *   restore-drill/*.json                   restore-drill records; the newest `finishedAt` counts
 *   verify/<commit>-<after>.json           post-deploy verification marks (npm run verify)
 * Verification is NOT done here: the policy pack verifies with its own allow-list, so a
 * program change cannot vouch for itself.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  ATTESTATION_DIR,
  ATTESTATION_SUFFIX,
  RESTORE_DRILL_DIR,
  VERIFY_DIR,
} from "../../contract/evidence-files";
import type { FoundAttestation, RestoreDrillRecord, VerificationMark } from "../../contract/manifest";

export interface ReleaseEvidence {
  /** Folder the evidence was read from (absolute). */
  readonly dir: string;
  readonly attestations: readonly FoundAttestation[];
  readonly restoreDrill: RestoreDrillRecord | null;
  /** Every verification mark recorded for the stack (the manifest keeps the relevant commits'). */
  readonly verifications?: readonly VerificationMark[];
  /** Unreadable files and similar, for the report (never silently ignored). */
  readonly errors: readonly string[];
}

function jsonFiles(dir: string, suffix: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(suffix))
    .sort()
    .map((f) => path.join(dir, f));
}

function readJson(file: string): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(fs.readFileSync(file, "utf8")) as unknown };
  } catch (e) {
    return { error: `${file}: ${(e as Error).message}` };
  }
}

function loadAttestations(dir: string, errors: string[]): FoundAttestation[] {
  const rel = (f: string) => path.relative(process.cwd(), f) || f;
  return jsonFiles(path.join(dir, ATTESTATION_DIR), ATTESTATION_SUFFIX).map((file) => {
    const r = readJson(file);
    if ("error" in r) errors.push(r.error);
    return { file: rel(file), content: "value" in r ? r.value : { parseError: r.error } };
  });
}

/** The drill record with the newest `finishedAt`; malformed records are reported, not used. */
function loadRestoreDrill(dir: string, errors: string[]): RestoreDrillRecord | null {
  let best: RestoreDrillRecord | null = null;
  for (const file of jsonFiles(path.join(dir, RESTORE_DRILL_DIR), ".json")) {
    const r = readJson(file);
    if ("error" in r) {
      errors.push(r.error);
      continue;
    }
    const v = r.value as Partial<RestoreDrillRecord>;
    if (
      typeof v?.ok !== "boolean" ||
      typeof v.finishedAt !== "string" ||
      Number.isNaN(Date.parse(v.finishedAt))
    ) {
      errors.push(`${file}: a restore-drill record needs { "ok": boolean, "finishedAt": ISO-8601 }`);
      continue;
    }
    if (!best || Date.parse(v.finishedAt) > Date.parse(best.finishedAt)) {
      best = {
        ok: v.ok,
        finishedAt: v.finishedAt,
        dump: v.dump,
        checks: v.checks,
        file: path.relative(process.cwd(), file) || file,
      };
    }
  }
  return best;
}

/** Verification marks; malformed records are reported, not used. */
function loadVerifications(dir: string, errors: string[]): VerificationMark[] {
  const out: VerificationMark[] = [];
  for (const file of jsonFiles(path.join(dir, VERIFY_DIR), ".json")) {
    const r = readJson(file);
    if ("error" in r) {
      errors.push(r.error);
      continue;
    }
    const v = r.value as Partial<VerificationMark>;
    if (
      typeof v?.commit !== "string" ||
      typeof v.after !== "string" ||
      typeof v.passed !== "boolean" ||
      typeof v.checkedAt !== "string"
    ) {
      errors.push(`${file}: a verification mark needs { "commit", "after", "passed": boolean, "checkedAt" }`);
      continue;
    }
    out.push({
      commit: v.commit,
      after: v.after,
      passed: v.passed,
      checkedAt: v.checkedAt,
      file: path.relative(process.cwd(), file) || file,
    });
  }
  return out;
}

/**
 * Loads the evidence for `stack` from `<projectRoot>/<evidenceDir>/<stack>`.
 * @param projectRoot where Pulumi.yaml lives. @default process.cwd() (Pulumi runs programs there)
 */
export function loadEvidence(
  evidenceDir: string,
  stack: string,
  projectRoot = process.cwd(),
): ReleaseEvidence {
  const dir = path.resolve(projectRoot, evidenceDir, stack);
  const errors: string[] = [];
  return {
    dir,
    attestations: loadAttestations(dir, errors),
    restoreDrill: loadRestoreDrill(dir, errors),
    verifications: loadVerifications(dir, errors),
    errors,
  };
}
