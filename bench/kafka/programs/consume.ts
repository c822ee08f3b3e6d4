/**
 * The bare client's ceiling in the Pathway comparison: a kafkajs consumer
 * (with rivulet's repairs and consumer settings, as `bench/kafka/_run.ts`)
 * that counts the messages of each batch and nothing else. When it has seen
 * `RIVULET_BENCH_MESSAGES` it prints, as JSON, the wall-clock times (ms since
 * the epoch) at which it had seen the first `RIVULET_BENCH_FIRST` messages and
 * all of them, then waits to be killed (so that the harness reads its peak RSS
 * and CPU time like every other system's).
 *
 * @module
 */
import { benchKafka } from "../_common.ts";

const topic = Deno.env.get("RIVULET_BENCH_INPUT")!;
const messages = Number(Deno.env.get("RIVULET_BENCH_MESSAGES"));
const first = Number(Deno.env.get("RIVULET_BENCH_FIRST") ?? "1");
const consumer = benchKafka("rivulet-bench-ceiling").consumer({
  groupId: Deno.env.get("RIVULET_BENCH_GROUP") ?? `bench-ceiling-${crypto.randomUUID()}`,
  // rivulet's kafkajs consumer options (connectors/kafka/kafkajs/client.ts).
  allowAutoTopicCreation: false,
  maxWaitTimeInMs: 1_000,
});
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
let seen = 0;
let firstAt = 0;
let firstSeen = 0;
await consumer.run({
  autoCommit: false,
  eachBatch: ({ batch }) => {
    seen += batch.messages.length;
    if (firstAt === 0 && seen >= first) {
      firstAt = Date.now();
      firstSeen = seen;
    }
    if (seen >= messages) {
      console.log(JSON.stringify({ firstAt, firstSeen, lastAt: Date.now(), seen }));
      // Done: nothing more to read; the harness kills the process.
      consumer.pause([{ topic }]);
    }
    return Promise.resolve();
  },
});
setInterval(() => {}, 60_000);
