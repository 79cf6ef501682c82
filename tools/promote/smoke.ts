/**
 * Post-deploy smoke tests (seed 000 phase 3): the spec is data (tools/promote/smoke/<stack>.json),
 * turned into concrete requests by `planSmokeTests` and judged by `judgeResponse` — both pure.
 * `runSmokeTests` is the only part that touches the network (fetch with timeout and retries).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";

const checkSchema = z
  .object({
    /** Shown in the result, e.g. `feed`. */
    name: z.string().min(1),
    /** Path (and query) appended to the base URL, e.g. `/api/blazetv/feed?limit=1`. */
    path: z.string().startsWith("/"),
    method: z.enum(["GET", "HEAD"]).default("GET"),
    /** Request headers; `${NAME}` is replaced by the environment variable NAME (e.g. an admin token). */
    headers: z.record(z.string(), z.string()).default({}),
    /** Expected HTTP status. */
    expectStatus: z.number().int().min(100).max(599).default(200),
    /** Body must contain this text. */
    bodyIncludes: z.string().optional(),
    /** Body must match this regular expression. */
    bodyMatches: z.string().optional(),
    /** Body must be JSON and, when given, this dotted path must be non-empty (`0.id`, `items`). */
    jsonNonEmpty: z.string().optional(),
  })
  .strict();

export const smokeSpecSchema = z
  .object({
    /** Per-request timeout. */
    timeoutMs: z.number().int().min(100).default(10_000),
    /** Extra attempts after a failure (a fresh container may need a moment). */
    retries: z.number().int().min(0).max(20).default(3),
    retryDelayMs: z.number().int().min(0).default(2_000),
    /** Also GET every routed app's health path. */
    health: z.boolean().default(true),
    checks: z.array(checkSchema).default([]),
  })
  .strict();

export type SmokeSpec = z.infer<typeof smokeSpecSchema>;
export type SmokeCheckSpec = z.infer<typeof checkSchema>;

/** One request to make. */
export interface SmokeRequest {
  readonly name: string;
  readonly url: string;
  readonly method: "GET" | "HEAD";
  readonly headers: Record<string, string>;
  readonly expect: Pick<SmokeCheckSpec, "expectStatus" | "bodyIncludes" | "bodyMatches" | "jsonNonEmpty">;
}

export interface SmokeResult {
  readonly name: string;
  readonly url: string;
  readonly ok: boolean;
  readonly attempts: number;
  /** Why it failed (last attempt), empty when ok. */
  readonly detail: string;
}

/** Loads `tools/promote/smoke/<stack>.json` if present, else the defaults (health checks only). */
export function loadSmokeSpec(stack: string, dir = path.join(__dirname, "smoke")): SmokeSpec {
  return loadSmokeSpecFile(path.join(dir, `${stack}.json`));
}

/** Loads and validates a smoke-test spec file; a missing file means the defaults. */
export function loadSmokeSpecFile(file: string): SmokeSpec {
  const raw: unknown = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
  const parsed = smokeSpecSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(
      `${file}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  return parsed.data;
}

/** Substitutes `${NAME}` from `env`; a missing variable is an error (never send an empty token). */
export function expandEnv(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_, name: string) => {
    const v = env[name];
    if (v === undefined || v === "") throw new Error(`smoke test header needs environment variable ${name}`);
    return v;
  });
}

/**
 * Concrete requests: each routed app's health endpoint (route + healthPath) and every configured
 * check, against `baseUrl` (the stack's `url` output).
 */
export function planSmokeTests(input: {
  baseUrl: string;
  apps: { name: string; route?: string; healthPath?: string }[];
  spec: SmokeSpec;
  env: Record<string, string | undefined>;
}): SmokeRequest[] {
  const base = input.baseUrl.replace(/\/+$/, "");
  const out: SmokeRequest[] = [];
  if (input.spec.health) {
    for (const app of input.apps) {
      if (!app.route) continue; // workers have no route; their health is the container healthcheck
      const prefix = app.route === "/" ? "" : app.route.replace(/\/+$/, "");
      out.push({
        name: `health:${app.name}`,
        url: `${base}${prefix}${app.healthPath ?? "/health"}`,
        method: "GET",
        headers: {},
        expect: { expectStatus: 200 },
      });
    }
  }
  for (const c of input.spec.checks) {
    out.push({
      name: c.name,
      url: `${base}${c.path}`,
      method: c.method,
      headers: Object.fromEntries(Object.entries(c.headers).map(([k, v]) => [k, expandEnv(v, input.env)])),
      expect: {
        expectStatus: c.expectStatus,
        bodyIncludes: c.bodyIncludes,
        bodyMatches: c.bodyMatches,
        jsonNonEmpty: c.jsonNonEmpty,
      },
    });
  }
  return out;
}

function at(value: unknown, dotted: string): unknown {
  let v = value;
  for (const part of dotted.split(".").filter(Boolean)) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === "") return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") return Object.keys(v).length === 0;
  return false;
}

/** Judges one response; returns the reason it fails, or "" when it passes. */
export function judgeResponse(expect: SmokeRequest["expect"], status: number, body: string): string {
  if (status !== expect.expectStatus) return `HTTP ${status}, expected ${expect.expectStatus}`;
  if (expect.bodyIncludes !== undefined && !body.includes(expect.bodyIncludes))
    return `body does not contain ${JSON.stringify(expect.bodyIncludes)}`;
  if (expect.bodyMatches !== undefined && !new RegExp(expect.bodyMatches).test(body))
    return `body does not match /${expect.bodyMatches}/`;
  if (expect.jsonNonEmpty !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return "body is not JSON";
    }
    if (isEmpty(at(parsed, expect.jsonNonEmpty))) return `JSON ${expect.jsonNonEmpty || "(root)"} is empty`;
  }
  return "";
}

/** Runs the requests in order with per-request timeout and retries. */
export async function runSmokeTests(
  requests: SmokeRequest[],
  opts: { timeoutMs: number; retries: number; retryDelayMs: number; fetch?: typeof fetch },
): Promise<SmokeResult[]> {
  const doFetch = opts.fetch ?? fetch;
  const results: SmokeResult[] = [];
  for (const r of requests) {
    let detail = "";
    let attempts = 0;
    for (let i = 0; i <= opts.retries; i++) {
      attempts++;
      try {
        const res = await doFetch(r.url, {
          method: r.method,
          headers: r.headers,
          signal: AbortSignal.timeout(opts.timeoutMs),
          redirect: "manual",
        });
        const body = r.method === "HEAD" ? "" : await res.text();
        detail = judgeResponse(r.expect, res.status, body);
      } catch (e) {
        const err = e as Error;
        detail =
          err.name === "TimeoutError"
            ? `no answer within ${opts.timeoutMs} ms`
            : `request failed: ${err.message}`;
      }
      if (!detail) break;
      if (i < opts.retries) await new Promise((res) => setTimeout(res, opts.retryDelayMs));
    }
    results.push({ name: r.name, url: r.url, ok: !detail, attempts, detail });
  }
  return results;
}
