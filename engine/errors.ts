/**
 * Bad input as structured data. An error carries issues (code, where, reason,
 * input); formatting them is separate from raising them, as in zod.
 *
 * @module
 */

import type { Row } from "./types.ts";

/** What kind of bad input an issue describes. */
export type IssueCode =
  | "malformed" // the message cannot be parsed (csv, json)
  | "missing_column" // a value column the message lacks
  | "invalid_utf8" // text expected, bytes are not UTF-8
  | "too_large" // a message over the configured limit
  | "user_function" // a user function threw on a row
  | "header_missing" // csv rows with no header known
  | "invalid_value" // a value that does not convert to its column's type (schema)
  | "missing_key"; // a message without the key it needs (keyAsRowId, keyColumns)

/** Where a bad message came from. Every field that is known is set. */
export interface InputLocation {
  /** The Kafka topic. */
  topic?: string;
  /** The partition of the topic. */
  partition?: number;
  /** The message's offset, as a decimal string. */
  offset?: string;
  /** For local runs: the file and line. */
  source?: string;
  /** For local runs: the line in `source`. */
  line?: number;
}

/** One problem with one piece of input. */
export interface InputIssue {
  /** What kind of problem. */
  code: IssueCode;
  /** The problem, in a sentence fragment for `formatIssue`. */
  reason: string;
  /** Where the input came from. */
  location: InputLocation;
  /** The column concerned, if one is. */
  column?: string;
  /** The operation that failed, for user functions ("select", "filter", ...). */
  operation?: string;
  /** The row a user function failed on. */
  row?: Row;
  /** The original message bytes, for a dead-letter topic. */
  input?: Uint8Array;
}

/** Formats an input location as `topic-partition@offset` or `file:line`. */
export function formatLocation(location: InputLocation): string {
  if (location.topic !== undefined) {
    const partition = location.partition ?? "?";
    const offset = location.offset ?? "?";
    return `${location.topic}-${partition}@${offset}`;
  }
  if (location.source !== undefined) {
    return location.line === undefined ? location.source : `${location.source}:${location.line}`;
  }
  return "unknown input";
}

/** Formats one issue as a sentence: `Cannot parse row at sum-0@17: column "value" is missing`. */
export function formatIssue(issue: InputIssue): string {
  const where = formatLocation(issue.location);
  const column = issue.column === undefined ? "" : ` (column ${JSON.stringify(issue.column)})`;
  const operation = issue.operation === undefined ? "" : ` in ${issue.operation}`;
  return `Bad input at ${where}${operation}${column}: ${issue.reason}`;
}

/** Raised for bad input; carries the structured issues. */
export class BadInputError extends Error {
  /** The problems, as data. */
  readonly issues: readonly InputIssue[];
  /** Makes the error; the message formats every issue. */
  constructor(issues: readonly InputIssue[]) {
    super(issues.map(formatIssue).join("; "));
    this.name = "BadInputError";
    this.issues = issues;
  }
}

/** Options of a {@linkcode UserFunctionError}. */
export interface UserFunctionErrorOptions {
  /** The operation whose function threw: "select", "withColumns", "filter", "join", "reduce". */
  operation: string;
  /** The id of the row the function ran on (for a join, the output row's id). */
  id: string;
  /** The row the function ran on (for a join, the left row, or the right one when left is missing). */
  row: Row;
  /** What the function threw. */
  cause: unknown;
}

/**
 * A user function (a select/withColumns/filter/join function, or a reducer
 * given a value it cannot reduce) threw on a row. The engine hands it to
 * `GraphOptions.onError`; the connectors turn it into bad input of the message
 * the row came from with {@linkcode UserFunctionError.toIssue}.
 */
export class UserFunctionError extends Error {
  /** The operation whose function threw. */
  readonly operation: string;
  /** The id of the row it threw on. */
  readonly id: string;
  /** The row it threw on. */
  readonly row: Row;
  /** What the function threw. */
  override readonly cause: unknown;
  /** Makes the error; the message names the operation, the row id and the cause. */
  constructor(options: UserFunctionErrorOptions) {
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(`User function in ${options.operation} failed on row ${options.id}: ${reason}`);
    this.name = "UserFunctionError";
    this.operation = options.operation;
    this.id = options.id;
    this.row = options.row;
    this.cause = options.cause;
  }

  /** This error as an input issue at `location` (where the row's message came from). */
  toIssue(location: InputLocation): InputIssue {
    const reason = this.cause instanceof Error ? this.cause.message : String(this.cause);
    return {
      code: "user_function",
      reason: `user function threw: ${reason}`,
      location,
      operation: this.operation,
      row: this.row,
    };
  }
}
