/**
 * Parses the JSON of a file the user names (settings, config) without ever
 * repeating its text: the engine's own message quotes the text around the
 * fault (`..."assword": Kq72}}" is not valid JSON`), which may hold a
 * password. A fault is reported by line and column only.
 *
 * @module
 */

/** A JSON text that does not parse; the message gives line and column, never the text. */
export class JsonSyntaxError extends Error {
  /** 1-based line of the fault. */
  readonly line: number;
  /** 1-based column of the fault. */
  readonly column: number;
  /**
   * @param line 1-based line of the fault
   * @param column 1-based column of the fault
   * @param what what is wrong there, in words that never hold the text
   */
  constructor(line: number, column: number, what: string) {
    super(`${what} at line ${line}, column ${column}`);
    this.name = "JsonSyntaxError";
    this.line = line;
    this.column = column;
  }
}

/**
 * `JSON.parse`, but a syntax error is a {@linkcode JsonSyntaxError} naming the
 * line and column of the fault and nothing of the text.
 *
 * @example
 * ```ts
 * import { parseJsonText } from "./json_text.ts";
 * try {
 *   parseJsonText('{"sasl.password": hunter2}');
 * } catch (error) {
 *   console.log((error as Error).message); // "unexpected character at line 1, column 19"
 * }
 * ```
 */
export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const { offset, what } = locateJsonError(text);
    const before = text.slice(0, offset);
    const line = before.split("\n").length;
    const column = offset - (before.lastIndexOf("\n") + 1) + 1;
    throw new JsonSyntaxError(line, column, what);
  }
}

/** Where a text stops being JSON: a small scanner that follows the grammar until it fails. */
function locateJsonError(text: string): { offset: number; what: string } {
  let i = 0;
  const fail = (what: string): never => {
    throw { offset: Math.min(i, text.length), what };
  };
  const space = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const string = () => {
    i++; // the opening quote
    while (i < text.length) {
      const c = text[i];
      if (c === '"') {
        i++;
        return;
      }
      if (c === "\\") {
        i++;
        if (text[i] === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail("bad \\u escape");
          i += 5;
        } else if (i < text.length && '"\\/bfnrt'.includes(text[i])) i++;
        else fail("bad escape in a string");
      } else if (c.charCodeAt(0) < 0x20) fail("control character in a string");
      else i++;
    }
    fail("unterminated string");
  };
  const value = (): void => {
    space();
    if (i >= text.length) fail("the text ends too early");
    const c = text[i];
    if (c === "{") {
      i++;
      space();
      if (text[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        space();
        if (text[i] !== '"') fail("expected a quoted key");
        string();
        space();
        if (text[i] !== ":") fail("expected ':' after a key");
        i++;
        value();
        space();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return;
        }
        fail(i >= text.length ? "the text ends too early" : "expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      space();
      if (text[i] === "]") {
        i++;
        return;
      }
      for (;;) {
        value();
        space();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return;
        }
        fail(i >= text.length ? "the text ends too early" : "expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(
      text.slice(i, i + 400),
    );
    if (literal === null) fail("unexpected character");
    i += literal![0].length;
  };
  try {
    value();
    space();
    if (i < text.length) fail("unexpected text after the JSON value");
  } catch (error) {
    if (typeof error === "object" && error !== null && "offset" in error) {
      return error as { offset: number; what: string };
    }
    throw error;
  }
  // JSON.parse refused what the scanner accepts (a lone surrogate, say): point at the start.
  return { offset: 0, what: "not valid JSON" };
}
