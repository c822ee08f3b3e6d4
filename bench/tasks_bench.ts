/**
 * Where the CPU of a partitioned run goes, without Kafka: the tasks of the
 * several-instances benchmark's pipeline (`kafka/programs/by_cat_total.ts`,
 * three stages) driven in one process, as the runner drives them, with
 * fragments encoded and decoded as they travel through the repartition topics
 * (`runtime/tasks/fragment.ts`). Prints the CPU time of each step: stage 0
 * (parse and apply the input, one task per partition), encoding fragments,
 * stage 1 (decode and apply them: the group-by), stage 2 (the global sum,
 * one task), and one checkpoint of every task. The broker's share and the
 * client's (fetch, decode, produce) are not in these figures; BENCHMARKS.md
 * ("Several instances") puts them side by side with the Kafka run's.
 *
 * ```sh
 * scripts/deno run --allow-all bench/tasks_bench.ts [--rows 600000] [--partitions 6]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as rivulet from "../mod.ts";
import type { Row, Table } from "../mod.ts";
import type { SourceMessage } from "../connectors/types.ts";
import { silentLogger } from "../connectors/types.ts";
import { partitionOf } from "../runtime/delivery/changelog.ts";
import { encodeFragment, type FragmentChange } from "../runtime/tasks/fragment.ts";
import { Task, type TaskCommit } from "../runtime/tasks/task.ts";
import transform from "./kafka/programs/by_cat_total.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    rows: { type: "string", default: "600000" },
    partitions: { type: "string", default: "6" },
    commit: { type: "string", default: "1000" },
    cats: { type: "string", default: "1000" },
  },
});
const rows = Number(args.rows);
const partitions = Number(args.partitions);
const commitRows = Number(args.commit);
const cats = Number(args.cats);
const encoder = new TextEncoder();
const name = "input";

const read = rivulet.readOptions({ name } as rivulet.Source, {
  format: "json",
  valueColumns: ["id", "cat", "v"],
});

function makeTask(stage: number, partition: number): Task {
  const topic = stage === 0 ? name : `repartition-${stage}`;
  return new Task({
    id: `${topic}:${partition}`,
    topic,
    partition,
    stage,
    build: (input) => transform(input as Table<Row>, rivulet),
    inputName: name,
    keyed: false,
    reader: {
      name,
      format: read.format,
      formatOptions: read.formatOptions ?? {},
      errorPolicy: "stop",
      logger: silentLogger,
    },
    onUserFunctionError: (error) => {
      throw error;
    },
  });
}

/** The input messages of each partition, as the Kafka benchmark produces them. */
function inputMessages(): SourceMessage[][] {
  const byPartition: SourceMessage[][] = Array.from({ length: partitions }, () => []);
  const message = (partition: number, value: string): SourceMessage => ({
    topic: name,
    partition,
    offset: String(byPartition[partition].length),
    timestamp: "1700000000000",
    key: null,
    value: encoder.encode(value),
    headers: {},
  });
  const open = new Array<number>(partitions).fill(0);
  for (let n = 0; n < rows; n++) {
    const partition = n % partitions;
    const cat = `c${(n * 7919) % cats}`;
    byPartition[partition].push(
      message(partition, `{"id":"r${n}","cat":"${cat}","v":${1 + (n * 13) % 100}}`),
    );
    if (++open[partition] === commitRows) {
      byPartition[partition].push(message(partition, "*COMMIT*"));
      open[partition] = 0;
    }
  }
  for (let p = 0; p < partitions; p++) {
    if (open[p] > 0) byPartition[p].push(message(p, "*COMMIT*"));
  }
  return byPartition;
}

/** A repartition topic in memory: its partitions' records. */
type Topic = SourceMessage[][];

function newTopic(stage: number): Topic {
  void stage;
  return Array.from({ length: partitions }, () => []);
}

/** What the runner sends for a commit: one fragment per downstream partition. */
function sendFragments(from: string, commit: TaskCommit, topics: Map<number, Topic>): number {
  const byDestination = new Map<
    string,
    { stage: number; partition: number; changes: FragmentChange[] }
  >();
  for (const { index, stage, route, changes } of commit.exchanged) {
    for (const change of changes) {
      const partition = partitionOf(route(change), partitions);
      const key = `${stage}\0${partition}`;
      let destination = byDestination.get(key);
      if (destination === undefined) {
        byDestination.set(key, destination = { stage, partition, changes: [] });
      }
      destination.changes.push([index, change.id, change.row, change.diff]);
    }
  }
  let sent = 0;
  for (const { stage, partition, changes } of byDestination.values()) {
    const records = topics.get(stage)![partition];
    for (const value of encodeFragment(from, commit.seq, commit.time, changes)) {
      records.push({
        topic: `repartition-${stage}`,
        partition,
        offset: String(records.length),
        timestamp: "1700000000000",
        key: null,
        value,
        headers: {},
      });
      sent++;
    }
  }
  return sent;
}

function cpuMs(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const timings: Record<string, number> = {};
function timed<T>(label: string, work: () => T): T {
  const before = cpuMs();
  const result = work();
  timings[label] = (timings[label] ?? 0) + cpuMs() - before;
  return result;
}

const input = inputMessages();
const topics = new Map<number, Topic>([[1, newTopic(1)], [2, newTopic(2)]]);
const stage0 = Array.from({ length: partitions }, (_, p) => makeTask(0, p));
const stage1 = Array.from({ length: partitions }, (_, p) => makeTask(1, p));
const stage2 = Array.from({ length: partitions }, (_, p) => makeTask(2, p));
for (const task of [...stage0, ...stage1, ...stage2]) task.restore(undefined, 0);

let fragments = 0;
let outputChanges = 0;
const count = (commit: TaskCommit) => (outputChanges += commit.output?.changes.length ?? 0);
const chunk = 5_000; // messages per fetched batch
for (let p = 0; p < partitions; p++) {
  for (let i = 0; i < input[p].length; i += chunk) {
    const commits = timed(
      "stage 0: parse + apply",
      () => stage0[p].accept(input[p].slice(i, i + chunk)),
    );
    for (const commit of commits) {
      count(commit);
      fragments += timed(
        "fragments: route + encode",
        () => sendFragments(stage0[p].id, commit, topics),
      );
    }
  }
}
for (const [stage, tasks] of [[1, stage1], [2, stage2]] as const) {
  for (let p = 0; p < partitions; p++) {
    const records = topics.get(stage)![p];
    for (let i = 0; i < records.length; i += chunk) {
      const commits = timed(
        stage === 1 ? "stage 1: decode + group-by" : "stage 2: decode + global sum",
        () => tasks[p].accept(records.slice(i, i + chunk)),
      );
      for (const commit of commits) {
        count(commit);
        fragments += timed(
          "fragments: route + encode",
          () => sendFragments(tasks[p].id, commit, topics),
        );
      }
    }
  }
}
for (const task of [...stage0, ...stage1, ...stage2]) {
  timed(`checkpoint (stage ${task.stage}, all tasks)`, () => task.checkpoint());
}
const busy = stage2.filter((t) => t.commits > 0).length;
console.log(
  `${rows} rows, ${partitions} partitions, commits of ${commitRows}, ${cats} cats: ` +
    `${fragments} fragment records, ${outputChanges} output changes; stage-2 tasks with work: ${busy}`,
);
const total = Object.values(timings).reduce((a, b) => a + b, 0);
for (const [label, ms] of Object.entries(timings)) {
  console.log(
    `${label.padEnd(40)} ${String(ms).padStart(6)} ms CPU  ${
      (100 * ms / total).toFixed(0).padStart(3)
    }%  ${(1000 * ms / rows).toFixed(2)} µs/row`,
  );
}
