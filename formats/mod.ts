/**
 * Formats turn Kafka message values into rows. This module is their entry:
 * the built-in formats, {@linkcode loadFormat} for a format by name or from a
 * user's file, and {@linkcode encodeChange}, the sink's JSON encoding.
 *
 * A user format is a module whose default export (or `format` export) is a
 * {@linkcode Format}. It should import nothing from rivulet but types
 * (`import type`), so that it also runs from the compiled binary; bad input is
 * reported by throwing an `Error` with a `code` ("malformed",
 * "missing_column", "invalid_utf8", "header_missing"), see
 * `examples/formats/kv.ts`.
 *
 * @example
 * ```ts
 * import { loadFormat } from "./mod.ts";
 * const csv = await loadFormat("csv");
 * const decoder = csv.open("connector_example", { valueColumns: ["value"], header: ["value"] });
 * decoder.decode(new TextEncoder().encode("17"), {
 *   topic: "connector_example",
 *   partition: 0,
 *   offset: "5",
 * }); // { kind: "rows", rows: [{ value: "17" }] }
 * ```
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { checkedFormat, missingMembers } from "./_checked_format.ts";
import { csv } from "./csv.ts";
import type { Format } from "./format.ts";
import { json } from "./json.ts";
import { plaintext } from "./plaintext.ts";
import { raw } from "./raw.ts";

export * from "./format.ts";
export { csv } from "./csv.ts";
export type { CsvState } from "./csv.ts";
export { json } from "./json.ts";
export { raw } from "./raw.ts";
export { plaintext } from "./plaintext.ts";
export * from "./schema.ts";
export { encodeChange } from "./encode_json.ts";

/** The formats rivulet ships, by name. */
export const builtinFormats: Readonly<Record<string, Format>> = Object.freeze({
  raw,
  plaintext,
  csv,
  json,
});

/** Options of {@linkcode loadFormat}. */
export interface LoadFormatOptions {
  /** The directory a relative path is resolved against (default: `Deno.cwd()`). */
  readonly cwd?: string;
}

// What makes an argument a path rather than a misspelt built-in name.
const MODULE_EXTENSION = /\.(ts|mts|tsx|js|mjs|jsx)$/;

/**
 * Returns the format named `nameOrPath`: a built-in (`raw`, `plaintext`, `csv`, `json`), or
 * the format exported by the module at that path (absolute, or relative to
 * `cwd`; a `file:` URL works too). The module's default export is taken, else
 * its `format` export; it must have a `name` string and an `open` function,
 * and every decoder it opens is checked to have `decode` and `save`. Errors
 * name the file and what is missing.
 *
 * @example
 * ```ts ignore
 * import { loadFormat } from "./mod.ts";
 * const kv = await loadFormat("./examples/formats/kv.ts");
 * ```
 */
export async function loadFormat(
  nameOrPath: string,
  options: LoadFormatOptions = {},
): Promise<Format> {
  const builtin = Object.hasOwn(builtinFormats, nameOrPath)
    ? builtinFormats[nameOrPath]
    : undefined;
  if (builtin !== undefined) return builtin;
  const isPath = nameOrPath.startsWith("file:") || nameOrPath.includes("/") ||
    nameOrPath.includes("\\") || MODULE_EXTENSION.test(nameOrPath);
  if (!isPath) {
    throw new Error(
      `Unknown format ${JSON.stringify(nameOrPath)}: expected one of ${
        Object.keys(builtinFormats).join(", ")
      }, or the path of a format module (e.g. ./my_format.ts)`,
    );
  }
  const url = nameOrPath.startsWith("file:") ? new URL(nameOrPath) : pathToFileURL(
    isAbsolute(nameOrPath) ? nameOrPath : resolve(options.cwd ?? Deno.cwd(), nameOrPath),
  );
  const file = fileURLToPath(url);
  await checkIsFile(nameOrPath, file, url);
  let module: Record<string, unknown>;
  try {
    module = await import(url.href);
  } catch (error) {
    throw new Error(
      `Cannot load format module ${JSON.stringify(nameOrPath)} (${file}): ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  }
  const exported = module.default ?? module.format;
  if (exported === undefined) {
    throw new Error(
      `Format module ${JSON.stringify(nameOrPath)} (${file}) exports no format: ` +
        `export it as "export default" or "export const format"`,
    );
  }
  const missing = [];
  if (typeof (exported as { name?: unknown } | null)?.name !== "string") {
    missing.push("a name string");
  }
  if (missingMembers(exported, ["open"]).length > 0) missing.push("an open() function");
  if (missing.length > 0) {
    throw new Error(
      `Format module ${JSON.stringify(nameOrPath)} (${file}) does not implement the ` +
        `format interface: its export lacks ${missing.join(" and ")}`,
    );
  }
  return checkedFormat(exported as Format, file);
}

async function checkIsFile(nameOrPath: string, file: string, url: URL): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(url);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`Format module ${JSON.stringify(nameOrPath)} not found (looked at ${file})`);
    }
    throw new Error(
      `Cannot read format module ${JSON.stringify(nameOrPath)} (${file}): ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  if (!info.isFile) {
    throw new Error(`Format module ${JSON.stringify(nameOrPath)} (${file}) is not a file`);
  }
}
