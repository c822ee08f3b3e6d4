/**
 * Loads the user's TypeScript files (pipeline scripts and transforms) at run
 * time. They are imported by absolute `file:` URL, which is also what the
 * compiled executable needs: it transpiles files that are not embedded in it
 * when they are imported from a real path on disk.
 *
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { UsageError } from "./exit_codes.ts";

/** A module the user wrote, imported. */
export interface UserModule {
  /** The absolute path it was loaded from. */
  readonly file: string;
  /** The module's exports. */
  readonly exports: Readonly<Record<string, unknown>>;
}

/** Options of {@linkcode importUserModule}. */
export interface ImportOptions {
  /**
   * Rethrow what the module's own code throws as it runs (a pipeline script
   * that runs itself at import), so that a failure of the run is reported
   * as one, not as a module that cannot load.
   */
  readonly rethrowEvaluationErrors?: boolean;
}

/**
 * Imports the module at `path` (relative to the working directory). A
 * missing file or a module that fails to load or evaluate is a
 * {@linkcode UsageError} naming the file and what went wrong.
 *
 * @example
 * ```ts ignore
 * const { exports } = await importUserModule("examples/sum.ts", "transform");
 * ```
 */
export async function importUserModule(
  path: string,
  what: string,
  options: ImportOptions = {},
): Promise<UserModule> {
  const file = resolve(path);
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(
        `The ${what} ${JSON.stringify(path)} does not exist (looked at ${file})`,
      );
    }
    throw new UsageError(
      `Cannot read the ${what} ${JSON.stringify(path)}: ${(error as Error).message}`,
    );
  }
  if (!info.isFile) throw new UsageError(`The ${what} ${JSON.stringify(path)} is not a file`);
  try {
    return { file, exports: await import(pathToFileURL(file).href) };
  } catch (error) {
    if (options.rethrowEvaluationErrors && !isLoadError(error)) throw error;
    throw new UsageError(
      `Cannot load the ${what} ${JSON.stringify(path)}: ${firstLine(error)}`,
      { cause: error },
    );
  }
}

/** The transform's contract: input table and the rivulet API in, output table out. */
export type TransformFunction = (input: unknown, rw: unknown) => unknown;

/**
 * The transform a module exports as its default export; otherwise a
 * {@linkcode UsageError} saying how to export it.
 */
export function transformOf(module: UserModule, path: string): TransformFunction {
  const exported = module.exports.default;
  if (typeof exported !== "function") {
    throw new UsageError(
      `The transform ${JSON.stringify(path)} must export a function as its default export, ` +
        `e.g. "export default (input, rw) => input.select({ ... })"; it exports ${
          exported === undefined ? "no default" : `a default ${typeof exported}`
        }`,
    );
  }
  return exported as TransformFunction;
}

/** Whether an import failed before the module's code ran: syntax, resolution, a missing import. */
function isLoadError(error: unknown): boolean {
  if (error instanceof SyntaxError) return true;
  const message = error instanceof Error ? error.message : "";
  return /module not found|cannot resolve|relative import path|unable to load|import map/i.test(
    message,
  );
}

/**
 * The error without Deno's code frame (`2 |   const password = "..." x;`): the
 * module's own text is never repeated, only what is wrong and where
 * (`at file:///...:2:33`).
 */
function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n").filter((line) => !/^\s*\d*\s*\|/.test(line)).slice(0, 3)
    .map((line) => line.trim()).join(" ").trim();
}
