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
import { POSTGRES_IP } from "../stacks/compose";
import { captureSteps, localHostConfig, runAll } from "../test/support/host-steps";
import { buildVpsImage, makeKey, startVps } from "../test/support/vps";
import { Row, ratio, secs } from "./table";

export async function measureHost(log: (l: string) => void): Promise<Row[]> {
  const built = buildVpsImage();
  log(`vps image ${built.tag} ready in ${secs(built.ms)}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-bench-host-"));
  const rootKey = makeKey(dir, "root");
  const deployKey = makeKey(dir, "deployer");
  const vps = startVps(built.tag, rootKey.publicKey, dir, "lg-bench-vps");
  try {
    const host = localHostConfig();
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
    const first = runAll(vps, deployKey, host.deployUser, steps, "run1", log).ms;
    const second = runAll(vps, deployKey, host.deployUser, steps, "run2", log).ms;
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
