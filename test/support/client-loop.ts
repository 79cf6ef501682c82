/**
 * Starts test/e2e/client-loop.ts in its own process (so the test's synchronous work never delays
 * its requests): `GET <path>` over HTTPS to `host:port` with the internal CA until `stop()`, which
 * resolves with what it saw. Shared by the end-to-end and the swarm tests.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** What the client loop saw: answers by version, failures (timestamped), slowest ms, answers over 1 s. */
export interface ClientLoopResult {
  readonly seen: Record<string, number>;
  readonly failures: string[];
  readonly maxMs: number;
  readonly slow: number;
}

export interface ClientLoopTarget {
  /** @default 127.0.0.1 */
  readonly host?: string;
  readonly port: number;
  /** TLS server name and Host header. */
  readonly servername: string;
  /** CA certificate (PEM) the loop trusts, written to `caFile`. */
  readonly ca: string;
  readonly caFile: string;
  /** @default /version */
  readonly path?: string;
}

export function startClientLoop(t: ClientLoopTarget): { stop(): Promise<ClientLoopResult> } {
  fs.writeFileSync(t.caFile, t.ca);
  const child = spawn(process.execPath, ["--import", "tsx", path.join(__dirname, "../e2e/client-loop.ts")], {
    env: {
      ...process.env,
      LG_HOST: t.host ?? "127.0.0.1",
      LG_PORT: String(t.port),
      LG_SERVERNAME: t.servername,
      LG_CA_FILE: t.caFile,
      LG_PATH: t.path ?? "/version",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return {
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(timer);
      return JSON.parse(out) as ClientLoopResult;
    },
  };
}
