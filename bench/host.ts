/**
 * Host scripts, first run vs second run: the exact HardenedHost steps captured from the program
 * (as test/host/hardening.test.ts does), run over real SSH on a fresh disposable Debian VPS
 * (the LocalVps image and run flags), then run again on the hardened host. The second run is
 * the idempotent no-op path every later `pulumi up` takes.
 * Docker objects: container + volume `lg-bench-vps-<pid>-<t>`, removed at the end.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { HardenedHost, HardenedHostArgs } from "../components/host/HardenedHost";
import { VPS_RUN } from "../components/host/vps-image";
import { POSTGRES_IP } from "../stacks/compose";
import { parseConfig } from "../stacks/config";
import { readStackFile } from "../stacks/stack-file";
import { installMocks, reveal, settle } from "../test/support/mocks";
import { KeyPair, Run, Vps, buildVpsImage, makeKey, must, run, ssh, waitForSsh } from "../test/support/vps";
import { Row, ratio, secs } from "./table";

const ROOT = path.resolve(__dirname, "..");

interface Step {
  readonly name: string;
  readonly kind: "local" | "remote";
  readonly create: string;
  readonly stdin: string;
  readonly environment: Record<string, string>;
}

async function captureSteps(name: string, args: HardenedHostArgs): Promise<Step[]> {
  const rec = await installMocks("local");
  new HardenedHost(name, args);
  await settle();
  return rec.resources
    .filter((r) => r.type === "command:local:Command" || r.type === "command:remote:Command")
    .map((r): Step => ({
      name: r.name.slice(name.length + 1),
      kind: r.type === "command:local:Command" ? "local" : "remote",
      create: String(reveal(r.inputs.create)),
      stdin: String(reveal(r.inputs.stdin)),
      environment: (reveal(r.inputs.environment) ?? {}) as Record<string, string>,
    }));
}

/** One step as the command provider runs it (retrying only failed SSH dials). */
function runStep(vps: Vps, key: KeyPair, user: string, step: Step): Run {
  if (step.kind === "local") {
    return run("/bin/bash", ["-c", step.create], {
      input: step.stdin,
      env: { PATH: process.env.PATH, HOME: os.tmpdir(), ...step.environment },
      timeoutMs: 5 * 60_000,
    });
  }
  for (let attempt = 1; ; attempt++) {
    const r = ssh(vps, user, key.file, step.create, { input: step.stdin, timeoutMs: 10 * 60_000 });
    const dial =
      r.code === 255 && /kex_exchange_identification|Connection (reset|refused|closed)/.test(r.stderr);
    if (!dial || attempt >= 5) return r;
    must("sleep", ["1"]);
  }
}

function runAll(
  vps: Vps,
  key: KeyPair,
  user: string,
  steps: Step[],
  label: string,
  log: (l: string) => void,
): number {
  const t0 = Date.now();
  for (const s of steps) {
    const r = runStep(vps, key, user, s);
    log(`${label} ${s.name.padEnd(22)} ${String(r.ms).padStart(6)} ms exit ${r.code}`);
    if (r.code !== 0)
      throw new Error(`${label}: step ${s.name} failed (exit ${r.code}): ${r.stderr.slice(-300)}`);
  }
  return Date.now() - t0;
}

/** The VPS with LocalVps's flags, named lg-bench-*. */
function startBenchVps(image: string, rootPublicKey: string, dir: string): Vps {
  const id = `lg-bench-vps-${process.pid}-${Date.now().toString(36)}`;
  let stopped = false;
  const vps: Vps = {
    container: id,
    volume: `${id}-docker`,
    sshPort: 0,
    ip: "",
    dir,
    restart() {
      throw new Error("not used by the bench");
    },
    stop() {
      if (stopped) return;
      stopped = true;
      run("docker", ["rm", "-f", "-v", id], { timeoutMs: 60_000 });
      run("docker", ["volume", "rm", "-f", `${id}-docker`], { timeoutMs: 60_000 });
    },
  };
  process.once("exit", () => vps.stop());
  try {
    must("docker", ["volume", "create", vps.volume]);
    must("docker", [
      "create",
      "--name",
      id,
      "--hostname",
      "vps",
      ...VPS_RUN.capAdd.flatMap((c) => ["--cap-add", c]),
      ...VPS_RUN.capDrop.flatMap((c) => ["--cap-drop", c]),
      ...VPS_RUN.securityOpts.flatMap((o) => ["--security-opt", o]),
      "-v",
      `${VPS_RUN.cgroupMount}:${VPS_RUN.cgroupMount}:rw`,
      ...VPS_RUN.tmpfs.flatMap((t) => ["--tmpfs", t]),
      "-v",
      `${vps.volume}:${VPS_RUN.dockerDataPath}`,
      "-p",
      `${VPS_RUN.bindAddress}::${VPS_RUN.sshInternalPort}`,
      image,
    ]);
    const keyFile = path.join(dir, "root_authorized_keys");
    fs.writeFileSync(keyFile, `${rootPublicKey}\n`, { mode: 0o644 });
    must("docker", ["cp", keyFile, `${id}:${VPS_RUN.rootAuthorizedKeys}`]);
    must("docker", ["start", id]);
    const port =
      must("docker", ["port", id, `${VPS_RUN.sshInternalPort}/tcp`])
        .stdout.trim()
        .split("\n")[0] ?? "";
    Object.assign(vps, { sshPort: Number(port.split(":").pop()) });
    waitForSsh(vps.sshPort);
    return vps;
  } catch (e) {
    vps.stop();
    throw e;
  }
}

export async function measureHost(log: (l: string) => void): Promise<Row[]> {
  const built = buildVpsImage();
  log(`vps image ${built.tag} ready in ${secs(built.ms)}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-bench-host-"));
  const rootKey = makeKey(dir, "root");
  const deployKey = makeKey(dir, "deployer");
  const vps = startBenchVps(built.tag, rootKey.publicKey, dir);
  try {
    const host = parseConfig(readStackFile(ROOT, "local").values, "local").host;
    const steps = await captureSteps("host", {
      bootstrap: {
        host: "127.0.0.1",
        port: vps.sshPort,
        user: host.bootstrapUser,
        privateKey: rootKey.privateKey,
      },
      host,
      deployerPublicKey: deployKey.publicKey,
      deployerPrivateKey: deployKey.privateKey,
      permitOpen: [`${POSTGRES_IP}:5432`],
    });
    log(`${steps.length} steps captured from the program`);
    const first = runAll(vps, deployKey, host.deployUser, steps, "run1", log);
    const second = runAll(vps, deployKey, host.deployUser, steps, "run2", log);
    return [
      {
        figure: `host scripts: second run, ${steps.length} steps (idempotent)`,
        ours: secs(second),
        baselineWhat: "first run on a fresh VPS",
        baseline: secs(first),
        ratio: ratio(second, first),
      },
    ];
  } finally {
    vps.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
