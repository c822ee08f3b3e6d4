/**
 * What the `rivulet` command's exit status means, and the error that carries
 * one. Documented in every command's help.
 *
 * @module
 */

/** The exit statuses of the `rivulet` command. */
export const ExitCode = {
  /** Done: the input was read to its end, or the pipeline was stopped by SIGINT or SIGTERM. */
  Ok: 0,
  /** A failure while running: the broker, the disk, a bug in a transform. */
  Failure: 1,
  /** Nothing ran: a flag, or a file the command names (transform, format, settings, config), is wrong. */
  Usage: 2,
  /** Bad input stopped the pipeline (error policy `stop`); nothing past it was committed. */
  BadInput: 3,
} as const;

/** One of {@linkcode ExitCode}'s values. */
export type ExitStatus = typeof ExitCode[keyof typeof ExitCode];

/** The exit codes as help text, shared by every command's `--help`. */
export const EXIT_CODES_HELP = `Exit codes:
  0  done (input read to its end, or stopped by SIGINT/SIGTERM after flushing)
  1  failure while running (broker, disk, an exception in a transform)
  2  usage or configuration error: a flag, or a file the command names, is wrong; nothing ran
  3  bad input stopped the pipeline (--error-policy stop); nothing past it was committed`;

/**
 * A problem with what the user asked for: a flag, a file, a setting. The
 * message says what is wrong and what to do; the command exits with
 * {@linkcode ExitCode.Usage}.
 *
 * @example
 * ```ts
 * import { UsageError } from "./exit_codes.ts";
 * throw new UsageError('Unknown flag "--topc": did you mean "--topic"?');
 * ```
 */
export class UsageError extends Error {
  /**
   * Creates the error.
   *
   * @param message what is wrong and what to do about it
   * @param options the error that caused it, if any
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UsageError";
  }
}
