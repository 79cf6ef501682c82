/**
 * Defers modules that @pulumi/pulumi 3.x requires at load time but a program run (and the
 * policy pack) never uses. Together they are most of the SDK's load time on these machines;
 * Pulumi made such requires lazy elsewhere for the same reason (pulumi/pulumi#10185):
 * - `typescript` (via typescript-shim) and `@npmcli/arborist` (via runtime/closure/codePaths):
 *   function/closure serialization and dynamic-provider packaging only;
 * - `normalize-package-data` (runtime/closure/codePaths; it builds spdx-correct's license tables
 *   at load): code-path computation for closures only;
 * - `./automation` (index.js's `automation` namespace: execa, js-yaml, the workspace classes):
 *   the Automation API, used by tools/promote, never by a program or the pack.
 * Each is replaced, for requires from inside @pulumi/pulumi only, by a stand-in that loads the
 * real module on first use, so behaviour is unchanged.
 */
"use strict";
const Module = require("node:module");
const path = require("node:path");

/** Request → how the SDK imports it: `__importStar` (a namespace) or `__importDefault` (a CommonJS function). */
const DEFERRED = new Map([
  ["typescript", "namespace"],
  ["@npmcli/arborist", "namespace"],
  ["./automation", "namespace"],
  ["normalize-package-data", "default"],
]);
const SDK_DIR = `${path.sep}node_modules${path.sep}@pulumi${path.sep}pulumi${path.sep}`;

/**
 * A stand-in for a CommonJS module exporting one function, as TypeScript's `__importDefault`
 * reads it (`__esModule` set, so its `default` is used as is): calls load the module.
 */
function deferredDefault(request, parent) {
  let real;
  const load = () => (real ??= originalLoad.call(Module, request, parent, false));
  return { __esModule: true, default: (...args) => load()(...args) };
}

/**
 * A stand-in for `module.exports` of `request` that loads it on first access. It answers
 * `__esModule` itself (true), so TypeScript's `__importStar` keeps the proxy instead of copying
 * every export (which would load the module at once); named exports read through to the module.
 */
function deferred(request, parent) {
  let real;
  const load = () => (real ??= originalLoad.call(Module, request, parent, false));
  return new Proxy(
    {},
    {
      get: (_, key) => (key === "__esModule" ? true : Reflect.get(load(), key)),
      has: (_, key) => key in load(),
      ownKeys: () => Reflect.ownKeys(load()),
      getOwnPropertyDescriptor: (_, key) => {
        const d = Reflect.getOwnPropertyDescriptor(load(), key);
        return d && { ...d, configurable: true };
      },
    },
  );
}

const originalLoad = Module._load;
Module._load = function loadDeferred(request, parent, isMain) {
  const form = DEFERRED.get(request);
  if (form && parent?.filename?.includes(SDK_DIR))
    return form === "default" ? deferredDefault(request, parent) : deferred(request, parent);
  return originalLoad.call(this, request, parent, isMain);
};
