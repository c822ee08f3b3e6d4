/**
 * A/B of whole builds on one Kafka pipeline program: the program of each given
 * tree (a checkout or `git archive` of a commit) runs in turn on the same input
 * topic, the order reversed every other round, and each run's CPU seconds
 * (user + system, from `/proc`) and wall time to the expected number of output
 * records are reported, then their medians and ranges. On a machine shared
 * with other work CPU seconds are the steadier figure (see BENCHMARKS.md,
 * "Seed pipeline: profile and A/B").
 *
 * ```sh
 * git archive BEFORE --prefix=before/ | tar -x -C /tmp
 * scripts/deno run --allow-all bench/kafka/ab.ts --runs 5 /tmp/before .
 * scripts/deno run --allow-all bench/kafka/ab.ts "/tmp/before|--max-semi-space-size=8" \
 *   "/tmp/before|--max-semi-space-size=16"            # V8 flags per tree ("tree|flags")
 * scripts/deno run --allow-all bench/kafka/ab.ts ".||RIVULET_KAFKA_CLIENT=kafkajs" \
 *   ".||RIVULET_KAFKA_CLIENT=platformatic"            # environment per run ("tree|flags|K=V,K=V")
 * ```
 *
 * Options: `--runs N` (default 5), `--messages N` (seed topic size, default
 * 1,000,000, a `*COMMIT*` every 10,000), `--topic T` (reuse a filled topic),
 * `--program P` (in `bench/kafka/programs/`, default `seed_sum`),
 * `--expected N` output records (default 199, the seed's), `--flags F` V8
 * flags for trees given without any (default `--max-semi-space-size=8`, the
 * `rivulet` task's), `--workload groupby` (the comparison's json group-by:
 * a `kvGroupbyStream` topic, `groupby_sum`, its exact output count expected),
 * `--profile DIR` (each run writes a V8 `--prof` log there, for
 * `node --prof-process`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  benchBroker,
  benchKafka,
  createTopics,
  deleteTopics,
  kvGroupbyOutputRecords,
  kvGroupbyStream,
  produceFast,
  seedStream,
  uniqueTopic,
} from "./_common.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    runs: { type: "string", default: "5" },
    messages: { type: "string", default: "1000000" },
    program: { type: "string" },
    flags: { type: "string", default: "--max-semi-space-size=8" },
    topic: { type: "string" },
    expected: { type: "string" },
    workload: { type: "string", default: "seed" },
    profile: { type: "string" },
  },
});
if (positionals.length === 0) throw new Error("Give one or more trees to compare");

const messages = Number(values.messages);
const groupby = values.workload === "groupby";
if (!groupby && values.workload !== "seed") throw new Error("--workload is seed or groupby");
const program = values.program ?? (groupby ? "groupby_sum" : "seed_sum");
const stream = () => groupby ? kvGroupbyStream(messages, 10_000) : seedStream(messages, 10_000);
const expected = Number(
  values.expected ?? (groupby ? kvGroupbyOutputRecords(stream()) : 199),
);
let input = values.topic;
if (input === undefined) {
  input = uniqueTopic(groupby ? "ab-groupby" : "ab-seed");
  await createTopics([input]);
  await produceFast({ topic: input, values: stream() });
  console.log(`input topic ${input} (${messages} messages; --topic reuses it)`);
}
console.log(`expecting ${expected} output records`);

/** CPU seconds (user + system) of a process so far, or undefined once it is gone. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

async function endOffset(topic: string): Promise<number> {
  const admin = benchKafka("rivulet-bench-ab").admin();
  await admin.connect();
  try {
    return Number((await admin.fetchTopicOffsets(topic))[0].high);
  } catch {
    return 0; // The new topic's metadata is not there yet.
  } finally {
    await admin.disconnect();
  }
}

/** The run's V8 flags, with a `--prof` log of its own when profiling. */
function v8Flags(flags: string, round: number): string[] {
  const all = flags ? flags.split(",") : [];
  if (values.profile !== undefined) {
    Deno.mkdirSync(values.profile, { recursive: true });
    const name = `${values.profile}/${round}-${crypto.randomUUID().slice(0, 8)}.log`;
    all.push("--prof", `--logfile=${name}`, "--no-logfile-per-isolate");
  }
  return all.length > 0 ? [`--v8-flags=${all.join(",")}`] : [];
}

const results = new Map<string, { wall: number[]; cpu: number[] }>();
for (let round = 0; round < Number(values.runs); round++) {
  const order = round % 2 === 0 ? positionals : [...positionals].reverse();
  for (const spec of order) {
    const [tree, givenFlags, givenEnv] = spec.split("|");
    const flags = givenFlags || values.flags;
    const extraEnv = Object.fromEntries(
      (givenEnv ?? "").split(",").filter((pair) => pair.includes("=")).map((pair) =>
        pair.split("=", 2) as [string, string]
      ),
    );
    const output = uniqueTopic("ab-out");
    await createTopics([output]);
    const started = performance.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        ...v8Flags(flags, round),
        `${tree}/bench/kafka/programs/${program}.ts`,
      ],
      env: {
        RIVULET_BENCH_BROKER: benchBroker,
        RIVULET_BENCH_INPUT: input,
        RIVULET_BENCH_OUTPUT: output,
        RIVULET_BENCH_GROUP: `bench-ab-${crypto.randomUUID()}`,
        ...extraEnv,
      },
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    let cpu = NaN;
    let wall = NaN;
    const deadline = Date.now() + 300_000;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const now = cpuSeconds(child.pid);
      if (now === undefined) break;
      cpu = now;
      if (await endOffset(output) >= expected) {
        wall = (performance.now() - started) / 1000;
        break;
      }
    }
    try {
      child.kill("SIGKILL");
    } catch {
      // It ended by itself (a failed run): reported below as not finished.
    }
    await child.status;
    await deleteTopics([output]);
    const result = results.get(spec) ?? { wall: [], cpu: [] };
    results.set(spec, result);
    result.wall.push(wall);
    result.cpu.push(cpu);
    console.log(
      `${spec}: ${Number.isNaN(wall) ? "did not finish" : `wall ${wall.toFixed(2)} s`}, ` +
        `CPU ${cpu.toFixed(2)} s, load ${Deno.loadavg()[0].toFixed(1)}`,
    );
  }
}

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

const range = (xs: readonly number[]) =>
  `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
for (const [spec, { wall, cpu }] of results) {
  console.log(
    `${spec}: CPU median ${median(cpu).toFixed(2)} s [${range(cpu)}], ` +
      `wall median ${median(wall).toFixed(2)} s [${range(wall)}]`,
  );
}
