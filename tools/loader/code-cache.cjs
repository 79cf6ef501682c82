/**
 * V8 code cache for CommonJS modules (the checker and the policy pack: every node_modules `.js`
 * and every transpiled `.ts`). Without it each process re-parses and re-compiles the ~420
 * modules it loads (the Pulumi SDK, grpc-js, the provider resource modules, the program): about
 * a quarter of the checker's CPU before the program runs (`node --cpu-prof`: `wrapSafe`).
 *
 * - Node ≥ 22.1 has this built in (`module.enableCompileCache`): used when present.
 * - On Node 20 (package.json `engines`), `Module.prototype._compile` compiles through
 *   `vm.Script` with the cached data of a previous run. A module compiled afresh gets its entry
 *   when the process ends (exit, or SIGTERM: how the checker stops the pack), so the functions
 *   V8 compiled lazily during the run (policy evaluation, the program's applies) are in it too.
 *   Only a process with such pending entries handles SIGTERM (it writes them, then exits 143).
 * Keyed by SHA-256 of the node version, architecture, file name and the exact source text: a
 * changed file is a new key; an entry V8 rejects (other flags) is recompiled and rewritten. It
 * caches compiled code only, never a module's results.
 *
 * Modules with a hashbang or an `import(` are compiled by Node as usual (not cached).
 *
 * Why not the `v8-compile-cache` package: it keeps one blob per main module written at exit (the
 * pack never exits normally), only caches code compiled eagerly, and breaks `import()`.
 * `LAUNCHGATE_CODE_CACHE=0` turns it off (to compare, `npm run bench`).
 */
"use strict";
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");
const vm = require("node:vm");

/** `import(` anywhere (comments and strings too: such a module is merely not cached). */
const DYNAMIC_IMPORT = /\bimport\s*\(/;

/** Compile statistics of this process: modules served from the cache, compiled and stored. */
const stats = { hits: 0, misses: 0, builtin: false };

/** Installs the cache under `dir` (created on first write). */
function install(dir) {
  if (process.env.LAUNCHGATE_CODE_CACHE === "0") return stats;
  if (typeof Module.enableCompileCache === "function") {
    Module.enableCompileCache(dir);
    stats.builtin = true;
    return stats;
  }
  const original = Module.prototype._compile;
  /** [entry file, script] compiled afresh in this process: written when it ends. */
  const pending = [];
  const flush = () => pending.splice(0).forEach(([file, script]) => store(dir, file, script));
  process.on("exit", flush);
  const onSigterm = () => {
    flush();
    process.exit(143);
  };
  const prefix = `${process.version}\0${process.arch}\0`;
  Module.prototype._compile = function compileCached(content, filename) {
    // Left to Node: a hashbang (only valid at the very start of a script, not inside the
    // CommonJS wrapper) and `import()` (vm.Script has no stable way to give it Node's loader).
    if (content.startsWith("#!") || DYNAMIC_IMPORT.test(content))
      return original.call(this, content, filename);
    const file = path.join(
      dir,
      `${createHash("sha256").update(prefix).update(filename).update("\0").update(content).digest("hex")}.bin`,
    );
    let cachedData;
    try {
      cachedData = fs.readFileSync(file);
    } catch {
      // not cached yet
    }
    const script = new vm.Script(Module.wrap(content), { filename, cachedData });
    const hit = cachedData !== undefined && !script.cachedDataRejected;
    if (hit) stats.hits++;
    else stats.misses++;
    const result = script
      .runInThisContext({ displayErrors: true })
      .call(this.exports, this.exports, requireFor(this), this, filename, path.dirname(filename));
    if (!hit && pending.push([file, script]) === 1 && process.listenerCount("SIGTERM") === 0)
      process.once("SIGTERM", onSigterm);
    return result;
  };
  return stats;
}

/** `require` as Node builds it for a module (resolve, resolve.paths, main, extensions, cache). */
function requireFor(mod) {
  const require = (id) => mod.require(id);
  require.resolve = (request, options) => Module._resolveFilename(request, mod, false, options);
  require.resolve.paths = (request) => Module._resolveLookupPaths(request, mod);
  require.main = process.mainModule;
  require.extensions = Module._extensions;
  require.cache = Module._cache;
  return require;
}

function store(dir, file, script) {
  try {
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, script.createCachedData());
    fs.renameSync(tmp, file); // atomic: a concurrent process reads a whole entry or none
  } catch {
    // a read-only or full disk only costs speed
  }
}

module.exports = { install, stats };
