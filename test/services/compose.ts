/**
 * Side-by-side baseline: the seed 001 runbook's docker-compose services (its `postgres` and
 * `redis` snippets, merged into one file) run with Debian's docker-compose 1.29 on the same
 * engine, timed to "both answer". Rewrites, all explicit: registry images → the local test
 * images (no registry here); host ports `5432:5432` / `6379:6379` → `127.0.0.1::<port>`
 * (loopback, ephemeral: tests never bind public or fixed ports); `./backups` → a temp dir.
 * Everything is torn down with `docker-compose down -v`, also on failure.
 */
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface ComposeTiming {
  /** `docker-compose up -d` until it returned. */
  readonly upMs: number;
  /** Start until Postgres accepts connections and Redis answers PING. */
  readonly readyMs: number;
  readonly file: string;
}

/** The seed's services as written in seed 001, with the rewrites above. */
export function seedComposeFile(postgresImage: string, redisImage: string): string {
  return `# seed 001 (docker-compose.yml snippets for postgres and redis), images and ports rewritten for the test
services:
  postgres:
    image: ${postgresImage}
    restart: always
    environment:
      POSTGRES_USER: \${DB_USER}
      POSTGRES_PASSWORD: \${DB_PASSWORD}
      POSTGRES_DB: \${DB_NAME}
    volumes:
      - postgres_data:/var/lib/postgresql/data
      - ./backups:/backups
    ports:
      - "127.0.0.1::5432"
    command:
      - "postgres"
      - "-c"
      - "max_connections=200"
      - "-c"
      - "shared_buffers=256MB"
      - "-c"
      - "effective_cache_size=1GB"
  redis:
    image: ${redisImage}
    restart: always
    command: redis-server --appendonly yes --maxmemory 2gb --maxmemory-policy allkeys-lru
    volumes:
      - redis_data:/data
    ports:
      - "127.0.0.1::6379"

volumes:
  postgres_data:
  redis_data:
`;
}

export function runSeedCompose(o: {
  postgresImage: string;
  redisImage: string;
  project: string;
  timeoutMs?: number;
}): ComposeTiming {
  const env = {
    DB_USER: "blazetv",
    DB_PASSWORD: crypto.randomBytes(12).toString("hex"),
    DB_NAME: "blazetv",
  };
  return withComposeProject(
    { project: o.project, content: seedComposeFile(o.postgresImage, o.redisImage), env, dirs: ["backups"] },
    (compose, t0) => {
      const pg = compose(["ps", "-q", "postgres"]).trim();
      const redis = compose(["ps", "-q", "redis"]).trim();
      const deadline = t0 + (o.timeoutMs ?? 120_000);
      let pgUp = false;
      let redisUp = false;
      while (!(pgUp && redisUp)) {
        if (Date.now() > deadline)
          throw new Error(`seed compose not ready in time (postgres ${pgUp}, redis ${redisUp})`);
        pgUp ||= dockerOk(["exec", pg, "pg_isready", "-h", "127.0.0.1", "-U", "blazetv"]);
        redisUp ||= dockerOk(["exec", redis, "sh", "-c", "redis-cli ping | grep -q PONG"]);
        if (!(pgUp && redisUp)) execFileSync("sleep", ["0.2"]);
      }
      return Date.now() - t0;
    },
  );
}

/** What the app chain needs of the program's own containers (recorded inputs, local images). */
export interface AppChainSpec {
  readonly postgresImage: string;
  readonly redisImage: string;
  readonly appImage: string;
  /** The Postgres container's healthcheck test (as the program declares it). */
  readonly postgresHealth: readonly string[];
  /** The migration's entrypoint (none: the image's) and command, as the program runs it. */
  readonly migrate: { readonly entrypoint?: readonly string[]; readonly command: readonly string[] };
  /** The app's port and healthcheck test (as the program declares them). */
  readonly port: number;
  readonly appHealth: readonly string[];
  /** Each container's healthcheck timing, as the program declares it (Go durations). */
  readonly postgresTiming: HealthTimingSpec;
  readonly appTiming: HealthTimingSpec;
}

/** A healthcheck's timing as recorded (`startInterval` only on engines from API 1.44). */
export interface HealthTimingSpec {
  readonly interval: string;
  readonly timeout: string;
  readonly retries: number;
  readonly startPeriod: string;
  readonly startInterval?: string;
}

/**
 * The same critical chain as the program's deploy, written as a docker-compose user would:
 * Postgres (healthy) → the app's migration (`service_completed_successfully`) → the app
 * (healthy), Redis beside; same images, healthchecks and their timing; no roles (the app logs in as
 * the image's superuser), no PgBouncer, proxy or further apps (they are off the critical path).
 * JSON is YAML, so the file is the object as JSON; every `$` is doubled (compose interpolates).
 */
export function appChainComposeFile(spec: AppChainSpec, password: string): string {
  const health = (test: readonly string[], t: HealthTimingSpec) => ({
    test: [...test],
    interval: t.interval,
    timeout: t.timeout,
    retries: t.retries,
    start_period: t.startPeriod,
    ...(t.startInterval ? { start_interval: t.startInterval } : {}),
  });
  const db = `postgres://app:${password}@postgres:5432/app`;
  const file = {
    services: {
      postgres: {
        image: spec.postgresImage,
        environment: { POSTGRES_USER: "app", POSTGRES_PASSWORD: password, POSTGRES_DB: "app" },
        healthcheck: health(spec.postgresHealth, spec.postgresTiming),
      },
      redis: { image: spec.redisImage, command: ["redis-server", "--appendonly", "yes"] },
      migrate: {
        image: spec.appImage,
        ...(spec.migrate.entrypoint ? { entrypoint: [...spec.migrate.entrypoint] } : {}),
        command: [...spec.migrate.command],
        environment: { DATABASE_URL: db },
        depends_on: { postgres: { condition: "service_healthy" } },
      },
      api: {
        image: spec.appImage,
        environment: { DATABASE_URL: db, PORT: String(spec.port) },
        healthcheck: health(spec.appHealth, spec.appTiming),
        depends_on: {
          migrate: { condition: "service_completed_successfully" },
          redis: { condition: "service_started" },
        },
      },
    },
  };
  return JSON.stringify(file, null, 2).replace(/\$/g, "$$$$");
}

/**
 * `docker-compose up -d` of {@link appChainComposeFile} until the app is healthy (Docker health,
 * polled every 0.1 s): the baseline a compose user gets for the program's chain.
 */
export function runAppChainCompose(o: {
  spec: AppChainSpec;
  project: string;
  timeoutMs?: number;
}): ComposeTiming {
  const password = crypto.randomBytes(12).toString("hex");
  return withComposeProject(
    { project: o.project, content: appChainComposeFile(o.spec, password), env: {} },
    (compose, t0) => {
      const api = compose(["ps", "-q", "api"]).trim();
      const deadline = t0 + (o.timeoutMs ?? 120_000);
      for (;;) {
        const status = execFileSync("docker", ["inspect", "-f", "{{.State.Health.Status}}", api], {
          encoding: "utf8",
        }).trim();
        if (status === "healthy") return Date.now() - t0;
        if (Date.now() > deadline) throw new Error(`compose app chain not healthy in time (api ${status})`);
        execFileSync("sleep", ["0.1"]);
      }
    },
  );
}

function dockerOk(cmd: string[]): boolean {
  try {
    execFileSync("docker", cmd, { stdio: "ignore", timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes `content` as docker-compose.yml in a temp dir (with `dirs` beside it), runs `up -d`
 * (timed), then `ready(compose, t0)` for the ready time; always `down -v` and a sweep of the
 * project's labelled containers, networks and volumes, also on failure.
 */
function withComposeProject(
  o: { project: string; content: string; env: Record<string, string>; dirs?: string[] },
  ready: (compose: (args: string[], timeout?: number) => string, t0: number) => number,
): ComposeTiming {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-svc-compose-"));
  const file = path.join(dir, "docker-compose.yml");
  for (const d of o.dirs ?? []) fs.mkdirSync(path.join(dir, d));
  fs.writeFileSync(file, o.content);
  const env = { ...process.env, ...o.env };
  const compose = (args: string[], timeout = 120_000) =>
    execFileSync("docker-compose", ["-p", o.project, "-f", file, ...args], {
      cwd: dir,
      env,
      encoding: "utf8",
      timeout,
      stdio: ["ignore", "pipe", "pipe"],
    });
  try {
    const t0 = Date.now();
    compose(["up", "-d"]);
    const upMs = Date.now() - t0;
    return { upMs, readyMs: ready(compose, t0), file };
  } finally {
    try {
      compose(["down", "-v", "--remove-orphans"]);
    } catch {
      /* fall through to the label sweep */
    }
    for (const kind of [
      ["ps", "-aq"],
      ["network", "ls", "-q"],
      ["volume", "ls", "-q"],
    ]) {
      const ids = execFileSync(
        "docker",
        [...kind, "--filter", `label=com.docker.compose.project=${o.project}`],
        { encoding: "utf8" },
      )
        .trim()
        .split("\n")
        .filter(Boolean);
      if (ids.length)
        execFileSync(
          "docker",
          [kind[0] === "ps" ? "rm" : kind[0]!, ...(kind[0] === "ps" ? ["-f", "-v"] : ["rm"]), ...ids],
          { stdio: "ignore" },
        );
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
