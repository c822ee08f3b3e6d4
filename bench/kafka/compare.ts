/**
 * The Pathway comparison of the Kafka benchmark (`harness.ts --with-pathway`):
 * Pathway, rivulet and a bare kafkajs consumer on the same two workloads, each
 * system a program as its user writes it, run as its own process and measured
 * from outside the same way (see BENCHMARKS.md, "Pathway and rivulet side by
 * side").
 *
 * - Workloads, one partition, `messages` messages each (default 1,000,000), a
 *   `*COMMIT*` every 10,000: the seed (csv `value`, `int`, global sum) and a
 *   json group-by (`k` over 10,000 keys, `sum(v)`, about 1.25 M output records).
 * - Time: from just before the process is spawned to the broker's append time
 *   of the last output record (output topics use `LogAppendTime`), so start-up
 *   (runtime, imports, connecting, the group join) is inside "with start-up";
 *   "steady" is the messages after the first commit over the time from the
 *   first output record to the last. The bare consumer has no output: its own
 *   clock says when it had read the first commit and everything.
 * - Done: the output topic's end offset reaches the expected number of
 *   records (computed from the stream; checked again a second later).
 * - Peak RSS: VmHWM of the process and its children; CPU: user + system
 *   time of the same processes (both from /proc, read just before the kill).
 *
 * @module
 */
import {
  benchBroker,
  benchKafka,
  createTopics,
  kvGroupbyOutputRecords,
  kvGroupbyStream,
  nonEmptyCommits,
  produceFast,
  seedStream,
  uniqueTopic,
} from "./_common.ts";

/** The Pathway release the comparison installs (the newest on PyPI when it was written). */
export const pathwayVersion = "0.33.0";

/** A workload of the comparison. */
export type Workload = "seed" | "groupby";

/** A system of the comparison. */
export type System = "pathway" | "rivulet" | "consume";

/** What one run of one system measured. */
export interface SystemRun {
  readonly system: System;
  readonly workload: Workload;
  readonly messages: number;
  /** Messages per second from process spawn to the last output (or the last message read). */
  readonly rate: number;
  /** Messages per second after the first commit's output. */
  readonly steadyRate: number;
  readonly seconds: number;
  readonly peakRssMiB: number;
  readonly cpuSeconds: number;
  /** Output records written (undefined for the bare consumer). */
  readonly outputRecords?: number;
  /** Why the run failed, when it did (then the figures are NaN). */
  readonly failure?: string;
}

/** Options of {@linkcode compare}. */
export interface CompareOptions {
  readonly messages: number;
  readonly runs: number;
  /** Per run of one system. */
  readonly timeoutMs: number;
  /** Topics created, so the caller deletes them at the end. */
  readonly createdTopics: string[];
  /** The V8 flags rivulet runs with (those of the `rivulet` task in deno.json). */
  readonly rivuletV8Flags: readonly string[];
  /** The systems to run (default all). */
  readonly systems?: readonly System[];
  readonly log: (text: string) => void;
}

const commitEvery = 10_000;
const here = new URL(".", import.meta.url).pathname;
const root = new URL("../../", import.meta.url).pathname;

/**
 * Runs every system `runs` times on both workloads, alternating systems
 * within each round (their order rotating between rounds), and returns every
 * run. Installs Pathway first if it is not installed.
 */
export async function compare(options: CompareOptions): Promise<SystemRun[]> {
  const systems = options.systems ?? ["pathway", "rivulet", "consume"];
  const python = systems.includes("pathway") ? await ensurePathway(options.log) : "";
  const runs: SystemRun[] = [];
  for (const workload of ["seed", "groupby"] as const) {
    const stream = () =>
      workload === "seed"
        ? seedStream(options.messages, commitEvery)
        : kvGroupbyStream(options.messages, commitEvery);
    const expected = workload === "seed"
      ? 2 * nonEmptyCommits(stream()) - 1
      : kvGroupbyOutputRecords(stream());
    let firstCommit = 0;
    for (const value of stream()) {
      firstCommit++;
      if (value === "*COMMIT*") break;
    }
    const input = uniqueTopic(`cmp-${workload}`);
    await createTopics([input]);
    options.createdTopics.push(input);
    const started = performance.now();
    await produceFast({ topic: input, values: stream() });
    options.log(
      `compare: produced ${options.messages} ${workload} messages in ${
        ((performance.now() - started) / 1000).toFixed(1)
      } s; ${expected} output records expected`,
    );
    for (let round = 0; round < options.runs; round++) {
      for (let i = 0; i < systems.length; i++) {
        const system = systems[(i + round) % systems.length];
        const run = await runSystem(system, workload, {
          ...options,
          python,
          input,
          expected,
          firstCommit,
        });
        runs.push(run);
        options.log(
          `compare: ${workload} ${system} run ${round + 1}: ` + (run.failure ??
            `${Math.round(run.rate)} msg/s (steady ${Math.round(run.steadyRate)}), ` +
              `${run.seconds.toFixed(2)} s, peak RSS ${run.peakRssMiB.toFixed(0)} MiB, ` +
              `CPU ${run.cpuSeconds.toFixed(1)} s` +
              (run.outputRecords === undefined ? "" : `, ${run.outputRecords} records out`)),
        );
      }
    }
  }
  return runs;
}

/** The Python of a virtual environment under `.cache/` holding Pathway; creates it when needed. */
export async function ensurePathway(log: (text: string) => void): Promise<string> {
  const venv = `${root}.cache/pathway/venv-${pathwayVersion}`;
  const python = `${venv}/bin/python`;
  const probe = [
    "-c",
    `import importlib.metadata as m, sys; sys.exit(m.version("pathway") != "${pathwayVersion}")`,
  ];
  if (await succeeds(python, probe)) return python;
  log(`compare: installing Pathway ${pathwayVersion} from PyPI into ${venv} (a few minutes)`);
  await Deno.mkdir(`${root}.cache/pathway`, { recursive: true });
  await mustSucceed("python3", ["-m", "venv", venv]);
  await mustSucceed(`${venv}/bin/pip`, ["install", "--quiet", `pathway==${pathwayVersion}`]);
  if (!(await succeeds(python, probe))) {
    throw new Error(`Pathway ${pathwayVersion} is not importable from ${venv} after installing`);
  }
  return python;
}

async function succeeds(command: string, args: string[]): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(command, { args, stdout: "null", stderr: "null" })
      .output();
    return success;
  } catch {
    return false;
  }
}

async function mustSucceed(command: string, args: string[]): Promise<void> {
  const { success, code } = await new Deno.Command(command, {
    args,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!success) throw new Error(`${command} ${args.join(" ")} exited ${code}`);
}

interface RunContext extends CompareOptions {
  readonly python: string;
  readonly input: string;
  readonly expected: number;
  /** Messages up to and including the first `*COMMIT*`. */
  readonly firstCommit: number;
}

async function runSystem(
  system: System,
  workload: Workload,
  context: RunContext,
): Promise<SystemRun> {
  const output = uniqueTopic(`cmp-out-${system}`);
  await createTopics([output], [{ name: "message.timestamp.type", value: "LogAppendTime" }]);
  context.createdTopics.push(output);
  const env = {
    RIVULET_BENCH_BROKER: benchBroker,
    RIVULET_BENCH_GROUP: `bench-cmp-${crypto.randomUUID()}`,
    RIVULET_BENCH_INPUT: context.input,
    RIVULET_BENCH_OUTPUT: output,
    RIVULET_BENCH_MESSAGES: String(context.messages),
    RIVULET_BENCH_FIRST: String(context.firstCommit),
  };
  const program = workload === "seed" ? "seed_sum" : "groupby_sum";
  const [command, args] = system === "pathway"
    ? [context.python, [`${root}bench/pathway/${program}.py`]]
    : system === "rivulet"
    ? [Deno.execPath(), [
      "run",
      "--allow-all",
      ...context.rivuletV8Flags,
      `${here}programs/${program}.ts`,
    ]]
    : [Deno.execPath(), ["run", "--allow-all", `${here}programs/consume.ts`]];
  const spawnedAt = Date.now();
  const child = new Deno.Command(command, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  let exited = false;
  child.status.then(() => (exited = true));
  const usage = new TreeUsage(child.pid);
  const fail = async (failure: string): Promise<SystemRun> => {
    killTree(child.pid);
    await child.status;
    const tail = (await stderr.done).slice(-2_000);
    return {
      system,
      workload,
      messages: context.messages,
      rate: NaN,
      steadyRate: NaN,
      seconds: NaN,
      peakRssMiB: NaN,
      cpuSeconds: NaN,
      failure: `${failure}${tail === "" ? "" : `; its stderr ends: ${tail}`}`,
    };
  };
  const deadline = Date.now() + context.timeoutMs;
  const admin = benchKafka("rivulet-bench-compare").admin();
  await admin.connect();
  try {
    let records = 0;
    let lastPoll = 0;
    while (true) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      usage.sample();
      if (exited) return await fail(`${system} exited before it was done`);
      if (Date.now() > deadline) {
        return await fail(
          `${system} did not finish in ${context.timeoutMs / 1000} s` +
            (system === "consume" ? "" : ` (${records} of ${context.expected} records out)`),
        );
      }
      if (system === "consume") {
        if (stdout.text.includes("\n")) break;
      } else if (Date.now() - lastPoll >= 250) {
        lastPoll = Date.now();
        records = await endOffset(admin, output);
        if (records >= context.expected) break;
      }
    }
    usage.sample();
    const { peakKiB, cpuSeconds } = usage;
    let first: number;
    let last: number;
    let firstMessages: number;
    let outputRecords: number | undefined;
    if (system === "consume") {
      const done = JSON.parse(stdout.text.split("\n")[0]) as {
        firstAt: number;
        firstSeen: number;
        lastAt: number;
      };
      first = done.firstAt;
      last = done.lastAt;
      firstMessages = done.firstSeen;
    } else {
      // A second more shows whether the system writes more than expected.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      outputRecords = await endOffset(admin, output);
      killTree(child.pid);
      [first, last] = await appendTimes(output, context.expected - 1);
      firstMessages = context.firstCommit;
    }
    killTree(child.pid);
    await child.status;
    const seconds = (last - spawnedAt) / 1000;
    return {
      system,
      workload,
      messages: context.messages,
      rate: context.messages / seconds,
      steadyRate: (context.messages - firstMessages) / ((last - first) / 1000),
      seconds,
      peakRssMiB: peakKiB / 1024,
      cpuSeconds,
      ...(outputRecords === undefined ? {} : { outputRecords }),
    };
  } finally {
    killTree(child.pid);
    await admin.disconnect();
  }
}

/** Standard output or error read to the end in the background: `text` so far, `done` at the end. */
function collect(
  stream: ReadableStream<Uint8Array>,
): { readonly text: string; done: Promise<string> } {
  const state = {
    text: "",
    done: Promise.resolve(""),
  };
  state.done = (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      state.text += chunk;
      // Only the end matters (an error); keep memory bounded.
      if (state.text.length > 100_000) state.text = state.text.slice(-50_000);
    }
    return state.text;
  })();
  return state;
}

async function endOffset(
  admin: ReturnType<ReturnType<typeof benchKafka>["admin"]>,
  topic: string,
): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return Number(offsets[0].high);
}

/** The broker append times (ms) of the records at offset 0 and `lastOffset` of a topic. */
async function appendTimes(topic: string, lastOffset: number): Promise<[number, number]> {
  const consumer = benchKafka("rivulet-bench-compare-reader").consumer({
    groupId: `bench-cmp-reader-${crypto.randomUUID()}`,
    maxBytesPerPartition: 64 * 1024,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let first = NaN;
  let done!: (times: [number, number]) => void;
  const found = new Promise<[number, number]>((resolve) => (done = resolve));
  await consumer.run({
    autoCommit: false,
    eachBatch: ({ batch }) => {
      for (const message of batch.messages) {
        const offset = Number(message.offset);
        if (offset === 0) {
          first = Number(message.timestamp);
          if (lastOffset > 0) consumer.seek({ topic, partition: 0, offset: String(lastOffset) });
        }
        if (offset === lastOffset) done([first, Number(message.timestamp)]);
        if (offset === 0) break;
      }
      return Promise.resolve();
    },
  });
  const timeout = setTimeout(
    () => done([NaN, NaN]),
    30_000,
  );
  const times = await found;
  clearTimeout(timeout);
  await consumer.disconnect();
  return times;
}

/** Peak RSS and CPU time of a process and its descendants, sampled from /proc. */
class TreeUsage {
  /** Per pid: the largest VmHWM seen (KiB) and the latest CPU ticks. */
  readonly #peak = new Map<number, number>();
  readonly #ticks = new Map<number, number>();

  constructor(readonly pid: number) {}

  sample(): void {
    for (const pid of tree(this.pid)) {
      try {
        const status = Deno.readTextFileSync(`/proc/${pid}/status`);
        const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
        this.#peak.set(pid, Math.max(this.#peak.get(pid) ?? 0, hwm));
        // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
        const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        this.#ticks.set(pid, Number(fields[11]) + Number(fields[12]));
      } catch {
        // The process has just exited: its last sample stands.
      }
    }
  }

  get peakKiB(): number {
    let sum = 0;
    for (const kib of this.#peak.values()) sum += kib;
    return sum;
  }

  get cpuSeconds(): number {
    let ticks = 0;
    for (const t of this.#ticks.values()) ticks += t;
    // USER_HZ is 100 on Linux.
    return ticks / 100;
  }
}

/** A pid and its descendants. */
function tree(pid: number): number[] {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    try {
      const tasks = [...Deno.readDirSync(`/proc/${pids[i]}/task`)];
      for (const task of tasks) {
        const children = Deno.readTextFileSync(`/proc/${pids[i]}/task/${task.name}/children`);
        for (const child of children.trim().split(" ")) if (child !== "") pids.push(Number(child));
      }
    } catch {
      // Exited.
    }
  }
  return pids;
}

function killTree(pid: number): void {
  for (const p of tree(pid).reverse()) {
    try {
      Deno.kill(p, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** Median of the runs that did not fail. */
function median(xs: readonly number[]): number {
  const sorted = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The comparison as a markdown table: medians, and the targets of issue 17. */
export function compareReport(runs: readonly SystemRun[], messages: number): string {
  const fmt = (x: number) => Number.isNaN(x) ? "—" : Math.round(x).toLocaleString("en");
  const names: Record<System, string> = {
    pathway: `Pathway ${pathwayVersion}`,
    rivulet: "rivulet",
    consume: "bare kafkajs consume",
  };
  const workloads: Record<Workload, string> = {
    seed: "seed csv sum",
    groupby: "json group-by k, sum v",
  };
  const lines = [
    `Pathway comparison: ${messages.toLocaleString("en")} messages per workload, one partition, ` +
    `*COMMIT* every 10,000; medians of ${
      Math.max(...runs.map((r) =>
        runs.filter((s) =>
          s.system === r.system &&
          s.workload === r.workload
        ).length
      ))
    } alternated run(s)`,
    "",
    "| Workload | System | msg/s with start-up | msg/s steady | peak RSS MiB | CPU s | records out | runs (msg/s with start-up) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  const medians = new Map<string, SystemRun>();
  for (const workload of ["seed", "groupby"] as const) {
    for (const system of ["pathway", "rivulet", "consume"] as const) {
      const mine = runs.filter((r) => r.workload === workload && r.system === system);
      if (mine.length === 0) continue;
      const m: SystemRun = {
        system,
        workload,
        messages,
        rate: median(mine.map((r) => r.rate)),
        steadyRate: median(mine.map((r) => r.steadyRate)),
        seconds: median(mine.map((r) => r.seconds)),
        peakRssMiB: median(mine.map((r) => r.peakRssMiB)),
        cpuSeconds: median(mine.map((r) => r.cpuSeconds)),
        outputRecords: mine.find((r) => r.outputRecords !== undefined)?.outputRecords,
      };
      medians.set(`${workload}/${system}`, m);
      const failures = mine.filter((r) => r.failure !== undefined).length;
      lines.push(
        `| ${workloads[workload]} | ${names[system]} | ${fmt(m.rate)} | ${fmt(m.steadyRate)} | ${
          fmt(m.peakRssMiB)
        } | ${Number.isNaN(m.cpuSeconds) ? "—" : m.cpuSeconds.toFixed(1)} | ${
          m.outputRecords === undefined ? "" : fmt(m.outputRecords)
        } | ${mine.map((r) => fmt(r.rate)).join(" / ")}${
          failures === 0 ? "" : ` (${failures} failed)`
        } |`,
      );
    }
  }
  const get = (w: Workload, s: System) => medians.get(`${w}/${s}`);
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? NaN : a / b;
  const seedVsPathway = ratio(get("seed", "rivulet")?.rate, get("seed", "pathway")?.rate);
  const groupbyVsPathway = ratio(get("groupby", "rivulet")?.rate, get("groupby", "pathway")?.rate);
  const seedVsCeiling = ratio(get("seed", "rivulet")?.rate, get("seed", "consume")?.rate);
  const rssSeed = ratio(get("seed", "rivulet")?.peakRssMiB, get("seed", "pathway")?.peakRssMiB);
  const rssGroupby = ratio(
    get("groupby", "rivulet")?.peakRssMiB,
    get("groupby", "pathway")?.peakRssMiB,
  );
  const mark = (met: boolean) => met ? "met" : "missed";
  lines.push(
    "",
    "| Target (issue 17) | Measured | Result |",
    "| --- | --- | --- |",
    `| seed: rivulet ≥ 5× Pathway (with start-up) | ${seedVsPathway.toFixed(2)}× | ${
      mark(seedVsPathway >= 5)
    } |`,
    `| seed: rivulet ≥ 80% of the bare consume ceiling (with start-up) | ${
      (100 * seedVsCeiling).toFixed(0)
    }% | ${mark(seedVsCeiling >= 0.8)} |`,
    `| group-by: rivulet ≥ 3× Pathway (with start-up) | ${groupbyVsPathway.toFixed(2)}× | ${
      mark(groupbyVsPathway >= 3)
    } |`,
    `| peak RSS ≤ Pathway's, seed | ${(100 * rssSeed).toFixed(0)}% of Pathway's | ${
      mark(rssSeed <= 1)
    } |`,
    `| peak RSS ≤ Pathway's, group-by | ${(100 * rssGroupby).toFixed(0)}% of Pathway's | ${
      mark(rssGroupby <= 1)
    } |`,
  );
  return lines.join("\n");
}
