/**
 * Starts the policy pack process (node + the project's TypeScript loader, cwd = the pack dir, as
 * the Pulumi CLI runs a TypeScript pack) and resolves the port it prints. Kept free of heavy
 * imports so the CLI can start the pack first and load everything else while the pack boots.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";

/** tools/loader/register.cjs: `.ts` transpiled once and cached by content hash (see there). */
const LOADER = path.resolve(__dirname, "..", "loader", "register.cjs");

export interface SpawnedPack {
  readonly child: ChildProcess;
  readonly port: Promise<number>;
}

export function spawnPack(packDir: string): SpawnedPack {
  const child = spawn(process.execPath, ["--require", LOADER, path.join(packDir, "index.ts")], {
    cwd: packDir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const port = new Promise<number>((resolve, reject) => {
    let out = "";
    let err = "";
    child.stdout!.on("data", (b: Buffer) => {
      out += b.toString();
      const m = /^(\d+)\s*$/m.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.stderr!.on("data", (b: Buffer) => (err += b.toString()));
    child.on("exit", (code) => reject(new Error(`policy pack exited with ${code} before serving:\n${err}`)));
  });
  port.catch(() => undefined); // surfaced by whoever awaits it
  return { child, port };
}
