/**
 * Whole-program checks for the gate tests: one policy-pack server per test file, the real
 * program (index.ts), and a production release with valid evidence built in
 * a temp dir (fresh keys; the allow-list goes in through the pack config, as in production).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CheckOptions, CheckResult, runCheck } from "../../tools/checker/check";
import { PackServer } from "../../tools/checker/pack-server";
import { readStackFile } from "../../stacks/stack-file";
import { Binding } from "../../policies/lib/attestation";
import {
  EvidenceSet,
  REQUIRED_KINDS,
  Signer,
  allowListOf,
  attest,
  hoursAgo,
  makeSigner,
  tempDir,
  writeEvidence,
} from "../fixtures/evidence";

export const ROOT = path.resolve(__dirname, "../..");
export const REAL_PROGRAM = path.join(ROOT, "index.ts");

let server: Promise<PackServer> | undefined;

/** The pack server shared by a test file's checks; stop it with `stopPack()` in `after`. */
export function pack(): Promise<PackServer> {
  server ??= PackServer.start(path.join(ROOT, "policies"));
  return server;
}

export async function stopPack(): Promise<void> {
  (await server)?.close();
  server = undefined;
}

export async function check(o: CheckOptions): Promise<CheckResult> {
  return runCheck({ projectDir: ROOT, server: await pack(), ...o });
}

/** Policy names with a mandatory finding. */
export function refusedBy(r: CheckResult): string[] {
  return [
    ...new Set(r.findings.filter((f) => f.enforcementLevel === "mandatory").map((f) => f.policyName)),
  ].sort();
}

/** The production release as the stack file declares it. */
export function productionRelease(): Record<string, unknown> {
  return readStackFile(ROOT, "production").values.release as Record<string, unknown>;
}

/** A production release with valid evidence; tests change one piece and expect a refusal. */
export class ProductionFixture {
  readonly dir = tempDir();
  readonly signer: Signer = makeSigner("release-board");
  binding!: Binding;

  /** Reads the release's commit and images from the program (a first, evidence-less check). */
  async init(): Promise<this> {
    const r = await check({
      stack: "production",
      programPath: REAL_PROGRAM,
      configOverrides: this.configOverrides(),
    });
    if (!r.gate) throw new Error(`no release gate in the production program: ${r.programErrors.join("; ")}`);
    this.binding = { stack: "production", commit: r.gate.manifest.commit, images: r.gate.manifest.images };
    return this;
  }

  /** Evidence meeting every gate. */
  validEvidence(): Required<EvidenceSet> {
    return {
      attestations: REQUIRED_KINDS.map((k) => attest(this.signer, k, this.binding)),
      drill: { ok: true, finishedAt: hoursAgo(20) },
      stackOutputs: {
        staging: {
          verifiedRelease: {
            commit: this.binding.commit,
            images: this.binding.images,
            smokeTests: { passed: true, finishedAt: hoursAgo(6) },
          },
        },
      },
    };
  }

  write(e: EvidenceSet = this.validEvidence()): void {
    writeEvidence(this.dir, "production", e);
    // The release running now (release.previous) passed its 30-minute mark (npm run verify).
    const previous = (productionRelease().previous as { commit: string }).commit;
    const dir = path.join(this.dir, "production", "verify");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, `${previous}-30m.json`),
      JSON.stringify({ commit: previous, after: "30m", passed: true, checkedAt: hoursAgo(30) }),
    );
  }

  configOverrides(release: Record<string, unknown> = {}): Record<string, unknown> {
    return { release: { ...productionRelease(), evidenceDir: this.dir, ...release } };
  }

  packConfigOverrides(): Record<string, unknown> {
    const allowedSigners = allowListOf(this.signer);
    return { "sign-offs-attested": { allowedSigners }, "flags-attested": { allowedSigners } };
  }

  /** A production check of the gated program with this fixture's evidence and allow-list. */
  check(o: Partial<CheckOptions> = {}): Promise<CheckResult> {
    return check({
      stack: "production",
      programPath: REAL_PROGRAM,
      packConfigOverrides: this.packConfigOverrides(),
      ...o,
      configOverrides: { ...this.configOverrides(), ...(o.configOverrides ?? {}) },
    });
  }
}

/** A 3-node Swarm cluster: three managers, Postgres on node 0, Redis on node 1, edge on 0 and 1. */
export const SWARM_HOSTS = [
  {
    name: "node-0",
    address: "10.0.0.1",
    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHN3YXJtLW5vZGUtMS1ob3N0LWtleS4uLi4uLi4uLi4u",
    roles: ["manager"],
    labels: { "launchgate.postgres": "true", "launchgate.edge": "true" },
  },
  {
    name: "node-1",
    address: "10.0.0.2",
    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHN3YXJtLW5vZGUtMi1ob3N0LWtleS4uLi4uLi4uLi4u",
    roles: ["manager"],
    labels: { "launchgate.redis": "true", "launchgate.edge": "true" },
  },
  {
    name: "node-2",
    address: "10.0.0.3",
    hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHN3YXJtLW5vZGUtMy1ob3N0LWtleS4uLi4uLi4uLi4u",
    roles: ["manager"],
  },
];

/** Config overrides running a stack as that cluster: `placement: swarm` and the hosts. */
export function swarmOverrides(): Record<string, unknown> {
  return { placement: "swarm", hosts: SWARM_HOSTS };
}
