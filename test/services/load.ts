/**
 * Bounded load clients for the data path (issue 12), shared by the services test and
 * `npm run bench`: pgbench (from the Postgres test image) and redis-benchmark (from the Redis
 * test image), each in a throwaway container on the run's internal network, labelled with the
 * harness's run id (so its cleanup removes them even if a run is killed) and `--rm`.
 */
import { spawn } from "node:child_process";
import { RUN_LABEL } from "../support/harness";

export interface ClientRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

let seq = 0;

/**
 * Runs `entrypoint args…` from `image` on `network` with a hard timeout (the container is killed
 * when it passes). Never throws for a non-zero exit: the caller asserts. `onStdout` sees the
 * output as it comes (e.g. to act once a client reports it is ready).
 */
export function runClient(
  runId: string,
  network: string,
  image: string,
  entrypoint: string,
  args: string[],
  timeoutMs: number,
  onStdout?: (soFar: string) => void,
): Promise<ClientRun> {
  const name = `${runId}-client-${process.pid}-${++seq}`;
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn("docker", [
      "run",
      "--rm",
      "--name",
      name,
      "--label",
      `${RUN_LABEL}=${runId}`,
      "--network",
      network,
      "--pids-limit",
      "256",
      "--entrypoint",
      entrypoint,
      image,
      ...args,
    ]);
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => {
      stdout += d;
      onStdout?.(stdout);
    });
    p.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeoutMs} ms)`;
      spawn("docker", ["rm", "-f", name], { stdio: "ignore" });
    }, timeoutMs);
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** What pgbench reports at the end of a run (PostgreSQL 15's output). */
export interface PgbenchResult {
  readonly clients: number;
  readonly processed: number;
  readonly failed: number;
  readonly tps: number;
}

/** Parses pgbench's summary; throws with the output when a line is missing (an aborted run). */
export function parsePgbench(out: string, err = ""): PgbenchResult {
  const num = (re: RegExp, what: string) => {
    const m = re.exec(out);
    if (!m) throw new Error(`pgbench printed no ${what}:\n${out.slice(-2000)}\nstderr:\n${err.slice(-2000)}`);
    return Number(m[1]);
  };
  return {
    clients: num(/^number of clients: (\d+)$/m, "client count"),
    processed: num(/^number of transactions actually processed: (\d+)/m, "processed count"),
    // pgbench 15 prints failures only when there were any retries/failures configured; absent = 0.
    failed: /^number of failed transactions: (\d+)/m.test(out)
      ? num(/^number of failed transactions: (\d+)/m, "failed count")
      : 0,
    tps: num(/^tps = ([\d.]+)/m, "tps"),
  };
}
