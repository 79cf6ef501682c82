"use strict";
/**
 * Sample app for launchgate's services test (test/services): plays the seeds' API on plain Node
 * (built-ins only). It reaches PostgreSQL (through PgBouncer) with `psql` and Redis with
 * `redis-cli`, the reference clients Debian ships in the image, so no npm package and no
 * hand-written wire protocol is involved. Credentials travel in the child's environment
 * (PGPASSWORD, REDISCLI_AUTH), never on argv.
 *
 *   GET  /health    200 when `SELECT 1` through DATABASE_URL and `PING` on every REDIS_URL* pass
 *                   (REDIS_URL, REDIS_<NAME>_URL; none set = the app uses no Redis)
 *   POST /rows      inserts the request body as a row, reads it back: {"id","note"}
 *   GET  /rows      {"count"}
 *   POST /payments  the killswitch: 200 only when REAL_MONEY_ENABLED=true, else 503
 *   GET  /version   {"version"} from APP_VERSION
 *   FAIL_PERCENT=n  a broken release for the rollout test: n of every 100 requests other than
 *                   /health answer 500, spread evenly by request count; the healthcheck passes
 *   node server.js migrate   creates the table (idempotent), exits 0
 *
 * Listens on PORT (default 3000). A secret may arrive as a file (Swarm secrets): `<NAME>_FILE`
 * names the file holding `<NAME>` (the convention of the official postgres/redis images), read
 * at each use, so a rotated secret file is picked up by the task that mounts it.
 */
const fs = require("node:fs");
const http = require("node:http");
const { execFile } = require("node:child_process");

const TIMEOUT_MS = 5000;

function run(cmd, args, env, input) {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { env: { PATH: process.env.PATH, HOME: "/tmp", ...env }, timeout: TIMEOUT_MS, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${cmd} failed: ${(stderr || err.message).trim()}`));
        else resolve(stdout.trim());
      },
    );
    // A child may exit before it reads its stdin (redis-cli never reads it; psql exits when it
    // cannot connect): the write then fails with EPIPE. Its exit status above reports the
    // failure; an unhandled 'error' on the pipe would crash the whole app (and, as the only
    // upstream right after a replacement, fail every request until it restarted).
    child.stdin.on("error", () => undefined);
    if (input) child.stdin.end(input);
    else child.stdin.end();
  });
}

/** `name` from the environment, or from the file `<name>_FILE` names; undefined when neither. */
function secretEnv(name) {
  const file = process.env[`${name}_FILE`];
  if (process.env[name] === undefined && file) return fs.readFileSync(file, "utf8").trim();
  return process.env[name];
}

function pgEnv() {
  const raw = secretEnv("DATABASE_URL");
  if (!raw) throw new Error("DATABASE_URL is not set");
  const u = new URL(raw);
  return {
    PGHOST: u.hostname,
    PGPORT: u.port || "5432",
    PGUSER: decodeURIComponent(u.username),
    PGPASSWORD: decodeURIComponent(u.password),
    PGDATABASE: decodeURIComponent(u.pathname.replace(/^\//, "")) || decodeURIComponent(u.username),
    PGCONNECT_TIMEOUT: "3",
    PGAPPNAME: "launchgate-sample-app",
  };
}

/** Runs SQL read from stdin so psql variables (`:'v'`) quote values safely. */
function sql(query, vars = {}) {
  const args = ["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"];
  for (const [k, v] of Object.entries(vars)) args.push("-v", `${k}=${v}`);
  return run("psql", [...args, "-f", "-"], pgEnv(), query);
}

function redisUrls() {
  const names = Object.keys(process.env)
    .map((k) => k.replace(/_FILE$/, ""))
    .filter((k) => /^REDIS(_[A-Z0-9_]+)?_URL$/.test(k));
  return [...new Set(names)].map((k) => [k, secretEnv(k)]).filter(([, v]) => v);
}

function redis(rawUrl, ...cmd) {
  const u = new URL(rawUrl);
  const env = u.password ? { REDISCLI_AUTH: decodeURIComponent(u.password) } : {};
  const args = ["-h", u.hostname, "-p", u.port || "6379", "--no-raw"];
  if (u.username && u.username !== "default") args.push("--user", decodeURIComponent(u.username));
  return run("redis-cli", [...args, ...cmd], env);
}

async function health() {
  const out = { postgres: "unknown", redis: {} };
  let ok = true;
  try {
    out.postgres = (await sql("SELECT 1;")) === "1" ? "ok" : "unexpected";
    if (out.postgres !== "ok") ok = false;
  } catch (e) {
    out.postgres = e.message;
    ok = false;
  }
  // Apps without a Redis instance (config `redis: []`) get no REDIS_URL*: nothing to check.
  const urls = redisUrls();
  for (const [k, u] of urls) {
    try {
      const pong = await redis(u, "PING");
      out.redis[k] = /PONG/.test(pong) ? "ok" : pong;
      if (!/PONG/.test(pong)) ok = false;
    } catch (e) {
      out.redis[k] = e.message;
      ok = false;
    }
  }
  return { ok, body: { status: ok ? "ok" : "degraded", version: version(), ...out } };
}

const MIGRATION = `CREATE TABLE IF NOT EXISTS launchgate_rows (
  id bigserial PRIMARY KEY,
  note text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);`;

function version() {
  return process.env.APP_VERSION || "unversioned";
}

function realMoneyEnabled() {
  return process.env.REAL_MONEY_ENABLED === "true";
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (c) => {
      data += c;
      if (data.length > 64 * 1024) reject(new Error("body too large"));
    });
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const FAIL_PERCENT = Math.min(100, Math.max(0, Number(process.env.FAIL_PERCENT || 0)));
let served = 0;

async function handle(req, res) {
  const path = new URL(req.url, "http://x").pathname;
  if (req.method === "GET" && path === "/health") {
    const h = await health();
    return send(res, h.ok ? 200 : 503, h.body);
  }
  // Request k fails when floor((k+1)·n/100) steps up: exactly n % of every 100, evenly spread.
  const k = served++;
  if (Math.floor(((k + 1) * FAIL_PERCENT) / 100) > Math.floor((k * FAIL_PERCENT) / 100))
    return send(res, 500, { error: "injected failure (FAIL_PERCENT)", version: version() });
  if (req.method === "GET" && path === "/version") return send(res, 200, { version: version() });
  if (req.method === "POST" && path === "/rows") {
    const note = (await readBody(req)) || "row";
    const out = await sql("INSERT INTO launchgate_rows (note) VALUES (:'note') RETURNING id;", { note });
    const id = out.split("\n")[0];
    const back = await sql("SELECT note FROM launchgate_rows WHERE id = :'id';", { id });
    return send(res, 201, { id: Number(id), note: back });
  }
  if (req.method === "GET" && path === "/rows") {
    return send(res, 200, { count: Number(await sql("SELECT count(*) FROM launchgate_rows;")) });
  }
  if (path === "/payments") {
    if (!realMoneyEnabled()) {
      return send(res, 503, {
        error: "real-money payments are switched off (REAL_MONEY_ENABLED is not true)",
      });
    }
    return send(res, 200, { realMoney: true, accepted: true });
  }
  if (path === "/flags") return send(res, 200, { REAL_MONEY_ENABLED: realMoneyEnabled() });
  return send(res, 404, { error: "not found" });
}

async function main() {
  if (process.argv[2] === "migrate") {
    await sql(MIGRATION);
    console.log("migration applied: launchgate_rows");
    return;
  }
  const port = Number(process.env.PORT || process.env.APP_PORT || 3000);
  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => send(res, 500, { error: e.message }));
  });
  server.listen(port, "0.0.0.0", () => {
    console.log(`sample app ${version()} listening on ${port} as uid ${process.getuid()}`);
  });
  const stop = () => server.close(() => process.exit(0)) && setTimeout(() => process.exit(0), 2000).unref();
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
