/** The problems `parseConfig` reports for raw stack values (none: []), asserting they come as a ConfigError. */
import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../stacks/config";

export function configProblems(raw: Record<string, unknown>, stack: string): string[] {
  try {
    parseConfig(raw, stack);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e.problems;
  }
  return [];
}
