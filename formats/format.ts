/**
 * The format interface. A format turns a message value into rows. Built-in
 * formats (raw, csv, json) and user formats loaded from a file implement the
 * same interface and pass the same contract tests.
 *
 * @module
 */

import type { Row } from "../engine/types.ts";

/** What a format knows of the message it decodes. */
export interface MessageInfo {
  readonly topic: string;
  readonly partition: number;
  /** The Kafka offset as a decimal string (offsets exceed 2^53 in theory). */
  readonly offset: string;
  /** The message key (`null`: none); formats that read the key (raw, plaintext) use it. */
  readonly key?: Uint8Array | null;
}

/** Options a format is opened with. */
export interface FormatOptions {
  /** The columns the table gets (csv and json). A column a message lacks is bad input. */
  readonly valueColumns?: readonly string[];
  /**
   * csv only: column names given up front. When set no header message is
   * expected and the first message is a row.
   */
  readonly header?: readonly string[];
  /**
   * json only: a JSON Pointer (RFC 6901) per column, for nested values
   * (`{ city: "/address/city" }`). A column without one is the top-level field
   * of its name. A pointer whose target the message lacks is `missing_column`.
   */
  readonly fieldPaths?: Readonly<Record<string, string>>;
  /**
   * json only: value columns a message may lack (optional in the schema):
   * a row then has no such column rather than the message being bad input.
   */
  readonly optionalColumns?: readonly string[];
}

/** The result of decoding one message. */
export type DecodeResult =
  /** Rows to add, restricted to the value columns. May be empty. */
  | { readonly kind: "rows"; readonly rows: readonly Row[] }
  /** The message cannot be decoded yet (csv row before its header); offer it again later. */
  | { readonly kind: "wait" };

/**
 * Decodes the messages of one topic. Holds per-topic state (a csv header),
 * which it can save as JSON and be reopened with.
 */
export interface Decoder {
  /**
   * Decodes one message value. Throws {@linkcode FormatError} for bad input.
   * A message without a value (a Kafka tombstone) is passed as empty bytes.
   * Messages of one partition are offered in offset order; a message answered
   * with `wait` is offered again, in order, before any later one of its partition.
   */
  decode(value: Uint8Array, message: MessageInfo): DecodeResult;
  /**
   * Optional fast path of {@linkcode decode} for the common message that
   * holds exactly one row: that row, or `undefined` when the decoder cannot
   * tell cheaply (then the caller calls `decode` with the same arguments,
   * which gives the full answer). Must agree with `decode` wherever it
   * answers: same row, same errors. It saves the result object and the
   * arrays `decode` makes for every message.
   */
  decodeRow?(value: Uint8Array, message: MessageInfo): Row | undefined;
  /** Durable state as a JSON value (`null` when there is none). */
  save(): unknown;
}

/** A format: a name and a way to open a decoder per topic. */
export interface Format {
  readonly name: string;
  /** Opens a decoder for one topic, restoring `saved` state if given. */
  open(topic: string, options: FormatOptions, saved?: unknown): Decoder;
}

/** The kinds of bad input a format reports. */
export type FormatErrorCode = "malformed" | "missing_column" | "invalid_utf8" | "header_missing";

/** Every {@linkcode FormatErrorCode}, for checks at run time. */
export const formatErrorCodes: readonly FormatErrorCode[] = [
  "malformed",
  "missing_column",
  "invalid_utf8",
  "header_missing",
];

/**
 * Bad input found by a format. The caller adds where the message came from.
 *
 * A user format cannot import this class (it must also run from the compiled
 * binary, which has no rivulet on disk to import), so any `Error` with a
 * `code` from {@linkcode formatErrorCodes} counts as one: see
 * {@linkcode isFormatError}. `loadFormat` turns such errors into instances of
 * this class.
 *
 * @example
 * ```ts
 * import { FormatError } from "./format.ts";
 * const error = new FormatError("missing_column", 'The message has no column "value"', {
 *   column: "value",
 * });
 * error.code; // "missing_column"
 * ```
 */
export class FormatError extends Error {
  readonly code: FormatErrorCode;
  readonly column?: string;
  constructor(
    code: FormatError["code"],
    reason: string,
    options: { column?: string; cause?: unknown } = {},
  ) {
    super(reason, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "FormatError";
    this.code = code;
    if (options.column !== undefined) this.column = options.column;
  }
}

/**
 * Whether `error` reports bad input: a {@linkcode FormatError}, or any `Error`
 * carrying a `code` from {@linkcode formatErrorCodes} (what a user format
 * without imports throws: `Object.assign(new Error(reason), { code: "malformed" })`).
 *
 * @example
 * ```ts
 * import { isFormatError } from "./format.ts";
 * isFormatError(Object.assign(new Error("bad"), { code: "malformed" })); // true
 * isFormatError(new TypeError("a bug")); // false
 * ```
 */
export function isFormatError(
  error: unknown,
): error is Error & { readonly code: FormatErrorCode; readonly column?: string } {
  if (error instanceof FormatError) return true;
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && (formatErrorCodes as readonly string[]).includes(code);
}
