/**
 * What a running pipeline shows: a status line redrawn in place on a
 * terminal, or a progress log line now and then otherwise.
 *
 * @module
 */
import type { PipelineStats } from "../runtime/pipeline.ts";
import type { CliLogger } from "./log.ts";

/**
 * The stats as one short line.
 *
 * @example
 * ```ts
 * import { formatStatus } from "./status.ts";
 * formatStatus({
 *   messagesIn: 21, rowsIn: 11, commitsApplied: 10, changesOut: 19,
 *   badInput: 0, deadLettered: 0, pendingCommits: 0, lastTime: 10,
 * }); // "messages in 21 · commits 10 · rows out 19 · errors 0 · pending 0"
 * ```
 */
export function formatStatus(stats: CommandStats): string {
  return [
    ...(stats.restore?.restoring ? [`restoring state: ${stats.restore.records} records`] : []),
    `messages in ${stats.messagesIn}`,
    ...(stats.lag === undefined ? [] : [`lag ${stats.lag}`]),
    `commits ${stats.commitsApplied}`,
    `rows out ${stats.changesOut}`,
    `errors ${stats.badInput}`,
    `pending ${stats.pendingCommits}`,
    ...(stats.connection === "retrying" ? ["broker unreachable, retrying"] : []),
  ].join(" · ");
}

/** A pipeline's stats, plus the Kafka source's lag where the command knows it. */
export type CommandStats = PipelineStats & {
  /** Messages the source is behind the end of its topics (Kafka sources). */
  readonly lag?: number;
};

/** The stats as log fields. */
export function statusFields(stats: CommandStats): Record<string, number> {
  return {
    ...(stats.lag === undefined ? {} : { lag: stats.lag }),
    messagesIn: stats.messagesIn,
    rowsIn: stats.rowsIn,
    commitsApplied: stats.commitsApplied,
    changesOut: stats.changesOut,
    badInput: stats.badInput,
    deadLettered: stats.deadLettered,
    pendingCommits: stats.pendingCommits,
    lastTime: stats.lastTime,
  };
}

/** Options of {@linkcode startStatus}. */
export interface StatusOptions {
  /** Reads the current stats at each redraw. */
  readonly stats: () => CommandStats;
  /** The logger whose lines the status line steps aside for. */
  readonly logger: CliLogger;
  /** Redraw a line in place (standard error is a terminal) rather than log progress. */
  readonly terminal: boolean;
  /** How often to redraw (terminal) or log (otherwise), in ms. */
  readonly intervalMs?: number;
}

/** A running status display. */
export interface StatusDisplay {
  /** Stops redrawing and clears the line. */
  stop(): void;
}

const encoder = new TextEncoder();
const CLEAR_LINE = "\r\x1b[2K";

/** Starts showing progress until {@linkcode StatusDisplay.stop}. */
export function startStatus(options: StatusOptions): StatusDisplay {
  if (!options.terminal) {
    let last = "";
    const timer = setInterval(() => {
      const stats = options.stats();
      const line = formatStatus(stats);
      // Idle pipelines stay quiet: one line per change of the counters.
      if (line !== last) options.logger.info("progress", statusFields(stats));
      last = line;
    }, options.intervalMs ?? 10_000);
    return { stop: () => clearInterval(timer) };
  }
  let shown = false;
  const draw = () => {
    const columns = consoleColumns();
    const line = formatStatus(options.stats()).slice(0, columns - 1);
    Deno.stderr.writeSync(encoder.encode(CLEAR_LINE + line));
    shown = true;
  };
  const clear = () => {
    if (shown) Deno.stderr.writeSync(encoder.encode(CLEAR_LINE));
    shown = false;
  };
  // A log line must not be glued to the status line: clear it first, redraw next tick.
  options.logger.beforeWrite = clear;
  const timer = setInterval(draw, options.intervalMs ?? 250);
  draw();
  return {
    stop() {
      clearInterval(timer);
      clear();
      options.logger.beforeWrite = undefined;
    },
  };
}

function consoleColumns(): number {
  try {
    return Deno.consoleSize().columns;
  } catch {
    return 80;
  }
}
