/**
 * `npm run bench`: one table of figures, each beside a baseline measured in the same run.
 *   --only checker,checker-cli,host,backups,services,rollout,swarm   run a subset (default: all)
 * Progress goes to stderr; the table is the only thing on stdout. Not part of `npm test`.
 * Docker objects it creates are named lg-bench-* (the services harness insists on its own
 * lg-svc- prefix: those are lg-svc-bench-*), and are removed at the end, also on failure.
 */
import { parseArgs } from "node:util";
import { measureChecker } from "./checker";
import { Row, notMeasured, renderTable } from "./table";

type Section = {
  name: string;
  run: (log: (l: string) => void) => Promise<Row[]>;
  figures: [string, string][];
};

async function load(modulePath: string, fn: string): Promise<(log: (l: string) => void) => Promise<Row[]>> {
  const mod = (await import(modulePath)) as Record<string, (log: (l: string) => void) => Promise<Row[]>>;
  return mod[fn]!;
}

const SECTIONS: Section[] = [
  { name: "checker", run: measureChecker, figures: [["checker", "program alone"]] },
  {
    name: "checker-cli",
    run: async (log) => (await load("./checker-cli", "measureCheckerCli"))(log),
    figures: [["npm run check -- --stack production", "node -e '', a bare SDK require, tsx"]],
  },
  {
    name: "host",
    run: async (log) => (await load("./host", "measureHost"))(log),
    figures: [["host scripts: second run (idempotent)", "first run on a fresh VPS"]],
  },
  {
    name: "backups",
    run: async (log) => (await load("./backups", "measureBackups"))(log),
    figures: [
      ["backup: component dump", "plain pg_dump > file.sql"],
      ["restore drill", "plain psql < file.sql"],
    ],
  },
  {
    name: "services",
    run: async (log) => (await load("./services", "measureServices"))(log),
    figures: [
      ["services: time to all healthy", "docker-compose up (seed 001)"],
      ["services: rollback of the app", "—"],
      ["PgBouncer tps at 10x max_connections clients", "Postgres direct at max_connections"],
    ],
  },
  {
    name: "rollout",
    run: async (log) => (await load("./rollout", "measureRollout"))(log),
    figures: [
      ["rollout: 4 steps, 5 s windows (total)", "same release all at once"],
      ["rollout: client-visible errors (healthy)", "same release all at once"],
      [
        "abort: client-visible errors (50 % failing)",
        "same release all at once for one window, then redeploy stable",
      ],
      ["abort: back to stable", "redeploy the stable release"],
    ],
  },
  {
    name: "swarm",
    run: async (log) => (await load("./swarm", "measureSwarm"))(log),
    figures: [["swarm: local stack converges on 3 nodes", "the same stack on 1 node"]],
  },
];

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { only: { type: "string" } } });
  const only = values.only ? new Set(values.only.split(",")) : undefined;
  const rows: Row[] = [];
  const t0 = Date.now();
  for (const s of SECTIONS) {
    if (only && !only.has(s.name)) continue;
    const log = (l: string) => console.error(`[bench ${s.name}] ${l}`);
    log("start");
    try {
      rows.push(...(await s.run(log)));
    } catch (e) {
      log(`failed: ${(e as Error).stack ?? String(e)}`);
      for (const [figure, what] of s.figures) rows.push(notMeasured(figure, what, (e as Error).message));
    }
    log(`done after ${Math.round((Date.now() - t0) / 1000)} s`);
  }
  console.log(renderTable(rows));
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`bench: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
