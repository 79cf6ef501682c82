/**
 * One observer for "apps healthy again ≤ 3 s after Postgres is" (issue 12): a Node script run in
 * a throwaway container on the run's internal network (the app test image: node + pg_isready), so
 * both instants come from one process and one monotonic clock, seen from where the apps and
 * PgBouncer are:
 * - Postgres: `pg_isready -h <server> -p 5432` over the internal network, as PgBouncer reaches it
 *   (exit 0 only once the server accepts logins: not while it restarts or replays WAL), one probe
 *   at a time, every 50 ms, each bounded (`-t 1`, killed after 2 s);
 * - apps: `GET /health` on each app's internal alias (200 with `postgres: "ok"`: a query through
 *   PgBouncer), one probe at a time per app (as a health checker does: more in flight would load
 *   the app's own `/health`, which starts psql and redis-cli, and slow what is measured), the
 *   next 100 ms after the last answered, each bounded (5 s).
 * It prints one line per finished probe (`pg <start> <end> ok|fail`, `app <name> <start> <end>
 * ok|fail`, ms since the observer started) and stops by itself once Postgres went down, came back,
 * and every app answered ok after that (plus 500 ms), or after `maxMs`.
 */

/** The script (plain Node 18, no dependencies); argv: pg host, pg port, apps JSON, maxMs. */
export const OBSERVER_SCRIPT = `
const { spawn } = require("child_process");
const http = require("http");
const [pgHost, pgPort, appsJson, maxMs] = process.argv.slice(1);
const apps = JSON.parse(appsJson);
const t0 = performance.now();
const now = () => Math.round(performance.now() - t0);
const out = (l) => process.stdout.write(l + "\\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let stop = false;
const hard = setTimeout(() => { stop = true; }, Number(maxMs));
let pgDown = false, pgBack = -1;
const backOk = new Set();
function maybeDone() {
  if (pgBack >= 0 && backOk.size === apps.length && !stop) setTimeout(() => { stop = true; }, 500);
}
(async () => {
  while (!stop) {
    const s = now();
    const ok = await new Promise((res) => {
      const p = spawn("pg_isready", ["-q", "-h", pgHost, "-p", pgPort, "-t", "1"], { stdio: "ignore" });
      const k = setTimeout(() => p.kill("SIGKILL"), 2000);
      p.on("error", () => { clearTimeout(k); res(false); });
      p.on("close", (c) => { clearTimeout(k); res(c === 0); });
    });
    const e = now();
    out("pg " + s + " " + e + " " + (ok ? "ok" : "fail"));
    if (!ok) pgDown = true;
    else if (pgDown && pgBack < 0) { pgBack = e; maybeDone(); }
    await sleep(50);
  }
})();
function get(url) {
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok) => { if (!done) { done = true; resolve(ok); } };
    const req = http.get(url, { timeout: 5000 }, (r) => {
      let body = "";
      r.setEncoding("utf8");
      r.on("data", (d) => (body += d));
      r.on("end", () => {
        let pg = false;
        try { pg = JSON.parse(body).postgres === "ok"; } catch {}
        finish(r.statusCode === 200 && pg);
      });
      r.on("error", () => finish(false));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => finish(false));
  });
}
for (const a of apps) {
  (async () => {
    while (!stop) {
      const s = now();
      const ok = await get(a.url);
      const e = now();
      out("app " + a.name + " " + s + " " + e + " " + (ok ? "ok" : "fail"));
      if (ok && pgBack >= 0 && e >= pgBack && !backOk.has(a.name)) { backOk.add(a.name); maybeDone(); }
      await sleep(100);
    }
  })();
}
const exit = setInterval(() => { if (stop) { clearInterval(exit); clearTimeout(hard); setTimeout(() => process.exit(0), 100); } }, 50);
`;

/** One finished probe, times in ms on the observer's clock. */
export interface Probe {
  readonly what: "pg" | `app ${string}`;
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
}

/** Parses the observer's lines (other lines are ignored). */
export function parseObserver(stdout: string): Probe[] {
  const out: Probe[] = [];
  for (const line of stdout.split("\n")) {
    const pg = /^pg (\d+) (\d+) (ok|fail)$/.exec(line);
    if (pg) out.push({ what: "pg", start: Number(pg[1]), end: Number(pg[2]), ok: pg[3] === "ok" });
    const app = /^app (\S+) (\d+) (\d+) (ok|fail)$/.exec(line);
    if (app)
      out.push({ what: `app ${app[1]!}`, start: Number(app[2]), end: Number(app[3]), ok: app[4] === "ok" });
  }
  return out;
}

/** What the observer saw around one Postgres outage. */
export interface Recovery {
  /** End of the first failed pg probe (Postgres seen down). */
  readonly pgDownAt: number;
  /** End of the first ok pg probe after it was seen down (Postgres seen back). */
  readonly pgBackAt: number;
  /** Per app: end of its first ok probe ending at or after `pgBackAt`, minus `pgBackAt`. */
  readonly appsAfterMs: Readonly<Record<string, number>>;
  /** The slowest app's delay (max of `appsAfterMs`). */
  readonly worstMs: number;
}

/**
 * The recovery in the probes: Postgres down, then back, then each app's first ok answer.
 * @throws Error naming what was not seen (no outage, no return, an app that never answered ok).
 */
export function recoveryOf(probes: readonly Probe[], apps: readonly string[]): Recovery {
  const pg = probes.filter((p) => p.what === "pg").sort((a, b) => a.end - b.end);
  const down = pg.find((p) => !p.ok);
  if (!down) throw new Error("the observer never saw Postgres down");
  const back = pg.find((p) => p.ok && p.end > down.end);
  if (!back) throw new Error(`Postgres not seen back (down at ${down.end} ms, ${pg.length} probes)`);
  const appsAfterMs: Record<string, number> = {};
  for (const a of apps) {
    const first = probes
      .filter((p) => p.what === `app ${a}` && p.ok && p.end >= back.end)
      .sort((x, y) => x.end - y.end)[0];
    if (!first) throw new Error(`app ${a} never answered ok after Postgres was back (at ${back.end} ms)`);
    appsAfterMs[a] = first.end - back.end;
  }
  return {
    pgDownAt: down.end,
    pgBackAt: back.end,
    appsAfterMs,
    worstMs: Math.max(...Object.values(appsAfterMs)),
  };
}
