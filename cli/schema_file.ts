/**
 * `--schema` and `--schema-file`: a source's typed schema from the command
 * line (`value:int,name:str?`) or from a JSON file (`{"value": "int",
 * "name": "str?", "score": {"type": "float", "default": 0}}`). Errors about
 * the file name its line and column and never quote its contents (a schema
 * file may sit next to secrets, and a user may point at the wrong file).
 *
 * @module
 */
import { compileSchema, parseSchemaText, type Schema } from "../mod.ts";
import { UsageError } from "./exit_codes.ts";
import { readUserFile } from "./settings_file.ts";

/** Parses `--schema`; a mistake is a {@linkcode UsageError}. */
export function schemaFromFlag(text: string): Schema {
  try {
    return parseSchemaText(text);
  } catch (error) {
    throw new UsageError(`Flag "--schema": ${(error as Error).message}`);
  }
}

/** Reads and checks `--schema-file`; a mistake is a {@linkcode UsageError} naming the file. */
export async function loadSchemaFile(path: string): Promise<Schema> {
  const text = await readUserFile(path, "schema file");
  return schemaFromJsonText(text, `schema file ${JSON.stringify(path)}`);
}

/** Parses a schema file's text; `where` names the file in errors. */
export function schemaFromJsonText(text: string, where: string): Schema {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The engine's message quotes the text: say where instead.
    const { line, column } = lineAndColumn(text, jsonErrorOffset(text));
    throw new UsageError(`The ${where} is not valid JSON: error at line ${line}, column ${column}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(
      `The ${where} must hold a JSON object of column name to type, e.g. {"value": "int"}`,
    );
  }
  try {
    compileSchema(parsed as Schema);
  } catch (error) {
    throw new UsageError(`The ${where}: ${(error as Error).message}`);
  }
  return parsed as Schema;
}

/** Line and column (both from 1) of a character offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === "\n") {
      line++;
      start = i + 1;
    }
  }
  return { line, column: offset - start + 1 };
}

/**
 * The offset of the first JSON syntax error in `text` (the text's length when
 * it ends too soon). A small recursive-descent scan: only run on text that
 * JSON.parse rejected.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const space = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const literal = (word: string) => {
    for (const char of word) if (text[i++] !== char) (i--, fail());
  };
  const string = () => {
    if (text[i] !== '"') fail();
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) fail();
      if (text[i] === "\\") {
        i++;
        if (text[i] === "u") {
          for (let k = 1; k <= 4; k++) if (!/[0-9a-fA-F]/.test(text[i + k] ?? "")) (i += k, fail());
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? "x")) fail();
      }
      i++;
    }
    if (i >= text.length) fail();
    i++;
  };
  const number = () => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (match === null) fail();
    i += match![0].length;
  };
  const value = (): void => {
    space();
    const char = text[i];
    if (char === "{") {
      i++;
      space();
      if (text[i] === "}") return void i++;
      for (;;) {
        space();
        string();
        space();
        if (text[i] !== ":") fail();
        i++;
        value();
        space();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") return void i++;
        fail();
      }
    }
    if (char === "[") {
      i++;
      space();
      if (text[i] === "]") return void i++;
      for (;;) {
        value();
        space();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") return void i++;
        fail();
      }
    }
    if (char === '"') return string();
    if (char === "t") return literal("true");
    if (char === "f") return literal("false");
    if (char === "n") return literal("null");
    return number();
  };
  try {
    value();
    space();
    return i < text.length ? i : text.length;
  } catch (offset) {
    if (typeof offset === "number") return Math.min(offset, text.length);
    throw offset;
  }
}
