/**
 * Several instances of one partitioned pipeline (`rivulet run ...
 * --partitioned`, issue 14): the throughput of 1, 2 and 3 instances sharing
 * the work of a 6-partition input through their consumer group, against one
 * process without `--partitioned` (`--state-store kafka`) on the same input.
 * See BENCHMARKS.md, "Several instances".
 *
 * ```sh
 * KAFKA_PORT=29700 scripts/deno run --allow-all bench/kafka/instances.ts
 * KAFKA_PORT=29700 scripts/deno run --allow-all bench/kafka/instances.ts --quick
 * ```
 *
 * Options: `--rows N` input rows (default 600,000), `--partitions N` of the
 * input (default 6), `--commit N` rows per `*COMMIT*` per partition (default
 * 1,000), `--cats N` distinct `cat` values (default 1,000), `--runs N` per
 * configuration (default 3; runs of the configurations alternate, so a change
 * in the machine's load falls on all alike), `--instances 1,2,3`, `--modes
 * at-least-once,exactly-once`, `--exactly-once-instances 1,3` (which instance
 * counts also run exactly-once), `--no-baseline`, `--broker-pid N` (default:
 * the pid file of scripts/kafka.sh), `--json PATH` to keep the figures,
 * `--trace` (the group's committed offsets per topic at every poll),
 * `--keep-logs DIR` (each instance's standard error), `--profile DIR` (each
 * instance writes a V8 `--prof` log there, for `node --prof-process`).
 *
 * The pipeline is `programs/by_cat_total.ts`: group-by on `cat` (a
 * repartition), then a global sum (one task): three stages. Every run uses a
 * fresh `group.id`, so fresh internal topics and no saved state.
 *
 * When a run is complete: the benchmark polls the group's committed offsets
 * (every 200 ms) and says the run is complete once, in pipeline order, every
 * partition of the input, then of `<group>-repartition-1`, then of
 * `<group>-repartition-2`, has its committed offset at the partition's end
 * offset. In order, that is sound: a task commits its offset only in its
 * checkpoint, after what it wrote downstream is acknowledged (at-least-once)
 * or in the same transaction (exactly-once), so once stage s is committed to
 * the end, the end offsets of stage s+1's topic read after that are final,
 * and once the last stage is committed to its end, every input row is
 * applied, its output written, and its state checkpointed. The wall time runs
 * from spawning the processes (Deno start-up, group join, topic creation and
 * rebalances included, as a user who starts instances waits for them) to
 * that poll; it includes up to one checkpoint interval (1 s) plus one poll
 * after the last row is applied. The baseline is judged the same way on the
 * input topic alone (it commits offsets after its output is acknowledged).
 *
 * CPU: utime+stime of every instance, of the broker and of this process are
 * read from /proc at the start and the end of each run, and the machine's
 * busy time from /proc/stat, so the CPU left to others (other processes on a
 * shared machine) shows too.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { benchBroker, benchKafka, uniqueTopic } from "./_common.ts";
import type { Message } from "kafkajs";
import { Graph } from "../../engine/mod.ts";
import type { Row, Table } from "../../mod.ts";
import * as rivulet from "../../mod.ts";
import { internalTopics } from "../../runtime/tasks/runner.ts";
import transform from "./programs/by_cat_total.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    rows: { type: "string", default: "600000" },
    partitions: { type: "string", default: "6" },
    commit: { type: "string", default: "1000" },
    cats: { type: "string", default: "1000" },
    runs: { type: "string", default: "3" },
    instances: { type: "string", default: "1,2,3" },
    modes: { type: "string", default: "at-least-once,exactly-once" },
    "exactly-once-instances": { type: "string", default: "1,3" },
    "no-baseline": { type: "boolean", default: false },
    "broker-pid": { type: "string" },
    json: { type: "string" },
    quick: { type: "boolean", default: false },
    trace: { type: "boolean", default: false },
    profile: { type: "string" },
    trees: { type: "string" },
    "no-verify": { type: "boolean", default: false },
    "keep-logs": { type: "string" },
  },
});

const quick = args.quick;
const rows = quick ? 60_000 : Number(args.rows);
const partitions = Number(args.partitions);
const commitRows = Number(args.commit);
const cats = Number(args.cats);
const runs = quick ? 1 : Number(args.runs);
const instanceCounts = args.instances.split(",").map(Number);
const modes = args.modes.split(",");
const exactlyOnceCounts = new Set(args["exactly-once-instances"].split(",").map(Number));
const root = new URL("../../", import.meta.url).pathname;
/** The rivulet trees measured (A/B runs): `--trees DIR,DIR`, default this one. */
const trees = args.trees === undefined
  ? [root]
  : args.trees.split(",").map((dir) => (dir.endsWith("/") ? dir : `${dir}/`));
const transformPath = new URL("./programs/by_cat_total.ts", import.meta.url).pathname;
/** A run that has not completed by then is a failure (reported, left out of the figures). */
const runTimeoutMs = 180_000;
const clockTicks = 100; // USER_HZ: /proc times are in 1/100 s on Linux

/** The instances running now: stopped with the benchmark, so none outlives it. */
const running = new Set<Deno.ChildProcess>();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    for (const child of running) {
      try {
        child.kill("SIGTERM");
      } catch {
        // gone already
      }
    }
    Deno.exit(130);
  });
}

function log(text: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${text}`);
}

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The `--v8-flags=…` of the `rivulet` task in deno.json, as a user's `deno task rivulet` runs. */
function rivuletV8Flags(): string[] {
  const denoJson = JSON.parse(Deno.readTextFileSync(`${root}deno.json`)) as {
    tasks: Record<string, string>;
  };
  return denoJson.tasks.rivulet.split(/\s+/).filter((arg) => arg.startsWith("--v8-flags="));
}
const v8Flags = rivuletV8Flags();

/** An instance's V8 flags: deno.json's, with a `--prof` log of its own under `--profile DIR`. */
function instanceV8Flags(name: string): string[] {
  if (args.profile === undefined) return v8Flags;
  Deno.mkdirSync(args.profile, { recursive: true });
  const flags = v8Flags.map((flag) => flag.slice("--v8-flags=".length)).join(",");
  const log = `${args.profile}/${name.replace(/\W+/g, "_")}.log`;
  return [`--v8-flags=${flags ? flags + "," : ""}--prof,--logfile=${log},--no-logfile-per-isolate`];
}

/** The broker's pid, for its CPU time: `--broker-pid`, else scripts/kafka.sh's pid file. */
function brokerPid(): number | undefined {
  if (args["broker-pid"] !== undefined) return Number(args["broker-pid"]);
  const port = benchBroker.split(":").pop();
  try {
    return Number(Deno.readTextFileSync(`${root}.kafka/${port}/broker.pid`).trim());
  } catch {
    return undefined;
  }
}

/** utime+stime of a process in seconds, or NaN once it is gone. */
function cpuSeconds(pid: number | "self"): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the command name (which may hold spaces), from field 3 on.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return NaN;
  }
}

/** The machine's busy and total CPU seconds (all cores) from /proc/stat. */
function machineCpu(): { busy: number; total: number } {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0];
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = ticks[3] + ticks[4];
  return { busy: (total - idle) / clockTicks, total: total / clockTicks };
}

function loadAverage(): string {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
}

/** The input row number `n`: its partition, its json value, its `v`. */
function inputRow(n: number): { value: string; v: number } {
  // A multiplicative spread, so each commit of each partition touches most cats.
  const cat = `c${(n * 7919) % cats}`;
  const v = 1 + (n * 13) % 100;
  return { value: `{"id":"r${n}","cat":"${cat}","v":${v}}`, v };
}

/**
 * Creates the input topic and fills it: row n goes to partition n mod P, a
 * `*COMMIT*` after every `commitRows` rows of a partition, and at the end.
 * Returns the expected total of `v`.
 */
async function produceInput(topic: string): Promise<{ total: number; messages: number }> {
  const admin = benchKafka().admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: partitions }],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
  const producer = benchKafka("rivulet-bench-producer").producer({
    allowAutoTopicCreation: false,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  let total = 0;
  let messagesCount = 0;
  const perPartition: Message[][] = Array.from({ length: partitions }, () => []);
  const open = new Array<number>(partitions).fill(0);
  const send = async (force: boolean) => {
    const pending = perPartition.reduce((a, m) => a + m.length, 0);
    if (pending === 0 || (!force && pending < 30_000)) return;
    const messages = perPartition.flat();
    for (const list of perPartition) list.length = 0;
    // One request at a time, in order, so the markers stay where they were put.
    await producer.send({ topic, messages, acks: -1 });
  };
  try {
    for (let n = 0; n < rows; n++) {
      const partition = n % partitions;
      const { value, v } = inputRow(n);
      total += v;
      perPartition[partition].push({ value, partition });
      messagesCount++;
      if (++open[partition] === commitRows) {
        perPartition[partition].push({ value: "*COMMIT*", partition });
        messagesCount++;
        open[partition] = 0;
      }
      await send(false);
    }
    for (let partition = 0; partition < partitions; partition++) {
      if (open[partition] > 0) {
        perPartition[partition].push({ value: "*COMMIT*", partition });
        messagesCount++;
      }
    }
    await send(true);
  } finally {
    await producer.disconnect();
  }
  return { total, messages: messagesCount };
}

/** The number of stages of the benchmark's transform, as the runner cuts it. */
function stagesOfTransform(): number {
  const probe = new Graph({ onExchange: () => {} });
  transform(probe.input<Row>({ name: "probe", keyed: false }) as Table<Row>, rivulet);
  return probe.stages;
}

/** One configuration measured. */
interface Config {
  readonly label: string;
  /** The rivulet tree whose main.ts runs. */
  readonly tree: string;
  readonly instances: number;
  readonly partitioned: boolean;
  readonly exactlyOnce: boolean;
}

/** What one run gave. */
interface RunFigures {
  readonly seconds: number;
  readonly rowsPerSecond: number;
  /** Seconds from spawn until every input partition had a committed offset (all stage-0 tasks started and checkpointed once). */
  readonly startedSeconds: number;
  /** CPU seconds of each instance, of the broker, of this process, and of the whole machine. */
  readonly cpu: {
    readonly instances: number[];
    readonly broker: number;
    readonly bench: number;
    readonly machineBusy: number;
    readonly machineCapacity: number;
  };
  readonly loadAverage: string;
  readonly exitCodes: number[];
  /** The output's last "all" row: rows and total (checked against the input unless --no-verify). */
  readonly all?: { readonly rows: number; readonly total: number; readonly maxRows: number };
}

/** The configurations measured on one tree. */
function configsOf(tree: string, suffix: string): Config[] {
  const configs: Config[] = [];
  for (const mode of modes) {
    const exactlyOnce = mode === "exactly-once";
    for (const k of instanceCounts) {
      if (exactlyOnce && !exactlyOnceCounts.has(k)) continue;
      configs.push({
        label: `${k} instance${k === 1 ? "" : "s"}, --partitioned${
          exactlyOnce ? " --exactly-once" : ""
        }${suffix}`,
        tree,
        instances: k,
        partitioned: true,
        exactlyOnce,
      });
    }
  }
  if (!args["no-baseline"]) {
    configs.push({
      label: `1 process, --state-store kafka (not partitioned)${suffix}`,
      tree,
      instances: 1,
      partitioned: false,
      exactlyOnce: false,
    });
  }
  return configs;
}

/**
 * Reads the output topic (read_committed) and returns its last "all" row and
 * the most rows any "all" row had: the run is right if the last one holds
 * every input row and their total, and none held more (no row applied twice).
 * Reads until the topic has been idle for 3 s once that row was seen, or 60 s.
 */
async function lastAllRow(
  topic: string,
): Promise<{ rows: number; total: number; maxRows: number }> {
  const consumer = benchKafka("rivulet-bench-verify").consumer({
    groupId: `bench-inst-verify-${crypto.randomUUID()}`,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let last = { rows: -1, total: -1 };
  let maxRows = -1;
  let lastBatchAt = performance.now();
  await consumer.run({
    eachBatch: ({ batch }) => {
      for (const message of batch.messages) {
        const text = message.value?.toString() ?? "";
        if (!text.includes('"all"')) continue;
        const row = JSON.parse(text) as {
          table: string;
          rows: number;
          total: number;
          diff: number;
        };
        if (row.table !== "all" || row.diff !== 1) continue;
        last = { rows: row.rows, total: row.total };
        maxRows = Math.max(maxRows, row.rows);
      }
      lastBatchAt = performance.now();
      return Promise.resolve();
    },
  });
  const started = performance.now();
  while (performance.now() - started < 60_000) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    if (last.rows === rows && performance.now() - lastBatchAt > 3_000) break;
  }
  await consumer.disconnect();
  return { ...last, maxRows };
}

/** Committed offsets of the group per topic-partition, and the end offsets of the topics. */
async function progress(
  admin: ReturnType<ReturnType<typeof benchKafka>["admin"]>,
  groupId: string,
  topics: readonly string[],
): Promise<{ complete: boolean; inputStarted: boolean; committed: number[] }> {
  let inputStarted = true;
  let complete = true;
  const sums: number[] = [];
  for (let i = 0; i < topics.length; i++) {
    const topic = topics[i];
    // End offsets first, then the group's offsets: a stage is done only if its
    // committed offsets reached ends read after the stage upstream was done.
    let ends: { partition: number; high: string }[];
    try {
      ends = await admin.fetchTopicOffsets(topic);
    } catch {
      return { complete: false, inputStarted: false, committed: sums }; // not created yet
    }
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const at = new Map(committed.partitions.map((p) => [p.partition, Number(p.offset)]));
    if (i === 0) inputStarted = ends.every((e) => (at.get(e.partition) ?? -1) >= 0);
    sums.push([...at.values()].reduce((a, b) => a + Math.max(b, 0), 0));
    const done = ends.every((e) => {
      const high = Number(e.high);
      const offset = at.get(e.partition) ?? -1;
      return high === 0 || offset >= high;
    });
    if (!done && !args.trace) return { complete: false, inputStarted, committed: sums };
    if (!done) complete = false;
  }
  return { complete, inputStarted, committed: sums };
}

async function runOnce(
  config: Config,
  input: string,
  stages: number,
  expectedTotal: number,
  run: number,
): Promise<RunFigures> {
  const groupId = `bench-inst-${crypto.randomUUID().slice(0, 8)}`;
  const output = uniqueTopic("inst-out");
  const settingsPath = await Deno.makeTempFile({ prefix: "rivulet-bench-inst-", suffix: ".json" });
  await Deno.writeTextFile(
    settingsPath,
    JSON.stringify({
      "bootstrap.servers": benchBroker,
      "group.id": groupId,
      "auto.offset.reset": "earliest",
    }),
  );
  const readTopics = config.partitioned
    ? [input, ...internalTopics(groupId, stages).repartition]
    : [input];
  const command = [
    "run",
    "--transform",
    transformPath,
    "--topic",
    input,
    "--settings",
    settingsPath,
    "--format",
    "json",
    "--columns",
    "id,cat,v",
    "--output-topic",
    output,
    ...(config.partitioned ? ["--partitioned"] : ["--state-store", "kafka"]),
    ...(config.exactlyOnce ? ["--exactly-once"] : []),
  ];
  const admin = benchKafka("rivulet-bench-watch").admin();
  await admin.connect();
  const broker = brokerPid();
  const machineBefore = machineCpu();
  const brokerBefore = broker === undefined ? NaN : cpuSeconds(broker);
  const benchBefore = cpuSeconds("self");
  const started = performance.now();
  const children = Array.from(
    { length: config.instances },
    (_, i) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...instanceV8Flags(`${config.label}-${run}-${i}`),
          "--no-prompt",
          "--allow-read",
          "--allow-net",
          "--allow-env=NODE_ENV,KAFKAJS_*,RIVULET_*",
          "--allow-write=.state",
          `${config.tree}main.ts`,
          ...command,
        ],
        cwd: config.tree,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn(),
  );
  for (const child of children) running.add(child);
  const logs = children.map((child) => new Response(child.stderr).text());
  const pids = children.map((child) => child.pid);
  // The last CPU reading of each instance while it was alive.
  const lastCpu = pids.map(() => 0);
  const sample = () => pids.forEach((pid, i) => (lastCpu[i] = cpuSeconds(pid) || lastCpu[i]));
  let startedAt = NaN;
  let finishedAt = NaN;
  let ended = { machine: machineBefore, broker: NaN, bench: NaN };
  let statuses: Deno.CommandStatus[] = [];
  let texts: string[] = [];
  const exited = Promise.all(children.map((child) => child.status));
  let early = false;
  exited.then(() => (early = true));
  try {
    while (performance.now() - started < runTimeoutMs) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      sample();
      if (early) break;
      const state = await progress(admin, groupId, readTopics);
      if (state.inputStarted && Number.isNaN(startedAt)) startedAt = performance.now();
      if (args.trace) {
        log(
          `  ${fmt((performance.now() - started) / 1000, 2)} s: committed ${
            state.committed.join(" / ")
          }; CPU s ${pids.map((_, i) => fmt(lastCpu[i])).join("+")}`,
        );
      }
      if (state.complete) {
        finishedAt = performance.now();
        break;
      }
    }
  } finally {
    sample();
    ended = {
      machine: machineCpu(),
      broker: broker === undefined ? NaN : cpuSeconds(broker),
      bench: cpuSeconds("self"),
    };
    for (const child of children) {
      try {
        child.kill("SIGTERM");
      } catch {
        // gone already
      }
    }
    statuses = await exited;
    for (const child of children) running.delete(child);
    texts = await Promise.all(logs);
    await admin.disconnect();
    await Deno.remove(settingsPath).catch(() => {});
  }
  if (args["keep-logs"] !== undefined) {
    texts.forEach((text, i) =>
      Deno.writeTextFileSync(
        `${args["keep-logs"]}/${config.label.replace(/\W+/g, "_")}-${run}-${i}.log`,
        text,
      )
    );
  }
  if (Number.isNaN(finishedAt)) {
    const kept = await Deno.makeTempDir({ prefix: "rivulet-bench-inst-stalled-" });
    texts.forEach((text, i) => Deno.writeTextFileSync(`${kept}/instance-${i}.log`, text));
    await deleteTopics([
      output,
      ...(config.partitioned ? internalTopics(groupId, stages).repartition : []),
      ...(config.partitioned ? [internalTopics(groupId, stages).changelog] : []),
    ]);
    throw new Error(
      `${config.label}: the run did not complete in ${runTimeoutMs / 1000} s (group ${groupId}, ` +
        `exit codes ${statuses.map((s) => s.code).join(",")}; the instances' logs are in ${kept})`,
    );
  }
  const seconds = (finishedAt - started) / 1000;
  let figures: RunFigures = {
    seconds,
    rowsPerSecond: rows / seconds,
    startedSeconds: (startedAt - started) / 1000,
    cpu: {
      instances: lastCpu,
      broker: ended.broker - brokerBefore,
      bench: ended.bench - benchBefore,
      machineBusy: ended.machine.busy - machineBefore.busy,
      machineCapacity: ended.machine.total - machineBefore.total,
    },
    loadAverage: loadAverage(),
    exitCodes: statuses.map((s) => s.code),
  };
  if (!args["no-verify"]) {
    const all = await lastAllRow(output);
    figures = { ...figures, all };
    if (all.rows !== rows || all.total !== expectedTotal || all.maxRows !== rows) {
      throw new Error(
        `${config.label}: the output's last "all" row is ${JSON.stringify(all)}, expected ` +
          `${rows} rows with total ${expectedTotal} (and no "all" row above ${rows} rows); ` +
          `group ${groupId}, output topic ${output} (kept)`,
      );
    }
  }
  // Output and internal topics go, so repeated runs do not fill the broker's disk (those of a
  // run whose output was wrong stay, for a look at what happened).
  await deleteTopics([
    output,
    ...(config.partitioned
      ? [...internalTopics(groupId, stages).repartition, internalTopics(groupId, stages).changelog]
      : [`${groupId}-state-changelog`]),
  ]);
  return figures;
}

async function deleteTopics(topics: readonly string[]): Promise<void> {
  const admin = benchKafka().admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((t) => existing.has(t));
    if (present.length > 0) await admin.deleteTopics({ topics: present, timeout: 30_000 });
  } catch {
    // A topic left behind costs disk space, not correctness.
  } finally {
    await admin.disconnect();
  }
}

function fmt(n: number, digits = 1): string {
  return n.toFixed(digits);
}

if (import.meta.main) {
  const configs: Config[] = [];
  for (const tree of trees) {
    const suffix = trees.length === 1 ? "" : ` [${tree}]`;
    configs.push(...configsOf(tree, suffix));
  }
  const stages = stagesOfTransform();

  const input = uniqueTopic("inst-in");
  log(`producing ${rows} rows to ${input} (${partitions} partitions, commits of ${commitRows})`);
  const { total, messages } = await produceInput(input);
  log(`input: ${messages} messages, sum of v ${total}; ${stages} stages; broker ${benchBroker}`);
  // Deno start-up of main.ts once, so that the first measured run is not the one that fills the cache.
  await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${root}main.ts`, "--help"],
    stdout: "null",
    stderr: "null",
  }).output();
  const results = new Map<string, RunFigures[]>();
  const failures = new Map<string, string[]>();
  for (let run = 1; run <= runs; run++) {
    for (const config of configs) {
      let figures: RunFigures;
      try {
        figures = await runOnce(config, input, stages, total, run);
      } catch (error) {
        // A stalled or wrong run is reported and counted, not dropped silently.
        log(`run ${run} ${config.label}: FAILED: ${(error as Error).message}`);
        failures.set(config.label, [
          ...(failures.get(config.label) ?? []),
          (error as Error).message,
        ]);
        continue;
      }
      const list = results.get(config.label) ?? [];
      list.push(figures);
      results.set(config.label, list);
      log(
        `run ${run} ${config.label}: ${fmt(figures.seconds, 2)} s, ${
          Math.round(figures.rowsPerSecond)
        } rows/s (tasks started ${fmt(figures.startedSeconds, 2)} s); CPU s: instances ${
          figures.cpu.instances.map((c) => fmt(c)).join("+")
        }, broker ${fmt(figures.cpu.broker)}, bench ${fmt(figures.cpu.bench)}, machine ${
          fmt(figures.cpu.machineBusy)
        } of ${fmt(figures.cpu.machineCapacity)}; load ${figures.loadAverage}; exit ${
          figures.exitCodes.join(",")
        }`,
      );
    }
  }
  await deleteTopics([input]);
  console.log(
    `\n${rows} rows (${messages} messages), ${partitions} partitions, commits of ${commitRows} ` +
      `rows, ${cats} cats; ${runs} runs each; median (min-max)\n`,
  );
  console.log(
    "| configuration | runs (failed) | wall s | rows/s | rows/s after tasks started | " +
      "tasks started s | CPU s, all instances | CPU s per instance | broker CPU s | " +
      "machine busy / capacity CPU s |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  const range = (xs: number[], digits: number, scale = 1) =>
    xs.length === 0
      ? "—"
      : `${fmt(median(xs) * scale, digits)} (${fmt(Math.min(...xs) * scale, digits)}–${
        fmt(Math.max(...xs) * scale, digits)
      })`;
  for (const config of configs) {
    const list = results.get(config.label) ?? [];
    const allCpu = list.map((f) => f.cpu.instances.reduce((a, b) => a + b, 0));
    console.log(
      `| ${config.label} | ${list.length} (${failures.get(config.label)?.length ?? 0}) | ${
        range(list.map((f) => f.seconds), 2)
      } | ${range(list.map((f) => f.rowsPerSecond), 0)} | ${
        range(list.map((f) => rows / (f.seconds - f.startedSeconds)), 0)
      } | ${range(list.map((f) => f.startedSeconds), 2)} | ${range(allCpu, 1)} | ${
        range(allCpu.map((c) => c / config.instances), 1)
      } | ${range(list.map((f) => f.cpu.broker), 1)} | ${
        range(list.map((f) => f.cpu.machineBusy), 1)
      } / ${range(list.map((f) => f.cpu.machineCapacity), 1)} |`,
    );
  }
  for (const [label, messages] of failures) {
    for (const message of messages) console.log(`\nFailed: ${label}: ${message}`);
  }
  if (args.json !== undefined) {
    await Deno.writeTextFile(
      args.json,
      JSON.stringify(
        {
          rows,
          messages,
          partitions,
          commitRows,
          cats,
          runs,
          v8Flags,
          results: Object.fromEntries(results),
          failures: Object.fromEntries(failures),
        },
        null,
        2,
      ),
    );
  }
  Deno.exit(0);
}
