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
import * as os from "node:os";
import * as path from "node:path";
import { readStackFile } from "../stacks/stack-file";
import {
  type AppChainSpec,
  type HealthTimingSpec,
  runAppChainCompose,
  runSeedCompose,
} from "../test/services/compose";
import { ensureImages } from "../test/services/images";
import { recordProgram } from "../test/services/record";
import { CONTAINER, Harness } from "../test/support/harness";
import { parsePgbench, runClient } from "../test/services/load";
import type { RecordedResource } from "../test/support/mocks";
import { Row, median, notMeasured, ratio, secs } from "./table";

const ROOT = path.resolve(__dirname, "..");

/** Paired rounds of ours vs the compose baseline for the time-to-healthy rows (median reported). */
const HEALTHY_ROUNDS = 3;

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
  const newHarness = (): Harness => {
    const h: Harness = new Harness({
      imageMap: images.map,
      postgresAdminContainer: "postgres",
      runId: `lg-svc-bench-${crypto.randomBytes(3).toString("hex")}`,
      // Each line with its time since the run started creating (where the time goes).
      log: (l) => log(h.upStartedAt ? `+${((Date.now() - h.upStartedAt) / 1000).toFixed(2)} s ${l}` : l),
      handlers: {
        "command:remote:Command": async (r): Promise<void> => void (await h.applyPidsLimit(r)),
        "command:local:Command": async (r): Promise<void> => void (await h.applyPidsLimit(r)),
      },
    });
    return h;
  };
  const compose = () =>
    runSeedCompose({
      postgresImage: images.map.postgres!,
      redisImage: images.map.redis!,
      project: `lg-bench-compose-${crypto.randomBytes(3).toString("hex")}`,
    }).readyMs;
  // The program's own chain (Postgres → migration → app) as a compose user would write it.
  const containerOf = (name: string) =>
    current.resources.find((r) => r.type === CONTAINER && r.name === name)!;
  const pgC = containerOf("postgres");
  const migC = containerOf(`app-${api.name}-migrate`);
  const apiC = apiOf(current);
  const hc = (r: RecordedResource) => r.inputs.healthcheck as { tests: string[] } & HealthTimingSpec;
  const timing = (r: RecordedResource) => {
    const { interval, timeout, retries, startPeriod, startInterval } = hc(r);
    return { interval, timeout, retries, startPeriod, ...(startInterval ? { startInterval } : {}) };
  };
  const chain: AppChainSpec = {
    postgresImage: images.map.postgres!,
    redisImage: images.map.redis!,
    appImage: images.map[api.image]!,
    postgresHealth: hc(pgC).tests,
    migrate: {
      ...(migC.inputs.entrypoints ? { entrypoint: migC.inputs.entrypoints as string[] } : {}),
      command: (migC.inputs.command as string[] | undefined) ?? [],
    },
    port: api.port,
    appHealth: hc(apiC).tests,
    postgresTiming: timing(pgC),
    appTiming: timing(apiC),
  };
  const chainCompose = () =>
    runAppChainCompose({ spec: chain, project: `lg-bench-chain-${crypto.randomBytes(3).toString("hex")}` })
      .readyMs;
  const chainMs: number[] = [];
  const rows: Row[] = [];
  // Time to healthy, in HEALTHY_ROUNDS paired rounds: each round runs ours and the compose
  // baseline one after the other with nothing else of the bench running (ours is removed before
  // compose starts and the other way round), the order alternating between rounds so neither side
  // always runs on a warmer or quieter engine. Medians are reported, every round is logged with
  // the load average. The last round starts ours second and keeps it up for the rows below.
  const oursMs: number[] = [];
  const dataMs: number[] = [];
  const composeMs: number[] = [];
  const loads: number[] = [];
  const healthyMs: number[] = [];
  let harness: Harness | undefined;
  let n = 0;
  let composeError: Error | undefined;
  try {
    for (let round = 0; round < HEALTHY_ROUNDS; round++) {
      const last = round === HEALTHY_ROUNDS - 1;
      const oursFirst = round % 2 === 0 && !last;
      const runCompose = () => {
        if (composeError) return;
        try {
          composeMs.push(compose());
          chainMs.push(chainCompose());
        } catch (e) {
          composeError = e as Error;
        }
      };
      if (!oursFirst) runCompose();
      const h = newHarness();
      harness = h;
      const up = await h.up(runnable(current.resources));
      n = h.running().length;
      oursMs.push(up.allHealthyMs);
      // From the first create, as compose's figure runs from `up -d`: creates and starts count;
      // when Docker marked them healthy (compose's figure is when they answer its own 0.2 s poll).
      dataMs.push(
        Math.max(
          up.dockerHealthyAtMs.postgres ?? 0,
          up.dockerHealthyAtMs["redis-queue"] ?? 0,
          up.dockerHealthyAtMs["redis-cache"] ?? 0,
        ),
      );
      healthyMs.push(Math.max(...Object.values(up.dockerHealthyAtMs)));
      log(
        `round ${round + 1} timeline (s since the first create): ` +
          [...h.timeline]
            .sort((a, b) => a.atMs - b.atMs)
            .map((e) => `${(e.atMs / 1000).toFixed(2)} ${e.what}`)
            .join("; "),
      );
      if (!last) {
        await h.cleanup();
        harness = undefined;
      }
      if (oursFirst) runCompose();
      loads.push(os.loadavg()[0]!);
      log(
        `healthy round ${round + 1}/${HEALTHY_ROUNDS} (${oursFirst ? "ours first" : "compose first"}): ` +
          `ours: all healthy ${secs(healthyMs[round]!)}, up done ${secs(up.allHealthyMs)}; compose ${composeMs.length > round ? secs(composeMs[round]!) : "—"}, ` +
          `load average ${os
            .loadavg()
            .map((l) => l.toFixed(2))
            .join(" ")}`,
      );
    }
    const load = `1-min load ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} over the rounds on ${os.cpus().length} CPUs`;
    if (composeError) {
      rows.push({
        ...notMeasured(
          `services: all ${n} containers healthy`,
          "seed 001 docker-compose up",
          composeError.message,
        ),
        ours: secs(median(oursMs)),
      });
    } else {
      const what = `seed 001 docker-compose up -d: postgres + redis answering (median of ${HEALTHY_ROUNDS}, paired, ${load})`;
      rows.push(
        {
          figure: `services: postgres + redis healthy (Docker health), from the first create (median of ${HEALTHY_ROUNDS})`,
          ours: secs(median(dataMs)),
          baselineWhat: what,
          baseline: secs(median(composeMs)),
          ratio: ratio(median(dataMs), median(composeMs)),
        },
        {
          figure: `services: all ${n} containers healthy (Docker health; in pulumi up's order, each wait released at the provider's 1 s poll; + roles, migration; median of ${HEALTHY_ROUNDS})`,
          ours: secs(median(healthyMs)),
          baselineWhat: `${what} (the seed has no app services)`,
          baseline: secs(median(composeMs)),
          ratio: ratio(median(healthyMs), median(composeMs)),
        },
        {
          figure: `services: all ${n} containers healthy, beside the same chain in compose (median of ${HEALTHY_ROUNDS})`,
          ours: secs(median(healthyMs)),
          baselineWhat: `docker-compose up -d: postgres healthy → the app's migration exited 0 → the app healthy (same images, healthchecks and their timing; no roles, PgBouncer, proxy, PIDs limits)`,
          baseline: secs(median(chainMs)),
          ratio: ratio(median(healthyMs), median(chainMs)),
        },
        {
          figure: `services: pulumi up done (the provider's poll sees the last container, its PIDs limit set; median of ${HEALTHY_ROUNDS})`,
          ours: secs(median(oursMs)),
          baselineWhat: `${what} (the seed has no app services)`,
          baseline: secs(median(composeMs)),
          ratio: ratio(median(oursMs), median(composeMs)),
        },
      );
    }
    if (!harness) throw new Error("no services run kept for the rows below");
    const h = harness;

    // Rollback (before the load test, so its clients' disconnects do not weigh on either side):
    // the api to the previous image, create-before-delete and health-gated (ours)...
    const cur = apiOf(current);
    const prev = apiOf(previous);
    const back = await h.replace(String(cur.inputs.name), prev, false);
    // ...beside delete-before-create of the same container back to the current image.
    const fwd = await h.replace(String(prev.inputs.name), cur, true);
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
          runClient(h.runId, h.networkDockerName("net-internal"), images.map.postgres!, "pgbench", args, ms);
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
          h
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
    await harness?.cleanup();
  }
  return rows;
}
