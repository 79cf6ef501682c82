/**
 * Swarm: time for the `local` stack with `placement: swarm` to converge (every service's tasks
 * running and healthy, roles applied) on a 3-node cluster, beside the same stack on a 1-node
 * cluster measured in the same run. Both are formed by the program's SwarmCluster steps and
 * played by test/support/swarm-lab.ts (as `npm run test:swarm` does); images are loaded before
 * the clock starts. One cluster at a time (2 cores): VPS containers `lg-bench-swarm-<pid>-*`,
 * removed at the end, also on failure.
 */
import * as path from "node:path";
import { readStackFile } from "../stacks/stack-file";
import type { AppImageSpec } from "../test/services/images";
import { SwarmLab } from "../test/support/swarm-lab";
import { Row, ratio, secs } from "./table";

type App = { image: string; port: number; migrate?: unknown } & Record<string, unknown>;
const ON = "true";

/** Converge time on a cluster with these node labels. */
async function converge(labels: Record<string, string>[], log: (l: string) => void): Promise<number> {
  const stack = readStackFile(path.resolve(__dirname, ".."), "local");
  // Migration jobs are not rendered on a swarm (refused by the config).
  const apps = (stack.values.apps as App[]).map(({ migrate: _m, ...a }) => a);
  const images: AppImageSpec[] = apps.map((a) => ({
    ref: a.image,
    port: a.port,
    version: String(a.image).split(":").pop()!,
  }));
  const lab = new SwarmLab(labels, "lg-bench-swarm");
  try {
    await lab.form(
      labels.map((_, i) => i),
      log,
    );
    const rec = await lab.record({ apps });
    return (await lab.deploy(rec, images, [], log)).upMs;
  } finally {
    lab.stop();
  }
}

export async function measureSwarm(log: (l: string) => void): Promise<Row[]> {
  const one = await converge(
    [{ "launchgate.postgres": ON, "launchgate.redis": ON, "launchgate.edge": ON }],
    log,
  );
  const three = await converge(
    [
      { "launchgate.postgres": ON, "launchgate.edge": ON },
      { "launchgate.redis": ON, "launchgate.edge": ON },
      { zone: "b" },
    ],
    log,
  );
  return [
    {
      figure: "swarm: local stack converges on 3 nodes",
      ours: secs(three),
      baselineWhat: "the same stack on 1 node",
      baseline: secs(one),
      ratio: ratio(three, one),
    },
  ];
}
