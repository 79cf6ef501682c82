/**
 * Progressive-delivery evidence for the release report: the rollout record and the verification
 * marks of one commit, read from `<evidenceDir>/<stack>/rollout/` and `verify/`
 * (policies/lib/evidence-files.ts). Unreadable files are skipped: the gate loader reports them.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ROLLOUT_DIR, VERIFY_DIR, rolloutFileName } from "../../contract/evidence-files";
import type { RolloutRecord, VerifyRecord } from "../promote/rollout";

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

export function loadDelivery(
  evidenceRoot: string,
  stack: string,
  commit: string,
): { rollouts: RolloutRecord[]; verifications: VerifyRecord[] } {
  const dir = path.join(evidenceRoot, stack.split("/").pop()!);
  const rollout = readJson<RolloutRecord>(path.join(dir, ROLLOUT_DIR, rolloutFileName(commit)));
  const verifyDir = path.join(dir, VERIFY_DIR);
  const verifications = fs.existsSync(verifyDir)
    ? fs
        .readdirSync(verifyDir)
        .filter((f) => f.startsWith(`${commit}-`) && f.endsWith(".json"))
        .sort()
        .map((f) => readJson<VerifyRecord>(path.join(verifyDir, f)))
        .filter((v): v is VerifyRecord => !!v && v.commit === commit)
    : [];
  return { rollouts: rollout && Array.isArray(rollout.steps) ? [rollout] : [], verifications };
}
