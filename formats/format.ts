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
   */
  decode(value: Uint8Array, message: MessageInfo): DecodeResult;
  /** Durable state as a JSON value (`null` when there is none). */
  save(): unknown;
}

/** A format: a name and a way to open a decoder per topic. */
export interface Format {
  readonly name: string;
  /** Opens a decoder for one topic, restoring `saved` state if given. */
  open(topic: string, options: FormatOptions, saved?: unknown): Decoder;
}

/** Bad input found by a format. The caller adds where the message came from. */
export class FormatError extends Error {
  readonly code: "malformed" | "missing_column" | "invalid_utf8" | "header_missing";
  readonly column?: string;
  constructor(
    code: FormatError["code"],
    reason: string,
    options: { column?: string } = {},
  ) {
    super(reason);
    this.name = "FormatError";
    this.code = code;
    if (options.column !== undefined) this.column = options.column;
  }
}
