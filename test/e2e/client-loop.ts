/**
 * A client of the proxy in its own process (so the test's synchronous work never delays it):
 * `GET <path>` over HTTPS with the internal CA, one after another every 50 ms, each bounded by
 * 15 s, until SIGTERM; then prints `{ seen: {version: count}, failures: [...], maxMs, slow }` as
 * JSON on stdout (`slow`: requests over 1 s).
 * Env: LG_PORT, LG_HOST (default 127.0.0.1), LG_SERVERNAME, LG_CA_FILE, LG_PATH.
 */
import * as fs from "node:fs";
import * as https from "node:https";
import { request, type Res } from "../support/probes";

const port = Number(process.env.LG_PORT);
const host = process.env.LG_HOST ?? "127.0.0.1";
const servername = process.env.LG_SERVERNAME!;
const ca = fs.readFileSync(process.env.LG_CA_FILE!, "utf8");
const target = process.env.LG_PATH ?? "/version";
const seen: Record<string, number> = {};
const failures: string[] = [];
let maxMs = 0;
let slow = 0;
let stop = false;
process.on("SIGTERM", () => (stop = true));

async function once(): Promise<void> {
  const t0 = Date.now();
  const done = (failure?: string, version?: string) => {
    const ms = Date.now() - t0;
    maxMs = Math.max(maxMs, ms);
    if (ms > 1000) slow++;
    if (failure) failures.push(`${new Date(t0).toISOString()} ${failure}`);
    else seen[version!] = (seen[version!] ?? 0) + 1;
  };
  let res: Res;
  try {
    res = await request(https, {
      host,
      port,
      servername,
      ca,
      path: target,
      headers: { host: servername },
      agent: false,
      timeout: 15_000,
    });
  } catch (e) {
    return done((e as Error).message);
  }
  if (res.status !== 200) return done(`${res.status} ${res.body.slice(0, 80)}`);
  try {
    done(undefined, String(JSON.parse(res.body).version));
  } catch {
    done(`not JSON: ${res.body.slice(0, 80)}`);
  }
}

void (async () => {
  while (!stop) {
    await once();
    await new Promise((r) => setTimeout(r, 50));
  }
  process.stdout.write(JSON.stringify({ seen, failures, maxMs, slow }));
})();
