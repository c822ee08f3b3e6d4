/**
 * `rivulet tail TOPIC`: reads a topic rivulet writes and shows the current
 * result table, rebuilt from the diffs. It reads with a fresh consumer group
 * through rivulet's Kafka client and commits nothing.
 *
 * @module
 */
import type { KafkaClient } from "../connectors/kafka/client.ts";
import { createKafkaClient, resolveKafkaClientName } from "../connectors/kafka/clients.ts";
import { closest, parseFlags, parseWholeNumber } from "./args.ts";
import { ExitCode, type ExitStatus, UsageError } from "./exit_codes.ts";
import { TAIL_HELP } from "./help.ts";
import { createLogger, type LogFormat, logFormats } from "./log.ts";
import { reportFailure } from "./run.ts";
import { loadSettings } from "./settings_file.ts";
import { kafkaClientFlag } from "./run_plan.ts";
import { renderGrid, renderPlain, ResultTable } from "./tail_table.ts";

const TAIL_FLAGS = {
  settings: { type: "string" },
  "from-beginning": { type: "boolean" },
  "exit-after-idle": { type: "string" },
  "log-format": { type: "string" },
  "kafka-client": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** Options of {@linkcode tailCommand}. */
export interface TailCommandOptions {
  /** The arguments after `tail`. */
  readonly args: readonly string[];
}

const encoder = new TextEncoder();

/** Runs `rivulet tail ARGS`; resolves to the exit status. */
export async function tailCommand(options: TailCommandOptions): Promise<ExitStatus> {
  let logFormat: LogFormat = "text";
  let logger = createLogger({ format: logFormat });
  try {
    const { values, positionals } = parseFlags({
      command: "rivulet tail",
      specs: TAIL_FLAGS,
      args: options.args,
    });
    if (values.help) {
      console.log(TAIL_HELP);
      return ExitCode.Ok;
    }
    const format = (values["log-format"] as string | undefined) ?? "text";
    if (!(logFormats as readonly string[]).includes(format)) {
      throw new UsageError(
        `Flag "--log-format" must be text or json, not ${JSON.stringify(format)}`,
      );
    }
    logFormat = format as LogFormat;
    logger = createLogger({ format: logFormat });
    const clientName = resolveKafkaClientName({
      option: kafkaClientFlag(values["kafka-client"] as string | undefined),
    });
    if (positionals.length !== 1) {
      throw new UsageError(
        `rivulet tail takes one topic, e.g. "rivulet tail sum --settings settings.json"`,
      );
    }
    const topic = positionals[0];
    if (typeof values.settings !== "string") {
      throw new UsageError(`rivulet tail needs Kafka settings: add --settings settings.json`);
    }
    const idleMs = typeof values["exit-after-idle"] === "string"
      ? parseWholeNumber("exit-after-idle", values["exit-after-idle"], { min: 1, max: 86_400_000 })
      : undefined;
    const { config, warnings } = await loadSettings(values.settings);
    for (const warning of warnings) logger.warn(warning);
    const client = await createKafkaClient(clientName, config, logger);
    try {
      return await tail({
        topic,
        client,
        fromBeginning: values["from-beginning"] === true,
        idleMs,
        logger,
      });
    } finally {
      await client.close();
    }
  } catch (error) {
    return reportFailure(error, logger);
  }
}

interface TailOptions {
  readonly topic: string;
  readonly client: KafkaClient;
  readonly fromBeginning: boolean;
  readonly idleMs: number | undefined;
  readonly logger: ReturnType<typeof createLogger>;
}

async function tail(options: TailOptions): Promise<ExitStatus> {
  const { topic, client, logger } = options;
  const admin = client.admin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) {
      const suggestion = closest(topic, topics.filter((t) => !t.startsWith("__")));
      throw new UsageError(
        `Topic ${JSON.stringify(topic)} does not exist${
          suggestion === undefined ? "" : `: did you mean ${JSON.stringify(suggestion)}?`
        }`,
      );
    }
  } finally {
    await admin.disconnect();
  }
  if (!options.fromBeginning) {
    logger.info(`showing changes from now on; use --from-beginning to rebuild the whole table`);
  }

  const table = new ResultTable();
  const terminal = Deno.stdout.isTerminal();
  let shownTime = -1;
  let shownSize = -1;
  let changed = false;
  const show = () => {
    if (!changed && table.time === shownTime && table.size === shownSize) return;
    changed = false;
    shownTime = table.time;
    shownSize = table.size;
    if (terminal) {
      const { columns, rows } = consoleSize();
      const grid = renderGrid(table, {
        title: `rivulet tail ${topic}`,
        height: rows - 1,
        width: columns,
      });
      Deno.stdout.writeSync(encoder.encode(`\x1b[H\x1b[2J${grid}\n`));
    } else {
      Deno.stdout.writeSync(encoder.encode(renderPlain(table) + "\n"));
    }
  };

  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let failure: Error | undefined;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  const resetIdle = () => {
    if (options.idleMs === undefined) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(finish, options.idleMs);
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, finish);

  const consumer = client.consumer({
    groupId: `rivulet-tail-${crypto.randomUUID()}`,
    topics: [topic],
    autoOffsetReset: options.fromBeginning ? "earliest" : "latest",
  });
  const decoder = new TextDecoder();
  try {
    await consumer.connect();
    resetIdle();
    await consumer.run({
      onBatch: (batch) => {
        resetIdle();
        for (const message of batch.messages) {
          const before = table.time;
          // A later time means the earlier one is complete: show it first.
          const value = message.value === null ? "" : decoder.decode(message.value);
          const peek = timeOf(value);
          if (peek !== undefined && peek > before && changed) show();
          const kind = table.apply({
            key: message.key === null ? null : decoder.decode(message.key),
            value,
          });
          if (kind === "change") changed = true;
          if (kind === "marker" && changed) show();
        }
        const last = batch.messages.at(-1);
        if (last !== undefined && BigInt(last.offset) + 1n >= BigInt(batch.highWatermark)) show();
        return Promise.resolve();
      },
      onFatal: (error) => {
        failure = error;
        finish();
      },
    });
    await finished;
  } finally {
    clearTimeout(idleTimer);
    for (const signal of signals) Deno.removeSignalListener(signal, finish);
    await consumer.disconnect();
  }
  if (failure !== undefined) throw failure;
  if (changed) show();
  if (table.skipped > 0) {
    logger.warn(
      `${table.skipped} records were not rivulet changes (JSON objects with diff and time) and were skipped`,
    );
  }
  return ExitCode.Ok;
}

function timeOf(value: string): number | undefined {
  const match = /"time":(\d+(?:\.\d+)?)/.exec(value);
  return match === null ? undefined : Number(match[1]);
}

function consoleSize(): { columns: number; rows: number } {
  try {
    return Deno.consoleSize();
  } catch {
    return { columns: 80, rows: 24 };
  }
}
