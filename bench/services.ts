/**
 * Services: time to all healthy and app rollback time for the containers the program declares
 * for the `local` stack, run by the services test harness (test/support/harness.ts) on this
 * Docker engine with the locally built images; beside the seed 001 docker-compose services
 * (postgres + redis, test/services/compose.ts) started on the same engine and images, and a
 * delete-before-create replacement of the same app container (what `docker-compose up -d` does
 * when an image changes).
 * Docker objects: harness run `lg-svc-bench-<hex>-*` (the harness requires the lg-svc- prefix),
 * compose project `lg-bench-compose-<hex>`; both removed at the end, also on failure.
 */
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as path from "node:path";
import { readStackFile } from "../stacks/stack-file";
import { runSeedCompose } from "../test/services/compose";
import { ensureImages } from "../test/services/images";
import { recordProgram } from "../test/services/record";
import { CONTAINER, Harness } from "../test/support/harness";
import { parsePgbench, runClient } from "../test/services/load";
import type { RecordedResource } from "../test/support/mocks";
import { Row, notMeasured, ratio, secs } from "./table";

const ROOT = path.resolve(__dirname, "..");

/**
 * As in test/services/services.test.ts: the engine refuses uploads into a read-only root
 * filesystem, so such containers run with a writable root (a known deviation that test reports).
 */
function runnable(resources: RecordedResource[]): RecordedResource[] {
  return resources.map((r) =>
    r.type === CONTAINER && r.inputs.readOnly && (r.inputs.uploads ?? []).length
      ? { ...r, inputs: { ...r.inputs, readOnly: false } }
      : r,
  );
}

export async function measureServices(log: (l: string) => void): Promise<Row[]> {
  execFileSync(path.join(ROOT, "test/support/ensure-dockerd.sh"), { stdio: "ignore", timeout: 90_000 });
  const stackFile = readStackFile(ROOT, "local");
  const apps = stackFile.values.apps as { name: string; image: string; port: number; route?: string }[];
  const api = apps.find((a) => a.route === "/")!;
  const previousImage = api.image.replace(/:[^:@/]+$/, ":1.3.0");
  const images = ensureImages([
    ...apps.map((a) => ({ ref: a.image, port: a.port, version: a.image.split(":").pop()! })),
    { ref: previousImage, port: api.port, version: "1.3.0" },
  ]);
  log(`images ready in ${secs(images.buildMs)} (${images.built.length} built)`);
  // With the containers' PIDs-limit commands, which the harness runs on its engine.
  const current = await recordProgram("local", {}, undefined, { keepPidsLimits: true });
  const previous = await recordProgram("local", {
    apps: apps.map((a) => (a === api ? { ...a, image: previousImage } : a)),
  });
  const apiOf = (rec: typeof current) =>
    rec.resources.find((r) => r.type === CONTAINER && r.name === `app-${api.name}`)!;
  const hex = crypto.randomBytes(3).toString("hex");
  const harness: Harness = new Harness({
    imageMap: images.map,
    postgresAdminContainer: "postgres",
    runId: `lg-svc-bench-${hex}`,
    log: (l) => log(l),
    handlers: {
      "command:remote:Command": (r): Promise<void> => harness.applyPidsLimit(r),
      "command:local:Command": (r): Promise<void> => harness.applyPidsLimit(r),
    },
  });
  const rows: Row[] = [];
  try {
    const up = await harness.up(runnable(current.resources));
    const dataReady = Math.max(
      up.healthyAfterMs.postgres ?? 0,
      up.healthyAfterMs["redis-queue"] ?? 0,
      up.healthyAfterMs["redis-cache"] ?? 0,
    );
    const n = harness.running().length;
    try {
      const c = runSeedCompose({
        postgresImage: images.map.postgres!,
        redisImage: images.map.redis!,
        project: `lg-bench-compose-${hex}`,
      });
      const what = "seed 001 docker-compose up -d: postgres + redis answering";
      rows.push(
        {
          figure: "services: postgres + redis healthy (healthcheck-gated)",
          ours: secs(dataReady),
          baselineWhat: what,
          baseline: secs(c.readyMs),
          ratio: ratio(dataReady, c.readyMs),
        },
        {
          figure: `services: all ${n} containers healthy (+ migration, roles)`,
          ours: secs(up.allHealthyMs),
          baselineWhat: `${what} (the seed has no app services)`,
          baseline: secs(c.readyMs),
          ratio: ratio(up.allHealthyMs, c.readyMs),
        },
      );
    } catch (e) {
      rows.push({
        ...notMeasured(
          `services: all ${n} containers healthy`,
          "seed 001 docker-compose up",
          (e as Error).message,
        ),
        ours: secs(up.allHealthyMs),
      });
    }

    // Rollback (before the load test, so its clients' disconnects do not weigh on either side):
    // the api to the previous image, create-before-delete and health-gated (ours)...
    const cur = apiOf(current);
    const prev = apiOf(previous);
    const back = await harness.replace(String(cur.inputs.name), prev, false);
    // ...beside delete-before-create of the same container back to the current image.
    const fwd = await harness.replace(String(prev.inputs.name), cur, true);
    rows.push({
      figure: `services: app rollback ${api.image.split(":").pop()} -> 1.3.0 (create-before-delete, healthy)`,
      ours: secs(back.healthyMs),
      baselineWhat: "delete-before-create (compose-style recreate), healthy",
      baseline: secs(fwd.healthyMs),
      ratio: ratio(back.healthyMs, fwd.healthyMs),
    });

    // PgBouncer at 10 × max_connections clients beside Postgres direct at max_connections (less
    // the reserved ones), same pgbench script (-N), same database, same engine.
    const envOf = (key: string) =>
      ((apiOf(current).inputs.envs as string[]).find((e) => e.startsWith(`${key}=`)) ?? "").slice(
        key.length + 1,
      );
    const migrate = current.resources.find(
      (r) => r.type === CONTAINER && r.name === `app-${api.name}-migrate`,
    );
    const direct = ((migrate?.inputs.envs as string[]) ?? [])
      .find((e) => e.startsWith("DATABASE_URL="))
      ?.slice("DATABASE_URL=".length);
    const maxConnections = Number(
      (stackFile.values.postgres as { maxConnections?: number }).maxConnections ?? 100,
    );
    if (direct) {
      try {
        const bench = (args: string[], ms: number) =>
          runClient(
            harness.runId,
            harness.networkDockerName("net-internal"),
            images.map.postgres!,
            "pgbench",
            args,
            ms,
          );
        const init = await bench(["-i", "-q", "-s", "1", direct], 120_000);
        if (init.code !== 0) throw new Error(`pgbench -i: ${init.stderr}`);
        const pooledRun = await bench(
          ["-n", "-N", "-c", String(10 * maxConnections), "-j", "16", "-T", "90", envOf("DATABASE_URL")],
          210_000,
        );
        const pooled = parsePgbench(pooledRun.stdout, pooledRun.stderr);
        // Every slot a client may take right now: max_connections less the superuser-reserved
        // ones and those already open (PgBouncer's pools, the apps' direct connections).
        const free = Number(
          harness
            .exec("postgres", [
              "psql",
              "-U",
              "postgres",
              "-qAtX",
              "-c",
              "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int - count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'",
            ])
            .trim(),
        );
        const directClients = Math.max(1, free - 2);
        log(`direct baseline: ${directClients} clients (${free} free of max_connections ${maxConnections})`);
        const directRun = await bench(
          ["-n", "-N", "-c", String(directClients), "-j", "16", "-T", "30", direct],
          120_000,
        );
        const plain = parsePgbench(directRun.stdout, directRun.stderr);
        log(
          `pgbench: pooled ${pooled.tps.toFixed(0)} tps (${pooled.failed} failed), direct ${plain.tps.toFixed(0)} tps`,
        );
        rows.push({
          figure: `PgBouncer: ${pooled.clients} clients (10x max_connections), ${pooled.failed} failed`,
          ours: `${pooled.tps.toFixed(0)} tps`,
          baselineWhat: `Postgres direct, ${plain.clients} clients (every free slot of max_connections ${maxConnections})`,
          baseline: `${plain.tps.toFixed(0)} tps (${plain.failed} failed)`,
          ratio: plain.tps > 0 ? `${(pooled.tps / plain.tps).toFixed(2)}x tps` : "",
        });
      } catch (e) {
        log(`pgbench failed: ${(e as Error).message}`);
        rows.push(notMeasured("PgBouncer tps at 10x clients", "Postgres direct", (e as Error).message));
      }
    } else {
      rows.push(
        notMeasured("PgBouncer tps at 10x clients", "Postgres direct", "no migration job with a direct URL"),
      );
    }
  } finally {
    await harness.cleanup();
  }
  return rows;
}
