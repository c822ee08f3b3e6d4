/**
 * The Kafka pipeline benchmark: rivulet against the Kafka client's own
 * ceiling on the local broker, in one run (see BENCHMARKS.md, "Kafka
 * pipeline").
 *
 * ```sh
 * scripts/deno run --allow-all bench/kafka/harness.ts            # the whole run
 * scripts/deno run --allow-all bench/kafka/harness.ts --quick    # a smoke run, seconds
 * ```
 *
 * Options: `--messages N` per throughput topic (default 2,000,000; also the
 * Pathway comparison's, default 1,000,000), `--runs N` (default 3; each figure
 * is the median), `--memory-messages N` (default 10,000,000),
 * `--latency-seconds N` (default 20), `--rate N` messages per second for the
 * latency run (default 10,000), `--only a,b` (sections: throughput, latency,
 * memory, pathway), `--with-pathway` (adds the Pathway comparison,
 * `compare.ts`, installing Pathway into `.cache/` when needed), `--systems
 * pathway,rivulet,consume` (which the comparison runs), `--v8-flags "--a=1 --b"`
 * (rivulet's V8 flags instead of deno.json's, for A/B runs; "" for none),
 * `--json PATH` to keep the figures, `--kafka-client kafkajs,platformatic`
 * (default both): the clients whose throughput figures are measured, their
 * runs alternated (run 1 of each client, then run 2 of each, ...) so that a
 * change in the machine's load falls on all of them alike. Latency, memory and
 * the Pathway comparison use the first client.
 *
 * rivulet runs with the V8 flags of the `rivulet` task in deno.json (its heap
 * limit), as a user's `deno task rivulet` does.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  benchBroker,
  benchKafka,
  createTopics,
  deleteTopics,
  groupbyStream,
  produceFast,
  type RunResult,
  seedStream,
  uniqueTopic,
} from "./_common.ts";
import type { BenchClient, RunSpec } from "./_run.ts";
import { compare, compareReport, type System, type SystemRun } from "./compare.ts";
import type { Message } from "kafkajs";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    messages: { type: "string", default: "2000000" },
    runs: { type: "string", default: "3" },
    "memory-messages": { type: "string", default: "10000000" },
    "latency-seconds": { type: "string", default: "20" },
    rate: { type: "string", default: "10000" },
    only: { type: "string", default: "throughput,latency,memory" },
    json: { type: "string" },
    quick: { type: "boolean", default: false },
    "kafka-client": { type: "string", default: "kafkajs,platformatic" },
    "with-pathway": { type: "boolean", default: false },
    systems: { type: "string", default: "pathway,rivulet,consume" },
    "v8-flags": { type: "string" },
  },
});

const quick = args.quick;
const messagesGiven = Deno.args.some((arg) => arg.startsWith("--messages"));
const messages = quick ? 50_000 : Number(args.messages);
const compareMessages = quick ? 50_000 : messagesGiven ? messages : 1_000_000;
const runs = quick ? 1 : Number(args.runs);
const memoryMessages = quick ? 200_000 : Number(args["memory-messages"]);
const latencySeconds = quick ? 3 : Number(args["latency-seconds"]);
const rate = Number(args.rate);
const sections = new Set(args.only.split(","));
const clients: BenchClient[] = args["kafka-client"].split(",").map((name) => {
  if (name !== "kafkajs" && name !== "platformatic") {
    throw new Error(
      `--kafka-client takes kafkajs and/or platformatic, not ${JSON.stringify(name)}`,
    );
  }
  return name;
});
if (args["with-pathway"]) sections.add("pathway");
const runScript = new URL("./_run.ts", import.meta.url).pathname;
const createdTopics: string[] = [];
const runTimeoutMs = 300_000;

/** The `--v8-flags=…` of the `rivulet` task in deno.json: the heap limit rivulet chooses. */
function rivuletV8Flags(): string[] {
  const denoJson = JSON.parse(
    Deno.readTextFileSync(new URL("../../deno.json", import.meta.url)),
  ) as { tasks: Record<string, string> };
  return denoJson.tasks.rivulet.split(/\s+/).filter((arg) => arg.startsWith("--v8-flags="));
}

// `--v8-flags "--a --b"` tries other flags (A/B runs); the default is what users get.
const v8Flags = args["v8-flags"] === undefined
  ? rivuletV8Flags()
  : args["v8-flags"] === ""
  ? []
  : [`--v8-flags=${args["v8-flags"].trim().split(/\s+/).join(",")}`];

function log(text: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${text}`);
}

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function topics(prefix: string, count = 1, config: { name: string; value: string }[] = []) {
  const names = Array.from({ length: count }, () => uniqueTopic(prefix));
  await createTopics(names, config);
  createdTopics.push(...names);
  return names;
}

/** Spawns one measured process; `onStart` gets its pid (for memory sampling). */
async function measure(spec: RunSpec, onStart?: (pid: number) => () => void): Promise<RunResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      ...(spec.kind === "consume" || spec.kind === "consume-produce" ? [] : v8Flags),
      runScript,
      JSON.stringify(spec),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stopSampling = onStart?.(child.pid);
  // A run that never sees its last output would hang the whole benchmark.
  const timeout = setTimeout(() => child.kill("SIGKILL"), runTimeoutMs);
  const output = await child.output();
  clearTimeout(timeout);
  stopSampling?.();
  const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
  if (!output.success) throw new Error(`Run ${JSON.stringify(spec)} exited ${output.code}`);
  return JSON.parse(lines[lines.length - 1]) as RunResult;
}

interface Figure {
  readonly name: string;
  /** Median messages per second over the runs. */
  readonly rate: number;
  readonly rates: readonly number[];
  /** The ceiling this figure is compared with, by name. */
  readonly against?: string;
  readonly outputRecords?: number;
}

/**
 * One figure per client for the same scenario, the runs alternated between
 * the clients: run 1 of each, then run 2 of each, ...
 */
async function alternated(
  name: (client: BenchClient) => string,
  spec: (client: BenchClient, outTopic: string) => RunSpec,
  against?: (client: BenchClient) => string,
): Promise<Figure[]> {
  const rates = new Map<BenchClient, number[]>(clients.map((c) => [c, []]));
  const outputs = new Map<BenchClient, number | undefined>();
  for (let run = 0; run < runs; run++) {
    for (const client of clients) {
      const [outTopic] = await topics("out");
      const result = await measure(spec(client, outTopic));
      const rate = result.messages / result.seconds;
      rates.get(client)!.push(rate);
      outputs.set(client, result.outputRecords);
      log(
        `${name(client)} run ${run + 1}: ${result.messages} messages in ${
          result.seconds.toFixed(2)
        } s = ${Math.round(rate)} msg/s` +
          (result.outputRecords === undefined ? "" : `, ${result.outputRecords} records out`),
      );
    }
  }
  return clients.map((client) => ({
    name: name(client),
    rate: median(rates.get(client)!),
    rates: rates.get(client)!,
    against: against?.(client),
    outputRecords: outputs.get(client),
  }));
}

async function throughput(): Promise<Figure[]> {
  const seedTopics = new Map<number, string>();
  for (const commitEvery of [1, 100, 10_000]) {
    const [topic] = await topics(`seed-${commitEvery}`);
    const started = performance.now();
    await produceFast({ topic, values: seedStream(messages, commitEvery) });
    log(
      `produced ${messages} seed messages (commit every ${commitEvery}) in ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s`,
    );
    seedTopics.set(commitEvery, topic);
  }
  const [groupbyTopic] = await topics("groupby");
  await produceFast({ topic: groupbyTopic, values: groupbyStream(messages, 10_000) });
  log(`produced ${messages} group-by messages`);

  const seed = seedTopics.get(10_000)!;
  const figures: Figure[] = [];
  const ceiling = (client: BenchClient) => `ceiling: ${client} consume (seed csv topic)`;
  const groupbyCeiling = (client: BenchClient) =>
    `ceiling: ${client} consume (group-by json topic)`;
  figures.push(
    ...await alternated(ceiling, (client) => ({ kind: "consume", client, topic: seed, messages })),
  );
  figures.push(
    ...await alternated(
      (client) => `rivulet's ${client} adapter: group consumer alone (seed csv topic)`,
      (client) => ({ kind: "adapter-consume", client, topic: seed, messages }),
      ceiling,
    ),
  );
  figures.push(
    ...await alternated(
      (client) => `ceiling: ${client} consume + produce (seed csv topic)`,
      (client, outTopic) => ({ kind: "consume-produce", client, topic: seed, outTopic, messages }),
    ),
  );
  figures.push(
    ...await alternated(
      (client) => `rivulet's ${client} adapter: consume + produce (seed csv topic)`,
      (client, outTopic) => ({
        kind: "adapter-consume-produce",
        client,
        topic: seed,
        outTopic,
        messages,
      }),
    ),
  );
  figures.push(
    ...await alternated(
      groupbyCeiling,
      (client) => ({ kind: "consume", client, topic: groupbyTopic, messages }),
    ),
  );
  for (const commitEvery of [10_000, 100, 1]) {
    figures.push(
      ...await alternated(
        (client) =>
          `rivulet seed pipeline on ${client}, commit every ${
            commitEvery.toLocaleString("en")
          } messages`,
        (client, outTopic) => ({
          kind: "seed",
          client,
          topic: seedTopics.get(commitEvery)!,
          outTopic,
          messages,
          commitEvery,
          commitFrequency: 10_000,
        }),
        ceiling,
      ),
    );
  }
  figures.push(
    ...await alternated(
      (client) =>
        `rivulet group-by on ${client} over json with upserts, 10,000 keys, commit every 10,000`,
      (client, outTopic) => ({
        kind: "groupby",
        client,
        topic: groupbyTopic,
        outTopic,
        messages,
        commitEvery: 10_000,
        commitFrequency: 10_000,
      }),
      groupbyCeiling,
    ),
  );
  return figures;
}

interface Latency {
  readonly commits: number;
  readonly measured: number;
  readonly achievedRate: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/**
 * The seed pipeline (one request per commit) in its own process while this
 * one produces `rate` messages a second in commits of 100 (99 values and a
 * marker every 10 ms). The marker's timestamp is set when it is sent; the
 * output record of that commit carries it as `time`, and the output topic
 * stamps each record with the broker's append time (LogAppendTime), so
 * latency = append time of the output - send time of the marker.
 */
async function latency(): Promise<Latency> {
  const [input] = await topics("latency-in");
  const [output] = await topics("latency-out", 1, [
    { name: "message.timestamp.type", value: "LogAppendTime" },
  ]);
  const producer = benchKafka("rivulet-bench-steady").producer({ allowAutoTopicCreation: false });
  await producer.connect();
  await producer.send({ topic: input, messages: [{ value: "value", partition: 0 }], acks: -1 });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      ...v8Flags,
      runScript,
      JSON.stringify({ kind: "serve", client: clients[0], topic: input, outTopic: output }),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  for (let text = ""; !text.includes("ready");) {
    const { value, done } = await reader.read();
    if (done) throw new Error("The latency pipeline ended before it was ready");
    text += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});

  const perCommit = 100;
  const intervalMs = (perCommit / rate) * 1000;
  const commits = Math.round((latencySeconds * 1000) / intervalMs);
  const values = Array.from(
    { length: perCommit - 1 },
    (_, i) => ({ value: String(i + 1), partition: 0 }),
  );
  // One request at a time (see produceFast): commits that fall due while one
  // is in flight go together in the next, their markers stamped when due.
  let queued: Message[] = [];
  let inFlight: Promise<unknown> = Promise.resolve();
  const started = performance.now();
  for (let sent = 0; sent < commits;) {
    const due = Math.min(commits, Math.floor((performance.now() - started) / intervalMs) + 1);
    for (; sent < due; sent++) {
      queued.push(...values, { value: "*COMMIT*", partition: 0, timestamp: String(Date.now()) });
    }
    if (queued.length > 0) {
      const messages = queued;
      queued = [];
      inFlight = inFlight.then(() => producer.send({ topic: input, messages, acks: 1 }));
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await inFlight;
  const producedSeconds = (performance.now() - started) / 1000;
  await producer.disconnect();

  // The first commit inserts the sum (one record); each later one retracts and inserts.
  const expected = 1 + 2 * (commits - 1);
  const latencies = await appendLatencies(output, expected);
  child.kill("SIGTERM");
  await child.status;
  // The first second is the pipeline's warm-up (JIT, first fetches): left out.
  const warmup = Math.round(1000 / intervalMs);
  const steady = latencies.slice(warmup).sort((a, b) => a - b);
  return {
    commits,
    measured: steady.length,
    achievedRate: (commits * perCommit) / producedSeconds,
    p50: percentile(steady, 50),
    p99: percentile(steady, 99),
    max: steady[steady.length - 1],
  };
}

/** Reads the output topic: per commit, broker append time minus the commit's `time`. */
async function appendLatencies(topic: string, expected: number): Promise<number[]> {
  const consumer = benchKafka("rivulet-bench-latency-reader").consumer({
    groupId: `bench-latency-${crypto.randomUUID()}`,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const byTime = new Map<number, number>();
  let seen = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const timer = setTimeout(done, 60_000);
  await consumer.run({
    eachMessage: ({ message }) => {
      const { time } = JSON.parse(message.value!.toString()) as { time: number };
      // A commit's records share one time and one request: the last append time counts.
      byTime.set(time, Math.max(byTime.get(time) ?? 0, Number(message.timestamp) - time));
      if (++seen >= expected) done();
      return Promise.resolve();
    },
  });
  await finished;
  clearTimeout(timer);
  await consumer.disconnect();
  if (seen < expected) log(`latency: only ${seen} of ${expected} output records arrived`);
  return [...byTime.entries()].sort((a, b) => a[0] - b[0]).map(([, ms]) => ms);
}

interface Memory {
  readonly messages: number;
  readonly seconds: number;
  /** [seconds since start, VmRSS in MiB] every half second. */
  readonly samples: readonly [number, number][];
  readonly peakMiB: number;
}

async function memory(): Promise<Memory> {
  const commitEvery = 10_000;
  const [topic] = await topics("memory");
  const started = performance.now();
  await produceFast({ topic, values: seedStream(memoryMessages, commitEvery) });
  log(
    `produced ${memoryMessages} seed messages in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s`,
  );
  const [outTopic] = await topics("memory-out");
  const samples: [number, number][] = [];
  let peakKiB = 0;
  const result = await measure(
    {
      kind: "seed",
      client: clients[0],
      topic,
      outTopic,
      messages: memoryMessages,
      commitEvery,
      commitFrequency: 10_000,
    },
    (pid) => {
      const t0 = performance.now();
      const timer = setInterval(() => {
        try {
          const status = Deno.readTextFileSync(`/proc/${pid}/status`);
          const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
          peakKiB = Math.max(peakKiB, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
          samples.push([(performance.now() - t0) / 1000, rss / 1024]);
        } catch {
          // The process has just exited.
        }
      }, 500);
      return () => clearInterval(timer);
    },
  );
  log(`memory run: ${result.messages} messages in ${result.seconds.toFixed(1)} s`);
  return { messages: result.messages, seconds: result.seconds, samples, peakMiB: peakKiB / 1024 };
}

/** The largest RSS sampled in each tenth of the run, in MiB. */
function rssByTenth(samples: readonly [number, number][]): number[] {
  const end = samples[samples.length - 1][0];
  const tenths = new Array<number>(10).fill(0);
  for (const [at, mib] of samples) {
    const tenth = Math.min(9, Math.floor((10 * at) / end));
    tenths[tenth] = Math.max(tenths[tenth], mib);
  }
  return tenths;
}

function report(
  figures: readonly Figure[],
  lat: Latency | undefined,
  mem: Memory | undefined,
): string {
  const fmt = (x: number) => Math.round(x).toLocaleString("en");
  const lines: string[] = [];
  if (figures.length > 0) {
    lines.push(
      `Throughput: ${messages.toLocaleString("en")} messages per topic, median of ${runs} run(s)`,
      "",
      "| What | msg/s (median) | runs | ratio to ceiling |",
      "| --- | --- | --- | --- |",
    );
    for (const f of figures) {
      const ceiling = figures.find((c) => c.name === f.against);
      const ratio = ceiling === undefined ? "" : `${((100 * f.rate) / ceiling.rate).toFixed(0)}%`;
      lines.push(`| ${f.name} | ${fmt(f.rate)} | ${f.rates.map(fmt).join(" / ")} | ${ratio} |`);
    }
  }
  if (lat !== undefined) {
    lines.push(
      "",
      `Latency at ${
        fmt(lat.achievedRate)
      } msg/s achieved (${lat.commits} commits, ${lat.measured} after the first second): ` +
        `p50 ${lat.p50} ms, p99 ${lat.p99} ms, max ${lat.max} ms`,
    );
  }
  if (mem !== undefined) {
    const tenths = rssByTenth(mem.samples);
    const firstHalf = Math.max(...tenths.slice(0, 5));
    const secondHalf = Math.max(...tenths.slice(5));
    lines.push(
      "",
      `Memory over ${fmt(mem.messages)} messages (${mem.seconds.toFixed(1)} s, ${
        fmt(mem.messages / mem.seconds)
      } msg/s): largest RSS in each tenth of the run (MiB) ${
        tenths.map((x) => x.toFixed(0)).join(" / ")
      }; peak of the first half ${firstHalf.toFixed(0)} MiB, of the second half ${
        secondHalf.toFixed(0)
      } MiB; peak (VmHWM) ${mem.peakMiB.toFixed(0)} MiB`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const started = performance.now();
  const loadAtStart = Deno.loadavg()[0];
  log(
    `nproc ${navigator.hardwareConcurrency}, Deno ${Deno.version.deno}, broker ${benchBroker}, rivulet's V8 flags: ${
      v8Flags.join(" ") || "none"
    }`,
  );
  try {
    const figures = sections.has("throughput") ? await throughput() : [];
    const lat = sections.has("latency") ? await latency() : undefined;
    const mem = sections.has("memory") ? await memory() : undefined;
    const compared: SystemRun[] = sections.has("pathway")
      ? await compare({
        messages: compareMessages,
        runs,
        timeoutMs: runTimeoutMs,
        createdTopics,
        rivuletV8Flags: v8Flags,
        systems: args.systems.split(",") as System[],
        log,
      })
      : [];
    console.log(report(figures, lat, mem));
    if (compared.length > 0) console.log(`\n${compareReport(compared, compareMessages)}`);
    // Other work on a shared machine shows here: 2.0 keeps both cores of this one busy.
    console.log(
      `\nLoad average (1 min) at the start ${loadAtStart.toFixed(1)}, at the end ${
        Deno.loadavg()[0].toFixed(1)
      }`,
    );
    if (args.json !== undefined) {
      Deno.writeTextFileSync(
        args.json,
        JSON.stringify(
          { messages, runs, figures, latency: lat, memory: mem, compared, v8Flags },
          null,
          2,
        ),
      );
    }
    log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await deleteTopics(createdTopics);
  }
  Deno.exit(0);
}
