/**
 * The HardenedHost steps as the program declares them, and a runner that executes them over
 * real SSH the way @pulumi/command does: shared by the host test and `npm run bench`.
 */
import assert from "node:assert/strict";
import * as os from "node:os";
import * as path from "node:path";
import { HardenedHost, HardenedHostArgs } from "../../components/host/HardenedHost";
import { HostConfig, parseConfig } from "../../stacks/config";
import { readStackFile } from "../../stacks/stack-file";
import { installMocks, reveal, settle } from "./mocks";
import { POSTGRES_IP } from "../../stacks/compose";
import { buildVpsImage, KeyPair, makeKey, must, run, Run, scratchDir, ssh, startVps, Vps } from "./vps";

const ROOT = path.resolve(__dirname, "../..");

/** One step as the command provider would run it. */
export interface Step {
  readonly name: string;
  readonly kind: "local" | "remote";
  readonly create: string;
  readonly stdin: string;
  /** local.Command environment (the bootstrap runner's connection settings and keys). */
  readonly environment: Record<string, string>;
}

/** The local stack's host config, read from Pulumi.local.yaml like the program does. */
export function localHostConfig(): HostConfig {
  const file = readStackFile(ROOT, "local");
  return parseConfig(file.values, "local").host;
}

/** A fresh VPS with root's key in place and a deployer key beside it, keys in the VPS's scratch dir. */
export interface KeyedVps {
  readonly vps: Vps;
  readonly rootKey: KeyPair;
  readonly deployKey: KeyPair;
  /** The VPS image's tag and how long building (or finding) it took. */
  readonly image: { readonly tag: string; readonly ms: number };
}

/** Builds (or finds) the VPS image and starts a VPS from it (`publish`: see startVps). */
export function startKeyedVps(opts: { readonly publish?: readonly number[] } = {}): KeyedVps {
  const image = buildVpsImage();
  const dir = scratchDir();
  const rootKey = makeKey(dir, "root");
  const deployKey = makeKey(dir, "deployer");
  const vps = startVps(image.tag, rootKey.publicKey, dir, undefined, opts);
  return { vps, rootKey, deployKey, image };
}

/** HardenedHost's args for `v` as the local stack declares them (stacks/compose.ts). */
export function localHostArgs(v: KeyedVps, host: HostConfig = localHostConfig()): HardenedHostArgs {
  return {
    bootstrap: {
      host: "127.0.0.1",
      port: v.vps.sshPort,
      user: host.bootstrapUser,
      privateKey: v.rootKey.privateKey,
    },
    host,
    deployerPublicKey: v.deployKey.publicKey,
    deployerPrivateKey: v.deployKey.privateKey,
    permitOpen: [`${POSTGRES_IP}:5432`],
    runsRedis: true, // the local stack runs Redis
  };
}

/**
 * Instantiates HardenedHost under the shared mocks and returns its commands in declaration order
 * (which the component chains with dependsOn; the unit test asserts that chain).
 */
export async function captureSteps(name: string, args: HardenedHostArgs): Promise<Step[]> {
  const rec = await installMocks("local");
  new HardenedHost(name, args);
  await settle();
  const steps = rec.resources
    .filter((r) => r.type === "command:local:Command" || r.type === "command:remote:Command")
    .map((r): Step => ({
      name: r.name.slice(name.length + 1),
      kind: r.type === "command:local:Command" ? "local" : "remote",
      create: String(reveal(r.inputs.create)),
      stdin: String(reveal(r.inputs.stdin)),
      environment: (reveal(r.inputs.environment) ?? {}) as Record<string, string>,
    }));
  return steps;
}

/** Runs one captured step against the VPS; never throws (the caller asserts). */
export function runStep(vps: Vps, deployKey: KeyPair, deployUser: string, step: Step): Run {
  if (step.kind === "local") {
    return run("/bin/bash", ["-c", step.create], {
      input: step.stdin,
      env: { PATH: process.env.PATH, HOME: os.tmpdir(), ...step.environment },
      timeoutMs: 5 * 60_000,
    });
  }
  // Like the provider's dialErrorLimit: retry when the connection itself failed (ssh exit 255
  // before the command ran), never when the script failed.
  for (let attempt = 1; ; attempt++) {
    const r = ssh(vps, deployUser, deployKey.file, step.create, {
      input: step.stdin,
      timeoutMs: 10 * 60_000,
    });
    const dialError =
      r.code === 255 && /kex_exchange_identification|Connection (reset|refused|closed)/.test(r.stderr);
    if (!dialError || attempt >= 5) return r;
    console.log(`  ${step.name}: dial failed (${r.stderr.trim()}), retry ${attempt}`);
    must("sleep", ["1"]);
  }
}

/** Runs every step in order; fails at the first failing step. Returns total ms and each step's result. */
export function runAll(
  vps: Vps,
  deployKey: KeyPair,
  deployUser: string,
  steps: Step[],
  label: string,
  log: (line: string) => void = console.log,
): { ms: number; results: Map<string, Run> } {
  const start = Date.now();
  const results = new Map<string, Run>();
  for (const step of steps) {
    const r = runStep(vps, deployKey, deployUser, step);
    results.set(step.name, r);
    log(`  ${label} ${step.name.padEnd(20)} ${String(r.ms).padStart(6)} ms  exit ${r.code}`);
    if (r.code !== 0)
      assert.fail(`${label}: step ${step.name} failed (exit ${r.code})\n${r.stdout}\n${r.stderr}`);
  }
  return { ms: Date.now() - start, results };
}
