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
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lg-svc-compose-"));
  const file = path.join(dir, "docker-compose.yml");
  fs.mkdirSync(path.join(dir, "backups"));
  fs.writeFileSync(file, seedComposeFile(o.postgresImage, o.redisImage));
  const env = {
    ...process.env,
    DB_USER: "blazetv",
    DB_PASSWORD: crypto.randomBytes(12).toString("hex"),
    DB_NAME: "blazetv",
  };
  const compose = (args: string[], timeout = 120_000) =>
    execFileSync("docker-compose", ["-p", o.project, "-f", file, ...args], {
      cwd: dir,
      env,
      encoding: "utf8",
      timeout,
      stdio: ["ignore", "pipe", "pipe"],
    });
  const ok = (cmd: string[]) => {
    try {
      execFileSync("docker", cmd, { stdio: "ignore", timeout: 10_000 });
      return true;
    } catch {
      return false;
    }
  };
  try {
    const t0 = Date.now();
    compose(["up", "-d"]);
    const upMs = Date.now() - t0;
    const pg = compose(["ps", "-q", "postgres"]).trim();
    const redis = compose(["ps", "-q", "redis"]).trim();
    const deadline = t0 + (o.timeoutMs ?? 120_000);
    let pgUp = false;
    let redisUp = false;
    while (!(pgUp && redisUp)) {
      if (Date.now() > deadline)
        throw new Error(`seed compose not ready in time (postgres ${pgUp}, redis ${redisUp})`);
      pgUp ||= ok(["exec", pg, "pg_isready", "-h", "127.0.0.1", "-U", "blazetv"]);
      redisUp ||= ok(["exec", redis, "sh", "-c", "redis-cli ping | grep -q PONG"]);
      if (!(pgUp && redisUp)) execFileSync("sleep", ["0.2"]);
    }
    return { upMs, readyMs: Date.now() - t0, file };
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
