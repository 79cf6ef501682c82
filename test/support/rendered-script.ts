/**
 * Reading values back out of scripts rendered by components/ops/remote-script.ts (single-quoted
 * `export NAME='…'` lines, and the installer's file manifest), for unit tests.
 */
import assert from "node:assert/strict";

/** The value of `export NAME='…'` in a rendered script (inverse of shellQuote). */
export function exported(script: string, name: string): string {
  const m = new RegExp(`^export ${name}='((?:[^']|'\\\\'')*)'$`, "m").exec(script);
  assert.ok(m, `export ${name} not found`);
  return m[1]!.replace(/'\\''/g, "'");
}

/** The content the installer writes to `dest` (install-files.sh's LG_FILES manifest). */
export function installedFile(install: string, dest: string): string {
  const line = exported(install, "LG_FILES")
    .split("\n")
    .find((l) => l.split(" ")[1] === dest);
  assert.ok(line, `${dest} not in the install manifest`);
  return exported(install, line.split(" ")[2]!);
}
