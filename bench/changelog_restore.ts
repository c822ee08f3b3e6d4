/**
 * Restore rate of state that lives in Kafka (see BENCHMARKS.md, "Restore from
 * the changelog"): fills a changelog topic with the state of a keyed group-by
 * over `--keys` input rows, as `ChangelogStore` writes it in exactly-once
 * mode, then times restores of it by a new store, as a restarted pipeline
 * does:
 *
 * - full: no local cache, the whole changelog is read;
 * - tail: a local cache saved after the fill, then `--updates` rows upserted
 *   and written as one more checkpoint; the restore reads only those.
 *
 *   KAFKA_PORT=42000 scripts/deno run --allow-all bench/changelog_restore.ts \
 *     [--keys 100000] [--updates 1000] [--partitions 3] [--runs 3] [--client kafkajs|platformatic]
 *
 * Records per second and MB/s (keys and values of the records read, as
 * produced) are taken from the restore's start (topic checks, the end-marker
 * transaction, the throwaway consumer's group join included) to its end.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Graph, hashValues, reducers } from "../engine/mod.ts";
import { createKafkaClient, parseKafkaClientName } from "../connectors/kafka/clients.ts";
import type { KafkaClient, TopicRecords } from "../connectors/kafka/client.ts";
import { silentLogger } from "../connectors/types.ts";
import { ChangelogStore } from "../runtime/delivery/changelog.ts";
import { TransactionWriter } from "../runtime/delivery/transactions.ts";
import type { Checkpoint } from "../runtime/delivery/checkpoint.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    keys: { type: "string", default: "100000" },
    updates: { type: "string", default: "1000" },
    partitions: { type: "string", default: "3" },
    runs: { type: "string", default: "3" },
    client: { type: "string", default: "kafkajs" },
  },
});
const keys = Number(flags.keys);
const updates = Number(flags.updates);
const partitions = Number(flags.partitions);
const runs = Number(flags.runs);
const broker = Deno.env.get("RIVULET_BENCH_BROKER") ??
  `127.0.0.1:${Deno.env.get("KAFKA_PORT") ?? "9092"}`;
const client: KafkaClient = await createKafkaClient(
  parseKafkaClientName(flags.client, "--client"),
  { brokers: [broker], clientId: "rivulet-bench-restore", autoOffsetReset: "earliest" },
);

/** A keyed input of `keys` rows grouped into `keys / 10` groups: count and sum per group. */
function groupby(): { graph: Graph; upsert: (i: number, amount: number) => void } {
  const graph = new Graph();
  const input = graph.input<{ customer: string; amount: number }>({ name: "orders", keyed: true });
  graph.output(
    input.groupby("customer").reduce({
      customer: "customer",
      count: reducers.count(),
      total: reducers.sum("amount"),
    }),
    () => {},
  );
  const groups = Math.max(1, Math.floor(keys / 10));
  const upsert = (i: number, amount: number) =>
    input.upsert(hashValues(["bench", i]), { customer: `customer-${i % groups}`, amount });
  return { graph, upsert };
}

const group = `bench-restore-${crypto.randomUUID().slice(0, 8)}`;
const inputTopic = `${group}-in`;
const admin = client.admin();
await admin.connect();
await admin.createTopic({ topic: inputTopic, partitions });
await admin.disconnect();

const writer = new TransactionWriter({
  producer: () => client.transactionalProducer({ transactionalId: `${group}-writer` }),
  transactionalId: `${group}-writer`,
  logger: silentLogger,
  maxRequestBytes: 1024 * 1024,
});
await writer.settle();
const commit = (records: TopicRecords) =>
  writer.run({
    records: [records],
    offsets: [],
    beforeCommit: () => Promise.resolve(),
    committed: () => Promise.resolve(false),
  });

function store(cacheDir?: string): ChangelogStore {
  return new ChangelogStore({
    client,
    groupId: group,
    inputTopics: [inputTopic],
    logger: silentLogger,
    ...(cacheDir === undefined ? {} : { cacheDir }),
  });
}

function checkpoint(graph: Graph, time: number): Checkpoint {
  return { version: 1, time, graph: graph.snapshot(), sources: [] };
}

function bytesOf(records: TopicRecords): number {
  return records.records.reduce(
    (n, r) => n + String(r.key ?? "").length + (r.value?.length ?? 0),
    0,
  );
}

/** Times one restore by a new store; resolves to records read and seconds. */
async function timeRestore(cacheDir?: string): Promise<{ records: number; seconds: number }> {
  const restoring = store(cacheDir);
  const started = performance.now();
  await restoring.restore(commit);
  const seconds = (performance.now() - started) / 1000;
  await restoring.close();
  return { records: restoring.progress.records, seconds };
}

// The fill: one checkpoint of `keys` upserted rows.
const { graph, upsert } = groupby();
for (let i = 0; i < keys; i++) upsert(i, i % 100);
graph.commit(1);
const cacheDir = await Deno.makeTempDir({ prefix: "rivulet-bench-restore-" });
const writing = store(cacheDir);
await writing.restore(commit);
const fill = writing.records(checkpoint(graph, 1));
await commit(fill);
await writing.saveCache(writing.entries());
const fillBytes = bytesOf(fill);
// The tail: `updates` rows upserted with new amounts, one more checkpoint.
for (let i = 0; i < updates; i++) upsert(i, 1000 + i);
graph.commit(2);
const tail = writing.records(checkpoint(graph, 2));
await commit(tail);
const tailBytes = bytesOf(tail);
await writing.close();
console.log(
  `changelog ${writing.topic}: ${partitions} partitions, fill ${fill.records.length} records ` +
    `(${(fillBytes / 1e6).toFixed(1)} MB), tail ${tail.records.length} records (${
      (tailBytes / 1e6).toFixed(2)
    } MB)`,
);

const line = (what: string, records: number, bytes: number, seconds: number) =>
  console.log(
    `${what}: ${records} records in ${seconds.toFixed(2)} s: ` +
      `${Math.round(records / seconds)} records/s, ${(bytes / 1e6 / seconds).toFixed(1)} MB/s`,
  );
for (let run = 1; run <= runs; run++) {
  const full = await timeRestore();
  line(`run ${run} full`, full.records, fillBytes + tailBytes, full.seconds);
  const cached = await timeRestore(cacheDir);
  line(`run ${run} tail after the cache`, cached.records, tailBytes, cached.seconds);
}

await writer.close();
const cleanup = client.admin();
await cleanup.connect();
await cleanup.disconnect();
await client.close();
await Deno.remove(cacheDir, { recursive: true });
