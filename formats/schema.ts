/**
 * Typed schemas: each column a type (`int`, `float`, `bool`, `str`, `bytes`,
 * `json`, `timestamp`), optional or with a default. A format decodes a
 * message into rows of whatever its values are (csv: text, json: JSON
 * values); a schema converts each column to its type when the row is read,
 * and a value that does not convert is bad input naming the column and the
 * value. Never NaN, never a silent string.
 *
 * The TypeScript types follow the schema: `RowOfSchema<typeof schema>` is
 * the row a source with that schema yields, so a transform's input is typed.
 *
 * @module
 */

import type { Row, Value } from "../engine/types.ts";

/** The column types a schema can give. */
export type ColumnTypeName = "int" | "float" | "bool" | "str" | "bytes" | "json" | "timestamp";

/** Every {@linkcode ColumnTypeName}, for checks at run time. */
export const columnTypeNames: readonly ColumnTypeName[] = [
  "int",
  "float",
  "bool",
  "str",
  "bytes",
  "json",
  "timestamp",
];

/** One column of a schema written out: its type, whether it may be absent, its default. */
export interface ColumnSchema {
  readonly type: ColumnTypeName;
  /** An absent or null value (or an empty csv field) becomes null instead of bad input. */
  readonly optional?: boolean;
  /** What an absent or null value becomes (implies optional). Converted like any value. */
  readonly default?: Value;
}

/**
 * A schema: column name to its type. `"int"` is required, `"int?"` optional
 * (null when absent), `{ type: "int", default: 0 }` defaults.
 *
 * @example
 * ```ts
 * import type { Schema } from "./schema.ts";
 * const schema = { value: "int", name: "str?", score: { type: "float", default: 0 } } as const satisfies Schema;
 * ```
 */
export type Schema = Readonly<
  Record<string, ColumnTypeName | `${ColumnTypeName}?` | ColumnSchema>
>;

/** The TypeScript type of a column type. */
export type TypeOfColumn<T extends ColumnTypeName> = T extends "int" | "float" ? number
  : T extends "bool" ? boolean
  : T extends "str" ? string
  : T extends "bytes" ? Uint8Array
  : T extends "timestamp" ? Date
  : Value;

/** The TypeScript type of one schema entry. */
export type TypeOfEntry<E> = E extends `${infer T extends ColumnTypeName}?` ? TypeOfColumn<T> | null
  : E extends ColumnTypeName ? TypeOfColumn<E>
  : E extends { readonly type: infer T extends ColumnTypeName; readonly default: infer D }
    ? TypeOfColumn<T> | (D extends null ? null : never)
  : E extends { readonly type: infer T extends ColumnTypeName; readonly optional: true }
    ? TypeOfColumn<T> | null
  : E extends { readonly type: infer T extends ColumnTypeName } ? TypeOfColumn<T>
  : never;

/** The row a source with schema `S` yields. */
export type RowOfSchema<S> = { -readonly [K in keyof S & string]: TypeOfEntry<S[K]> };

/** A schema checked and written out, column by column, in the schema's order. */
export interface CompiledColumn {
  readonly name: string;
  readonly type: ColumnTypeName;
  readonly optional: boolean;
  /** The converted default, when there is one. */
  readonly default?: Value;
  /**
   * json columns: whether text is JSON to parse (csv, plaintext: every value
   * is text) or already a value (the json format: a string stays a string).
   */
  readonly parseJsonText: boolean;
}

/** Options of {@linkcode compileSchema}. */
export interface CompileSchemaOptions {
  /** The format gives JSON values (the json format): a json column's string stays a string. */
  readonly valuesAreJson?: boolean;
}

/** A column value that does not convert to its type. */
export class ConversionError extends Error {
  readonly column: string;
  constructor(column: string, reason: string) {
    super(reason);
    this.name = "ConversionError";
    this.column = column;
  }
}

/**
 * Checks a schema and writes it out; a mistake (an unknown type, a default
 * of the wrong type) throws an Error naming the column.
 */
export function compileSchema(
  schema: Schema,
  options: CompileSchemaOptions = {},
): CompiledColumn[] {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw new Error(`A schema must be an object of column name to type, e.g. { value: "int" }`);
  }
  const columns: CompiledColumn[] = [];
  for (const [name, entry] of Object.entries(schema)) {
    if (name === "__proto__") throw new Error(`Schema column name "__proto__" is not allowed`);
    let type: string;
    let optional = false;
    let fallback: Value | undefined;
    let hasDefault = false;
    if (typeof entry === "string") {
      optional = entry.endsWith("?");
      type = optional ? entry.slice(0, -1) : entry;
    } else if (typeof entry === "object" && entry !== null && !Array.isArray(entry)) {
      const known = new Set(["type", "optional", "default"]);
      const stray = Object.keys(entry).find((key) => !known.has(key));
      if (stray !== undefined) {
        throw new Error(
          `Schema column ${JSON.stringify(name)} has an unknown key ${JSON.stringify(stray)} ` +
            `(expected type, optional, default)`,
        );
      }
      type = String(entry.type);
      if (entry.optional !== undefined && typeof entry.optional !== "boolean") {
        throw new Error(`Schema column ${JSON.stringify(name)}: "optional" must be true or false`);
      }
      optional = entry.optional === true;
      hasDefault = Object.hasOwn(entry, "default");
      fallback = entry.default;
    } else {
      throw new Error(
        `Schema column ${JSON.stringify(name)} must be a type name or { type, optional, default }`,
      );
    }
    if (!(columnTypeNames as readonly string[]).includes(type)) {
      const suggestion = likelyType(type);
      throw new Error(
        `Schema column ${JSON.stringify(name)} has unknown type ${JSON.stringify(type)}: ` +
          (suggestion === undefined ? "" : `did you mean ${JSON.stringify(suggestion)}? `) +
          `expected one of ${columnTypeNames.join(", ")} (with ? when optional)`,
      );
    }
    const column: CompiledColumn = {
      name,
      type: type as ColumnTypeName,
      optional: optional || hasDefault,
      parseJsonText: options.valuesAreJson !== true,
    };
    if (hasDefault && fallback !== null && fallback !== undefined) {
      try {
        (column as { default?: Value }).default = convertValue(column, fallback);
      } catch (error) {
        throw new Error(
          `The default of schema column ${JSON.stringify(name)} does not fit its type ${type}: ${
            (error as Error).message
          }`,
        );
      }
    }
    columns.push(column);
  }
  if (columns.length === 0) throw new Error("A schema must name at least one column");
  return columns;
}

// Other spellings users bring from Python, SQL or Pathway.
const typeAliases: Readonly<Record<string, ColumnTypeName>> = {
  integer: "int",
  long: "int",
  bigint: "int",
  double: "float",
  number: "float",
  boolean: "bool",
  string: "str",
  text: "str",
  bytea: "bytes",
  datetime: "timestamp",
  datetimeutc: "timestamp",
  date: "timestamp",
};

/** The type a misspelt or foreign type name most likely means. */
function likelyType(type: string): ColumnTypeName | undefined {
  const lower = type.toLowerCase();
  if (Object.hasOwn(typeAliases, lower)) return typeAliases[lower];
  if ((columnTypeNames as readonly string[]).includes(lower)) return lower as ColumnTypeName;
  return columnTypeNames.find((name) => editDistance(name, lower) === 1);
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * Parses the command line's schema, `value:int,name:str?`: comma-separated
 * `column:type` pairs, `?` after an optional column's type.
 */
export function parseSchemaText(text: string): Schema {
  const schema: Record<string, string> = {};
  for (const part of text.split(",")) {
    const item = part.trim();
    if (item === "") continue;
    const colon = item.lastIndexOf(":");
    if (colon <= 0 || colon === item.length - 1) {
      throw new Error(
        `Schema entry ${JSON.stringify(item)} is not "column:type" (e.g. value:int,name:str?)`,
      );
    }
    const name = item.slice(0, colon).trim();
    if (Object.hasOwn(schema, name)) {
      throw new Error(`Schema names column ${JSON.stringify(name)} twice`);
    }
    schema[name] = item.slice(colon + 1).trim();
  }
  compileSchema(schema as Schema);
  return schema as Schema;
}

/**
 * Converts the columns of a decoded row to their types; returns a new row
 * with exactly the schema's columns. Throws {@linkcode ConversionError}
 * naming the column and the value.
 */
export function convertRow(columns: readonly CompiledColumn[], row: Row): Row {
  const out: Row = {};
  for (let i = 0; i < columns.length; i++) {
    const column = columns[i];
    const value = row[column.name];
    if (value === undefined || value === null || (value === "" && isEmptyNull(column))) {
      if (column.default !== undefined) {
        out[column.name] = column.default;
      } else if (column.optional) {
        out[column.name] = null;
      } else {
        throw new ConversionError(
          column.name,
          value === undefined
            ? `column ${
              JSON.stringify(column.name)
            } is missing (its type ${column.type} is required)`
            : `column ${JSON.stringify(column.name)} is ${
              value === null ? "null" : "empty"
            }, but its type ${column.type} is required (write ${column.type}? to allow it)`,
        );
      }
      continue;
    }
    out[column.name] = convertValue(column, value);
  }
  return out;
}

/** Empty text is "no value" for an optional column of any type but str (and csv gives "" for an empty field). */
function isEmptyNull(column: CompiledColumn): boolean {
  return column.optional && column.type !== "str";
}

const INT_TEXT = /^[+-]?\d+$/;
const FLOAT_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Converts one value to a column's type, or throws {@linkcode ConversionError}. */
export function convertValue(
  column: Pick<CompiledColumn, "name" | "type" | "parseJsonText">,
  value: Value,
): Value {
  const fail = (why: string): never => {
    throw new ConversionError(
      column.name,
      `value ${describe(value)} of column ${JSON.stringify(column.name)} is not ${
        article(column.type)
      }${why === "" ? "" : `: ${why}`}`,
    );
  };
  switch (column.type) {
    case "int": {
      if (typeof value === "number") {
        return Number.isSafeInteger(value) ? value : fail("not a whole number in ±2^53");
      }
      if (typeof value === "bigint") {
        return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(value)
          : fail("outside ±2^53");
      }
      if (typeof value === "string") {
        const text = value.trim();
        if (!INT_TEXT.test(text)) return fail("");
        const number = Number(text);
        return Number.isSafeInteger(number) ? number : fail("outside ±2^53");
      }
      return fail("");
    }
    case "float": {
      if (typeof value === "number") return Number.isFinite(value) ? value : fail("not finite");
      if (typeof value === "bigint") return Number(value);
      if (typeof value === "string") {
        const text = value.trim();
        if (!FLOAT_TEXT.test(text)) return fail("");
        const number = Number(text);
        return Number.isFinite(number) ? number : fail("not finite");
      }
      return fail("");
    }
    case "bool": {
      if (typeof value === "boolean") return value;
      if (typeof value === "string") {
        const text = value.trim().toLowerCase();
        if (text === "true" || text === "1" || text === "yes" || text === "on") return true;
        if (text === "false" || text === "0" || text === "no" || text === "off") return false;
        return fail("expected true or false");
      }
      if (value === 1) return true;
      if (value === 0) return false;
      return fail("");
    }
    case "str": {
      if (typeof value === "string") return value;
      if (value instanceof Uint8Array) {
        try {
          return decoder.decode(value);
        } catch {
          return fail("not valid UTF-8");
        }
      }
      return fail("");
    }
    case "bytes": {
      if (value instanceof Uint8Array) return value;
      if (typeof value === "string") return encoder.encode(value);
      return fail("");
    }
    case "json": {
      if (typeof value !== "string" || !column.parseJsonText) return value;
      // Text (a csv field, a plaintext message) holds JSON to parse.
      try {
        return JSON.parse(value) as Value;
      } catch (error) {
        return fail((error as Error).message);
      }
    }
    case "timestamp": {
      if (value instanceof Date) return value;
      let date: Date | undefined;
      if (typeof value === "number") date = new Date(value);
      else if (typeof value === "string") {
        const text = value.trim();
        date = INT_TEXT.test(text) ? new Date(Number(text)) : parseIsoTimestamp(text);
      }
      if (date === undefined || Number.isNaN(date.getTime())) {
        return fail("expected milliseconds since the epoch or an ISO 8601 date-time");
      }
      return date;
    }
  }
}

const ISO_TIMESTAMP =
  /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

function parseIsoTimestamp(text: string): Date | undefined {
  if (!ISO_TIMESTAMP.test(text)) return undefined;
  return new Date(text.replace(" ", "T"));
}

function article(type: ColumnTypeName): string {
  return type === "int" ? "an int" : `a ${type}`;
}

function describe(value: Value): string {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (value instanceof Date) return value.toISOString();
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
