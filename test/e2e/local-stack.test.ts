/**
 * The whole `local` stack end to end on the disposable VPS (issue 13): the closest thing to
 * `pulumi up --stack local` that runs without the Pulumi CLI. A test, not a second deployer.
 *
 * The program is recorded under the mock runtime (test/services/record.ts) and played in the
 * engine's dependency order:
 *   LocalVps (test/support/vps.ts, LocalVps's image and flags) → every HardenedHost step over SSH
 *   (test/support/host-steps.ts) → the docker networks/volumes/containers on the VPS's nested
 *   engine, reached as the program declares it (`ssh://deployer@…`, test/support/docker-over-ssh.ts),
 *   images loaded without a registry (`docker save | docker load` over SSH, skipped by image id),
 *   Postgres roles/databases through the program's PostgresAdminTunnel script, the Backups and
 *   Monitoring installs over SSH — all by the strict harness (test/support/harness.ts).
 * Then: a real backup and restore drill, `npm run gate -- fetch-drill`, the backups-tested gate;
 * checks from outside the VPS; a second release under a client loop, the rollback to
 * `release.previous`; a changed backup script as an update; teardown that leaves nothing.
 *
 * Explicit rewrites (printed in the summary): registry images → locally built test images (their
 * image id is the digest the release pins); the LocalVps's generated keys → this run's keys; the
 * VPS's loopback ports → free ones; the admin tunnel's control socket and HOME → the scratch dir.
 *
 * Timeline and summary: printed, and written to artifacts/e2e-local-stack.json.
 * Run: npm run test:e2e   (needs docker, debootstrap, openssh-client, psql)
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { CLOSE_SCRIPT } from "../../components/data/PostgresAdminTunnel";
import { RESOLVER_VALID_SECONDS } from "../../components/edge/Proxy";
import { commandRoleOf } from "../../contract/roles";
import { readStackFile } from "../../stacks/stack-file";
import { planRollback, type ConfigMap } from "../../tools/promote/decisions";
import { sshProxyLog } from "../../tools/promote/flow";
import { parseAccessLog, windowStats } from "../../tools/promote/rollout";
import { startDockerOverSsh, loadImages, type DockerOverSsh } from "../support/docker-over-ssh";
import { unitServiceScript } from "../support/fake-host";
import {
  CONTAINER,
  Harness,
  imageRepo,
  NETWORK,
  VOLUME,
  PG_DATABASE,
  PG_GRANT,
  PG_ROLE,
} from "../support/harness";
import {
  captureSteps,
  localHostArgs,
  localHostConfig,
  runAll,
  startKeyedVps,
  type KeyedVps,
} from "../support/host-steps";
import type { RecordedResource } from "../support/mocks";
import { buildVpsImage, exec, hostKeyOf, must, run, ssh, type KeyPair, type Vps } from "../support/vps";
import type { AppImageSpec, TestImages } from "../services/images";
import { recordProgram, type ProgramRecording } from "../services/record";
import { eventually, request, tcpOpen } from "../support/probes";
import { startClientLoop as startLoop, type ClientLoopResult } from "../support/client-loop";
import { Timeline } from "./timeline";

const REPO = path.resolve(__dirname, "../..");
const ARTIFACTS = path.join(REPO, "artifacts");
const REMOTE = "command:remote:Command";
const LOCAL = "command:local:Command";
const PG_PROVIDER = "pulumi:providers:postgresql";
const DOCKER_PROVIDER = "pulumi:providers:docker";
const DEPLOYER = localHostConfig().deployUser;

/** Phases in order (the timeline lists each, also those an earlier failure kept from running). */
const PHASES = [
  "LocalVps",
  "HardenedHost steps",
  "images",
  "record program",
  "nested engine + image load",
  "up (engine order)",
  "backup, restore drill, gate",
  "from outside the VPS",
  "second release under load",
  "rollback to release.previous",
  "backup script update",
  "teardown",
] as const;

const stackFile = readStackFile(REPO, "local");
type Json = any;
const cfgApps = stackFile.values.apps as Json[];
const domain = stackFile.values.domain as string;
const api = cfgApps.find((a) => a.route === "/")!;
const FIRST_COMMIT = "1".repeat(40);
const SECOND_COMMIT = "2".repeat(40);
const NEXT_API = api.image.replace(/:[^:@/]+$/, ":1.5.0");

const tl = new Timeline();
const rewrites: string[] = [];
let vps: Vps | undefined;
let bridge: DockerOverSsh | undefined;
let keyed: KeyedVps;
let deployKey: KeyPair;
let home: string;
/** The VPS's ed25519 host key (`ssh-ed25519 AAAA…`, scanned after hardening): config `host.hostKey`. */
let hostKey: string;
/** This run's known_hosts (the VPS's keys): OpenSSH reads ~/.ssh from the password database, not $HOME. */
const knownHosts = () => path.join(home, ".ssh", "known_hosts");
let evidence: string;
let harness: Harness;
let imageMap: Record<string, string>;
/** Registry ref (tag) → the same ref pinned by the local test image's id. */
const pinned: Record<string, string> = {};
let first: ProgramRecording;
let current: ProgramRecording;
/** The config overrides `current` was recorded from (the next update starts from them). */
let currentOverrides: Json;
let ca: string;
let torn = false;

function tunnelEnv(rec: ProgramRecording): Record<string, string> {
  const r = rec.resources.find((x) => x.type === LOCAL && x.name === "pg-admin-forward");
  assert.ok(r, "the program declares the admin tunnel (pg-admin-forward)");
  return { ...(r.inputs.environment as Record<string, string>), CONTROL_SOCKET: controlSocket() };
}
const controlSocket = () => path.join(vps!.dir, "pg-admin.ctl");

/** Synchronous, idempotent: closes the tunnel and bridge, removes the VPS and scratch dirs. */
function teardown(): void {
  if (torn) return;
  torn = true;
  if (vps && first) {
    spawnSync("/bin/sh", ["-c", CLOSE_SCRIPT], {
      env: { PATH: process.env.PATH, HOME: home, ...tunnelEnv(first) },
      timeout: 20_000,
      stdio: "ignore",
    });
  }
  bridge?.stop();
  vps?.stop(); // removes the container, its docker-data volume and the scratch dir
  if (evidence) fs.rmSync(evidence, { recursive: true, force: true });
}
process.on("exit", teardown); // also after SIGINT/SIGTERM (test/support/vps.ts exits 130) and timeouts

// ---------------------------------------------------------------------------------------------
// Playing recorded commands the way @pulumi/command runs them

/** Fields of a recorded command the replay understands; anything else fails loudly. */
const COMMAND_FIELDS = new Set([
  "connection",
  "create",
  "update",
  "delete",
  "stdin",
  "triggers",
  "environment",
  "interpreter",
  "addPreviousOutputInEnv",
]);

function strictCommand(r: RecordedResource): void {
  for (const [k, v] of Object.entries(r.inputs))
    if (v !== undefined && !COMMAND_FIELDS.has(k))
      throw new Error(`${r.type} ${r.name}: input \`${k}\` is not mapped by the e2e replay`);
  if (r.type === REMOTE) {
    if (r.inputs.environment && Object.keys(r.inputs.environment).length)
      throw new Error(`${r.name}: remote environment (SetEnv) is not mapped by the e2e replay`);
    const c = r.inputs.connection as Json;
    assert.deepEqual(
      { host: c.host, port: c.port, user: c.user },
      { host: "127.0.0.1", port: vps!.sshPort, user: DEPLOYER },
      `${r.name}: connects as the program declares (deploy user on the VPS)`,
    );
  }
}

/** Runs one script of a recorded command (`create`/`update`/`delete`); throws with its output. */
function runCommand(r: RecordedResource, which: "create" | "update" | "delete"): string {
  strictCommand(r);
  const script = String(r.inputs[which] ?? (which === "update" ? r.inputs.create : ""));
  if (!script) return "";
  const t0 = Date.now();
  let res: { code: number; stdout: string; stderr: string };
  if (r.type === REMOTE) {
    res = ssh(vps!, DEPLOYER, deployKey.file, script, {
      input: r.inputs.stdin === undefined ? "" : String(r.inputs.stdin),
      timeoutMs: 10 * 60_000,
    });
  } else {
    let stdin = r.inputs.stdin === undefined ? "" : String(r.inputs.stdin);
    const env: Record<string, string> = { ...(r.inputs.environment ?? {}) };
    if (r.name === "pg-admin-forward") {
      stdin = deployKey.privateKey;
      env.CONTROL_SOCKET = controlSocket();
    }
    const interp = (r.inputs.interpreter as string[] | undefined) ?? ["/bin/sh", "-c"];
    res = run(interp[0]!, [...interp.slice(1), script], {
      input: stdin,
      env: { PATH: process.env.PATH, HOME: home, ...env },
      timeoutMs: 5 * 60_000,
    });
  }
  if (res.code !== 0)
    throw new Error(`${r.name} ${which} failed (exit ${res.code}):\n${res.stdout}\n${res.stderr}`);
  const last = res.stdout.trim().split("\n").pop() ?? "";
  console.log(`  ${r.name} ${which}: ${((Date.now() - t0) / 1000).toFixed(1)} s  ${last.slice(0, 100)}`);
  return res.stdout;
}

/** What the replay plays: the VPS's docker/postgresql resources and the commands after the host steps. */
function played(rec: ProgramRecording): RecordedResource[] {
  // Every remote command but the host steps (played in their own phase, as the host test does),
  // and the admin tunnel; not the LocalVps image build, the identity file or the release gate.
  // The apps' drain steps (local commands whose delete waits) take part like any command.
  const hostStep = (r: RecordedResource) => r.name.startsWith("host-");
  return rec.resources.filter(
    (r) =>
      [NETWORK, VOLUME, CONTAINER, PG_ROLE, PG_DATABASE, PG_GRANT].includes(r.type) ||
      (r.type === REMOTE && !hostStep(r)) ||
      r.name === "pg-admin-forward" ||
      (r.type === LOCAL && commandRoleOf(r.inputs.triggers as unknown[]) === "drain"),
  );
}

const key = (r: RecordedResource) => `${r.type} ${r.name}`;
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * An update from `from` to `to` as the engine makes it: new resources and replacements created
 * in dependency order (delete-first replacements deleted before), create-before-delete
 * replacements and removed resources deleted afterwards; commands whose `triggers` changed are
 * replaced, other changed commands run their `update` in place. Returns what it did.
 */
async function deploy(from: ProgramRecording, to: ProgramRecording): Promise<string[]> {
  const old = new Map(played(from).map((r) => [key(r), r]));
  const next = played(to);
  const create: RecordedResource[] = [];
  const deleteAfter: RecordedResource[] = [];
  const done: string[] = [];
  const dbr = (r: RecordedResource) => to.options.get(key(r))?.deleteBeforeReplace === true;
  for (const r of next) {
    const o = old.get(key(r));
    old.delete(key(r));
    if (!o) {
      create.push(r);
      done.push(`create ${key(r)}`);
      continue;
    }
    if (same(o.inputs, r.inputs)) continue;
    if ([REMOTE, LOCAL].includes(r.type) && same(o.inputs.triggers, r.inputs.triggers)) {
      runCommand(r, "update");
      done.push(`update ${key(r)}`);
      continue;
    }
    if ([NETWORK, VOLUME, PG_ROLE, PG_DATABASE, PG_GRANT].includes(r.type))
      throw new Error(`${key(r)} changed: replacing it is not played by the e2e replay`);
    if (r.type === CONTAINER && String(o.inputs.name) === String(r.inputs.name) && !dbr(r))
      throw new Error(`${key(r)}: same name ${r.inputs.name} without deleteBeforeReplace (name conflict)`);
    if (dbr(r)) {
      await removeOld(o);
      done.push(`replace (delete first) ${key(r)}`);
    } else {
      deleteAfter.push(o);
      done.push(`replace (create first) ${key(r)}`);
    }
    create.push(r);
  }
  for (const o of old.values()) {
    deleteAfter.push(o);
    done.push(`delete ${key(o)}`);
  }
  if (create.length) await harness.up(create);
  // The engine deletes replaced and removed resources at the end, dependents first: the reverse
  // of the registration order (a drain step before the container it drains).
  const at = new Map(played(from).map((r, i) => [key(r), i]));
  deleteAfter.sort((a, b) => at.get(key(b))! - at.get(key(a))!);
  for (const o of deleteAfter) await removeOld(o);
  return done;
}

async function removeOld(r: RecordedResource): Promise<void> {
  if (r.type === CONTAINER) await harness.removeContainer(String(r.inputs.name));
  else if (r.type === REMOTE || r.type === LOCAL) runCommand(r, "delete");
  else throw new Error(`${key(r)}: deleting it is not played by the e2e replay`);
}

// ---------------------------------------------------------------------------------------------
// Probes from outside the VPS

/** HTTPS through the VPS's published 443 (LocalVps's loopback port), trusting only the internal CA. */
const viaProxy = (p: string, agent?: https.Agent) =>
  request(https, {
    host: "127.0.0.1",
    port: vps!.published[443],
    servername: domain,
    ca,
    path: p,
    headers: { host: domain },
    agent,
  });

/** `npm run check -- --stack local --json` with an evidence dir; the backups-tested findings. */
function backupsTestedFindings(overrides: Record<string, unknown>): string[] {
  const args = [
    "--import",
    "tsx",
    "tools/checker/cli.ts",
    "--stack",
    "local",
    "--json",
    "--evidence",
    evidence,
  ];
  for (const [k, v] of Object.entries(overrides)) args.push("--config", `${k}=${JSON.stringify(v)}`);
  const r = spawnSync(process.execPath, args, { cwd: REPO, encoding: "utf8", timeout: 180_000 });
  const json = JSON.parse(r.stdout.slice(r.stdout.indexOf("{")));
  return (json.findings as Json[])
    .filter((f) => f.policyName === "backups-tested")
    .map((f) => String(f.message).split("\n")[0]!);
}

/**
 * Runs `fn` (an update) while the client loop sends requests through the proxy; keeps the loop
 * running past the proxy's resolver validity after `fn`, when a worker may still hold the
 * replaced container's address.
 */
async function underLoad<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; loop: ClientLoopResult; since: string; crashed: Record<string, string> }> {
  const since = new Date(Date.now() - 1000).toISOString();
  const restarts = await harness.restartCounts();
  const client = startClientLoop();
  await new Promise((r) => setTimeout(r, 2000)); // its first requests go to the current release
  let result: T;
  let loop: ClientLoopResult;
  try {
    result = await fn();
    await new Promise((r) => setTimeout(r, (RESOLVER_VALID_SECONDS + 3) * 1000));
  } finally {
    loop = await client.stop();
  }
  return { result, loop, since, crashed: await harness.crashedSince(restarts) };
}

/**
 * Notes the loop's counts in the timeline and asserts: no container crashed, no failed request,
 * both versions served. A failure comes with the proxy's own account since `since`: its error
 * log and the access-log entries of failed requests (upstream addresses tried, status).
 */
function reportLoop(
  what: string,
  steps: string[],
  { loop, since, crashed }: { loop: ClientLoopResult; since: string; crashed: Record<string, string> },
  versions: string[],
): void {
  const { seen, failures } = loop;
  for (const [name, account] of Object.entries(crashed)) console.log(`${name} ${account}`);
  if (failures.length) {
    const proxy = harness.container("proxy").dockerName;
    const log = run("docker", ["logs", "--since", since, proxy], { env: bridge!.env });
    const lines = `${log.stdout}\n${log.stderr}`
      .split("\n")
      .filter((l) => /\[(error|warn|crit)\]/.test(l) || /"status":"5\d\d"/.test(l));
    console.log(`proxy log around the failed requests:\n${lines.join("\n")}`);
    tl.note(`${what}: proxy log: ${lines.join(" | ").slice(0, 2000)}`);
  }
  const total = Object.values(seen).reduce((a, b) => a + b, 0) + failures.length;
  tl.note(
    `${what}: ${steps.length} changes (${steps.filter((s) => s.includes("replace")).length} replacements); client loop ${total} requests, ${failures.length} failed, slowest ${loop.maxMs} ms (${loop.slow} over 1 s), versions ${JSON.stringify(seen)}, containers restarted: ${Object.keys(crashed).length}`,
  );
  assert.ok(total >= 20, `${what}: client loop ran ${total} requests`);
  // An app that crashes fails requests whatever the proxy does: said apart from the proxy's failures.
  assert.deepEqual(Object.keys(crashed), [], `${what}: containers crashed (restarted) during the update`);
  assert.deepEqual(failures, [], `${what}: requests failed during the health-gated replacement`);
  for (const v of versions) assert.ok(seen[v], `${what}: ${v} served: ${JSON.stringify(seen)}`);
}

/**
 * The promote driver's own proxy-log read (tools/promote/flow.ts `sshProxyLog`: `ssh … docker
 * logs --since/--until proxy` as the deploy user, what each rollout window is judged from)
 * against the VPS's real sshd and nested engine. Its work dir holds this run's deploy key where
 * the driver looks for it; the stack's pinned host key is what the driver checks the VPS against.
 * Asserts the api's requests in [since, until) match the client loop's, and notes the figures.
 */
async function checkDriverLogRead(what: string, since: Date, until: Date, loop: ClientLoopResult) {
  const workDir = path.join(vps!.dir, "promote");
  const keyDir = path.join(workDir, ".launchgate", "local");
  fs.mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(keyDir, "id_deployer"), deployKey.privateKey, { mode: 0o600 });
  const read = sshProxyLog(
    { workDir, envVars: {} },
    // The pinned key: the driver checks the VPS's sshd against it (strict, a throw-away known_hosts).
    { "launchgate:host": { value: JSON.stringify({ deployUser: DEPLOYER, hostKey }) } },
    { host: { value: { address: "127.0.0.1", sshPort: vps!.sshPort } } },
  );
  const t0 = Date.now();
  const text = await read("local", since, until);
  const ms = Date.now() - t0;
  const stats = windowStats(parseAccessLog(text), {
    app: api.name,
    fromMs: since.getTime(),
    toMs: until.getTime(),
  });
  const sent = Object.values(loop.seen).reduce((a, b) => a + b, 0) + loop.failures.length;
  tl.note(
    `${what}: the driver's proxy-log read over SSH (ssh ${DEPLOYER}@VPS docker logs proxy) took ${ms} ms: ${stats.requests} ${api.name} requests, ${stats.errors} 5xx, p95 ${stats.p95Ms.toFixed(0)} ms (client loop sent ${sent})`,
  );
  // The log also holds the test's own probes (`eventually`), so at least the loop's requests.
  assert.ok(
    stats.requests >= sent,
    `${what}: proxy log over SSH has ${stats.requests} requests, loop sent ${sent}`,
  );
  assert.equal(stats.errors, loop.failures.length, `${what}: 5xx in the proxy log vs failed requests`);
}

/** test/e2e/client-loop.ts against the VPS's published 443, in its own process. */
function startClientLoop(): { stop(): Promise<ClientLoopResult> } {
  return startLoop({
    port: vps!.published[443]!,
    servername: domain,
    ca,
    caFile: path.join(vps!.dir, "ca.pem"),
  });
}

// ---------------------------------------------------------------------------------------------
// Images

/** The app images of this release and the next one (1.5.0 of the routed app). */
const APPS: AppImageSpec[] = [
  ...cfgApps.map((a) => ({ ref: a.image, port: a.port, version: a.image.split(":").pop()! })),
  { ref: NEXT_API, port: api.port, version: "1.5.0" },
];

/** `ensureImages` (test/services/images.ts) in a child process, so other work runs meanwhile. */
function ensureImagesAsync(apps: AppImageSpec[]): Promise<TestImages> {
  const script = `process.stdout.write(JSON.stringify(require(${JSON.stringify(path.join(REPO, "test/services/images"))}).ensureImages(JSON.parse(process.env.LG_E2E_APPS))))`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "-e", script], {
      env: { ...process.env, LG_E2E_APPS: JSON.stringify(apps) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 20 * 60_000);
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out) as TestImages);
      else reject(new Error(`image build exited ${code}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Releases

/** Config overrides for a release: apps pinned by digest, the commit, the rollback target. */
function release(
  commit: string,
  apiRef: string,
  previous?: { commit: string; images: Record<string, string> },
) {
  const apps = cfgApps.map((a) => ({ ...a, image: pinned[a === api ? apiRef : a.image]! }));
  return {
    host: { ...(stackFile.values.host as Json), address: "127.0.0.1", sshPort: vps!.sshPort, hostKey },
    apps,
    release: { ...(stackFile.values.release as Json), commit, ...(previous ? { previous } : {}) },
  };
}

const appImages = (o: { apps: Json[] }) => Object.fromEntries(o.apps.map((a) => [`app:${a.name}`, a.image]));

/** Sets `launchgate:a.b[0]["c:d"]` paths (as `pulumi config set --path`) on plain overrides. */
function setPath(target: Json, keyPath: string, value: string): void {
  const tokens = [
    ...keyPath.replace(/^launchgate:/, "").matchAll(/\.?([A-Za-z_][\w-]*)|\[(\d+)\]|\["([^"]+)"\]/g),
  ].map((m) => (m[2] !== undefined ? Number(m[2]) : (m[1] ?? m[3])!));
  let o = target;
  tokens.slice(0, -1).forEach((t, i) => {
    if (o[t] === undefined) o[t] = typeof tokens[i + 1] === "number" ? [] : {};
    o = o[t];
  });
  o[tokens[tokens.length - 1]!] = value;
}

/**
 * Runs `fn` (a recording) while the program reads `components/ops/scripts/<file>` with one more
 * line, as if the script had been edited in the repo (the repo is not touched).
 */
async function withChangedScript<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const target = path.join(REPO, "components/ops/scripts", file);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeFs = require("node:fs") as typeof fs;
  const orig = nodeFs.readFileSync;
  (nodeFs as Json).readFileSync = (p: fs.PathOrFileDescriptor, ...rest: Json[]) => {
    const out = (orig as Json)(p, ...rest);
    return typeof p === "string" && path.resolve(p) === target
      ? (typeof out === "string" ? out : out.toString()) + "\n# changed by the e2e backup-script update\n"
      : out;
  };
  try {
    return await fn();
  } finally {
    nodeFs.readFileSync = orig;
  }
}

async function record(overrides: Record<string, unknown>): Promise<ProgramRecording> {
  return recordProgram("local", overrides, "launchgate-e2e", {
    keepTypes: [REMOTE, LOCAL],
  });
}

// ---------------------------------------------------------------------------------------------

describe("the local stack end to end on the disposable VPS", { timeout: 15 * 60_000 }, () => {
  let firstOverrides: ReturnType<typeof release>;
  let secondOverrides: ReturnType<typeof release>;

  before(() => {
    execFileSync(path.join(REPO, "test/support/ensure-dockerd.sh"), { stdio: "inherit", timeout: 90_000 });
  });

  after(() => {
    teardown();
    tl.notRun(PHASES);
    tl.order(PHASES);
    const file = tl.write(ARTIFACTS, "e2e-local-stack.json", "local stack end to end");
    console.log(`\n${tl.render("local stack end to end")}\n(written to ${path.relative(REPO, file)})\n`);
  });

  it("starts LocalVps and hardens it with every HardenedHost step over SSH (images built alongside)", async () => {
    let images: Promise<TestImages> | undefined;
    await tl.phase("LocalVps", () => {
      const vpsImage = buildVpsImage(); // first: the service images' debootstrap runs after it
      tl.note(`VPS image ${vpsImage.tag} ready in ${(vpsImage.ms / 1000).toFixed(1)} s`);
      // The service images build in their own process while the host steps run (apt vs debootstrap).
      images = ensureImagesAsync(APPS);
      images.catch(() => undefined); // awaited in the "images" phase
      keyed = startKeyedVps({ publish: [443, 80] }); // the image is cached by now
      ({ vps, deployKey } = keyed);
      const dir = vps.dir;
      home = path.join(dir, "home");
      fs.mkdirSync(path.join(home, ".ssh"), { recursive: true, mode: 0o700 });
      evidence = fs.mkdtempSync(path.join(os.tmpdir(), `lg-e2e-evidence-${process.pid}-`));
      rewrites.push(
        `LocalVps ports 22/443/80 → 127.0.0.1:${vps.sshPort}/${vps.published[443]}/${vps.published[80]} (declared ${(stackFile.values.host as Json).sshPort ?? 2222}/8443/8080)`,
        "LocalVps generated root/deploy keys → this run's ed25519 keys",
      );
    });
    await tl.phase("HardenedHost steps", async () => {
      const hostCfg = localHostConfig();
      const args = localHostArgs(keyed, hostCfg);
      const steps = await captureSteps("host", args);
      const r = runAll(vps!, deployKey, hostCfg.deployUser, steps, "host");
      tl.note(`HardenedHost: ${steps.length} steps over SSH in ${(r.ms / 1000).toFixed(1)} s`);
      // Host keys as an operator pins them: the tunnel through config `host.hostKey`, fetch-drill
      // through `--known-hosts`; nothing reads or writes the real user's ~/.ssh/known_hosts.
      const scan = must("ssh-keyscan", ["-p", String(vps!.sshPort), "127.0.0.1"]).stdout;
      fs.writeFileSync(knownHosts(), scan, { mode: 0o600 });
      hostKey = hostKeyOf(vps!);
    });
    await tl.phase("images", async () => {
      const imgs = await images!;
      imageMap = { ...imgs.map };
      for (const a of APPS) {
        const id = must("docker", ["image", "inspect", "-f", "{{.Id}}", imgs.map[a.ref]!]).stdout.trim();
        pinned[a.ref] = `${a.ref}@${id}`;
        imageMap[pinned[a.ref]!] = imgs.map[a.ref]!;
      }
      tl.note(
        `service images: ${imgs.built.length ? `built ${imgs.built.length}` : "all cached"} in ${(imgs.buildMs / 1000).toFixed(1)} s (alongside the host steps)`,
      );
      for (const [ref, p] of Object.entries(pinned))
        rewrites.push(`${ref} pinned as ${p.split("@")[1]!.slice(0, 19)}… (local test image id)`);
    });
  });

  it("plays the program on the VPS's nested engine in dependency order", async () => {
    await tl.phase("record program", async () => {
      firstOverrides = release(FIRST_COMMIT, api.image);
      first = await record(firstOverrides);
      current = first;
      currentOverrides = firstOverrides;
      ca = first.caCertPem!;
      assert.ok(ca, "the local stack declares an internal CA");
      const provider = first.all.find((r) => r.type === DOCKER_PROVIDER && r.name === "vps-docker");
      assert.equal(
        provider?.inputs.host,
        `ssh://${DEPLOYER}@127.0.0.1:${vps!.sshPort}`,
        "docker provider host",
      );
      tl.note(
        `recorded ${played(first).length} resources to play (docker, postgresql, commands) from the program`,
      );
    });
    await tl.phase("nested engine + image load", () => {
      bridge = startDockerOverSsh(vps!, DEPLOYER, deployKey.file);
      const images = played(first)
        .filter((r) => r.type === CONTAINER)
        .map((r) => imageMap[r.inputs.image] ?? imageMap[imageRepo(r.inputs.image)] ?? "");
      const next = imageMap[pinned[NEXT_API]!]!;
      const load = loadImages(vps!, DEPLOYER, deployKey.file, bridge, [...images, next]);
      tl.note(
        `images into the VPS engine: ${load.loaded.length} loaded (${(load.bytes / 1e6).toFixed(0)} MB), ${load.cached.length} already there, in ${(load.ms / 1000).toFixed(1)} s`,
      );
      const again = loadImages(vps!, DEPLOYER, deployKey.file, bridge, [...images, next]);
      assert.deepEqual(again.loaded, [], "a second load sends nothing (same image ids)");
    });
    await tl.phase("up (engine order)", async () => {
      const provider = first.all.find((r) => r.type === PG_PROVIDER)!.inputs as Json;
      harness = new Harness({
        imageMap,
        runId: `lg-svc-e2e-${process.pid}`,
        keepOnFailure: true, // the VPS teardown removes everything
        engine: { socketPath: bridge!.socketPath, cliEnv: bridge!.env, placement: "as-declared" },
        postgresqlExec: (sql) =>
          void must(
            "psql",
            [
              "-X",
              "-q",
              "-v",
              "ON_ERROR_STOP=1",
              "-h",
              provider.host,
              "-p",
              String(provider.port),
              "-U",
              provider.username,
              "-d",
              provider.database ?? "postgres",
              "-c",
              sql,
            ],
            {
              env: {
                ...process.env,
                PGPASSWORD: provider.password,
                PGSSLMODE: provider.sslmode ?? "prefer",
                PGCONNECT_TIMEOUT: "10",
              },
            },
          ),
        handlers: {
          [REMOTE]: async (r) => void runCommand(r, "create"),
          [LOCAL]: async (r) => void runCommand(r, "create"),
        },
      });
      rewrites.push(
        `admin tunnel control socket and HOME → the scratch dir; its key → this run's deploy key`,
      );
      const up = await harness.up(played(first));
      tl.note(
        `up: ${harness.running().length} services + ${harness.all().length - harness.running().length} one-shot jobs, all healthy in ${(up.allHealthyMs / 1000).toFixed(1)} s`,
      );
      for (const c of harness.running()) {
        // Its PIDs limit, applied by its own command over SSH (components/app/pids-limit.ts).
        const limit = (await harness.inspect(c)).HostConfig.PidsLimit;
        assert.ok(limit > 0, `${c.dockerName}: PidsLimit ${limit}`);
        const st = (await harness.inspect(c)).State;
        assert.equal(
          st.Health?.Status ?? (st.Running ? "running" : st.Status),
          st.Health ? "healthy" : "running",
          c.dockerName,
        );
      }
    });
  });

  it("backs up, runs the restore drill, fetches its record and the backups-tested gate reads it", () =>
    tl.phase("backup, restore drill, gate", () => {
      const before = backupsTestedFindings(firstOverrides);
      assert.ok(before.length > 0, "without a drill record the backups-tested gate refuses");
      const unit = (u: string) =>
        must("docker", ["exec", vps!.container, "cat", `/etc/systemd/system/${u}`]).stdout;
      for (const u of ["launchgate-backup-full.service", "launchgate-restore-drill.service"]) {
        const t0 = Date.now();
        // As the timer would start it: the unit's ExecStart lines (then ExecStartPost) as root.
        const r = ssh(vps!, DEPLOYER, deployKey.file, "sudo -n bash -s", {
          input: `set -e\n${unitServiceScript(unit(u))}\n`,
          timeoutMs: 10 * 60_000,
        });
        assert.equal(r.code, 0, `${u}: ${r.stdout}\n${r.stderr}`);
        tl.note(`${u} ran in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
      const fetched = spawnSync(
        "npm",
        [
          "run",
          "-s",
          "gate",
          "--",
          "fetch-drill",
          "--stack",
          "local",
          "--host",
          `${DEPLOYER}@127.0.0.1`,
          "--port",
          String(vps!.sshPort),
          "--identity",
          deployKey.file,
          "--known-hosts",
          knownHosts(),
          "--evidence",
          evidence,
        ],
        { cwd: REPO, encoding: "utf8", timeout: 120_000, env: { ...process.env, HOME: home } },
      );
      assert.equal(fetched.status, 0, `fetch-drill: ${fetched.stdout}\n${fetched.stderr}`);
      assert.match(fetched.stdout, /drill ok/);
      tl.note(`fetch-drill: ${fetched.stdout.trim().split("\n").pop()}`);
      const afterDrill = backupsTestedFindings(firstOverrides);
      assert.deepEqual(afterDrill, [], "with the fetched drill record the backups-tested gate passes");
    }));

  it("from outside the VPS: HTTPS with the internal CA, 80 → 443, HSTS; data stores and unlisted ports closed", () =>
    tl.phase("from outside the VPS", async () => {
      const res = await eventually(
        "GET /health via the proxy",
        () => viaProxy("/health"),
        (r) => r.status === 200,
      );
      assert.equal(JSON.parse(res.body).postgres, "ok");
      assert.match(String(res.headers["strict-transport-security"]), /max-age=\d+/);
      await assert.rejects(
        request(https, { host: "127.0.0.1", port: vps!.published[443], servername: domain, path: "/health" }),
        /self[- ]signed|unable to verify|local issuer/i,
        "a client without the internal CA refuses the certificate",
      );
      const plain = await request(http, {
        host: "127.0.0.1",
        port: vps!.published[80],
        path: "/health?x=1",
        headers: { host: domain },
      });
      assert.ok([301, 308].includes(plain.status), `80 answers ${plain.status}`);
      assert.equal(plain.headers.location, `https://${domain}/health?x=1`);
      // The VPS's address on this machine's bridge = "the internet" side of its firewall.
      assert.equal(await tcpOpen(vps!.ip, 443), true, "control: 443 open from outside");
      assert.equal(await tcpOpen(vps!.ip, 5432), false, "Postgres reachable from outside");
      for (const p of [6379])
        assert.equal(await tcpOpen(vps!.ip, p), false, `Redis (${p}) reachable from outside`);
      // A container published on a port the firewall does not allow (issue 11: Docker's DNAT ran before UFW).
      const probeImage = imageMap[pinned[api.image]!]!;
      must(
        "docker",
        ["run", "-d", "--name", "lg-e2e-published-probe", "-e", "PORT=3000", "-p", "8088:3000", probeImage],
        { env: bridge!.env },
      );
      await eventually(
        "probe container answering inside the VPS",
        async () => exec(vps!, "bash -c '</dev/tcp/127.0.0.1/8088'", 10_000).code,
        (c) => c === 0,
        30_000,
      );
      // Reachable if any of three attempts connects (a firewall that holds refuses every one).
      let open = false;
      for (let i = 0; i < 3 && !open; i++) {
        open = await tcpOpen(vps!.ip, 8088);
        if (!open) await new Promise((r) => setTimeout(r, 1000));
      }
      must("docker", ["rm", "-f", "lg-e2e-published-probe"], { env: bridge!.env });
      assert.equal(
        open,
        false,
        "a container published on 8088 (not allowed by UFW) is reachable from outside the VPS (issue 11: the firewall step owns DOCKER-USER)",
      );
    }));

  it("ships a second release: health-gated replacement with no failed request, then rolls back", async () => {
    await tl.phase("second release under load", async () => {
      secondOverrides = release(SECOND_COMMIT, NEXT_API, {
        commit: FIRST_COMMIT,
        images: appImages(firstOverrides),
      });
      const second = await record(secondOverrides);
      const { result: steps, ...load } = await underLoad(async () => {
        const done = await deploy(current, second);
        await eventually(
          "1.5.0 served",
          () => viaProxy("/version"),
          (r) => JSON.parse(r.body).version === "1.5.0",
          30_000,
        );
        return done;
      });
      current = second;
      currentOverrides = secondOverrides;
      reportLoop("second release", steps, load, ["1.4.0", "1.5.0"]);
      await checkDriverLogRead("second release", new Date(load.since), new Date(), load.loop);
    });
    await tl.phase("rollback to release.previous", async () => {
      const targetConfig: ConfigMap = Object.fromEntries(
        Object.entries({ ...stackFile.values, ...secondOverrides }).map(([k, v]) => [
          `launchgate:${k}`,
          { value: typeof v === "string" ? v : JSON.stringify(v) },
        ]),
      );
      const targetOutputs = {
        release: {
          value: {
            commit: SECOND_COMMIT,
            images: appImages(secondOverrides),
            previous: secondOverrides.release.previous,
          },
        },
      };
      const plan = planRollback({ targetConfig, targetOutputs });
      assert.ok(plan.ok, plan.ok ? "" : plan.reason);
      const overrides = JSON.parse(JSON.stringify(secondOverrides));
      for (const k of plan.value.config.remove) setPath(overrides, k, undefined as unknown as string);
      for (const [k, v] of Object.entries(plan.value.config.set)) setPath(overrides, k, v);
      const back = await record(overrides);
      const t0 = Date.now();
      const { result: steps, ...load } = await underLoad(async () => {
        const done = await deploy(current, back);
        const res = await eventually(
          "1.4.0 served again",
          () => viaProxy("/version"),
          (r) => JSON.parse(r.body).version === "1.4.0",
          60_000,
        );
        assert.equal(res.status, 200);
        return done;
      });
      current = back;
      currentOverrides = overrides;
      tl.note(
        `rollback (${plan.value.summary.join("; ")}) served in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
      reportLoop("rollback", steps, load, ["1.5.0", "1.4.0"]);
    });
  });

  it("applies a changed backup script as an update: backups, timers and monitor still present", () =>
    tl.phase("backup script update", async () => {
      // On top of the release that runs now (after the rollback: the first one again).
      const base = JSON.parse(JSON.stringify(currentOverrides)) as Json;
      const retention = ((stackFile.values.backups as Json)?.retentionDays ?? 30) + 1;
      const next = { ...base, backups: { ...(stackFile.values.backups as Json), retentionDays: retention } };
      const changed = await withChangedScript("backup-postgres.sh", () => record(next));
      const install = (rec: ProgramRecording) => rec.resources.find((r) => r.name === "backups-install")!;
      assert.notDeepEqual(
        install(changed).inputs.triggers,
        install(current).inputs.triggers,
        "the rendered backup script changed",
      );
      const steps = await deploy(current, changed);
      current = changed;
      currentOverrides = next;
      tl.note(`backup script update: ${steps.join("; ")}`);
      // A backup change touches the backup commands only: no app, data store or proxy container.
      assert.deepEqual(
        steps.filter((s) => s.includes(CONTAINER)),
        [],
        "the backup script update replaced containers",
      );
      const files = [
        "/usr/local/lib/launchgate/backup-postgres.sh",
        "/usr/local/lib/launchgate/restore-drill.sh",
        "/usr/local/lib/launchgate/monitor-probe.sh",
        "/etc/systemd/system/launchgate-backup-full.timer",
        "/etc/systemd/system/launchgate-backup-incremental.timer",
        "/etc/systemd/system/launchgate-restore-drill.timer",
        "/etc/systemd/system/launchgate-monitor.timer",
      ];
      // Enabled as `systemctl enable` leaves them (the VPS has no systemd; see install-files.sh).
      for (const t of ["backup-full", "backup-incremental", "restore-drill", "monitor"])
        files.push(`/etc/systemd/system/timers.target.wants/launchgate-${t}.timer`);
      const missing = files.filter((f) => exec(vps!, `test -f ${f}`).code !== 0);
      assert.deepEqual(missing, [], "scripts, units and timers present after the update (issue 12)");
      assert.match(
        exec(vps!, "cat /usr/local/lib/launchgate/backup-retention.sh").stdout,
        new RegExp(`\\b${retention}\\b`),
        "the new script is installed",
      );
      // And it still works: the next pre-migration backup.
      const r = ssh(
        vps!,
        DEPLOYER,
        deployKey.file,
        "sudo -n /usr/local/lib/launchgate/backup-postgres.sh pre-migration e2e-after-update",
        { timeoutMs: 5 * 60_000 },
      );
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    }));

  it("the monitor finds every workload it probes on the VPS, each app by its label whatever the release", () =>
    tl.phase("monitor probe", async () => {
      // The install names workloads (apps as `app:<name>`), not this release's containers.
      const probe = exec(vps!, "cat /usr/local/lib/launchgate/monitor-probe.sh").stdout;
      const apps = (stackFile.values.apps as { name: string }[]).map((a) => a.name);
      for (const a of apps)
        assert.match(probe, new RegExp(`\\b${a}=app:${a}\\b`), `probe names app ${a} by label`);
      const r = await eventually(
        "every probed workload healthy",
        async () => exec(vps!, "/usr/local/lib/launchgate/monitor-probe.sh --print", 60_000),
        (x) =>
          x.code === 0 &&
          ["postgres", ...apps].every((n) => new RegExp(`^container\\.${n}=healthy$`, "m").test(x.stdout)),
        60_000,
      );
      const seen = r.stdout.split("\n").filter((l) => l.startsWith("container."));
      assert.equal(
        seen.length,
        1 + apps.length + (stackFile.values.redis as { instances: unknown[] }).instances.length,
        seen.join("\n"),
      );
      assert.deepEqual(
        seen.filter((l) => !l.endsWith("=healthy")),
        [],
        "every probed container healthy",
      );
    }));

  it("tears down without leaving anything behind", () =>
    tl.phase(
      "teardown",
      () => {
        const mine = `lg-host-test-${process.pid}-`;
        const left = () => ({
          containers: run("docker", ["ps", "-a", "-q", "--filter", `name=^${mine}`]).stdout.trim(),
          volumes: run("docker", ["volume", "ls", "-q", "--filter", `name=^${mine}`]).stdout.trim(),
          dirs: fs
            .readdirSync(os.tmpdir())
            .filter((d) => d.startsWith(mine) || d.startsWith(`lg-e2e-evidence-${process.pid}-`)),
          tunnels: vps ? run("pgrep", ["-f", controlSocket()]).stdout.trim() : "",
          bridges: run("pgrep", ["-P", String(process.pid), "-f", "docker-over-ssh"]).stdout.trim(),
        });
        teardown();
        assert.deepEqual(
          left(),
          { containers: "", volumes: "", dirs: [], tunnels: "", bridges: "" },
          "left behind",
        );
      },
      { always: true },
    ));
});
