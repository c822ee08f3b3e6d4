/**
 * The command's logger: one line per event on standard error, as text for
 * people or JSON for log collectors (`--log-format json`). Fields whose name
 * suggests a secret are redacted, whatever a caller passes.
 *
 * @module
 */
import type { LogFields, Logger } from "../connectors/types.ts";

/** How log lines look. */
export type LogFormat = "text" | "json";

/** The log formats, for flag validation. */
export const logFormats: readonly LogFormat[] = ["text", "json"];

/** Log levels, least severe first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const levelRank: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Options of {@linkcode createLogger}. */
export interface CliLoggerOptions {
  /** Text for people, JSON for log collectors. */
  readonly format: LogFormat;
  /** The least severe level written (default `info`). */
  readonly level?: LogLevel;
  /** Where a finished line goes (default: standard error). */
  readonly write?: (line: string) => void;
  /** The clock for timestamps (default: `Date.now`). */
  readonly now?: () => number;
}

// A field named like this carries a credential: never print its value.
const SECRET_FIELD = /pass(word)?|secret|token|credential|sasl|private|(^|[._-])key$/i;

const stderrEncoder = new TextEncoder();

/** Writes a line to standard error synchronously, so lines never interleave mid-way. */
export function writeStderr(line: string): void {
  const bytes = stderrEncoder.encode(line + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
}

/** A logger that also tells the status line to step aside while a line is written. */
export interface CliLogger extends Logger {
  /** Called before each line is written (the status line clears itself). */
  beforeWrite?: () => void;
}

/**
 * A {@linkcode Logger} writing one line per call.
 *
 * @example
 * ```ts
 * import { createLogger } from "./log.ts";
 * const lines: string[] = [];
 * const logger = createLogger({ format: "json", write: (l) => lines.push(l), now: () => 0 });
 * logger.info("connected", { broker: "127.0.0.1:9092", "sasl.password": "hunter2" });
 * // lines[0]: {"time":"1970-01-01T00:00:00.000Z","level":"info","message":"connected",
 * //            "broker":"127.0.0.1:9092","sasl.password":"[redacted]"}
 * ```
 */
export function createLogger(options: CliLoggerOptions): CliLogger {
  const least = levelRank[options.level ?? "info"];
  const write = options.write ?? writeStderr;
  const now = options.now ?? Date.now;
  const logger: CliLogger = {
    debug: (message, fields) => log("debug", message, fields),
    info: (message, fields) => log("info", message, fields),
    warn: (message, fields) => log("warn", message, fields),
    error: (message, fields) => log("error", message, fields),
  };
  function log(level: LogLevel, message: string, fields: LogFields = {}): void {
    if (levelRank[level] < least) return;
    const safe = redact(fields);
    logger.beforeWrite?.();
    if (options.format === "json") {
      write(JSON.stringify({ time: new Date(now()).toISOString(), level, message, ...safe }));
    } else {
      const extra = Object.entries(safe).map(([k, v]) => ` ${k}=${formatTextValue(v)}`).join("");
      write(`${level === "info" ? "" : `${level}: `}${message}${extra}`);
    }
  }
  return logger;
}

/** The fields with every secret-looking one's value replaced. */
export function redact(fields: LogFields): Record<string, string | number | boolean | null> {
  const safe: Record<string, string | number | boolean | null> = {};
  for (const [key, value] of Object.entries(fields)) {
    safe[key] = SECRET_FIELD.test(key) && value !== null ? "[redacted]" : value;
  }
  return safe;
}

function formatTextValue(value: string | number | boolean | null): string {
  if (typeof value === "string" && /^[\w.:/@[\]-]+$/.test(value)) return value;
  return JSON.stringify(value);
}
