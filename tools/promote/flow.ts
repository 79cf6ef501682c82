/**
 * The Automation API wiring for `npm run promote` and `npm run rollback`: fetch outputs and
 * config, carry out the plans from ./decisions.ts, run the offline checker, preview and update
 * with the policy pack, run the smoke tests, record the result. No decision is made here.
 */
import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import {
  ConfigMap,
  ConfigPlan,
  OutputMap,
  ReleasePlan,
  decideSourceMatchesGate,
  decideSourceVerified,
  formatAge,
  maxSourceAgeHours,
  planCommitted,
  needsVerification,
  planRecordVerification,
  planRelease,
  planRollback,
  ROLLBACK_ADVISORY_GATES,
  rollbackPackConfig,
  policyArgs,
  rollbackCommand,
  targetApps,
} from "./decisions";
import { SmokeSpec, loadSmokeSpec, planSmokeTests, runSmokeTests } from "./smoke";
import { knownHostsLine } from "../../components/host/known-hosts";
import { ROLLOUT_DIR, VERIFY_DIR, rolloutFileName, verifyFileName } from "../../contract/evidence-files";
import { DEFAULT_VERIFY, NAMESPACE, RolloutConfig, verifyCheckSchema } from "../../stacks/config";
import { RolloutEffects, runRollout } from "./canary";
import {
  FINAL_CONFIG,
  VerifyRecord,
  dueVerifications,
  judgeVerification,
  parseAccessLog,
  planCanary,
  proxyLogCommand,
  rolloutLines,
  stepConfig,
  windowStats,
} from "./rollout";

/** A refusal or failure: message for the person, exit code for the shell. */
export class FlowError extends Error {
  constructor(
    message: string,
    public readonly exitCode = 1,
  ) {
    super(message);
    this.name = "FlowError";
  }
}

export interface FlowOptions {
  /** The Pulumi project directory (holds Pulumi.yaml, policies/). */
  readonly workDir: string;
  /** Install root of the `pulumi` CLI to use (`<root>/bin/pulumi`); default: `pulumi` on PATH. */
  readonly pulumiRoot?: string;
  /** Extra environment for every CLI call. */
  readonly envVars?: Record<string, string>;
  /** Without it the flow stops after the preview. */
  readonly yes: boolean;
  /**
   * Run the offline check as this command (argv; `{stack}` is replaced; `--stack-outputs DIR` and
   * `--pack-config FILE` are appended when needed) instead of calling the checker in-process.
   */
  readonly checkCommand?: string[];
  /** Override the smoke-test base URL (default: the target's `url` output). */
  readonly baseUrl?: string;
  readonly smokeSpec?: SmokeSpec;
  /** Environment for smoke-test header substitution; default process.env. */
  readonly env?: Record<string, string | undefined>;
  readonly maxAgeHours?: number;
  readonly now?: () => Date;
  readonly log?: (line: string) => void;
  /** Rollout windows wait with this (tests: no wait). @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** The proxy's log for [since, until). @default `docker logs` over SSH as the deploy user (proxyLogCommand) */
  readonly readProxyLog?: (stack: string, since: Date, until: Date) => Promise<string>;
  /** Sends an alert. @default POST JSON to `launchgate:alertWebhookUrl` when it is an https URL */
  readonly alert?: (payload: Record<string, unknown>) => Promise<void>;
}

export interface FlowResult {
  readonly stack: string;
  readonly status: "deployed" | "previewed" | "unchanged";
  readonly commit: string;
}

/** What the offline check needs besides the stack: StackReference outputs, a per-run pack config. */
interface CheckInputs {
  readonly stackOutputsDir?: string;
  readonly packConfigPath?: string;
}

/**
 * The offline check, in-process through the checker's exported `runCheck` (the same engine as
 * `npm run check`); the program it runs reads the stack file the config step just wrote.
 */
async function checkInProcess(workDir: string, stack: string, inputs: CheckInputs): Promise<CheckRun> {
  const { runCheck: check } = await import("../checker/check");
  const { renderText } = await import("../checker/report");
  const r = await check({ stack, projectDir: workDir, ...inputs });
  return { code: r.passed ? 0 : 1, output: renderText(r) };
}

/** The offline check as a command (stand-ins in tests, or another checker). */
function checkByCommand(
  argv: string[],
  workDir: string,
  stack: string,
  inputs: CheckInputs,
): Promise<CheckRun> {
  return runCheck(
    [
      ...argv,
      ...(inputs.stackOutputsDir ? ["--stack-outputs", inputs.stackOutputsDir] : []),
      ...(inputs.packConfigPath ? ["--pack-config", inputs.packConfigPath] : []),
    ],
    workDir,
    stack,
  );
}

interface CheckRun {
  readonly code: number;
  readonly output: string;
}

async function openStack(name: string, opts: FlowOptions): Promise<Stack> {
  const pulumiCommand = opts.pulumiRoot
    ? await PulumiCommand.get({ root: opts.pulumiRoot, skipVersionCheck: true })
    : undefined;
  const ws = await LocalWorkspace.create({ workDir: opts.workDir, pulumiCommand, envVars: opts.envVars });
  try {
    return await Stack.select(name, ws);
  } catch (e) {
    throw new FlowError(
      `cannot select stack ${name}: ${errorText(e).split("\n").filter(Boolean).slice(-3).join(" ")}`,
    );
  }
}

async function applyConfig(stack: Stack, plan: ConfigPlan): Promise<void> {
  if (plan.remove.length > 0) await stack.removeAllConfig(plan.remove, true);
  const entries = Object.entries(plan.set);
  if (entries.length > 0) {
    await stack.setAllConfig(
      Object.fromEntries(entries.map(([k, v]) => [k, { value: v, secret: false }])),
      true,
    );
  }
}

/** Runs the offline checker; resolves with its exit code and combined output. */
function runCheck(argv: string[], cwd: string, stack: string): Promise<CheckRun> {
  const [cmd, ...args] = argv.map((a) => a.replace("{stack}", stack));
  return new Promise((resolve) => {
    const child = spawn(cmd!, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", (e) => resolve({ code: 127, output: `${output}${e.message}` }));
    child.on("close", (code) => resolve({ code: code ?? 1, output }));
  });
}

/** Policy lines from CLI output, so a refusal names the policies that refused. */
export function policyLines(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /\b(mandatory|advisory|policy violation|violat)/i.test(l))
    .slice(0, 20);
}

function errorText(e: unknown): string {
  const err = e as { message?: string; commandResult?: { stdout?: string; stderr?: string } };
  return [err.commandResult?.stdout, err.commandResult?.stderr, err.message].filter(Boolean).join("\n");
}

/**
 * Writes stack outputs where the offline checker reads StackReferences
 * (`<dir>/<short stack name>/stack-outputs.json`, plain values) and returns the dir.
 */
function writeStackOutputs(outputs: Record<string, OutputMap>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-stack-outputs-"));
  for (const [name, out] of Object.entries(outputs)) {
    const short = name.split("/").pop() ?? name;
    fs.mkdirSync(path.join(dir, short), { recursive: true });
    const plain = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.value]));
    fs.writeFileSync(path.join(dir, short, "stack-outputs.json"), `${JSON.stringify(plain, null, 2)}\n`);
  }
  return dir;
}

/** Writes a pack config for one deployment next to the others' temp files; returns its path. */
function writePackConfig(stack: string, config: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-pack-config-"));
  const file = path.join(dir, `${stack}.json`);
  fs.writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return file;
}

/** A structured config value (`pulumi config --json` holds objects as JSON strings), raw. */
function configValue(config: ConfigMap, key: string): unknown {
  const entry = config[`${NAMESPACE}:${key}`];
  if (!entry) return undefined;
  try {
    return JSON.parse(entry.value);
  } catch {
    return entry.value;
  }
}

/** A rollout to carry out instead of one `up` (./rollout.ts planCanary). */
interface CanaryPlan {
  readonly rollout: RolloutConfig;
  readonly apps: string[];
  readonly previousCommit: string | null;
}

/** `<workDir>/<evidenceDir>/<stack>/<kind>/<file>`, created; returns the path. */
function writeEvidence(
  workDir: string,
  config: ConfigMap,
  stack: string,
  kind: string,
  file: string,
  value: unknown,
): string {
  const release = configValue(config, "release") as { evidenceDir?: string } | undefined;
  const dir = path.join(workDir, release?.evidenceDir ?? "evidence", stack.split("/").pop()!, kind);
  fs.mkdirSync(dir, { recursive: true });
  const out = path.join(dir, file);
  fs.writeFileSync(out, `${JSON.stringify(value, null, 2)}\n`);
  return out;
}

/**
 * The proxy log over SSH as the deploy user (proxyLogCommand): host and port from the stack's
 * `host` output, user from `launchgate:host.deployUser` (default `deployer`), key
 * `<workDir>/.launchgate/<stack>/id_deployer`. Host keys: the pinned `launchgate:host.hostKey`
 * when the stack sets it (a throw-away known_hosts holding only that key, strict checking),
 * else `<workDir>/.launchgate/<stack>/known_hosts` (first use recorded) — never the operator's
 * ~/.ssh/known_hosts. `ssh` runs with `opts.envVars` on top of this process's environment.
 * Rejects when the stack exports no host address, or with ssh's stderr when ssh or
 * `docker logs` fails (60 s bound).
 */
export function sshProxyLog(
  opts: Pick<FlowOptions, "workDir" | "envVars">,
  config: ConfigMap,
  outputs: OutputMap,
): (stack: string, since: Date, until: Date) => Promise<string> {
  return (stack: string, since: Date, until: Date): Promise<string> => {
    const host = outputs.host?.value as { address?: string; sshPort?: number } | undefined;
    const hostCfg = configValue(config, "host") as { deployUser?: string; hostKey?: string } | undefined;
    if (!host?.address) return Promise.reject(new Error(`stack ${stack} exports no host address`));
    const stackDir = path.join(opts.workDir, ".launchgate", stack.split("/").pop()!);
    const port = host.sshPort ?? 22;
    let pinnedDir: string | undefined;
    let knownHostsFile = path.join(stackDir, "known_hosts");
    if (hostCfg?.hostKey) {
      pinnedDir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-known-hosts-"));
      knownHostsFile = path.join(pinnedDir, "known_hosts");
      fs.writeFileSync(knownHostsFile, `${knownHostsLine(host.address, port, hostCfg.hostKey)}\n`);
    }
    const [cmd, ...args] = proxyLogCommand({
      host: host.address,
      port,
      user: hostCfg?.deployUser ?? "deployer",
      identityFile: path.join(stackDir, "id_deployer"),
      knownHostsFile,
      hostKeys: pinnedDir ? "known" : "accept-new",
      container: "proxy",
      since,
      until,
    });
    return new Promise<string>((resolve, reject) =>
      execFile(
        cmd!,
        args,
        { timeout: 60_000, maxBuffer: 256 << 20, env: { ...process.env, ...opts.envVars } },
        (err, stdout, stderr) =>
          err
            ? reject(new Error(`${cmd} … docker logs: ${stderr || err.message}`))
            : resolve(`${stdout}\n${stderr}`),
      ),
    ).finally(() => {
      if (pinnedDir) fs.rmSync(pinnedDir, { recursive: true, force: true });
    });
  };
}

/** POSTs the alert to the stack's webhook (secret config), bounded; no webhook: logged only. */
function webhookAlert(opts: FlowOptions, config: ConfigMap) {
  return async (payload: Record<string, unknown>): Promise<void> => {
    const url = config[`${NAMESPACE}:alertWebhookUrl`]?.value;
    if (!url || !/^https:\/\/\S+$/.test(url)) {
      (opts.log ?? console.log)(`no https alert webhook configured; alert: ${String(payload.text)}`);
      return;
    }
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`alert webhook answered ${res.status}`);
  };
}

/**
 * The canary steps (./canary.ts): each weight an `up` with `release.canaryWeight`, each window
 * judged from the proxy's log; on a failed window weight 0 + alert; the verdicts recorded as
 * evidence. Returns the last `up`'s outputs when the canary became the only version.
 */
async function rolloutSteps(
  stack: Stack,
  plan: ReleasePlan,
  canary: CanaryPlan,
  targetConfig: ConfigMap,
  targetOutputs: OutputMap,
  policy: ReturnType<typeof policyArgs>,
  opts: FlowOptions,
): Promise<OutputMap> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const name = stack.name;
  let outputs: OutputMap = {};
  let first = true;
  const readLog = opts.readProxyLog ?? sshProxyLog(opts, targetConfig, targetOutputs);
  const alert = opts.alert ?? webhookAlert(opts, targetConfig);
  const fx: RolloutEffects = {
    applyWeight: async (w) => {
      // The first weight was set with the release's config (checked and previewed as such).
      if (!(first && w === canary.rollout.steps[0]))
        await applyConfig(stack, w === "final" ? FINAL_CONFIG : stepConfig(w));
      first = false;
      try {
        outputs = (await stack.up({ ...policy })).outputs as OutputMap;
      } catch (e) {
        const text = errorText(e);
        throw new FlowError(
          `update of ${name} at canary weight ${w} failed.\n${text.split("\n").slice(-20).join("\n")}\n` +
            `The proxy's weights change only after the apps are healthy. To go back: ${rollbackCommand(name)}`,
        );
      }
    },
    readLog: (since, until) => readLog(name, since, until),
    alert: (p) => alert(p),
    now: opts.now ?? (() => new Date()),
    sleep: opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    log,
  };
  const run = await runRollout(
    {
      stack: name,
      commit: plan.release.commit,
      previousCommit: canary.previousCommit,
      apps: canary.apps,
      rollout: canary.rollout,
    },
    fx,
  );
  const file = writeEvidence(
    opts.workDir,
    targetConfig,
    name,
    ROLLOUT_DIR,
    rolloutFileName(plan.release.commit),
    run,
  );
  for (const l of rolloutLines(run)) log(l);
  log(`rollout verdicts recorded in ${path.relative(opts.workDir, file)}`);
  if (run.outcome === "aborted") {
    throw new FlowError(
      `canary aborted: ${run.reason}.\nThe canary's weight is 0 (the stable release ${canary.previousCommit ?? ""} serves every request), ` +
        `the alert was sent and the verdict recorded in ${path.relative(opts.workDir, file)}.\n` +
        `To remove the canary container too: ${rollbackCommand(name)}`,
    );
  }
  return outputs;
}

/**
 * config apply → offline check → preview → (--yes) up → smoke tests → record verification.
 * `referenced` are the outputs of stacks the program reads by StackReference (staging), handed
 * to the offline checker so it judges the gates on what the engine will see.
 */
async function deploy(
  stack: Stack,
  plan: ReleasePlan,
  targetConfig: ConfigMap,
  opts: FlowOptions,
  referenced: Record<string, OutputMap> = {},
  /** A pack config replacing `policies/config/<stack>.json` for this deployment (rollback). */
  packConfig?: Record<string, unknown>,
  /** Roll out as a canary (promote only); absent: one `up`. */
  canary?: CanaryPlan,
  targetOutputs: OutputMap = {},
): Promise<FlowResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const name = stack.name;
  // Preflight, before anything changes: the smoke-test spec loads and every header it needs is set.
  const appList = targetApps(targetConfig);
  let spec: SmokeSpec;
  try {
    spec = opts.smokeSpec ?? loadSmokeSpec(name);
    planSmokeTests({
      baseUrl: "http://preflight.invalid",
      apps: appList,
      spec,
      env: opts.env ?? process.env,
    });
  } catch (e) {
    throw new FlowError(`smoke tests for ${name} cannot run: ${(e as Error).message}; nothing was changed`);
  }
  for (const line of plan.summary) log(`  ${line}`);
  if (canary)
    log(
      `  canary: ${canary.apps.join(", ")} at ${canary.rollout.steps.join(" → ")} %, ${canary.rollout.stepSeconds} s windows`,
    );
  // A canary's first step is what is checked and previewed.
  await applyConfig(
    stack,
    canary
      ? { ...plan.config, set: { ...plan.config.set, ...stepConfig(canary.rollout.steps[0]!).set } }
      : plan.config,
  );
  log(`config of ${name} updated (Pulumi.${name}.yaml)`);

  const outputsDir = Object.keys(referenced).length > 0 ? writeStackOutputs(referenced) : undefined;
  const packConfigFile = packConfig ? writePackConfig(name, packConfig) : undefined;
  const inputs: CheckInputs = { stackOutputsDir: outputsDir, packConfigPath: packConfigFile };
  let check: CheckRun;
  try {
    check = opts.checkCommand
      ? await checkByCommand(opts.checkCommand, opts.workDir, name, inputs)
      : await checkInProcess(opts.workDir, name, inputs);
  } catch (e) {
    check = { code: 2, output: (e as Error).message };
  } finally {
    if (outputsDir) fs.rmSync(outputsDir, { recursive: true, force: true });
  }
  if (check.code !== 0) {
    throw new FlowError(
      `offline check of ${name} failed (exit ${check.code}); nothing was deployed.\n${check.output.trim().split("\n").slice(-30).join("\n")}`,
    );
  }
  log(`offline check of ${name} passed`);

  const policy = policyArgs(name, packConfigFile);
  try {
    const pv = await stack.preview({ ...policy, diff: true });
    log(pv.stdout.trim());
  } catch (e) {
    const text = errorText(e);
    const lines = policyLines(text);
    throw new FlowError(
      `preview of ${name} failed${lines.length ? " (policy violations)" : ""}; nothing was deployed.\n${(lines.length ? lines : text.split("\n").slice(-20)).join("\n")}`,
    );
  }
  if (!opts.yes) {
    log(`preview only: re-run with --yes to deploy ${plan.release.commit} to ${name}`);
    return { stack: name, status: "previewed", commit: plan.release.commit };
  }

  let outputs: OutputMap;
  if (canary) {
    outputs = await rolloutSteps(stack, plan, canary, targetConfig, targetOutputs, policy, opts);
    log(`rollout of ${name} done: ${canary.apps.join(", ")} at ${plan.release.commit}`);
    return verifyAndRecord(stack, plan.release.commit, outputs, appList, spec, policy, opts);
  }
  try {
    const up = await stack.up({ ...policy });
    outputs = up.outputs as OutputMap;
  } catch (e) {
    const text = errorText(e);
    const lines = policyLines(text);
    throw new FlowError(
      `update of ${name} failed.\n${(lines.length ? lines : text.split("\n").slice(-20)).join("\n")}\nTo go back: ${rollbackCommand(name)}`,
    );
  }
  log(`update of ${name} done`);

  return verifyAndRecord(stack, plan.release.commit, outputs, appList, spec, policy, opts);
}

/** Smoke tests against the stack's `url`, then the verification recorded and exported. */
async function verifyAndRecord(
  stack: Stack,
  commit: string,
  outputs: OutputMap,
  appList: { name: string; route?: string; healthPath?: string }[],
  spec: SmokeSpec,
  policy: ReturnType<typeof policyArgs>,
  opts: FlowOptions,
): Promise<FlowResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const name = stack.name;
  const baseUrl = opts.baseUrl ?? (typeof outputs.url?.value === "string" ? outputs.url.value : undefined);
  if (!baseUrl)
    throw new FlowError(
      `stack ${name} exports no url; cannot run smoke tests.\nTo go back: ${rollbackCommand(name)}`,
    );
  const requests = planSmokeTests({ baseUrl, apps: appList, spec, env: opts.env ?? process.env });
  const results = await runSmokeTests(requests, spec);
  for (const r of results)
    log(`  ${r.ok ? "ok  " : "FAIL"} ${r.name} ${r.url}${r.ok ? "" : `: ${r.detail}`}`);
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) {
    throw new FlowError(
      `smoke tests failed on ${name} (${failed.map((f) => `${f.name}: ${f.detail}`).join("; ")}).\n` +
        `${commit} is deployed but NOT verified. To go back: ${rollbackCommand(name)}`,
    );
  }
  const now = (opts.now ?? (() => new Date()))();
  try {
    await applyConfig(stack, planRecordVerification(commit, now));
    // An outputs-only update exports the verification (verifiedRelease) for the next promotion.
    await stack.up({ ...policy });
  } catch (e) {
    throw new FlowError(
      `${commit} is deployed and its smoke tests passed, but recording the verification failed:\n` +
        `${errorText(e).split("\n").slice(-10).join("\n")}\nRe-run the same command: it re-tests and records.`,
    );
  }
  log(`${name} runs ${commit}, smoke tests passed at ${now.toISOString()}`);
  return { stack: name, status: "deployed", commit };
}

/**
 * The target already runs the planned release: nothing to deploy; if its verification is missing
 * (a run that failed after the update), re-test and record it.
 */
async function whenUnchanged(
  stack: Stack,
  commit: string,
  targetConfig: ConfigMap,
  targetOutputs: OutputMap,
  opts: FlowOptions,
): Promise<FlowResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  if (!needsVerification(targetConfig, commit) || !opts.yes) {
    log(`${stack.name} already runs ${commit}; nothing to do`);
    return { stack: stack.name, status: "unchanged", commit };
  }
  log(`${stack.name} runs ${commit} but its verification is not recorded: smoke tests, then record`);
  const appList = targetApps(targetConfig);
  let spec: SmokeSpec;
  try {
    spec = opts.smokeSpec ?? loadSmokeSpec(stack.name);
  } catch (e) {
    throw new FlowError(`smoke tests for ${stack.name} cannot run: ${(e as Error).message}`);
  }
  return verifyAndRecord(stack, commit, targetOutputs, appList, spec, policyArgs(stack.name), opts);
}

/** `promote --from <source> --to <target>`: the source's verified release, deployed on the target. */
export async function promote(opts: FlowOptions & { from: string; to: string }): Promise<FlowResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const now = (opts.now ?? (() => new Date()))();
  const source = await openStack(opts.from, opts);
  const sourceOutputs = (await source.outputs()) as OutputMap;
  const target = await openStack(opts.to, opts);
  const targetConfig = (await target.getAllConfig()) as ConfigMap;
  const gate = decideSourceMatchesGate(opts.from, targetConfig);
  if (!gate.ok) throw new FlowError(`refusing to promote: ${gate.reason}`);
  const verified = decideSourceVerified(sourceOutputs, {
    now,
    maxAgeHours: maxSourceAgeHours(readPackConfig(opts.workDir, opts.to), opts.maxAgeHours),
    stack: opts.from,
  });
  if (!verified.ok) throw new FlowError(`refusing to promote: ${verified.reason}`);
  log(`${opts.from} verified ${verified.value.commit} ${formatAge(verified.value.ageMs)} ago`);
  const targetOutputs = (await target.outputs()) as OutputMap;
  const plan = planRelease({ release: verified.value, targetConfig, targetOutputs, requireAllRoles: true });
  if (!plan.ok) throw new FlowError(`refusing to promote: ${plan.reason}`);
  if (plan.value.kind === "noop")
    return whenUnchanged(target, plan.value.release.commit, targetConfig, targetOutputs, opts);
  const release = configValue(targetConfig, "release") as { rollout?: unknown } | undefined;
  const apps = configValue(targetConfig, "apps");
  const canary = planCanary({
    rawRollout: release?.rollout,
    apps: Array.isArray(apps) ? (apps as { name: string; image: string; route?: string }[]) : [],
    images: plan.value.release.images,
    previous: plan.value.previous,
  });
  if (!canary.ok) throw new FlowError(`refusing to promote: ${canary.reason}`);
  log(
    `promoting ${plan.value.release.commit} from ${opts.from} to ${opts.to}${canary.value ? " as a canary" : ""}`,
  );
  return deploy(
    target,
    plan.value,
    targetConfig,
    opts,
    { [opts.from]: sourceOutputs },
    undefined,
    canary.value ? { ...canary.value, previousCommit: plan.value.previous?.commit ?? null } : undefined,
    targetOutputs,
  );
}

/** `promote --to <stack>` without `--from`: deploy and verify the release the stack file holds (CI on main). */
export async function deployCommitted(opts: FlowOptions & { to: string }): Promise<FlowResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const target = await openStack(opts.to, opts);
  const targetConfig = (await target.getAllConfig()) as ConfigMap;
  const plan = planCommitted({ targetConfig });
  if (!plan.ok) throw new FlowError(`refusing to deploy: ${plan.reason}`);
  log(`deploying ${plan.value.release.commit} to ${opts.to}`);
  return deploy(target, plan.value, targetConfig, opts);
}

function packConfigFile(workDir: string, stack: string): string {
  return path.join(workDir, "policies", "config", `${stack}.json`);
}

/** The stack's policy pack config (`policies/config/<stack>.json`), or undefined when absent. */
function readPackConfig(workDir: string, stack: string): Record<string, unknown> | undefined {
  const file = packConfigFile(workDir, stack);
  return fs.existsSync(file)
    ? (JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>)
    : undefined;
}

/** `rollback --stack <stack>`: re-deploys the recorded previous release the same way. */
export async function rollback(
  opts: FlowOptions & { stack: string; disableFlags?: string[] },
): Promise<FlowResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const target = await openStack(opts.stack, opts);
  const targetConfig = (await target.getAllConfig()) as ConfigMap;
  const targetOutputs = (await target.outputs()) as OutputMap;
  const plan = planRollback({ targetConfig, targetOutputs, disableFlags: opts.disableFlags });
  if (!plan.ok) throw new FlowError(`refusing to roll back: ${plan.reason}`);
  if (plan.value.kind === "noop")
    return whenUnchanged(target, plan.value.release.commit, targetConfig, targetOutputs, opts);
  log(`rolling ${opts.stack} back to ${plan.value.release.commit}`);
  const stackPackConfig = readPackConfig(opts.workDir, opts.stack);
  if (!stackPackConfig)
    throw new FlowError(`no policy pack config ${packConfigFile(opts.workDir, opts.stack)}`);
  const packConfig = rollbackPackConfig(stackPackConfig);
  log(
    `release-approval gates ${ROLLBACK_ADVISORY_GATES.join(", ")} are advisory for this rollback ` +
      `(the previous release passed them when it shipped); every other policy keeps its level`,
  );
  return deploy(target, plan.value, targetConfig, opts, {}, packConfig);
}

/**
 * `verify --stack <stack>`: the post-deploy verification marks (seed 004: 30 min, 1 h, 24 h;
 * `launchgate:release.verify`) that are due for the running release and not yet recorded, each
 * judged on the proxy's log for its window and recorded as evidence; a failed mark alerts.
 * The deploy time is the rollout's finish (evidence/<stack>/rollout/<commit>.json), else the
 * recorded smoke-test time. Run it on a schedule (CI cron) after a release.
 */
export async function verifyMarks(opts: FlowOptions & { stack: string }): Promise<VerifyRecord[]> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const now = (opts.now ?? (() => new Date()))();
  const target = await openStack(opts.stack, opts);
  const config = (await target.getAllConfig()) as ConfigMap;
  const outputs = (await target.outputs()) as OutputMap;
  const release = (configValue(config, "release") ?? {}) as {
    commit?: string;
    evidenceDir?: string;
    verify?: unknown;
  };
  const commit = release.commit;
  if (typeof commit !== "string")
    throw new FlowError(`${NAMESPACE}:release.commit is not set on ${opts.stack}`);
  const checks = verifyCheckSchema.array().safeParse(release.verify ?? DEFAULT_VERIFY);
  if (!checks.success) throw new FlowError(`${NAMESPACE}:release.verify is invalid: ${checks.error.message}`);
  const short = opts.stack.split("/").pop()!;
  const dir = path.join(opts.workDir, release.evidenceDir ?? "evidence", short);
  const rolloutFile = path.join(dir, ROLLOUT_DIR, rolloutFileName(commit));
  const rolled = fs.existsSync(rolloutFile)
    ? (JSON.parse(fs.readFileSync(rolloutFile, "utf8")) as { outcome?: string; finishedAt?: string })
    : undefined;
  const verification = configValue(config, "verification") as
    { commit?: string; finishedAt?: string } | undefined;
  const deployedIso =
    rolled?.outcome === "promoted"
      ? rolled.finishedAt
      : verification?.commit === commit
        ? verification.finishedAt
        : undefined;
  if (!deployedIso || Number.isNaN(Date.parse(deployedIso)))
    throw new FlowError(
      `no deploy time for ${commit} on ${opts.stack} (no promoted rollout, no verification recorded)`,
    );
  const verifyDir = path.join(dir, VERIFY_DIR);
  const recorded = checks.data
    .map((c) => c.after)
    .filter((after) => fs.existsSync(path.join(verifyDir, verifyFileName(commit, after))));
  const due = dueVerifications(new Date(deployedIso), checks.data, recorded, now);
  if (due.length === 0)
    log(
      `no verification mark due for ${commit} on ${opts.stack} (recorded: ${recorded.join(", ") || "none"})`,
    );
  const readLog = opts.readProxyLog ?? sshProxyLog(opts, config, outputs);
  const alert = opts.alert ?? webhookAlert(opts, config);
  const out: VerifyRecord[] = [];
  for (const d of due) {
    const text = await readLog(opts.stack, new Date(d.fromMs), new Date(d.toMs));
    const stats = windowStats(parseAccessLog(text), { fromMs: d.fromMs, toMs: d.toMs });
    const v = judgeVerification(stats, d.check);
    const rec: VerifyRecord = {
      stack: short,
      commit,
      after: d.check.after,
      passed: v.passed,
      reasons: v.reasons,
      fromIso: new Date(d.fromMs).toISOString(),
      toIso: new Date(d.toMs).toISOString(),
      stats,
      checkedAt: now.toISOString(),
    };
    const file = writeEvidence(
      opts.workDir,
      config,
      opts.stack,
      VERIFY_DIR,
      verifyFileName(commit, d.check.after),
      rec,
    );
    log(
      `${d.check.after} mark of ${commit.slice(0, 12)}: ${v.passed ? "passed" : `FAILED (${v.reasons.join("; ")})`} — ${path.relative(opts.workDir, file)}`,
    );
    if (!v.passed) {
      try {
        await alert({
          event: "verification-failed",
          stack: short,
          commit,
          text: `launchgate: ${commit.slice(0, 12)} on ${short} failed its ${d.check.after} mark: ${v.reasons.join("; ")}; consider ${rollbackCommand(short)}`,
        });
      } catch (e) {
        log(`alert webhook failed: ${(e as Error).message}`);
      }
    }
    out.push(rec);
  }
  return out;
}
