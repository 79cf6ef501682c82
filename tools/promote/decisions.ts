/**
 * Every decision `npm run promote` / `npm run rollback` makes, as pure functions over plain data
 * (stack outputs, stack config, clock, smoke-test responses). The Automation API wiring in
 * ./flow.ts only fetches that data and carries out the plans returned here.
 */
import { STAGING_MAX_AGE_HOURS, STAGING_VERIFIED_POLICY } from "../../contract/release-rules";
import {
  COMMIT_SHA,
  ConfigError,
  ConfigMap,
  DIGEST_REF,
  LaunchgateConfig,
  NAMESPACE,
  imageConfigPaths as configPathsOf,
  isAppRole,
  keyName,
  parseConfigKeys,
  valueAt,
} from "../../stacks/config";

export type { ConfigMap } from "../../stacks/config";

/** Image references by role, as the stack exports them: `app:<name>`, `postgres`, `pgbouncer`, `redis`, `proxy`. */
export type Images = Record<string, string>;

/** A release: what runs. */
export interface ReleaseRef {
  readonly commit: string;
  readonly images: Images;
}

/** Smoke-test result as recorded in `launchgate:verification` and exported under `verifiedRelease`. */
export interface Verification {
  readonly commit: string;
  readonly passed: boolean;
  readonly finishedAt: string;
}

/** Stack outputs as the Automation API returns them. */
export type OutputMap = Record<string, { value: unknown; secret?: boolean }>;

export type Decision<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Clock skew tolerated before a smoke-test time "in the future" is refused. */
const FUTURE_SKEW_MS = 5 * 60_000;

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function short(commit: string): string {
  return commit.slice(0, 12);
}

/** Human age, e.g. `3h 12m`. */
export function formatAge(ms: number): string {
  const m = Math.floor(ms / 60_000);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}h ${m % 60}m` : `${Math.floor(h / 24)}d ${h % 24}h`;
}

/**
 * Decides whether the source stack's exported `verifiedRelease` may be promoted: smoke tests
 * recorded, passed, for this very commit, no older than `maxAgeHours`, every image a digest.
 */
export function decideSourceVerified(
  outputs: OutputMap,
  opts: { now: Date; maxAgeHours: number; stack: string },
): Decision<ReleaseRef & { verifiedAt: string; ageMs: number }> {
  const vr = outputs.verifiedRelease?.value;
  const where = `stack ${opts.stack}`;
  if (!isRecord(vr))
    return { ok: false, reason: `${where} exports no verifiedRelease; deploy it with npm run promote first` };
  const commit = vr.commit;
  const images = vr.images;
  if (typeof commit !== "string" || !COMMIT_SHA.test(commit))
    return {
      ok: false,
      reason: `${where}: verifiedRelease.commit is ${JSON.stringify(commit)}, expected 40 hex digits`,
    };
  if (!isRecord(images) || Object.keys(images).length === 0)
    return { ok: false, reason: `${where}: verifiedRelease.images is empty` };
  for (const [role, ref] of Object.entries(images)) {
    if (typeof ref !== "string" || !DIGEST_REF.test(ref))
      return {
        ok: false,
        reason: `${where}: image ${role} is ${JSON.stringify(ref)}, not pinned by digest (repo@sha256:<64 hex>); promotion never copies a tag`,
      };
  }
  const st = vr.smokeTests;
  if (!isRecord(st))
    return {
      ok: false,
      reason: `${where} has no smoke-test result for ${short(commit)}; it is not verified`,
    };
  if (st.passed !== true)
    return {
      ok: false,
      reason: `${where}: smoke tests for ${short(commit)} did not pass; fix staging first`,
    };
  if (st.commit !== commit)
    return {
      ok: false,
      reason: `${where}: smoke tests passed for ${short(String(st.commit))} but the deployed release is ${short(commit)}; re-verify staging`,
    };
  const at = Date.parse(String(st.finishedAt));
  if (Number.isNaN(at))
    return { ok: false, reason: `${where}: smoke-test time ${JSON.stringify(st.finishedAt)} is not a date` };
  const ageMs = opts.now.getTime() - at;
  if (ageMs < -FUTURE_SKEW_MS)
    return { ok: false, reason: `${where}: smoke-test time ${String(st.finishedAt)} is in the future` };
  if (ageMs > opts.maxAgeHours * 3_600_000)
    return {
      ok: false,
      reason: `${where}: smoke tests passed ${formatAge(ageMs)} ago, older than the ${opts.maxAgeHours}h limit; re-verify staging`,
    };
  return {
    ok: true,
    value: { commit, images: images as Images, verifiedAt: String(st.finishedAt), ageMs: Math.max(0, ageMs) },
  };
}

/** The keys of the target's config promotion and rollback read. */
const TARGET_KEYS = ["apps", "release", "verification", "flags"] as const;

/** The target's config as promotion reads it: {@link TARGET_KEYS}, validated by the program's schema. */
export type TargetConfig = Pick<LaunchgateConfig, (typeof TARGET_KEYS)[number]>;

/**
 * Reads the target's config through the program's schema (stacks/config.ts), so promotion accepts
 * exactly the config the program accepts; the refusal names each bad key, its value and what is
 * expected, in the schema's words.
 */
export function readTargetConfig(config: ConfigMap): Decision<TargetConfig> {
  try {
    return { ok: true, value: parseConfigKeys(config, TARGET_KEYS) };
  } catch (e) {
    if (e instanceof ConfigError) return { ok: false, reason: e.message };
    throw e;
  }
}

/** The stack's apps as the program reads them, for the smoke tests. @throws ConfigError */
export function targetApps(config: ConfigMap): TargetConfig["apps"] {
  return parseConfigKeys(config, ["apps"]).apps;
}

/**
 * The source must be the stack the target's staging gate reads (`launchgate:release.stagingStack`,
 * compared by its last segment, as the checker names StackReference files); a target without one
 * accepts any source.
 */
export function decideSourceMatchesGate(source: string, targetConfig: ConfigMap): Decision<string> {
  const target = readTargetConfig(targetConfig);
  if (!target.ok) return target;
  const gate = target.value.release.stagingStack;
  const last = (s: string) => s.split("/").pop() ?? s;
  if (gate && last(gate) !== last(source))
    return {
      ok: false,
      reason: `the target's staging gate reads ${gate} (${NAMESPACE}:release.stagingStack), not ${source}; promote from that stack`,
    };
  return { ok: true, value: gate ?? source };
}

/**
 * The staging age limit the target's `staging-verified` gate applies: `maxAgeHours` of that
 * policy in the target's pack config (`policies/config/<stack>.json`), else the gate's default
 * (contract/release-rules.ts) — the same number the gate refuses on, so promotion never starts
 * what the gate would stop. `override` (`--max-age-hours`) wins.
 */
export function maxSourceAgeHours(
  packConfig: Record<string, unknown> | undefined,
  override?: number,
): number {
  if (override !== undefined) return override;
  const gate = packConfig?.[STAGING_VERIFIED_POLICY];
  const v = isRecord(gate) ? gate.maxAgeHours : undefined;
  return typeof v === "number" && v > 0 ? v : STAGING_MAX_AGE_HOURS;
}

/** The config key (`launchgate:apps[0].image`) each image role lives at (stacks/config.ts). */
export function imageConfigPaths(target: Pick<TargetConfig, "apps">): Record<string, string> {
  return Object.fromEntries(
    Object.entries(configPathsOf(target.apps)).map(([role, p]) => [role, keyName(p)]),
  );
}

/** Config edits to carry out, in order: remove these paths, then set these (all with `--path`). */
export interface ConfigPlan {
  readonly remove: string[];
  readonly set: Record<string, string>;
}

export interface ReleasePlan {
  /** `noop` when the target already runs exactly this release. */
  readonly kind: "change" | "noop";
  readonly config: ConfigPlan;
  /** Human lines: what changes. */
  readonly summary: string[];
  /** The release the target will run. */
  readonly release: ReleaseRef;
  /** What is recorded as the rollback target. */
  readonly previous: ReleaseRef | null;
}

/** The release a stack currently runs, from its `release` output. */
export function currentRelease(outputs: OutputMap): ReleaseRef | null {
  const r = outputs.release?.value;
  if (!isRecord(r) || typeof r.commit !== "string" || !isRecord(r.images)) return null;
  return { commit: r.commit, images: r.images as Images };
}

/** The rollback target recorded on a stack: `release.previous` output, else `launchgate:release.previous` config. */
export function recordedPrevious(
  outputs: OutputMap,
  target: Pick<TargetConfig, "release">,
): ReleaseRef | null {
  const fromOutput = outputs.release?.value;
  const candidates = [isRecord(fromOutput) ? fromOutput.previous : undefined, target.release.previous];
  for (const p of candidates) {
    if (isRecord(p) && typeof p.commit === "string" && isRecord(p.images))
      return { commit: p.commit, images: p.images as Images };
  }
  return null;
}

function sameRelease(a: ReleaseRef | null, b: ReleaseRef): boolean {
  if (!a || a.commit !== b.commit) return false;
  return Object.entries(b.images).every(([role, ref]) => a.images[role] === ref);
}

/** Only the app images: the part of a release rolled back (data-store images stay put). */
function appImages(images: Images): Images {
  return Object.fromEntries(Object.entries(images).filter(([role]) => isAppRole(role)));
}

/**
 * Plans the config edits that make the target run `release`: every image role set to exactly the
 * given digest, `release.commit`, `release.previous` = what the target runs now (its app images),
 * and the stale `verification` removed (smoke tests re-run after the update).
 */
export function planRelease(input: {
  release: ReleaseRef;
  targetConfig: ConfigMap;
  targetOutputs: OutputMap;
  /** Rollback target to record; defaults to the target's current release. */
  previous?: ReleaseRef | null;
  /**
   * Refuse when the release lacks an image role the target runs now (promotion carries every
   * role); without it only the apps are required (a rollback leaves the data stores alone).
   */
  requireAllRoles?: boolean;
}): Decision<ReleasePlan> {
  const { release, targetConfig, targetOutputs } = input;
  if (!COMMIT_SHA.test(release.commit))
    return { ok: false, reason: `release commit ${JSON.stringify(release.commit)} is not 40 hex digits` };
  const target = readTargetConfig(targetConfig);
  if (!target.ok) return target;
  const paths = imageConfigPaths(target.value);
  for (const role of Object.keys(paths).filter(isAppRole)) {
    if (!release.images[role])
      return {
        ok: false,
        reason: `the release has no image for ${role}, which the target runs; promote a release that covers every app`,
      };
  }
  const set: Record<string, string> = {};
  const summary: string[] = [];
  const current = currentRelease(targetOutputs);
  for (const [role, ref] of Object.entries(release.images)) {
    const p = paths[role];
    if (!p)
      return {
        ok: false,
        reason: `the release has an image for ${role}, which the target does not declare; add it to the target's config in a reviewed change first`,
      };
    if (!DIGEST_REF.test(ref)) return { ok: false, reason: `image ${role} is ${ref}: not pinned by digest` };
    set[p] = ref;
    const before = current?.images[role];
    if (before !== ref) summary.push(`${role}: ${before ?? "(none)"} -> ${ref}`);
  }
  if (input.requireAllRoles) {
    for (const role of Object.keys(paths)) {
      if (!release.images[role] && current?.images[role])
        return { ok: false, reason: `the release has no image for ${role}` };
    }
  }
  if (sameRelease(current, release)) {
    return {
      ok: true,
      value: { kind: "noop", config: { remove: [], set: {} }, summary: [], release, previous: null },
    };
  }
  set[`${NAMESPACE}:release.commit`] = release.commit;
  if (current?.commit !== release.commit)
    summary.unshift(`commit: ${current?.commit ?? "(none)"} -> ${release.commit}`);
  // Same commit with other images (a rebuild): the recorded rollback target stays as it is, since
  // a "previous" equal to this commit is no rollback target at all.
  const previous =
    input.previous !== undefined
      ? input.previous
      : current && current.commit !== release.commit
        ? { commit: current.commit, images: appImages(current.images) }
        : null;
  const remove: string[] = [];
  if (previous) {
    // Replace the whole record so no image of an older release lingers in it.
    if (recordedPrevious({}, target.value)) remove.push(`${NAMESPACE}:release.previous`);
    set[`${NAMESPACE}:release.previous.commit`] = previous.commit;
    for (const [role, ref] of Object.entries(previous.images)) {
      // Bracket notation: roles contain a colon (`app:api`), which `config set --path` accepts
      // only inside brackets (pulumi's ParseConfigKey tests: `ns:key["segment1:suffix"]`).
      set[`${NAMESPACE}:release.previous.images["${role}"]`] = ref;
    }
    summary.push(`rollback target: ${previous.commit}`);
  }
  if (target.value.verification !== undefined) remove.push(`${NAMESPACE}:verification`);
  return { ok: true, value: { kind: "change", config: { remove, set }, summary, release, previous } };
}

/**
 * Plans a rollback: the recorded previous release's app images and commit; the release rolled
 * back from becomes the new rollback target (so a second rollback rolls forward).
 */
export function planRollback(input: {
  targetConfig: ConfigMap;
  targetOutputs: OutputMap;
  /** Flags to switch off with the rollback (seed 000 step 4.1: disable payments first). */
  disableFlags?: string[];
}): Decision<ReleasePlan> {
  const target = readTargetConfig(input.targetConfig);
  if (!target.ok) return target;
  const previous = recordedPrevious(input.targetOutputs, target.value);
  if (!previous)
    return {
      ok: false,
      reason: `no previous release recorded (${NAMESPACE}:release.previous); nothing to roll back to`,
    };
  const flags = target.value.flags;
  for (const f of input.disableFlags ?? []) {
    if (!Object.hasOwn(flags, f))
      return { ok: false, reason: `--disable-flag ${f}: no such flag in ${NAMESPACE}:flags` };
  }
  const current = currentRelease(input.targetOutputs);
  const plan = planRelease({
    release: previous,
    targetConfig: input.targetConfig,
    targetOutputs: input.targetOutputs,
    previous: current ? { commit: current.commit, images: appImages(current.images) } : null,
  });
  if (!plan.ok || !input.disableFlags?.length) return plan;
  const set = { ...plan.value.config.set };
  for (const f of input.disableFlags) set[`${NAMESPACE}:flags.${f}.enabled`] = "false";
  return {
    ok: true,
    value: {
      ...plan.value,
      kind: "change",
      config: { ...plan.value.config, set },
      summary: [...plan.value.summary, ...input.disableFlags.map((f) => `flag ${f}: off`)],
    },
  };
}

/**
 * Gates that approve a *new* release: a rollback returns to the release production ran before,
 * which passed them when it shipped, while its evidence (staging's verification, sign-offs bound
 * to its commit) has since moved on to the newer release. They are advisory for a rollback;
 * every other policy (security, data safety, backups, `flags-attested`) keeps its level — so a
 * flag needing counsel approval must be switched off (`--disable-flag`) or re-attested.
 */
export const ROLLBACK_ADVISORY_GATES = ["staging-verified", "sign-offs-attested"] as const;

/** The target's pack config with the release-approval gates advisory, for a rollback. */
export function rollbackPackConfig(packConfig: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...packConfig };
  for (const gate of ROLLBACK_ADVISORY_GATES) {
    const entry = out[gate];
    out[gate] = isRecord(entry) ? { ...entry, enforcementLevel: "advisory" } : "advisory";
  }
  return out;
}

/**
 * Plans deploying the release the stack file already holds (CI on main → staging): images and
 * commit from the target's own config, pinned by digest; the stale verification removed. The
 * release is always re-verified, so this is never a noop.
 */
export function planCommitted(input: { targetConfig: ConfigMap }): Decision<ReleasePlan> {
  const target = readTargetConfig(input.targetConfig);
  if (!target.ok) return target;
  const { commit } = target.value.release;
  const images: Images = {};
  for (const [role, p] of Object.entries(configPathsOf(target.value.apps))) {
    if (!isAppRole(role)) continue;
    const image = String(valueAt(target.value, p));
    if (!DIGEST_REF.test(image))
      return { ok: false, reason: `${keyName(p)} is ${image}: not pinned by digest` };
    images[role] = image;
  }
  const remove = target.value.verification !== undefined ? [`${NAMESPACE}:verification`] : [];
  return {
    ok: true,
    value: {
      kind: "change",
      config: { remove, set: {} },
      summary: [`deploying the committed release ${commit}`],
      release: { commit, images },
      previous: null,
    },
  };
}

/**
 * True when the target runs `commit` but has no passed verification recorded for it (a run that
 * deployed and then failed to record): re-running the command then only re-tests and records.
 * @throws ConfigError when `launchgate:verification` is not what the schema accepts.
 */
export function needsVerification(targetConfig: ConfigMap, commit: string): boolean {
  const v = parseConfigKeys(targetConfig, ["verification"]).verification;
  return !(v !== undefined && v.commit === commit && v.passed === true);
}

/** What to record once smoke tests pass: `launchgate:verification` for the release. */
export function planRecordVerification(commit: string, finishedAt: Date): ConfigPlan {
  return {
    remove: [],
    set: {
      [`${NAMESPACE}:verification.commit`]: commit,
      [`${NAMESPACE}:verification.passed`]: "true",
      [`${NAMESPACE}:verification.finishedAt`]: finishedAt.toISOString(),
    },
  };
}

/** The policy flags every preview and update carries. */
export function policyArgs(
  stack: string,
  packConfigFile?: string,
): { policyPacks: string[]; policyPackConfigs: string[] } {
  return {
    policyPacks: ["policies"],
    policyPackConfigs: [packConfigFile ?? `policies/config/${stack}.json`],
  };
}

/** The shell command that rolls `stack` back, printed whenever a promotion fails after changing it. */
export function rollbackCommand(stack: string): string {
  return `npm run rollback -- --stack ${stack} --yes`;
}
