/**
 * Probes the real-engine tests make from outside what they test: an HTTP(S) request read whole,
 * a TCP connect, and a bounded wait for a condition. Shared by the services, host and
 * end-to-end tests.
 */
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";

/** A whole HTTP answer. */
export interface Res {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One request (`body` sent when given), read to the end; rejects on error or after `opts.timeout` (10 s). */
export function request(
  mod: typeof http | typeof https,
  opts: https.RequestOptions,
  body?: string,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = mod.request({ timeout: 10_000, ...opts }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (data += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
    });
    req.on("timeout", () => req.destroy(new Error(`timeout ${opts.method ?? "GET"} ${opts.path}`)));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** TCP connect with a timeout: true when the port accepted. */
export function tcpOpen(host: string, port: number, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

/**
 * Calls `fn` every 500 ms until `ok` holds for its value (a throw counts as not yet); throws with
 * the last value or error after `timeoutMs`.
 */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      last = await fn();
      if (ok(last as T)) return last as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${what}: not reached in ${timeoutMs} ms; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`,
      );
    await new Promise((r) => setTimeout(r, 500));
  }
}
