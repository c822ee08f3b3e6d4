/**
 * Flag parsing for every command, on `node:util`'s `parseArgs`, with errors
 * that name the flag and suggest the closest one.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { UsageError } from "./exit_codes.ts";
import { closest as closestName } from "../connectors/closest.ts";

/** How one flag is spelt and what it takes. */
export interface FlagSpec {
  /** Whether the flag takes a value (`string`) or is a switch (`boolean`). */
  readonly type: "string" | "boolean";
  /** The flag may be given several times (its values are collected in order). */
  readonly multiple?: boolean;
  /** A one-letter alias, e.g. `h` for `--help`. */
  readonly short?: string;
}

/** The flags of one command, by long name. */
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** What {@linkcode parseFlags} found. */
export interface ParsedFlags {
  /** Flag values by long name: a string, a boolean, or a list for `multiple` flags. */
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
  /** The arguments that are not flags, in order. */
  readonly positionals: readonly string[];
}

/** Options of {@linkcode parseFlags}. */
export interface ParseFlagsOptions {
  /** The command's name for messages, e.g. `rivulet run`. */
  readonly command: string;
  /** The flags the command accepts. */
  readonly specs: FlagSpecs;
  /** The arguments after the command's name. */
  readonly args: readonly string[];
}

/**
 * Parses `args` strictly: an unknown flag, a missing value or a value given
 * to a boolean flag is a {@linkcode UsageError} naming it.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./args.ts";
 * const { values } = parseFlags({
 *   command: "rivulet tail",
 *   specs: { settings: { type: "string" } },
 *   args: ["--settings", "s.json"],
 * });
 * values.settings; // "s.json"
 * ```
 */
export function parseFlags(options: ParseFlagsOptions): ParsedFlags {
  try {
    const parsed = parseArgs({
      args: [...options.args],
      options: options.specs as Record<string, FlagSpec>,
      strict: true,
      allowPositionals: true,
    });
    return { values: parsed.values as ParsedFlags["values"], positionals: parsed.positionals };
  } catch (error) {
    throw new UsageError(explainParseError(error, options), { cause: error });
  }
}

function explainParseError(error: unknown, options: ParseFlagsOptions): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  const help = `see "${options.command} --help"`;
  const flag = /'(-[^'\s]+)/.exec(message)?.[1] ?? "";
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const name = flag.replace(/^-+/, "").split("=")[0];
    const suggestion = closest(name, Object.keys(options.specs));
    const hint = suggestion === undefined ? help : `did you mean "--${suggestion}"? (${help})`;
    return `Unknown flag ${JSON.stringify(flag)} for ${options.command}: ${hint}`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const name = /--([a-z-]+)/.exec(message)?.[1];
    if (name !== undefined && options.specs[name]?.type === "boolean") {
      return `Flag "--${name}" of ${options.command} takes no value: ${help}`;
    }
    return `Flag ${
      JSON.stringify(name === undefined ? flag : `--${name}`)
    } of ${options.command} needs a value: ${help}`;
  }
  return `Cannot read the arguments of ${options.command}: ${message} (${help})`;
}

/** The candidate closest to `word` by edit distance, if it is close enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  return closestName(word, candidates, Math.max(2, Math.floor(word.length / 3)));
}

/** Splits a comma-separated flag value into trimmed, non-empty names. */
export function splitList(value: string): string[] {
  return value.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/**
 * Reads a flag value as a whole number in `[min, max]`; otherwise a
 * {@linkcode UsageError} naming the flag and the value.
 */
export function parseWholeNumber(
  flag: string,
  value: string,
  range: { readonly min: number; readonly max: number },
): number {
  const number = /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isSafeInteger(number) || number < range.min || number > range.max) {
    throw new UsageError(
      `Flag "--${flag}" must be a whole number from ${range.min} to ${range.max}, not ${
        JSON.stringify(value)
      }`,
    );
  }
  return number;
}
