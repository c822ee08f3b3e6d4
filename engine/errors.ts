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
  | "header_missing"; // csv rows with no header known

/** Where a bad message came from. Every field that is known is set. */
export interface InputLocation {
  topic?: string;
  partition?: number;
  offset?: string;
  /** For local runs: the file and line. */
  source?: string;
  line?: number;
}

/** One problem with one piece of input. */
export interface InputIssue {
  code: IssueCode;
  reason: string;
  location: InputLocation;
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
  readonly issues: readonly InputIssue[];
  constructor(issues: readonly InputIssue[]) {
    super(issues.map(formatIssue).join("; "));
    this.name = "BadInputError";
    this.issues = issues;
  }
}
