/**
 * A stand-in "host" for the Backups/Monitoring scripts on this machine: a temp dir with storage,
 * a private mount namespace in which /usr/local/lib and /etc/systemd/system are the temp dir's
 * and /etc and /var/lib are overlays whose writes land in the temp dir (`etc/`, `varlib/`), so
 * this machine's are never touched, and a `systemctl` that records calls. Shared by the
 * backups test and `npm run bench`; plus the seeded shop database both measure.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { PgServer } from "./pg";

export interface HostRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

export interface FakeHost {
  /** Root of the fake host's files (`systemctl.log` records the calls). */
  readonly dir: string;
  /** `storagePath` of the host; backups go to `<storage>/backups`. */
  readonly storage: string;
  readonly backupDir: string;
  /** Runs `script` with bash inside the fake host's mount namespace; `input` is its stdin. */
  run(script: string, timeoutMs?: number, input?: string): HostRun;
  /** Where a host path written under /usr/local/lib, /etc or /var/lib lands in `dir`. */
  file(hostPath: string): string;
  /** Timers the stand-in systemctl holds enabled (after `enable` and `disable` calls). */
  enabledTimers(): string[];
  /** An installed unit file's text. */
  unit(name: string): string;
  /** A service as systemd runs it: ExecStart lines in order, then ExecStartPost if all passed. */
  serviceScript(name: string): string;
  remove(): void;
}

/** systemctl stand-in: records calls; a timer is enabled/active from `enable --now` until `disable --now`. */
const FAKE_SYSTEMCTL = `#!/bin/bash\necho "$*" >>"$LG_T/systemctl.log"\nstate="$LG_T/systemctl.enabled"\ncase $1 in\n  is-enabled|is-active) grep -qx "$3" "$state" 2>/dev/null ;;\n  enable) echo "$3" >>"$state" ;;\n  disable) if [ -f "$state" ]; then grep -vx "$3" "$state" >"$state.new" || true; mv "$state.new" "$state"; fi ;;\nesac\n`;

/**
 * A systemd service unit as systemd runs it, as one bash script: its ExecStart lines in order,
 * then its ExecStartPost lines if all passed (shared with the end-to-end test, which runs the
 * units installed on the VPS).
 */
export function unitServiceScript(unitText: string): string {
  const lines = (key: string) =>
    unitText
      .split("\n")
      .filter((l) => l.startsWith(`${key}=`))
      .map((l) => l.slice(key.length + 1));
  return [...lines("ExecStart"), ...lines("ExecStartPost")].join(" && \\\n");
}

const MOUNTS = [
  'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$LG_T/etc,workdir=$LG_T/.work-etc" /etc',
  'mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$LG_T/varlib,workdir=$LG_T/.work-varlib" /var/lib',
  'mount --bind "$LG_T/lib" /usr/local/lib',
  'mount --bind "$LG_T/units" /etc/systemd/system',
  'exec bash -c "$LG_RUN"',
].join(" && ");

export function makeFakeHost(prefix: string): FakeHost {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const storage = path.join(dir, "storage");
  for (const d of [
    "lib",
    "units",
    "fakebin",
    "storage/uploads",
    "etc",
    ".work-etc",
    "varlib",
    ".work-varlib",
  ])
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.writeFileSync(path.join(dir, "fakebin", "systemctl"), FAKE_SYSTEMCTL, { mode: 0o755 });
  const unit = (name: string) => fs.readFileSync(path.join(dir, "units", name), "utf8");
  return {
    dir,
    storage,
    backupDir: path.join(storage, "backups"),
    run(script, timeoutMs = 10 * 60_000, input = "") {
      const t0 = Date.now();
      const r = spawnSync("unshare", ["--mount", "--propagation", "private", "bash", "-c", MOUNTS], {
        encoding: "utf8",
        input,
        timeout: timeoutMs,
        env: { ...process.env, LG_T: dir, LG_RUN: script, PATH: `${dir}/fakebin:${process.env.PATH}` },
        maxBuffer: 64 << 20,
      });
      if (r.error) throw r.error;
      return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
    },
    unit,
    serviceScript: (name) => unitServiceScript(unit(name)),
    file(hostPath) {
      for (const [prefix, local] of [
        ["/usr/local/lib/", "lib"],
        ["/etc/systemd/system/", "units"],
        ["/etc/", "etc"],
        ["/var/lib/", "varlib"],
      ] as const) {
        if (hostPath.startsWith(prefix)) return path.join(dir, local, hostPath.slice(prefix.length));
      }
      throw new Error(`${hostPath}: not under a path the fake host redirects`);
    },
    enabledTimers() {
      const state = path.join(dir, "systemctl.enabled");
      return fs.existsSync(state) ? fs.readFileSync(state, "utf8").split("\n").filter(Boolean).sort() : [];
    },
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** Row counts of the seeded shop database (600k rows across three tables). */
export const SHOP_SEED = { "public.users": 200_000, "public.orders": 300_000, "public.events": 100_000 };

/** Creates database `db` with users/orders/events and SHOP_SEED rows. */
export function seedShop(pg: PgServer, db = "app"): void {
  const n = SHOP_SEED;
  pg.psql("postgres", `CREATE DATABASE ${db}`);
  pg.psql(
    db,
    `CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
     CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users, amount_cents int NOT NULL, note text);
     CREATE TABLE events (id bigserial PRIMARY KEY, kind text NOT NULL, payload jsonb NOT NULL);
     INSERT INTO users (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, ${n["public.users"]}) g;
     INSERT INTO orders (user_id, amount_cents, note)
       SELECT 1 + (g % ${n["public.users"]}), (g::bigint * 7919) % 100000, md5(g::text) FROM generate_series(1, ${n["public.orders"]}) g;
     INSERT INTO events (kind, payload)
       SELECT (ARRAY['login','view','pay'])[1 + g % 3], jsonb_build_object('n', g, 'tag', md5(g::text)) FROM generate_series(1, ${n["public.events"]}) g;
     CREATE INDEX ON orders (user_id);`,
  );
}

/** The seeds' backup: `pg_dump db > file.sql` (plain SQL). Returns its time and size. @throws on failure */
export function seedPlainDump(pg: PgServer, db: string, file: string): { ms: number; bytes: number } {
  const t0 = Date.now();
  const fd = fs.openSync(file, "w");
  const r = spawnSync("docker", ["exec", pg.name, "pg_dump", "-U", "postgres", db], {
    stdio: ["ignore", fd, "pipe"],
    timeout: 300_000,
  });
  fs.closeSync(fd);
  if (r.status !== 0) throw new Error(`pg_dump > file.sql failed (${r.status}): ${r.stderr?.toString()}`);
  return { ms: Date.now() - t0, bytes: fs.statSync(file).size };
}

/** The seeds' restore: `psql < file.sql` into a fresh database `db`. Returns its time. @throws on failure */
export function seedPlainRestore(pg: PgServer, file: string, db: string): number {
  pg.psql("postgres", `DROP DATABASE IF EXISTS ${db}`);
  pg.psql("postgres", `CREATE DATABASE ${db}`);
  const t0 = Date.now();
  const r = spawnSync(
    "docker",
    ["exec", "-i", pg.name, "psql", "-U", "postgres", "-d", db, "-q", "-v", "ON_ERROR_STOP=1"],
    { input: fs.readFileSync(file), timeout: 300_000, maxBuffer: 64 << 20 },
  );
  if (r.status !== 0)
    throw new Error(`psql < file.sql failed (${r.status}): ${r.stderr?.toString().slice(-300)}`);
  return Date.now() - t0;
}
