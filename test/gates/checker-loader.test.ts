/**
 * How `npm run check` runs (issue 10, checker speed): plain node with tools/loader/register.cjs.
 * - The `.ts` cache is keyed by content: a cached entry is what runs, and a changed source (or
 *   a file it imports) is transpiled again, never served stale.
 * - TypeScript as the project writes it runs as under tsx (extensionless relative requires,
 *   `await import()`, `__dirname`, esModuleInterop default imports, enums).
 * - The V8 code cache (tools/loader/code-cache.cjs) serves every module of a second run, compiles a
 *   changed or rejected entry again, and keeps CommonJS semantics.
 * - @pulumi/pulumi's `typescript` and `@npmcli/arborist` load only when first used, and work then.
 * - The CLI prints its speed figures.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { parseSpeedLine, speedLine } from "../../tools/checker/report";

const ROOT = path.resolve(__dirname, "../..");
const LOADER = path.join(ROOT, "tools", "loader", "register.cjs");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "launchgate-loader-"));
const cache = path.join(tmp, "cache");
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs `file` with the loader and the scratch cache; returns stdout (asserts exit 0). */
function run(file: string, cwd = tmp, env: Record<string, string> = {}): string {
  const r = spawnSync(process.execPath, ["--require", LOADER, file], {
    cwd,
    encoding: "utf8",
    // Scratch files live outside the project: they find its packages through NODE_PATH.
    env: { ...process.env, LAUNCHGATE_TS_CACHE: cache, NODE_PATH: path.join(ROOT, "node_modules"), ...env },
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

const cached = () => (fs.existsSync(cache) ? fs.readdirSync(cache).filter((f) => f.endsWith(".js")) : []);

describe("tools/loader/register.cjs: the .ts cache", () => {
  const dir = path.join(tmp, "cache-case");
  fs.mkdirSync(path.join(dir, "lib"), { recursive: true });
  const main = path.join(dir, "main.ts");
  const dep = path.join(dir, "lib", "value.ts");

  test("transpiles once, then runs the cached entry", () => {
    fs.writeFileSync(dep, "export const value: number = 1;\n");
    fs.writeFileSync(main, 'import { value } from "./lib/value";\nconsole.log(`value ${value}`);\n');
    assert.equal(run(main), "value 1");
    assert.equal(cached().length, 2);
    // The cached output is what runs: edit the dependency's entry in place and run again.
    const entries = cached().map((f) => path.join(cache, f));
    const depEntry = entries.find((f) => fs.readFileSync(f, "utf8").includes("value = 1"))!;
    fs.writeFileSync(depEntry, fs.readFileSync(depEntry, "utf8").replace("value = 1", "value = 42"));
    assert.equal(run(main), "value 42");
    assert.equal(cached().length, 2, "no new entry for unchanged sources");
  });

  test("a changed source file is transpiled again, never served stale", () => {
    fs.writeFileSync(dep, "export const value: number = 2;\n");
    assert.equal(run(main), "value 2");
    assert.equal(cached().length, 3, "one new entry: the changed file's");
    fs.writeFileSync(dep, "export const value: number = 1;\n"); // back to the first content: its entry
    assert.equal(run(main), "value 42", "the first content's (edited) entry is served again");
  });

  test("a changed tsconfig.json is a new key too", () => {
    const before = cached().length;
    fs.writeFileSync(path.join(dir, "tsconfig.json"), '{ "compilerOptions": { "strict": true } }\n');
    assert.equal(run(main), "value 1");
    assert.equal(cached().length, before + 2, "both files transpiled again under the new tsconfig");
  });

  test("a concurrent writer leaves no partial entry", () => {
    assert.deepEqual(
      fs.readdirSync(cache).filter((f) => f.endsWith(".tmp")),
      [],
    );
  });
});

describe("tools/loader/code-cache.cjs: V8 code cache", () => {
  const dir = path.join(tmp, "code-cache-case");
  const v8Dir = path.join(cache, "v8");
  fs.mkdirSync(dir, { recursive: true });
  const main = path.join(dir, "main.ts");
  const dep = path.join(dir, "dep.ts");
  const entries = () => (fs.existsSync(v8Dir) ? fs.readdirSync(v8Dir) : []);
  /** The run's output line and its cache statistics (the loader's own counters). */
  const runStats = (env: Record<string, string> = {}) => {
    const [out, stats] = run(main, ROOT, env).split("\n");
    return { out, ...(JSON.parse(stats!) as { hits: number; misses: number; builtin: boolean }) };
  };
  fs.writeFileSync(dep, "export const value: number = 1;\n");
  fs.writeFileSync(
    main,
    [
      'import YAML from "yaml";',
      'import { value } from "./dep";',
      `const { codeCache } = require(${JSON.stringify(LOADER)});`,
      "console.log(`${YAML.stringify({ value }).trim()}`);",
      "console.log(JSON.stringify(codeCache));",
    ].join("\n"),
  );

  test("a second run serves every module from the cache, with the same result", (t) => {
    const first = runStats();
    if (first.builtin) return t.skip("node has module.enableCompileCache: the built-in cache is used");
    assert.equal(first.out, "value: 1");
    assert.ok(first.misses > 5, `yaml's modules, main and dep compiled: ${first.misses}`);
    const second = runStats();
    assert.equal(second.out, "value: 1");
    assert.equal(second.misses, 0);
    // The first run also loaded esbuild (main and dep were not transpiled yet): not needed now.
    assert.ok(second.hits >= first.misses - 1 && second.hits > 5, JSON.stringify({ first, second }));
  });

  test("a changed source is compiled again, never served stale", (t) => {
    if (runStats().builtin) return t.skip("built-in cache");
    const before = entries().length;
    fs.writeFileSync(dep, "export const value: number = 2;\n");
    const changed = runStats();
    assert.equal(changed.out, "value: 2");
    assert.equal(changed.misses, 1, "only the changed module");
    assert.equal(entries().length, before + 1);
    fs.writeFileSync(dep, "export const value: number = 1;\n");
  });

  test("an entry V8 rejects (corrupt, other node) is compiled again and rewritten", (t) => {
    const all = runStats();
    if (all.builtin) return t.skip("built-in cache");
    for (const f of entries()) fs.writeFileSync(path.join(v8Dir, f), "not a code cache");
    const rejected = runStats();
    assert.equal(rejected.out, "value: 1");
    assert.equal(rejected.hits, 0);
    assert.equal(rejected.misses, all.hits + all.misses);
    assert.equal(runStats().misses, 0, "rewritten entries are served");
    assert.deepEqual(
      entries().filter((f) => !f.endsWith(".bin")),
      [],
      "no partial entry",
    );
  });

  test("a process stopped by SIGTERM (as the checker stops the pack) writes its entries first", async (t) => {
    if (runStats().builtin) return t.skip("built-in cache");
    const server = path.join(dir, "server.ts");
    fs.writeFileSync(
      server,
      'import { parse } from "semver";\nconsole.log(parse("1.2.3")?.minor);\nsetInterval(() => undefined, 1000);\n',
    );
    const child = spawn(process.execPath, ["--require", LOADER, server], {
      cwd: ROOT,
      env: { ...process.env, LAUNCHGATE_TS_CACHE: cache, NODE_PATH: path.join(ROOT, "node_modules") },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const ready = await Promise.race([
      new Promise<string>((resolve) =>
        child.stdout.once("data", (b: Buffer) => resolve(b.toString().trim())),
      ),
      exited.then((code) => `exited ${code} before serving`),
    ]);
    assert.equal(ready, "2");
    const before = entries().length;
    child.kill("SIGTERM");
    assert.equal(await exited, 143, "exits as a SIGTERM would");
    assert.ok(entries().length > before, "entries written on SIGTERM");
  });

  test("LAUNCHGATE_CODE_CACHE=0 turns it off", () => {
    const off = runStats({ LAUNCHGATE_CODE_CACHE: "0" });
    assert.deepEqual(off, { out: "value: 1", hits: 0, misses: 0, builtin: false });
  });

  test("CommonJS semantics: require.main, require.resolve, __filename, import(), a hashbang file", () => {
    const cjs = path.join(dir, "semantics.js");
    fs.writeFileSync(path.join(dir, "bin.js"), "#!/usr/bin/env node\nmodule.exports = 'bin';\n");
    fs.writeFileSync(path.join(dir, "esm.mjs"), "export const esm = 'esm';\n");
    fs.writeFileSync(
      cjs,
      [
        "const path = require('node:path');",
        "(async () => {",
        "  const { esm } = await import('./esm.mjs');",
        "  console.log([require.main === module, path.basename(require.resolve('./bin')),",
        "    path.basename(__filename), require('./bin'), esm, typeof require.resolve.paths('x')].join(' '));",
        "})();",
      ].join("\n"),
    );
    for (let i = 0; i < 2; i++) assert.equal(run(cjs, ROOT), "true bin.js semantics.js bin esm object");
  });
});

describe("tools/loader/register.cjs: TypeScript as the project writes it", () => {
  test("extensionless requires, index files, await import(), __dirname, interop, enums, strict", () => {
    const dir = path.join(tmp, "syntax-case");
    fs.mkdirSync(path.join(dir, "pkg"), { recursive: true });
    fs.writeFileSync(path.join(dir, "tsconfig.json"), '{ "compilerOptions": { "strict": true } }\n');
    fs.writeFileSync(path.join(dir, "pkg", "index.ts"), "export enum Kind { A = 'a', B = 'b' }\n");
    fs.writeFileSync(
      path.join(dir, "late.ts"),
      "export default function late(): string { return 'late'; }\n",
    );
    fs.writeFileSync(
      path.join(dir, "main.ts"),
      [
        'import * as path from "node:path";',
        'import YAML from "yaml";',
        'import { Kind } from "./pkg";',
        "type Unused = { a: number };",
        "async function main(): Promise<void> {",
        '  const { default: late } = await import("./late");',
        "  const u: Unused = { a: 1 };",
        "  const strict = (function (this: unknown) { return this === undefined; })();",
        '  console.log([Kind.B, late(), path.basename(__dirname), YAML.stringify({ k: u.a }).trim(), strict].join(" "));',
        "}",
        "void main();",
      ].join("\n"),
    );
    assert.equal(run(path.join(dir, "main.ts"), ROOT), "b late syntax-case k: 1 true");
  });
});

describe("tools/loader/lazy-sdk-deps.cjs", () => {
  test("typescript, @npmcli/arborist, normalize-package-data and the Automation API load on first use only, and work then", () => {
    const script = path.join(tmp, "lazy.ts");
    const deferred = [
      "typescript",
      "@npmcli/arborist",
      "normalize-package-data",
      "@pulumi/pulumi/automation",
    ];
    fs.writeFileSync(
      script,
      [
        'import * as pulumi from "@pulumi/pulumi";',
        "const loaded = (m: string) => Object.keys(require.cache).some((k) => k.includes(`/node_modules/${m}/`));",
        `const deferred = ${JSON.stringify(deferred)};`,
        "async function main(): Promise<void> {",
        "  const before = deferred.map(loaded);",
        "  const fn = await pulumi.runtime.serializeFunction(() => 40 + 2);",
        "  const paths = await pulumi.runtime.computeCodePaths();",
        '  const ws = typeof pulumi.automation.LocalWorkspace.create === "function";',
        "  const after = deferred.map(loaded);",
        "  console.log(JSON.stringify({ before, after, fn: fn.text.includes('40 + 2'), paths: paths.size > 0, ws }));",
        "}",
        "void main();",
      ].join("\n"),
    );
    assert.deepEqual(JSON.parse(run(script, ROOT)), {
      before: [false, false, false, false],
      after: [true, true, true, true],
      fn: true,
      paths: true,
      ws: true,
    });
  });
});

describe("checker speed line", () => {
  test("formats and parses back", () => {
    const line = speedLine(120, 1450, 980);
    assert.equal(
      line,
      "checker: work 1.33 s (checker start to verdict), wall 1.45 s (process start to verdict), cpu 0.98 s (checker process)",
    );
    assert.deepEqual(parseSpeedLine(`report…\n${line}\n`), { workS: 1.33, wallS: 1.45, cpuS: 0.98 });
    assert.equal(parseSpeedLine("no figures here"), undefined);
  });

  test("`npm run check -- --stack local` passes and prints work and wall", () => {
    const r = spawnSync("npm", ["run", "--silent", "check", "--", "--stack", "local"], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 180_000,
    });
    assert.equal(r.status, 0, r.stderr.slice(-600));
    const speed = parseSpeedLine(r.stderr);
    assert.ok(speed, `speed line in stderr: ${r.stderr.slice(-300)}`);
    assert.ok(speed.workS > 0 && speed.workS <= speed.wallS, JSON.stringify(speed));
  });
});
