/**
 * `npm run check -- --stack <name> [--json] [--report FILE.md] [--pack-config FILE]
 *   [--evidence DIR] [--config key=json …] [--release-out FILE]`
 * Runs the program offline under the mock runtime, evaluates the policy pack with the stack's
 * pack config, prints the gates and findings; exits 1 on a mandatory finding or program error.
 *
 * Run by `npm run check` on plain node with tools/loader/register.cjs (TypeScript transpiled once
 * and cached by content hash; no tsx). Its last stderr line gives both speed figures:
 *   checker: work 0.62 s (checker start to verdict), wall 0.81 s (process start to verdict), cpu …
 * - work: from this module's start (node booted, loader installed) to the verdict:
 *   loading the checker, SDKs and program, running the program under mocks, waiting for the
 *   pack process, policy evaluation over the Analyzer protocol, program-side checks, report.
 * - wall: from the node process's start (performance.timeOrigin) to the verdict, i.e. work plus
 *   node's own start-up. What `npm run …` adds before node starts is measured by `npm run bench`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { spawnPack } from "./spawn-pack";

/** Start of checker work (ms since the process started; after node built-ins only); see the header. */
const workStart = performance.now();

// This CLI reports errors by message, never by stack, so it does not capture stacks: the Pulumi
// runtime records `new Error().stack` on every internal promise (runtime/debuggable.js, for leak
// diagnostics), ~10% of the checker's CPU. Resource source positions are unaffected (the SDK
// lifts the limit itself for those). `node --stack-trace-limit=N` keeps N, for debugging.
if (!`${process.execArgv.join(" ")} ${process.env.NODE_OPTIONS ?? ""}`.includes("--stack-trace-limit"))
  Error.stackTraceLimit = 0;

// Boot the policy pack first: it loads in parallel with the SDKs and the program below.
const pack = spawnPack(path.resolve("policies"));

function configPairs(pairs: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(
    pairs.map((p) => {
      const i = p.indexOf("=");
      if (i <= 0) throw new Error(`--config must be key=value, got "${p}"`);
      const raw = p.slice(i + 1);
      let value: unknown = raw;
      try {
        value = JSON.parse(raw);
      } catch {
        // plain string
      }
      return [p.slice(0, i), value];
    }),
  );
}

async function main(): Promise<number> {
  const { values: v } = parseArgs({
    options: {
      stack: { type: "string" },
      json: { type: "boolean", default: false },
      report: { type: "string" },
      "pack-config": { type: "string" },
      "stack-outputs": { type: "string" },
      evidence: { type: "string" },
      config: { type: "string", multiple: true, default: [] },
      "release-out": { type: "string" },
    },
  });
  if (!v.stack)
    throw new Error("usage: npm run check -- --stack <local|staging|production> [--json] [--report FILE.md]");
  const { runCheck } = await import("./check");
  const { PackServer } = await import("./pack-server");
  const { renderMarkdown, renderText, speedLine } = await import("./report");
  // Not awaited: the program runs while the pack boots; its analyses queue until the pack is up.
  const server = PackServer.connect(pack);
  server.catch(() => undefined); // surfaced by runCheck
  const result = await runCheck({
    server,
    stack: v.stack,
    packConfigPath: v["pack-config"],
    stackOutputsDir: v["stack-outputs"],
    evidenceDir: v.evidence,
    configOverrides: configPairs(v.config ?? []),
  });
  // launchgate issue 6 (release report): `--report *.html` writes the self-contained HTML page (tools/report).
  if (v.report?.endsWith(".html")) await (await import("../report")).writeHtmlReport(v.report, result);
  else if (v.report) fs.writeFileSync(v.report, renderMarkdown(result));
  if (v["release-out"] && result.gate) {
    const { commit, images } = result.gate.manifest;
    fs.writeFileSync(v["release-out"], `${JSON.stringify({ commit, images }, null, 2)}\n`);
  }
  (await server).close();
  console.log(v.json ? JSON.stringify(result, null, 2) : renderText(result));
  const cpu = process.cpuUsage();
  console.error(speedLine(workStart, performance.now(), (cpu.user + cpu.system) / 1000));
  return result.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`check: ${e instanceof Error ? e.message : String(e)}`);
    pack.child.kill();
    process.exit(2);
  },
);
