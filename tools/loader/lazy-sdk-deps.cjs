/**
 * Defers two heavy modules that @pulumi/pulumi 3.x requires at load time but only uses for
 * function/closure serialization and dynamic-provider packaging (runtime/closure): `typescript`
 * (via typescript-shim) and `@npmcli/arborist` (via runtime/closure/codePaths). Together they
 * are ~0.6 s of a ~0.8 s SDK load on these machines; Pulumi made them lazy elsewhere for the
 * same reason (pulumi/pulumi#10185). Each is replaced, for requires from inside @pulumi/pulumi
 * only, by a proxy that loads the real module on first use, so behaviour is unchanged.
 */
"use strict";
const Module = require("node:module");
const path = require("node:path");

const DEFERRED = new Set(["typescript", "@npmcli/arborist"]);
const SDK_DIR = `${path.sep}node_modules${path.sep}@pulumi${path.sep}pulumi${path.sep}`;

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
  if (DEFERRED.has(request) && parent?.filename?.includes(SDK_DIR)) return deferred(request, parent);
  return originalLoad.call(this, request, parent, isMain);
};
