/**
 * Wraps a format loaded from a user's file so that its mistakes surface as
 * clear errors naming the file, and its bad-input errors as FormatErrors the
 * runtime recognises.
 *
 * @module
 */

import type { Row } from "../engine/types.ts";
import {
  type Decoder,
  type DecodeResult,
  type Format,
  FormatError,
  type FormatOptions,
  isFormatError,
  type MessageInfo,
} from "./format.ts";

/**
 * Returns `format` with every decoder it opens checked: `open` must return
 * `decode` and `save` functions, `decode` must return rows or wait. An error
 * the format throws while decoding is bad input of that message: one with a
 * known `code` keeps it, any other becomes `malformed` (a format that throws
 * on a message is like a user function that throws on a row: not a crash).
 *
 * @example
 * ```ts ignore
 * const checked = checkedFormat(userFormat, "/home/me/kv.ts");
 * ```
 */
export function checkedFormat(format: Format, file: string): Format {
  const where = `format ${JSON.stringify(format.name)} (${file})`;
  return {
    name: format.name,
    open(topic: string, options: FormatOptions, saved?: unknown): Decoder {
      const decoder: unknown = format.open(topic, options, saved);
      const missing = missingMembers(decoder, ["decode", "save"]);
      if (missing.length > 0) {
        throw new Error(
          `The ${where} does not implement the format interface: open() returned ` +
            `a decoder without ${missing.map((name) => `${name}()`).join(" and ")}`,
        );
      }
      return new CheckedDecoder(decoder as Decoder, where);
    },
  };
}

class CheckedDecoder implements Decoder {
  readonly #decoder: Decoder;
  readonly #where: string;

  constructor(decoder: Decoder, where: string) {
    this.#decoder = decoder;
    this.#where = where;
  }

  decode(value: Uint8Array, message: MessageInfo): DecodeResult {
    let result: DecodeResult;
    try {
      result = this.#decoder.decode(value, message);
    } catch (error) {
      throw asFormatError(error, this.#where);
    }
    checkResult(result, this.#where);
    return result;
  }

  save(): unknown {
    const state = this.#decoder.save();
    if (state === undefined) return null;
    try {
      JSON.stringify(state);
    } catch (error) {
      throw new Error(
        `The ${this.#where} saved state that is not JSON: ${(error as Error).message}`,
      );
    }
    return state;
  }
}

function asFormatError(error: unknown, where: string): FormatError {
  if (error instanceof FormatError) return error;
  if (isFormatError(error)) {
    const column = typeof error.column === "string" ? error.column : undefined;
    return new FormatError(error.code, error.message, { column, cause: error });
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new FormatError("malformed", `The ${where} failed on the message: ${reason}`, {
    cause: error,
  });
}

function checkResult(result: unknown, where: string): void {
  const kind = (result as { kind?: unknown } | null)?.kind;
  if (kind === "wait") return;
  if (kind === "rows") {
    const rows = (result as { rows?: unknown }).rows;
    if (Array.isArray(rows) && rows.every(isRow)) return;
  }
  throw new Error(
    `The ${where} returned ${
      JSON.stringify(result)?.slice(0, 200)
    } from decode(): expected { kind: "rows", rows: [objects] } or { kind: "wait" }`,
  );
}

function isRow(row: unknown): row is Row {
  return typeof row === "object" && row !== null && !Array.isArray(row);
}

/** The names among `members` that `value` lacks as functions. */
export function missingMembers(value: unknown, members: readonly string[]): string[] {
  if (typeof value !== "object" || value === null) return [...members];
  const record = value as Record<string, unknown>;
  return members.filter((name) => typeof record[name] !== "function");
}
