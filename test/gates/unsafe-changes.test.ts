/**
 * Table: unsafe changes to the program, its config or its evidence, each applied alone to a
 * production release that passes, each refused by the named policy. Program changes are stack
 * transformations (what an edit to a component would register); config changes override the
 * stack file; evidence changes rewrite the evidence dir.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { readStackFile } from "../../stacks/stack-file";
import type { Attestation } from "../../policies/lib/attestation";
import { EvidenceSet, attest, hoursAgo, makeSigner } from "../fixtures/evidence";
import { ProductionFixture, ROOT, refusedBy, stopPack } from "./support";

after(stopPack);

type Props = Record<string, unknown>;
type Change =
  | { readonly program: pulumi.ResourceTransformation }
  | { readonly config: (release: Props) => Record<string, unknown> }
  | { readonly evidence: (valid: Required<EvidenceSet>, fx: ProductionFixture) => EvidenceSet };

/** A program change to the resource `name`: new props and/or options. */
function edit(
  name: string,
  change: (
    props: Props,
    opts: pulumi.CustomResourceOptions,
  ) => { props?: Props; opts?: pulumi.CustomResourceOptions },
): Change {
  return {
    program: (args) => {
      if (args.name !== name || args.type.startsWith("launchgate:")) return undefined;
      const r = change(args.props as Props, args.opts as pulumi.CustomResourceOptions);
      return { props: r.props ?? args.props, opts: r.opts ?? args.opts };
    },
  };
}

/** Rewrites every string inside a (possibly Output) value. */
function mapStrings(v: unknown, f: (s: string) => string): unknown {
  if (pulumi.Output.isInstance(v)) return v.apply((x) => mapStrings(x, f));
  if (typeof v === "string") return f(v);
  if (Array.isArray(v)) return v.map((x) => mapStrings(x, f));
  if (v && typeof v === "object" && !pulumi.Resource.isInstance(v))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapStrings(x, f)]));
  return v;
}
const replaceIn = (name: string, key: string, from: string | RegExp, to: string) =>
  edit(name, (p) => ({ props: { ...p, [key]: mapStrings(p[key], (s) => s.replace(from, to)) } }));
const setProp = (name: string, key: string, value: unknown) =>
  edit(name, (p) => ({ props: { ...p, [key]: value } }));
/** Appends a plain env entry (the container's env list is an array of inputs). */
const appendEnv = (name: string, env: string) =>
  edit(name, (p) => ({ props: { ...p, envs: [...(p.envs as unknown[]), env] } }));

const swapAttestation = (kind: string, make: (fx: ProductionFixture) => Attestation | null) => ({
  evidence: (valid: Required<EvidenceSet>, fx: ProductionFixture): EvidenceSet => ({
    ...valid,
    attestations: valid.attestations.flatMap((a) =>
      a.payload.kind === kind ? [make(fx)].filter((x): x is Attestation => x !== null) : [a],
    ),
  }),
});

const stagingWith = (change: (v: Props) => Props): Change => ({
  evidence: (valid) => ({
    ...valid,
    stackOutputs: {
      staging: {
        verifiedRelease: change(valid.stackOutputs.staging!.verifiedRelease as unknown as Props) as never,
      },
    },
  }),
});

const flags = () => readStackFile(ROOT, "production").values.flags as Record<string, unknown>;
const OTHER_DIGEST = `sha256:${"e".repeat(64)}`;

const CASES: [string, string, Change][] = [
  // config
  [
    "a flag needing CFO approval switched on",
    "flags-attested",
    {
      config: () => ({
        flags: { ...flags(), PAYOUTS_ENABLED: { enabled: true, requiresAttestation: "cfo" } },
      }),
    },
  ],
  [
    "release commit changed after sign-off",
    "sign-offs-attested",
    { config: (r) => ({ release: { ...r, commit: "1".repeat(40) } }) },
  ],
  [
    "previous release dropped",
    "rollback-ready",
    { config: (r) => ({ release: { ...r, previous: undefined } }) },
  ],
  [
    "previous release = this release",
    "rollback-ready",
    { config: (r) => ({ release: { ...r, previous: { ...(r.previous as Props), commit: r.commit } } }) },
  ],
  [
    "previous release pinned by tag",
    "rollback-ready",
    {
      config: (r) => ({
        release: {
          ...r,
          previous: {
            commit: (r.previous as Props).commit,
            images: { "app:api": "ghcr.io/blazetv/api:1.3.0" },
          },
        },
      }),
    },
  ],
  ["backups kept 7 days", "backups-tested", { config: () => ({ backups: { retentionDays: 7 } }) }],
  [
    "compared against a staging stack that never verified it",
    "staging-verified",
    { config: (r) => ({ release: { ...r, stagingStack: "blazetv/launchgate/qa" } }) },
  ],
  [
    "alert webhook in plain text",
    "checker/secure-config",
    { config: () => ({ alertWebhookUrl: "https://hooks.example.com/T000/B000" }) },
  ],
  [
    "HSTS switched off",
    "proxy-tls",
    {
      config: () => ({
        proxy: { ...(readStackFile(ROOT, "production").values.proxy as Props), hstsMaxAgeSeconds: 0 },
      }),
    },
  ],
  // evidence
  [
    "restore drill 10 days old",
    "backups-tested",
    { evidence: (v) => ({ ...v, drill: { ok: true, finishedAt: hoursAgo(240) } }) },
  ],
  [
    "restore drill failed",
    "backups-tested",
    { evidence: (v) => ({ ...v, drill: { ok: false, finishedAt: hoursAgo(2) } }) },
  ],
  ["no restore drill", "backups-tested", { evidence: (v) => ({ ...v, drill: null }) }],
  [
    "staging smoke tests failed",
    "staging-verified",
    stagingWith((s) => ({ ...s, smokeTests: { passed: false, finishedAt: hoursAgo(3) } })),
  ],
  [
    "staging verification 100 h old",
    "staging-verified",
    stagingWith((s) => ({ ...s, smokeTests: { passed: true, finishedAt: hoursAgo(100) } })),
  ],
  [
    "staging verified other digests",
    "staging-verified",
    stagingWith((s) => ({
      ...s,
      images: { ...(s.images as Props), "app:api": `ghcr.io/blazetv/api@${OTHER_DIGEST}` },
    })),
  ],
  [
    "staging verified another commit",
    "staging-verified",
    stagingWith((s) => ({ ...s, commit: "2".repeat(40) })),
  ],
  [
    "QA signed by an unknown signer",
    "sign-offs-attested",
    swapAttestation("qa", (fx) => attest(makeSigner("mallory"), "qa", fx.binding)),
  ],
  [
    "tech lead's sign-off valid for 60 days",
    "sign-offs-attested",
    swapAttestation("tech-lead", (fx) =>
      attest(fx.signer, "tech-lead", fx.binding, { expiresHours: 24 * 60 }),
    ),
  ],
  [
    "launch comms signed for staging",
    "sign-offs-attested",
    swapAttestation("launch-comms", (fx) =>
      attest(fx.signer, "launch-comms", { ...fx.binding, stack: "staging" }),
    ),
  ],
  [
    "incident team not briefed",
    "sign-offs-attested",
    swapAttestation("incident-response-briefed", () => null),
  ],
  [
    "counsel approval missing with REAL_MONEY_ENABLED on",
    "flags-attested",
    swapAttestation("legal-counsel", () => null),
  ],
  [
    "security scan attested before it was issued",
    "sign-offs-attested",
    swapAttestation("security-scan", (fx) =>
      attest(fx.signer, "security-scan", fx.binding, { issuedHours: 3 }),
    ),
  ],
  // program
  [
    "Postgres publishes 5432",
    "no-datastore-host-ports",
    setProp("postgres", "ports", [{ internal: 5432, external: 5432 }]),
  ],
  [
    "Redis joins the edge network",
    "datastores-internal-only",
    edit("redis-cache", (p) => ({
      props: { ...p, networksAdvanced: [...(p.networksAdvanced as unknown[]), { name: "net-edge" }] },
    })),
  ],
  ["API without healthcheck", "container-healthcheck", setProp("app-api", "healthcheck", undefined)],
  ["API without memory limit", "container-memory-limit", setProp("app-api", "memory", undefined)],
  ["worker without restart policy", "container-restart-policy", setProp("app-worker", "restart", undefined)],
  ["admin runs as root", "container-non-root", setProp("app-admin", "user", "root")],
  [
    "API keeps capabilities",
    "container-capabilities-dropped",
    setProp("app-api", "capabilities", { drops: [] }),
  ],
  ["API privileged", "container-capabilities-dropped", setProp("app-api", "privileged", true)],
  ["API image by tag", "images-pinned", setProp("app-api", "image", "ghcr.io/blazetv/api:1.4.0")],
  [
    "placeholder password in Postgres env",
    "no-plaintext-secrets",
    appendEnv("postgres", "REPLICATION_PASSWORD=changeme"),
  ],
  ["API key as plain env", "checker/secret-inputs", appendEnv("postgres", "STRIPE_API_KEY=sk_live_51Habc")],
  [
    "sshd permits root login",
    "ssh-hardened",
    replaceIn("host-sshd", "stdin", /PermitRootLogin no/g, "PermitRootLogin yes"),
  ],
  [
    "firewall opens 5432",
    "firewall-ports",
    replaceIn(
      "host-firewall",
      "stdin",
      "LG_PUBLIC_TCP_PORTS='22 80 443'",
      "LG_PUBLIC_TCP_PORTS='22 80 443 5432'",
    ),
  ],
  [
    "proxy allows TLS 1.0",
    "proxy-tls",
    replaceIn("proxy", "uploads", /ssl_protocols /g, "ssl_protocols TLSv1 "),
  ],
  [
    "Postgres volume unprotected",
    "data-volumes-protected",
    edit("postgres-data", (_p, o) => ({ opts: { ...o, protect: false } })),
  ],
  [
    "Redis volume dropped on delete",
    "checker/retain-on-delete",
    edit("redis-queue-data", (_p, o) => ({ opts: { ...o, retainOnDelete: false } })),
  ],
  [
    "database unprotected",
    "databases-protected",
    edit("postgres-blazetv", (_p, o) => ({ opts: { ...o, protect: false } })),
  ],
  [
    "queue Redis evicts keys",
    "redis-queue-noeviction",
    replaceIn("redis-queue", "command", /noeviction/g, "allkeys-lru"),
  ],
  [
    "cache Redis without AOF",
    "redis-persistence",
    replaceIn("redis-cache", "command", /'--appendonly' 'yes'/g, "'--appendonly' 'no'"),
  ],
  [
    "migration without pre-migration backup",
    "migrations-after-backup",
    edit("app-api-migrate", (_p, o) => ({ opts: { ...o, dependsOn: [] } })),
  ],
  [
    "DNS record not waiting for the gate",
    "release-gate-first",
    edit("dns-blazetv-example-com", (_p, o) => ({ opts: { ...o, dependsOn: [] } })),
  ],
];

describe("unsafe production changes are refused", () => {
  let fx: ProductionFixture;
  before(async () => {
    fx = await new ProductionFixture().init();
  });

  it("the unchanged release passes (baseline)", async () => {
    fx.write();
    const r = await fx.check();
    assert.deepEqual(refusedBy(r), []);
  });

  it(`has at least 30 distinct changes (${CASES.length})`, () => {
    assert.ok(new Set(CASES.map(([what]) => what)).size >= 30);
  });

  for (const [what, policy, change] of CASES) {
    it(`${what} → ${policy}`, async () => {
      fx.write("evidence" in change ? change.evidence(fx.validEvidence(), fx) : fx.validEvidence());
      const r = await fx.check({
        transform: "program" in change ? change.program : undefined,
        configOverrides: "config" in change ? change.config(fx.configOverrides().release as Props) : {},
      });
      assert.deepEqual(r.programErrors, [], "the changed program still runs");
      assert.ok(
        refusedBy(r).includes(policy),
        `expected ${policy} to refuse; refused by: ${refusedBy(r).join(", ") || "nothing"}`,
      );
      assert.equal(r.passed, false);
    });
  }
});
