/**
 * The config documentation agrees with the schema (stacks/config.ts, the one source of keys and
 * defaults): every key is declared in Pulumi.yaml (secret keys `secret: true`) and has a row in
 * README.md's configuration table; every field default is written as `field=value` in the key's
 * Pulumi.yaml description and as `value` in the README row, and every `field=value` written
 * there is a default the schema has.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { z } from "zod";
import { CONFIG_KEYS, NAMESPACE, SECRET_CONFIG_KEYS, configSchema } from "../../stacks/config";

const ROOT = path.resolve(__dirname, "../..");

interface Field {
  readonly name: string;
  /** Present when the schema gives the field a default. */
  readonly default?: { readonly value: unknown };
  /** Enum options (documented as `a|b|c`). */
  readonly options: readonly string[];
}

function unwrap(s: z.ZodTypeAny): { schema: z.ZodTypeAny; default?: { value: unknown } } {
  let dflt: { value: unknown } | undefined;
  for (;;) {
    if (s instanceof z.ZodDefault) {
      dflt ??= { value: s._def.defaultValue() };
      s = s._def.innerType;
    } else if (s instanceof z.ZodOptional) s = s._def.innerType;
    else if (s instanceof z.ZodEffects) s = s.innerType();
    else return { schema: s, default: dflt };
  }
}

/** Every field below a top-level key (objects, arrays and maps of objects, any depth). */
function fieldsOf(s: z.ZodTypeAny): Field[] {
  const { schema } = unwrap(s);
  const inner =
    schema instanceof z.ZodArray
      ? unwrap(schema.element).schema
      : schema instanceof z.ZodRecord
        ? unwrap(schema.valueSchema).schema
        : schema;
  if (!(inner instanceof z.ZodObject)) return [];
  return Object.entries(inner.shape as Record<string, z.ZodTypeAny>).flatMap(([name, child]) => {
    const u = unwrap(child);
    const options = u.schema instanceof z.ZodEnum ? (u.schema.options as string[]) : [];
    return [{ name, default: u.default, options }, ...fieldsOf(child)];
  });
}

/** A default as the docs write it: `[0.0.0.0/0]`, `{}`, `[{name: app, role: app}]`. */
function render(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(render).join(", ")}]`;
  if (v !== null && typeof v === "object")
    return `{${Object.entries(v)
      .map(([k, x]) => `${k}: ${render(x)}`)
      .join(", ")}}`;
  return String(v);
}

const shape = configSchema.shape as Record<string, z.ZodTypeAny>;
const SECRET_KEYS = Object.keys(SECRET_CONFIG_KEYS);
const ALL_KEYS = [...CONFIG_KEYS, ...SECRET_KEYS];

const project = parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as {
  config: Record<string, { description?: string; secret?: boolean }>;
};

/** README configuration table: key → [what, default] cells. */
function readmeRows(): Map<string, [string, string]> {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const section = readme.split("## Configuration")[1]?.split("\n## ")[0] ?? "";
  const rows = new Map<string, [string, string]>();
  for (const line of section.split("\n")) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    const m = /^`(\w+)`/.exec(cells[1] ?? "");
    if (m) rows.set(m[1]!, [cells[2] ?? "", cells[3] ?? ""]);
  }
  return rows;
}

describe("Pulumi.yaml declares the schema's keys", () => {
  it("every key, and no other, under the project namespace", () => {
    assert.deepEqual(Object.keys(project.config).sort(), ALL_KEYS.map((k) => `${NAMESPACE}:${k}`).sort());
  });

  it("secret keys and only those are `secret: true`", () => {
    const secret = Object.entries(project.config)
      .filter(([, d]) => d.secret === true)
      .map(([k]) => k)
      .sort();
    assert.deepEqual(secret, SECRET_KEYS.map((k) => `${NAMESPACE}:${k}`).sort());
  });

  for (const key of CONFIG_KEYS) {
    it(`${key}: every default written as field=value, and only schema defaults`, () => {
      const description = project.config[`${NAMESPACE}:${key}`]?.description ?? "";
      const fields = fieldsOf(shape[key]!);
      for (const f of fields) {
        assert.ok(new RegExp(`\\b${f.name}\\b`).test(description), `${key}: Pulumi.yaml names ${f.name}`);
        if (f.default)
          assert.ok(
            description.includes(`${f.name}=${render(f.default.value)}`),
            `${key}: Pulumi.yaml writes ${f.name}=${render(f.default.value)} (got "${description}")`,
          );
      }
      for (const [, name] of description.matchAll(/(\w+)=/g)) {
        assert.ok(
          fields.some((f) => f.name === name && f.default),
          `${key}: Pulumi.yaml documents a default for ${name}, which the schema does not have`,
        );
      }
    });
  }
});

describe("README's configuration table follows the schema", () => {
  const rows = readmeRows();

  it("one row per key", () => {
    assert.deepEqual([...rows.keys()].sort(), [...ALL_KEYS].sort());
  });

  for (const key of CONFIG_KEYS) {
    it(`${key}: lists every field and every default, and no unknown field`, () => {
      const [what, defaults] = rows.get(key) ?? ["", ""];
      const fields = fieldsOf(shape[key]!);
      const words = new Set(fields.flatMap((f) => [f.name, ...f.options]));
      for (const f of fields) {
        assert.ok(new RegExp(`\\b${f.name}\\b`).test(what), `${key}: README lists ${f.name}`);
        if (f.default)
          assert.ok(
            defaults.includes(`\`${render(f.default.value)}\``),
            `${key}: README's default column has \`${render(f.default.value)}\` for ${f.name} (got "${defaults}")`,
          );
      }
      const listed = /^`([[{].*?[\]}])`/.exec(what)?.[1] ?? "";
      // Upper-case words are placeholders (`{NAME: …}`).
      for (const [word] of listed.matchAll(/[A-Za-z][\w-]*/g))
        if (!/^[A-Z_]+$/.test(word))
          assert.ok(words.has(word), `${key}: README lists ${word}, which the schema does not have`);
    });
  }
});
