/**
 * `npm run gate -- fetch-drill`: copies the host's latest restore-drill result (written by the
 * Backups component's drill timer) into `evidence/<stack>/restore-drill/`, where the
 * "backups tested" gate reads it. The record is validated before it is written; a failed drill
 * (`ok: false`) is recorded as well — the gate refuses on it, which is the point.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { RESTORE_DRILL_DIR } from "../../contract/evidence-files";
import { GateCliError, writeFile } from "./files";
import { sshArgs } from "../ssh";

/** Where the Backups component writes the drill result (`<storagePath>/backups/restore-drill.json`). */
export const DEFAULT_DRILL_PATH = "/srv/launchgate/backups/restore-drill.json";

/** The fields the gate needs, plus whatever else the drill wrote (kept verbatim). */
export interface DrillRecord {
  readonly ok: boolean;
  readonly finishedAt: string;
  readonly [field: string]: unknown;
}

/** Parses and validates a drill result. @throws GateCliError naming `source` and what is wrong. */
export function parseDrillRecord(text: string, source: string): DrillRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new GateCliError(
      `${source}: not JSON (${(e as Error).message}); expected the restore-drill result file`,
    );
  }
  const v = value as Partial<DrillRecord> | null;
  if (typeof v !== "object" || v === null || typeof v.ok !== "boolean") {
    throw new GateCliError(
      `${source}: expected { "ok": true|false, "finishedAt": ISO-8601, … }; "ok" is missing`,
    );
  }
  if (typeof v.finishedAt !== "string" || Number.isNaN(Date.parse(v.finishedAt))) {
    throw new GateCliError(
      `${source}: "finishedAt" must be an ISO-8601 timestamp, got ${JSON.stringify(v.finishedAt)}`,
    );
  }
  return v as DrillRecord;
}

/** `evidence/<stack>/restore-drill/<finishedAt>.json`, with `:` made file-name safe. */
export function drillEvidencePath(evidenceRoot: string, stack: string, record: DrillRecord): string {
  const stamp = new Date(record.finishedAt).toISOString().replace(/:/g, "-");
  return path.join(evidenceRoot, stack, RESTORE_DRILL_DIR, `${stamp}.json`);
}

export interface FetchDrillOptions {
  readonly stack: string;
  /** `user@host` of the deploy user. */
  readonly target: string;
  readonly port: number;
  readonly identity?: string;
  /** known_hosts file holding the host's key (`--known-hosts`). @default the user's ~/.ssh/known_hosts */
  readonly knownHostsFile?: string;
  readonly remotePath: string;
  readonly evidenceRoot: string;
  /** The ssh client to run (tests pass a stand-in). @default "ssh" */
  readonly ssh?: string;
}

/** Reads the drill result over SSH, validates it and writes it as evidence. Returns a summary. */
export function fetchDrill(o: FetchDrillOptions): string {
  const args = sshArgs(
    {
      target: o.target,
      port: o.port,
      ...(o.identity ? { identity: o.identity } : {}),
      ...(o.knownHostsFile ? { knownHostsFile: o.knownHostsFile } : {}),
    },
    ["cat", `'${o.remotePath.replace(/'/g, "'\\''")}'`],
  );
  const r = spawnSync(o.ssh ?? "ssh", args, { encoding: "utf8", timeout: 60_000 });
  if (r.error) throw new GateCliError(`could not run ${o.ssh ?? "ssh"}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new GateCliError(
      `reading ${o.remotePath} on ${o.target}:${o.port} failed (exit ${r.status}): ${r.stderr.trim() || "no output"}; has the restore drill run yet (systemctl list-timers 'launchgate-*')?`,
    );
  }
  const record = parseDrillRecord(r.stdout, `${o.target}:${o.remotePath}`);
  const file = drillEvidencePath(o.evidenceRoot, o.stack, record);
  writeFile(file, `${JSON.stringify(record, null, 2)}\n`);
  return `${record.ok ? "drill ok" : "drill FAILED"} at ${record.finishedAt}; recorded ${file}${record.ok ? "" : " (the backups gate will refuse until a drill passes)"}`;
}
