/**
 * Release gates: the runbooks' "if ANY prerequisite is missing, DO NOT PROCEED" (seeds 000, 001,
 * 002) as resource-level policies on the `release-gate` command. The gate is registered first and
 * every other resource depends on it, and its manifest is known at preview, so a mandatory
 * violation here stops `pulumi preview`/`up` before any resource changes.
 * Thresholds and the signer allow-list come from the pack config, never from the program.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { SignerAllowList, VerifyResult, verifyAttestation } from "./lib/attestation";
import {
  ATTESTATION_DIR,
  RESTORE_DRILL_DIR,
  VERIFY_DIR,
  attestationFileName,
} from "../contract/evidence-files";
import { GATE_RESOURCE_NAME, GateManifest, ageHours, manifestOf } from "../contract/manifest";
import { STAGING_MAX_AGE_HOURS, STAGING_VERIFIED_POLICY, UNGATED_FIX } from "../contract/release-rules";
import { configWithDefaults } from "./lib/config";
import { DIGEST_PINNED } from "./lib/patterns";
import { TYPES, onType, stackOfUrn } from "./lib/resources";
import { transitiveDependencies } from "./data";
import { withRationale } from "./lib/rule";

type PolicyConfigSchema = NonNullable<ResourceValidationPolicy["configSchema"]>;

interface GateContext<C> {
  readonly manifest: GateManifest;
  readonly config: C;
  /** Stack being deployed, from the gate's URN (not from the manifest, which the program writes). */
  readonly stack: string;
  readonly now: Date;
}

/** A gate policy: `check` returns one message per unmet prerequisite. */
function gatePolicy<C extends object>(
  name: string,
  description: string,
  configSchema: PolicyConfigSchema | undefined,
  check: (g: GateContext<C>) => string[],
): ResourceValidationPolicy {
  return {
    name,
    description,
    configSchema,
    validateResource: onType<Record<string, unknown>>(TYPES.localCommand, (props, args, report) => {
      // By name first: other local commands' inputs may be unknown at preview.
      if (args.name !== GATE_RESOURCE_NAME) return args.notApplicable("not the release gate");
      const manifest = manifestOf(props);
      if (!manifest) return args.notApplicable("no gate manifest");
      for (const message of check({
        manifest,
        config: configWithDefaults<C>(args.getConfig<Partial<C>>(), configSchema),
        stack: stackOfUrn(args.urn),
        now: new Date(),
      })) {
        report(message);
      }
    }),
  };
}

function imageDifferences(
  want: Readonly<Record<string, string>>,
  got: Readonly<Record<string, string>>,
): string[] {
  return [...new Set([...Object.keys(want), ...Object.keys(got)])].sort().filter((n) => want[n] !== got[n]);
}

export const stagingVerified = gatePolicy<{ maxAgeHours: number }>(
  STAGING_VERIFIED_POLICY,
  "Checks whether staging verified this exact release (same commit and image digests, smoke tests passed, recently).",
  { properties: { maxAgeHours: { type: "number", default: STAGING_MAX_AGE_HOURS } } },
  ({ manifest: m, config, now }) => {
    const fix = "deploy this release to staging, run the smoke tests (npm run promote), then retry";
    if (!m.staging.stack)
      return [`no staging stack to compare with; set launchgate:release.stagingStack, then ${fix}.`];
    const v = m.staging.verifiedRelease;
    if (!v) return [`staging stack ${m.staging.stack} has no verifiedRelease output; ${fix}.`];
    const out: string[] = [];
    if (v.commit !== m.commit) out.push(`staging verified commit ${v.commit}, not ${m.commit}; ${fix}.`);
    const diff = imageDifferences(v.images, m.images);
    if (diff.length > 0)
      out.push(
        `image digests differ from staging for ${diff.join(", ")}; release the digests staging verified.`,
      );
    if (!v.smokeTests.passed) out.push(`staging smoke tests did not pass; fix the release on staging first.`);
    const age = ageHours(v.smokeTests.finishedAt, now);
    if (Number.isNaN(age)) out.push(`staging smoke tests have no finish time; ${fix}.`);
    else if (age > config.maxAgeHours)
      out.push(
        `staging verification is ${age.toFixed(1)} h old (max ${config.maxAgeHours} h); re-run the staging smoke tests.`,
      );
    return out;
  },
);

export const backupsTested = gatePolicy<{ maxDrillAgeDays: number; minRetentionDays: number }>(
  "backups-tested",
  "Checks whether a recent restore drill succeeded and backups are kept long enough.",
  {
    properties: {
      maxDrillAgeDays: { type: "number", default: 7 },
      minRetentionDays: { type: "number", default: 30 },
    },
  },
  ({ manifest: m, config, stack, now }) => {
    const out: string[] = [];
    const maxDays = config.maxDrillAgeDays;
    const d = m.restoreDrill;
    if (!d)
      out.push(
        `no restore-drill record in ${m.evidenceDir}/${stack}/${RESTORE_DRILL_DIR}/; fetch the host's latest drill result (npm run gate -- fetch-drill --stack ${stack} --host deployer@<vps>) and commit it.`,
      );
    else if (!d.ok)
      out.push(`the latest restore drill (${d.file}) failed; fix backups and re-run the drill.`);
    else if (ageHours(d.finishedAt, now) > maxDays * 24) {
      out.push(
        `the latest restore drill (${d.file}) is ${(ageHours(d.finishedAt, now) / 24).toFixed(1)} days old (max ${maxDays}); re-run the drill.`,
      );
    }
    const minRetention = config.minRetentionDays;
    if (m.backups.retentionDays < minRetention) {
      out.push(
        `backups are kept ${m.backups.retentionDays} days (min ${minRetention}); set launchgate:backups.retentionDays to ${minRetention} or more.`,
      );
    }
    return out;
  },
);

export const monitoringConfigured = gatePolicy<Record<string, never>>(
  "monitoring-configured",
  "Checks whether monitoring has an alert target.",
  undefined,
  ({ manifest: m }) =>
    m.monitoring.alertTargetConfigured
      ? []
      : [
          "no alert target; set launchgate:alertWebhookUrl (secret https URL) and pass it to Release as `alertTarget`.",
        ],
);

export const rollbackReady = gatePolicy<Record<string, never>>(
  "rollback-ready",
  "Checks whether the previous release is recorded (commit and digest-pinned images) so it can be rolled back to.",
  undefined,
  ({ manifest: m }) => {
    const p = m.previous;
    if (!p)
      return [
        "no previous release recorded; set launchgate:release.previous {commit, images} to the release running now.",
      ];
    const out: string[] = [];
    if (p.commit === m.commit)
      out.push(
        "the previous release is this release; record the release running now in launchgate:release.previous.",
      );
    const entries = Object.entries(p.images);
    if (entries.length === 0)
      out.push(
        "the previous release lists no images; record its digests in launchgate:release.previous.images.",
      );
    const floating = entries.filter(([, ref]) => !DIGEST_PINNED.test(ref)).map(([n]) => n);
    if (floating.length > 0)
      out.push(
        `previous images ${floating.join(", ")} are not pinned by digest; record repo@sha256:<digest>.`,
      );
    return out;
  },
);

export const runningReleaseVerified = gatePolicy<{ mark: string }>(
  "running-release-verified",
  "Checks whether the release running now passed its post-deploy verification mark (seed 004: 30 minutes) before another goes out on top of it.",
  { properties: { mark: { type: "string", default: "30m" } } },
  ({ manifest: m, config, stack }) => {
    const p = m.previous;
    if (!p) return []; // nothing runs yet: the first release has nothing to build on
    const mark = config.mark ?? "30m";
    const marks = (m.verifications ?? []).filter((v) => v.commit === p.commit && v.after === mark);
    if (marks.length === 0)
      return [
        `the running release ${p.commit.slice(0, 12)} has no ${mark} verification mark in ${m.evidenceDir}/${stack}/${VERIFY_DIR}/; run npm run verify -- --stack ${stack} once it is due, commit the record, then retry.`,
      ];
    if (!marks.some((v) => v.passed))
      return [
        `the running release ${p.commit.slice(0, 12)} failed its ${mark} verification mark (${marks.map((v) => v.file).join(", ")}); fix or roll it back (npm run rollback -- --stack ${stack} --yes) before releasing on top of it.`,
      ];
    return [];
  },
);

interface AttestationConfig {
  readonly allowedSigners: SignerAllowList;
  readonly maxValidityDays: number;
}

const ALLOW_LIST_SCHEMA = {
  allowedSigners: { type: "object", default: {} },
  maxValidityDays: { type: "number", default: 30 },
} as const;

/** Why no attestation of `kind` counts, or undefined when a valid one exists. */
export function attestationProblem(g: GateContext<AttestationConfig>, kind: string): string | undefined {
  const m = g.manifest;
  const candidates = m.attestations.filter(
    (a) => (a.content as { payload?: { kind?: unknown } })?.payload?.kind === kind,
  );
  const sign = `npm run gate -- sign --kind ${kind} --stack ${g.stack}`;
  if (candidates.length === 0)
    return `missing ${kind} sign-off: no ${m.evidenceDir}/${g.stack}/${ATTESTATION_DIR}/${attestationFileName(kind)}; ${sign} …`;
  const results: [string, VerifyResult][] = candidates.map((a) => [
    a.file,
    verifyAttestation(a.content, {
      allowList: g.config.allowedSigners,
      binding: { stack: g.stack, commit: m.commit, images: m.images },
      now: g.now,
      maxValidityDays: g.config.maxValidityDays,
    }),
  ]);
  if (results.some(([, r]) => r.ok)) return undefined;
  const reasons = results
    .map(([file, r]) => (r.ok ? "" : `${r.problem} (${r.detail}) in ${file}`))
    .join("; ");
  return `${kind} sign-off refused: ${reasons}; have an allow-listed signer re-sign this release: ${sign} …`;
}

export const signOffsAttested = gatePolicy<AttestationConfig & { requiredKinds: string[] }>(
  "sign-offs-attested",
  "Checks whether every required sign-off is an ed25519 attestation by an allow-listed signer, bound to this commit and these image digests, and unexpired.",
  {
    properties: {
      ...ALLOW_LIST_SCHEMA,
      requiredKinds: {
        type: "array",
        items: { type: "string" },
        default: [
          "legal-counsel",
          "qa",
          "tech-lead",
          "incident-response-briefed",
          "launch-comms",
          "security-scan",
        ],
      },
    },
  },
  (g) =>
    g.config.requiredKinds.map((k) => attestationProblem(g, k)).filter((p): p is string => p !== undefined),
);

export const flagsAttested = gatePolicy<AttestationConfig & { flags: Record<string, string> }>(
  "flags-attested",
  "Checks whether each enabled flag that needs approval (e.g. REAL_MONEY_ENABLED) has a valid attestation of the required kind.",
  {
    properties: {
      ...ALLOW_LIST_SCHEMA,
      flags: { type: "object", default: { REAL_MONEY_ENABLED: "legal-counsel" } },
    },
  },
  (g) => {
    const out: string[] = [];
    for (const [flag, f] of Object.entries(g.manifest.flags)) {
      if (!f.enabled) continue;
      // The pack's list is a floor: the program cannot drop an approval by editing config.
      const kinds = new Set([f.requiresAttestation, g.config.flags[flag]].filter((k): k is string => !!k));
      for (const kind of kinds) {
        const problem = attestationProblem(g, kind);
        if (problem)
          out.push(
            `${flag} is enabled without a valid ${kind} attestation (${problem}); or set launchgate:flags.${flag}.enabled to false.`,
          );
      }
    }
    return out;
  },
);

export const releaseGateFirst: StackValidationPolicy = {
  name: "release-gate-first",
  description: "Checks whether the stack has a release gate and every resource depends on it.",
  validateStack: (args, report) => {
    const gate = args.resources.find((r) => r.type === TYPES.localCommand && r.name === GATE_RESOURCE_NAME);
    const managed = args.resources.filter((r) => !/^(pulumi|launchgate):/.test(r.type) && r !== gate);
    if (!gate) {
      if (managed.length > 0)
        report(
          `no ${GATE_RESOURCE_NAME} resource; create the Release component first and pass gate: release.gate to every component.`,
        );
      return;
    }
    const ungated = managed.filter((r) => !transitiveDependencies(r).has(gate)).map((r) => r.name);
    if (ungated.length > 0) {
      report(
        `${ungated.length} resource(s) do not wait for the release gate: ${ungated.join(", ")}; ${UNGATED_FIX}.`,
      );
    }
  },
};

const SEED_GATE = 'seeds 000–002 launch prerequisites ("if ANY are missing, DO NOT PROCEED")';

export const gatePolicies = [
  withRationale(stagingVerified, {
    protectsAgainst: "releasing a commit or image digests staging never verified",
    benchmark: `${SEED_GATE}: staging verified`,
    fix: "deploy to staging, run the smoke tests, release the digests staging verified",
  }),
  withRationale(backupsTested, {
    protectsAgainst: "launching with backups that were never restored or kept too briefly",
    benchmark: `${SEED_GATE}: backups automated and tested`,
    fix: "run the drill, commit its record; raise backups.retentionDays",
  }),
  withRationale(monitoringConfigured, {
    protectsAgainst: "an outage nobody is alerted to",
    benchmark: `${SEED_GATE}: monitoring and alerting configured`,
    fix: "set launchgate:alertWebhookUrl (secret), pass it as alertTarget",
  }),
  withRationale(rollbackReady, {
    protectsAgainst: "a bad release with nothing recorded to roll back to",
    benchmark: `${SEED_GATE}: rollback plan prepared`,
    fix: "record the running release in launchgate:release.previous",
  }),
  withRationale(runningReleaseVerified, {
    protectsAgainst: "releasing over a running release whose post-deploy verification failed or never ran",
    benchmark: "seed 004 post-deploy verification (30 min / 1 h / 24 h marks)",
    fix: "run `npm run verify -- --stack <stack>` once the mark is due, or fix the running release first",
  }),
  withRationale(signOffsAttested, {
    protectsAgainst:
      "launching without legal, QA, tech-lead, incident and comms sign-off, or with forged/expired/mis-bound ones",
    benchmark: `${SEED_GATE}: sign-offs`,
    fix: "have an allow-listed signer `npm run gate -- sign` this release",
  }),
  withRationale(flagsAttested, {
    protectsAgainst: "real money (or another gated flag) switched on without the required approval",
    benchmark: "seed 000 step 2.6 (counsel approval for real money)",
    fix: "get the attestation or switch the flag off",
  }),
  withRationale(releaseGateFirst, {
    protectsAgainst: "resources changing before the gates are evaluated",
    benchmark: "launchgate DESIGN §4 (gates stop changes before they happen)",
    fix: UNGATED_FIX,
  }),
];
