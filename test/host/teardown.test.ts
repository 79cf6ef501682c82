/**
 * Teardown of the disposable VPS when its test process does not end normally (issue 13: a Ctrl-C
 * once left a VPS container and its volume behind). A child process starts the VPS the host and
 * end-to-end tests use (test/host/fixtures/interrupted-vps.ts) and is stopped while a synchronous
 * command runs: by SIGINT to its whole process group, twice, as a terminal's Ctrl-C arrives (the
 * cleanup runs in the child's handler; the second one lands during the removal), and by SIGKILL to the group, as a CI timeout ends it (no handler
 * runs; the watchdog does). Either way no container, volume, network or scratch directory with
 * the VPS's name remains. Bounded: each case ≤ 2 min, about 15 s warm.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import { buildVpsImage, run } from "../support/vps";

const FIXTURE = path.join(__dirname, "fixtures", "interrupted-vps.ts");
let image: string;

interface Started {
  readonly container: string;
  readonly volume: string;
  readonly dir: string;
}

/** What is left of the VPS `s` on this machine's engine and disk. */
function leftovers(s: Started): string[] {
  const ls = (args: string[]) => run("docker", args).stdout.split("\n").filter(Boolean);
  return [
    ...ls(["ps", "-a", "--format", "{{.Names}}", "--filter", `name=^${s.container}$`]),
    ...ls(["volume", "ls", "-q", "--filter", `name=^${s.volume}$`]),
    ...ls(["network", "ls", "--format", "{{.Name}}", "--filter", `name=${s.container}`]),
    ...(fs.existsSync(s.dir) ? [s.dir] : []),
  ];
}

/**
 * Starts the child, waits for its VPS, sends `signals` to its process group 150 ms apart; returns
 * the VPS's names and the child's exit code.
 */
async function interrupt(...signals: NodeJS.Signals[]): Promise<{ started: Started; code: number | null }> {
  const child = spawn(process.execPath, ["--import", "tsx", FIXTURE, image], {
    detached: true, // its own process group, so the signal goes to it and its children only
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const started = await new Promise<Started>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`no VPS after 90 s: ${out}`)), 90_000);
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as Started);
      }
    });
    child.on("exit", (code) => reject(new Error(`child exited ${code} before its VPS ran: ${out}`)));
  }).catch((e) => {
    process.kill(-child.pid!, "SIGKILL");
    throw e;
  });
  assert.ok(leftovers(started).includes(started.container), "control: the VPS container runs");
  await new Promise((r) => setTimeout(r, 1000)); // the synchronous command is running now
  for (const [i, signal] of signals.entries()) {
    if (i > 0) await new Promise((r) => setTimeout(r, 150));
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // the group is gone already
    }
  }
  const code = await Promise.race([
    exited,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`child still running 60 s after ${signals.join(", ")}`)), 60_000),
    ),
  ]);
  return { started, code };
}

/** Polls (bounded) until nothing of `s` is left; returns what is left at the end. */
async function settled(s: Started, ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = leftovers(s);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

describe("the disposable VPS is removed however its test process ends", { timeout: 5 * 60_000 }, () => {
  before(() => {
    image = buildVpsImage().tag;
  });

  it("Ctrl-C twice (SIGINT to the process group) during a synchronous command: the handler removes it", async () => {
    // The second one arrives while the removal runs: it must neither end the process nor reach
    // the removal's own `docker rm`.
    const { started, code } = await interrupt("SIGINT", "SIGINT");
    // The handler removes everything before the process exits.
    assert.deepEqual(leftovers(started), [], "left behind right after the child exited");
    assert.equal(code, 130, "the child exits through its SIGINT handler");
  });

  it("SIGKILL (a CI timeout): the watchdog removes it once the process is gone", async () => {
    const { started, code } = await interrupt("SIGKILL");
    assert.equal(code, null, "killed, no handler ran");
    assert.deepEqual(await settled(started, 60_000), [], "left behind 60 s after the kill");
  });
});
