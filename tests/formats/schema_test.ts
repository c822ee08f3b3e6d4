import assert from "node:assert/strict";
import {
  compileSchema,
  ConversionError,
  convertRow,
  parseSchemaText,
  type RowOfSchema,
} from "../../formats/schema.ts";
import * as rw from "../../mod.ts";

const columns = compileSchema({
  i: "int",
  f: "float",
  b: "bool?",
  s: "str",
  t: "timestamp",
  j: "json",
  d: { type: "int", default: "5" },
});

function failure(row: rw.Row): ConversionError {
  try {
    convertRow(columns, row);
  } catch (error) {
    if (error instanceof ConversionError) return error;
    throw error;
  }
  throw new Error(`converted ${JSON.stringify(row)}`);
}

const good = { i: "1", f: "1", s: "x", t: "0", j: "{}" };

Deno.test("csv text converts to each type; a default is converted like a value", () => {
  assert.deepEqual(
    convertRow(columns, { i: " -12 ", f: "2.5e1", b: "", s: " x ", t: "2026-01-02", j: '{"a":1}' }),
    {
      i: -12,
      f: 25,
      b: null,
      s: " x ",
      t: new Date("2026-01-02"),
      j: { a: 1 },
      d: 5,
    },
  );
});

Deno.test("a value that does not convert names its column and value, never NaN", () => {
  for (
    const [row, column, value] of [
      [{ ...good, i: "value" }, "i", '"value"'],
      [{ ...good, i: "1.5" }, "i", '"1.5"'],
      [{ ...good, i: "99999999999999999999" }, "i", '"99999999999999999999"'],
      [{ ...good, f: "NaN" }, "f", '"NaN"'],
      [{ ...good, f: "1e400" }, "f", '"1e400"'],
      [{ ...good, b: "maybe" }, "b", '"maybe"'],
      [{ ...good, t: "yesterday" }, "t", '"yesterday"'],
      [{ ...good, j: "{bad" }, "j", '"{bad"'],
      [{ ...good, s: 3 }, "s", "3"],
    ] as const
  ) {
    const error = failure(row);
    assert.equal(error.column, column);
    assert.ok(error.message.includes(`value ${value} of column "${column}"`), error.message);
  }
});

Deno.test("a required column that is missing, null or empty is bad input; an optional one is null", () => {
  assert.match(failure({ f: "1", s: "x", t: "0", j: "{}" }).message, /column "i" is missing/);
  assert.match(failure({ ...good, i: null }).message, /column "i" is null, but its type int/);
  assert.match(failure({ ...good, i: "" }).message, /"" of column "i" is not an int/);
  assert.equal(convertRow(columns, { ...good, b: null }).b, null);
});

Deno.test("the command line's schema text: column:type pairs, ? for optional", () => {
  assert.deepEqual(parseSchemaText("value:int, name:str?"), { value: "int", name: "str?" });
  assert.throws(() => parseSchemaText("value"), /is not "column:type"/);
  assert.throws(
    () => parseSchemaText("value:integer"),
    /unknown type "integer": did you mean "int"\? expected one of int, float/,
  );
  assert.throws(() => parseSchemaText("value:nt"), /did you mean "int"\?/);
  assert.throws(() => parseSchemaText("value:Json"), /did you mean "json"\?/);
  assert.throws(() => parseSchemaText("value:xyzzy"), /unknown type "xyzzy": expected one of/);
  assert.throws(() => parseSchemaText("a:int,a:str"), /names column "a" twice/);
  assert.throws(
    () => compileSchema({ n: { type: "int", default: "x" } }),
    /default of schema column "n" does not fit its type int: value "x"/,
  );
});

Deno.test("a source's schema types the transform's input", () => {
  const pipeline = new rw.Pipeline();
  const table = rw.io.read("-", {
    format: "csv",
    schema: { value: "int", name: "str?", at: { type: "timestamp", default: 0 } },
    pipeline,
  });
  // Compile-time checks: a wrong column type here fails `deno check`.
  const typed: rw.Table<{ value: number; name: string | null; at: Date }> = table;
  // @ts-expect-error: the schema makes value a number, not a string
  const _wrong: rw.Table<{ value: string; name: string | null; at: Date }> = table;
  const sum = typed.reduce({ sum: rw.reducers.sum("value") });
  assert.ok(sum instanceof rw.Table);
  type Row = RowOfSchema<{ readonly b: "bool?"; readonly j: "json" }>;
  const row: Row = { b: null, j: { any: ["json"] } };
  assert.equal(row.b, null);
});
