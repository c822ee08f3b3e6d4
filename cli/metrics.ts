/**
 * A Prometheus endpoint for a running pipeline: `GET /metrics` on loopback
 * answers with the pipeline's counters in the text exposition format.
 *
 * @module
 */
import type { CommandStats } from "./status.ts";

interface MetricSpec {
  readonly name: string;
  readonly type: "counter" | "gauge";
  readonly help: string;
  /** The value, or undefined when not known (then the metric is left out). */
  readonly value: (stats: CommandStats) => number | undefined;
}

// One metric per stat, named after it (Prometheus: counters end in _total).
const metricSpecs: readonly MetricSpec[] = [
  {
    name: "rivulet_messages_in_total",
    type: "counter",
    help: "Messages read from the sources, commit markers included.",
    value: (s) => s.messagesIn,
  },
  {
    name: "rivulet_rows_in_total",
    type: "counter",
    help: "Rows decoded from the messages.",
    value: (s) => s.rowsIn,
  },
  {
    name: "rivulet_commits_applied_total",
    type: "counter",
    help: "Commits (closed batches) applied to the tables.",
    value: (s) => s.commitsApplied,
  },
  {
    name: "rivulet_changes_out_total",
    type: "counter",
    help: "Changes (records with diff and time) sent to the sinks.",
    value: (s) => s.changesOut,
  },
  {
    name: "rivulet_bad_input_total",
    type: "counter",
    help: "Bad messages or rows skipped or dead-lettered.",
    value: (s) => s.badInput,
  },
  {
    name: "rivulet_dead_lettered_total",
    type: "counter",
    help: "Bad messages sent to the dead-letter topic.",
    value: (s) => s.deadLettered,
  },
  {
    name: "rivulet_pending_commits",
    type: "gauge",
    help: "Applied commits whose outputs the sinks have not acknowledged yet.",
    value: (s) => s.pendingCommits,
  },
  {
    name: "rivulet_last_commit_time_ms",
    type: "gauge",
    help: "The logical time of the last applied commit, in milliseconds.",
    value: (s) => s.lastTime,
  },
  {
    name: "rivulet_connection_retrying",
    type: "gauge",
    help: "1 while a source or sink cannot reach the brokers and retries, else 0.",
    value: (s) => s.connection === "retrying" ? 1 : 0,
  },
  {
    name: "rivulet_state_restored_records",
    type: "gauge",
    help: "Changelog records read while restoring state from Kafka (the kafka state store only).",
    value: (s) => s.restore?.records,
  },
  {
    name: "rivulet_state_restoring",
    type: "gauge",
    help:
      "1 while state is being restored from its changelog topic, else 0 (the kafka state store only).",
    value: (s) => s.restore === undefined ? undefined : s.restore.restoring ? 1 : 0,
  },
  {
    name: "rivulet_consumer_lag",
    type: "gauge",
    help: "Messages the Kafka source is behind the end of its topics (Kafka sources only).",
    value: (s) => s.lag,
  },
];

/** The names of the metrics {@linkcode renderMetrics} writes. */
export const metricNames: readonly string[] = metricSpecs.map((m) => m.name);

/**
 * The stats in Prometheus's text exposition format (version 0.0.4).
 *
 * @example
 * ```ts
 * import { renderMetrics } from "./metrics.ts";
 * const text = renderMetrics({
 *   messagesIn: 21, rowsIn: 11, commitsApplied: 10, changesOut: 19,
 *   badInput: 0, deadLettered: 0, pendingCommits: 0, lastTime: 10,
 * });
 * text.includes("rivulet_commits_applied_total 10"); // true
 * ```
 */
export function renderMetrics(stats: CommandStats): string {
  let text = "";
  for (const metric of metricSpecs) {
    const value = metric.value(stats);
    if (value === undefined) continue;
    text += `# HELP ${metric.name} ${metric.help}\n`;
    text += `# TYPE ${metric.name} ${metric.type}\n`;
    text += `${metric.name} ${value}\n`;
  }
  return text;
}

/** Options of {@linkcode serveMetrics}. */
export interface ServeMetricsOptions {
  /** The port on 127.0.0.1; 0 picks a free one (see `port` of the result). */
  readonly port: number;
  /** Reads the current stats at each scrape. */
  readonly stats: () => CommandStats;
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The port it listens on. */
  readonly port: number;
  /** Stops listening. */
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` on 127.0.0.1 only: metrics can reveal topic activity,
 * so they are not offered to the network unless a proxy is put in front.
 */
export function serveMetrics(options: ServeMetricsOptions): MetricsServer {
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port,
    onListen: () => {},
  }, (request) => {
    const url = new URL(request.url);
    if (url.pathname !== "/metrics") {
      return new Response("Not found: rivulet serves /metrics\n", { status: 404 });
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method not allowed: use GET\n", { status: 405 });
    }
    return new Response(renderMetrics(options.stats()), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  });
  return {
    port: server.addr.port,
    close: () => server.shutdown(),
  };
}
