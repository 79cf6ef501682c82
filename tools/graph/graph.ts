/**
 * The recorded resource graph of each stack — every registration's type, name, inputs, options
 * and dependencies, as tools/checker/record.ts sees them under the mock runtime (preview) — and
 * its comparison with a committed snapshot, so a refactor can prove it changed nothing and a
 * deliberate change shows exactly which resources and inputs it touched.
 *
 * Normalized so the snapshot is stable: resources sorted by URN (registration order of
 * resources created inside applies is not deterministic), dependency lists sorted (a set to the
 * engine), the project path replaced by `<project>`, random UUIDs (per-run ids such as
 * PostgresAdminTunnel's `LAUNCHGATE_RUN`) replaced by `<uuid>` (the SDK's preview-unknown
 * sentinel kept), and strings over {@link LONG_STRING} chars (rendered scripts, configs) stored
 * as their sha256 and length.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { RecordedResource, runProgram } from "../checker/record";
import { loadStackConfig } from "../checker/stack-config";

/** The stacks whose graphs are recorded: the ones with a `Pulumi.<stack>.yaml`. */
export const GRAPH_STACKS = ["local", "staging", "production"] as const;

/** Strings longer than this (chars) are recorded as `sha256:<hex> (<n> chars)`. */
export const LONG_STRING = 160;

/** Where the committed snapshots live, one `<stack>.json` each. */
export const SNAPSHOT_DIR = path.resolve(__dirname, "../../test/gates/resource-graphs");

/** One stack's recorded graph. */
export interface StackGraph {
  readonly stack: string;
  /** Program errors of the run; a snapshot with errors is refused by `--update`. */
  readonly errors: string[];
  readonly resources: Record<string, unknown>[];
}

/** The value the SDK sends for an input unknown at preview (pulumi/runtime/rpc.js). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/g;

function normalizeValue(v: unknown, projectDir: string): unknown {
  if (typeof v === "string") {
    const s = v
      .split(projectDir)
      .join("<project>")
      .replace(UUID, (u) => (u === UNKNOWN ? u : "<uuid>"));
    return s.length > LONG_STRING
      ? `sha256:${createHash("sha256").update(s).digest("hex")} (${s.length} chars)`
      : s;
  }
  if (Array.isArray(v)) return v.map((x) => normalizeValue(x, projectDir));
  if (v !== null && typeof v === "object")
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, normalizeValue((v as Record<string, unknown>)[k], projectDir)]),
    );
  return v;
}

function normalize(r: RecordedResource, projectDir: string): Record<string, unknown> {
  // `index` (registration order) is left out: see the module comment.
  const { index: _index, dependencies, propertyDependencies, ...rest } = r;
  const sortedPropertyDeps = Object.fromEntries(
    Object.entries(propertyDependencies).map(([k, v]) => [k, [...v].sort()]),
  );
  return normalizeValue(
    { ...rest, dependencies: [...dependencies].sort(), propertyDependencies: sortedPropertyDeps },
    projectDir,
  ) as Record<string, unknown>;
}

/** Runs the program for `stack` (its stack file, preview) and returns the normalized graph. */
export async function recordGraph(stack: string, projectDir: string): Promise<StackGraph> {
  const root = path.resolve(projectDir);
  const run = await runProgram({
    programPath: path.join(root, "index.ts"),
    projectDir: root,
    stack,
    config: loadStackConfig(root, stack),
    preview: true,
  });
  const resources = run.resources
    .map((r) => normalize(r, root))
    .sort((a, b) => String(a.urn).localeCompare(String(b.urn)));
  return { stack, errors: run.errors.map((e) => e.split(root).join("<project>")), resources };
}

export function snapshotFile(stack: string, dir = SNAPSHOT_DIR): string {
  return path.join(dir, `${stack}.json`);
}

export function writeSnapshot(g: StackGraph, dir = SNAPSHOT_DIR): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(snapshotFile(g.stack, dir), `${JSON.stringify(g, null, 2)}\n`);
}

export function readSnapshot(stack: string, dir = SNAPSHOT_DIR): StackGraph | undefined {
  const file = snapshotFile(stack, dir);
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as StackGraph) : undefined;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? "(absent)" : s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/** Differences between two values as `path: old → new` lines. */
function diffValues(a: unknown, b: unknown, at: string, out: string[]): void {
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  const isObj = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a as object), ...Object.keys(b as object)])].sort();
    for (const k of keys)
      diffValues((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`, out);
    return;
  }
  out.push(`${at}: ${show(a)} → ${show(b)}`);
}

/**
 * What changed from `before` (the snapshot) to `after` (this run), one line per added or removed
 * resource and per changed field; empty when the graphs are identical.
 */
export function diffGraphs(before: StackGraph, after: StackGraph): string[] {
  const out: string[] = [];
  diffValues(before.errors, after.errors, "errors", out);
  const byUrn = (g: StackGraph) => new Map(g.resources.map((r) => [String(r.urn), r]));
  const a = byUrn(before);
  const b = byUrn(after);
  for (const urn of a.keys()) if (!b.has(urn)) out.push(`removed ${urn}`);
  for (const urn of b.keys()) if (!a.has(urn)) out.push(`added ${urn}`);
  for (const [urn, r] of a) {
    const next = b.get(urn);
    if (next) diffValues(r, next, urn, out);
  }
  return out;
}
