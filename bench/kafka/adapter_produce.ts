/**
 * The produce path of rivulet's `KafkaClient` adapters alone: records shaped
 * like the seed pipeline's output (a 32-character hex key, a JSON value of
 * about 50 bytes), sent as the Kafka sink sends them: one request at a time,
 * each of up to `--per-request` records, acks=all and idempotent. No consumer,
 * no engine: what one adapter's `producer().send()` costs per record.
 *
 * ```sh
 * KAFKA_PORT=9092 scripts/deno run --allow-all bench/kafka/adapter_produce.ts \
 *   --kafka-client kafkajs,platformatic --records 500000 --runs 3
 * ```
 *
 * Each run is its own process (a cold runtime, as in `harness.ts`); runs of
 * the clients are alternated. `--profile` passes `--prof` to V8 in the
 * measured process (the log lands in the working directory).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { benchBroker, createTopics, deleteTopics, uniqueTopic } from "./_common.ts";
import { createKafkaClient, type KafkaClientName } from "../../connectors/kafka/clients.ts";
import { translateSettings } from "../../connectors/kafka/settings.ts";
import type { ProduceRecord } from "../../connectors/kafka/client.ts";

interface Spec {
  readonly client: KafkaClientName;
  readonly topic: string;
  readonly records: number;
  readonly perRequest: number;
}

/** The measured process: produces `records` records and prints `{ seconds }`. */
async function produce(spec: Spec): Promise<{ seconds: number }> {
  const config = translateSettings({ "bootstrap.servers": benchBroker }).config;
  const client = await createKafkaClient(spec.client, config);
  const producer = client.producer({ idempotent: true });
  await producer.connect();
  const request = (from: number, count: number): ProduceRecord[] =>
    Array.from({ length: count }, (_, i) => ({
      key: (from + i).toString(16).padStart(32, "0"),
      value: `{"sum":${from + i},"time":${from + i},"diff":1}`,
      partition: 0,
    }));
  // A warm-up request outside the timing (producer id, metadata, JIT).
  await producer.send([{ topic: spec.topic, records: request(0, 100) }]);
  const started = performance.now();
  for (let sent = 0; sent < spec.records; sent += spec.perRequest) {
    const count = Math.min(spec.perRequest, spec.records - sent);
    await producer.send([{ topic: spec.topic, records: request(sent, count) }]);
  }
  const seconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  await client.close();
  return { seconds };
}

if (import.meta.main) {
  if (Deno.args[0]?.startsWith("{")) {
    console.log(JSON.stringify(await produce(JSON.parse(Deno.args[0]) as Spec)));
    Deno.exit(0);
  }
  const { values: args } = parseArgs({
    args: Deno.args,
    options: {
      "kafka-client": { type: "string", default: "kafkajs,platformatic" },
      records: { type: "string", default: "500000" },
      "per-request": { type: "string", default: "10000" },
      runs: { type: "string", default: "3" },
      profile: { type: "boolean", default: false },
    },
  });
  const clients = args["kafka-client"].split(",") as KafkaClientName[];
  const records = Number(args.records);
  const rates = new Map<KafkaClientName, number[]>(clients.map((c) => [c, []]));
  const topics: string[] = [];
  try {
    for (let run = 0; run < Number(args.runs); run++) {
      for (const client of clients) {
        const topic = uniqueTopic("produce");
        await createTopics([topic]);
        topics.push(topic);
        const spec: Spec = { client, topic, records, perRequest: Number(args["per-request"]) };
        const output = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--allow-all",
            ...(args.profile ? ["--v8-flags=--prof"] : []),
            new URL(import.meta.url).pathname,
            JSON.stringify(spec),
          ],
          stderr: "inherit",
        }).output();
        if (!output.success) throw new Error(`${client} run ${run + 1} failed`);
        const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
        const { seconds } = JSON.parse(lines[lines.length - 1]) as { seconds: number };
        const rate = records / seconds;
        rates.get(client)!.push(rate);
        console.error(`${client} run ${run + 1}: ${records} records in ${seconds.toFixed(2)} s`);
      }
    }
  } finally {
    await deleteTopics(topics);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  for (const [client, xs] of rates) {
    console.log(
      `${client}: median ${Math.round(median(xs))} records/s (runs ${
        xs.map(Math.round).join(" / ")
      })`,
    );
  }
  console.log(`load average (1 min) ${Deno.loadavg()[0].toFixed(1)}`);
}
