/**
 * `node --require ./tools/loader/register.cjs <file>.ts`: runs the project's TypeScript on
 * plain Node without a general-purpose loader. It hooks only the `.ts` extension: each file is
 * transpiled once by esbuild (`transformSync` to CommonJS with the nearest tsconfig.json, as tsx
 * does) and the output is cached in `node_modules/.cache/launchgate-ts/` under the SHA-256 of
 * everything that decides it (esbuild version, options, tsconfig text, path and source text),
 * so a changed file is a new key and a cache entry is never stale. Modules keep their real
 * filename (`__dirname`, `require.cache` and relative requires behave as under tsx);
 * node_modules `.js` files load untouched. `LAUNCHGATE_TS_CACHE` moves the cache (tests).
 *
 * Every module's compiled code is kept too (./code-cache.cjs: V8 code cache by content hash).
 *
 * It also makes two @pulumi/pulumi dependencies lazy (./lazy-sdk-deps.cjs): they cost ~0.4 s
 * of CPU on every start and are only used for closure serialization.
 *
 * Why not tsx: tsx hooks every module resolution and `.js` load (an ESM-syntax scan per file)
 * and enables source maps, which doubles the time to load the Pulumi SDK (measured in
 * `npm run bench`, checker rows).
 */
"use strict";
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");

require("./lazy-sdk-deps.cjs");

const ROOT = path.resolve(__dirname, "..", "..");
const CACHE_DIR =
  process.env.LAUNCHGATE_TS_CACHE ?? path.join(ROOT, "node_modules", ".cache", "launchgate-ts");
/** V8 code cache of every CommonJS module this process loads (./code-cache.cjs). */
const codeCache = require("./code-cache.cjs").install(path.join(CACHE_DIR, "v8"));
/** esbuild transform options: CommonJS like tsconfig's `module`, ES2022 like its `target`. */
const OPTIONS = {
  loader: "ts",
  format: "cjs",
  target: "es2022",
  platform: "node",
  sourcemap: "inline",
  // `await import("./x")` becomes a require, as tsc emits it for module: commonjs.
  supported: { "dynamic-import": false },
};

let esbuild; // loaded on the first cache miss only
let optionsKey;
/** Directory → text of the nearest tsconfig.json at or above it ("" when none), as tsx picks it. */
const tsconfigs = new Map();

function tsconfigFor(dir) {
  if (!tsconfigs.has(dir)) {
    const file = path.join(dir, "tsconfig.json");
    const parent = path.dirname(dir);
    tsconfigs.set(
      dir,
      fs.existsSync(file) ? fs.readFileSync(file, "utf8") : parent === dir ? "" : tsconfigFor(parent),
    );
  }
  return tsconfigs.get(dir);
}

/**
 * Compiled JavaScript for `filename` (from the cache, or transpiled and stored). The nearest
 * tsconfig.json (its text: `strict` → "use strict", `target`, class fields …) is part of the key.
 */
function compile(source, filename) {
  if (!optionsKey) {
    const version = require(require.resolve("esbuild/package.json", { paths: [ROOT] })).version;
    optionsKey = JSON.stringify({ esbuild: version, OPTIONS });
  }
  const tsconfigRaw = tsconfigFor(path.dirname(filename));
  const key = createHash("sha256")
    .update(optionsKey)
    .update("\0")
    .update(tsconfigRaw)
    .update("\0")
    .update(filename)
    .update("\0")
    .update(source)
    .digest("hex");
  const file = path.join(CACHE_DIR, `${key}.js`);
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    // not cached yet
  }
  esbuild ??= require(require.resolve("esbuild", { paths: [ROOT] }));
  const { code } = esbuild.transformSync(source, {
    ...OPTIONS,
    sourcefile: filename,
    ...(tsconfigRaw ? { tsconfigRaw } : {}),
  });
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, code);
  fs.renameSync(tmp, file); // atomic: a concurrent run reads a whole entry or none
  return code;
}

Module._extensions[".ts"] = function loadTs(module, filename) {
  module._compile(compile(fs.readFileSync(filename, "utf8"), filename), filename);
};

module.exports = { compile, CACHE_DIR, codeCache };
