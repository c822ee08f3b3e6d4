/**
 * `rivulet run`: runs a pipeline script, or a transform between a source and
 * a sink, with a status line or progress logs, optional metrics, and an exit
 * status that says how it ended.
 *
 * @module
 */
import type { Pipeline, PipelineStats } from "../mod.ts";
import { api, buildTransformPipeline } from "./build.ts";
import { ExitCode, type ExitStatus, UsageError } from "./exit_codes.ts";
import { RUN_HELP } from "./help.ts";
import { type CliLogger, createLogger } from "./log.ts";
import { type MetricsServer, serveMetrics } from "./metrics.ts";
import { buildPartitionedRun } from "./partitioned.ts";
import { parseRunArgs, type RunPlan, type ScriptPlan, type TransformPlan } from "./run_plan.ts";
import { type CommandStats, startStatus, statusFields } from "./status.ts";
import { importUserModule } from "./user_module.ts";

/** Options of {@linkcode runCommand}. */
export interface RunCommandOptions {
  /** The arguments after `run`. */
  readonly args: readonly string[];
  /** Writes help text (default: standard output). */
  readonly print?: (text: string) => void;
}

/** Runs `rivulet run ARGS`; resolves to the exit status. */
export async function runCommand(options: RunCommandOptions): Promise<ExitStatus> {
  const print = options.print ?? ((text: string) => console.log(text));
  let plan: RunPlan;
  try {
    const parsed = await parseRunArgs("rivulet run", options.args);
    if (parsed.help) {
      print(RUN_HELP);
      return ExitCode.Ok;
    }
    plan = parsed.plan;
  } catch (error) {
    return reportFailure(error, createLogger({ format: logFormatOf(options.args) }));
  }
  const logger = createLogger({ format: plan.logFormat, level: plan.quiet ? "warn" : "info" });
  // A script that runs itself (it calls run()) makes its pipeline out of reach: the choice is global.
  api.setKafkaClient(plan.kafkaClient);
  // The pipeline whose stats the status line and metrics show; a script may swap it.
  let current: { stats(): PipelineStats } = { stats: emptyStats };
  // The Kafka source's lag, asked every few seconds (it takes a broker round trip).
  let lag: number | undefined;
  let lagTimer: ReturnType<typeof setInterval> | undefined;
  const stats = (): CommandStats => ({ ...current.stats(), ...(lag === undefined ? {} : { lag }) });
  let metrics: MetricsServer | undefined;
  let status: { stop(): void } | undefined;
  let watching = false;
  const watch = () => {
    if (watching) return;
    watching = true;
    if (plan.metricsPort !== undefined) {
      metrics = serveMetrics({ port: plan.metricsPort, stats });
      logger.info(`metrics at http://127.0.0.1:${metrics.port}/metrics`, {
        metricsPort: metrics.port,
      });
    }
    if (!plan.quiet) {
      status = startStatus({
        stats,
        logger,
        terminal: plan.logFormat === "text" && Deno.stderr.isTerminal(),
      });
    }
  };
  try {
    let final: PipelineStats;
    if (plan.pipeline.kind === "transform" && plan.pipeline.partitioned) {
      final = await runPartitioned(plan, plan.pipeline, logger, (run) => {
        current = run;
        watch();
      });
    } else if (plan.pipeline.kind === "transform") {
      const built = await buildTransformPipeline({ plan: plan.pipeline, logger });
      current = built.pipeline;
      const askLag = built.lag;
      if (askLag !== undefined) {
        lagTimer = setInterval(() => askLag().then((value) => (lag = value), () => {}), 2_000);
      }
      watch();
      final = await runPipeline(built.pipeline, plan);
    } else {
      final = await runScript(plan.pipeline, plan, logger, (pipeline) => {
        current = pipeline;
        watch();
      });
    }
    status?.stop();
    logger.info("done", statusFields(final));
    return ExitCode.Ok;
  } catch (error) {
    status?.stop();
    return reportFailure(error, logger);
  } finally {
    clearInterval(lagTimer);
    await metrics?.close();
  }
}

/** Runs a transform as tasks per partition (`--partitioned`) until SIGINT or SIGTERM. */
async function runPartitioned(
  plan: RunPlan,
  transform: TransformPlan,
  logger: CliLogger,
  follow: (run: { stats(): PipelineStats }) => void,
): Promise<PipelineStats> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const { run, client } = await buildPartitionedRun({
    plan: transform,
    logger,
    exactlyOnce: plan.exactlyOnce,
    ...(plan.transactionalId === undefined ? {} : { transactionalId: plan.transactionalId }),
    ...(plan.kafkaClient === undefined ? {} : { kafkaClient: plan.kafkaClient }),
    signal: controller.signal,
  });
  follow(run);
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  try {
    return await run.run();
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
    await client.close();
  }
}

async function runPipeline(pipeline: Pipeline, plan: RunPlan): Promise<PipelineStats> {
  if (plan.stateDir !== undefined) await checkStateDirWritable(plan.stateDir);
  return await api.run({
    pipeline,
    ...(plan.stateDir === undefined ? {} : { stateDir: plan.stateDir }),
    resetState: plan.resetState,
    exactlyOnce: plan.exactlyOnce,
    ...(plan.transactionalId === undefined ? {} : { transactionalId: plan.transactionalId }),
    ...(plan.stateStore === undefined ? {} : { stateStore: plan.stateStore }),
  });
}

/**
 * Fails before reading anything when the state directory cannot be written:
 * otherwise the first checkpoint would fail after input was already read.
 */
async function checkStateDirWritable(stateDir: string): Promise<void> {
  const permission = await Deno.permissions.query({ name: "write", path: stateDir });
  if (permission.state === "granted") return;
  throw new UsageError(
    Deno.build.standalone
      ? `The compiled rivulet may write state only under ./.state, not ${
        JSON.stringify(stateDir)
      }: ` +
        `use --state-dir .state/NAME, run from the directory that should hold .state, or run main.ts with deno run --allow-write=${stateDir}`
      : `rivulet may not write the state directory ${JSON.stringify(stateDir)}: ` +
        `run with --allow-write=${stateDir}`,
  );
}

/**
 * Runs a pipeline script. Its sources join the module's default pipeline,
 * created here first so that the status line can follow it even when the
 * script runs itself at import (library mode: it calls `run()`).
 */
async function runScript(
  script: ScriptPlan,
  plan: RunPlan,
  logger: CliLogger,
  follow: (pipeline: Pipeline) => void,
): Promise<PipelineStats> {
  api.setLogger(logger);
  const pipeline = api.currentPipeline();
  follow(pipeline);
  const module = await importUserModule(script.script, "pipeline script", {
    rethrowEvaluationErrors: true,
  });
  const build = module.exports.default;
  if (typeof build === "function") {
    let returned: unknown;
    try {
      returned = await build(api);
    } catch (error) {
      throw new UsageError(
        `The pipeline script ${JSON.stringify(script.script)} threw while building the pipeline: ${
          error instanceof Error ? error.message : String(error)
        }`,
        { cause: error },
      );
    }
    const chosen = returned instanceof api.Pipeline ? returned : pipeline;
    follow(chosen);
    return await runPipeline(chosen, plan);
  }
  if (api.currentPipeline() !== pipeline) return pipeline.stats(); // the script ran it itself
  try {
    // Sources were added but run() was never called: run them, as `rivulet run` promises.
    return await runPipeline(pipeline, plan);
  } catch (error) {
    if (error instanceof Error && /has no source/.test(error.message)) {
      throw new UsageError(
        `The pipeline script ${
          JSON.stringify(script.script)
        } built no source: export a default function ` +
          `(rw) => { ... } that reads and writes with rw.io or rw.kafka, or call rw.run() in the script`,
      );
    }
    throw error;
  }
}

/** Logs an error the way its kind deserves and returns the matching exit status. */
export function reportFailure(error: unknown, logger: CliLogger): ExitStatus {
  const message = error instanceof Error ? error.message : String(error);
  // Saved state that does not fit the input: nothing ran, the user chooses (--reset-state).
  if (error instanceof UsageError || (error instanceof Error && error.name === "StaleStateError")) {
    logger.error(message);
    return ExitCode.Usage;
  }
  if (error instanceof Error && error.name === "BadInputError") {
    logger.error(
      `${message}. The pipeline stopped (error policy stop) and committed nothing past it: ` +
        `fix the input, or run with --error-policy skip or dead-letter`,
    );
    return ExitCode.BadInput;
  }
  logger.error(message, error instanceof Error ? { error: error.name } : {});
  return ExitCode.Failure;
}

function logFormatOf(args: readonly string[]): "text" | "json" {
  const index = args.indexOf("--log-format");
  return args[index + 1] === "json" || args.includes("--log-format=json") ? "json" : "text";
}

function emptyStats(): PipelineStats {
  return {
    messagesIn: 0,
    rowsIn: 0,
    commitsApplied: 0,
    changesOut: 0,
    badInput: 0,
    deadLettered: 0,
    pendingCommits: 0,
    lastTime: 0,
  };
}
