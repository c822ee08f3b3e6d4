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
import { JsonSyntaxError, parseJsonText } from "../connectors/json_text.ts";

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
    parsed = parseJsonText(text);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    throw new UsageError(`The ${where} is not valid JSON: ${error.message}`);
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
