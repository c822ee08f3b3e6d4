/**
 * Broker and topics of the comparison programs, from the environment
 * `bench/kafka/compare.ts` sets for every system alike (the Pathway programs
 * read the same variables).
 *
 * @module
 */
import type * as rw from "../../../mod.ts";

/** librdkafka settings: the benchmark broker, a fresh group, read from the start. */
export function benchSettings(): rw.KafkaSettings {
  return {
    "bootstrap.servers": Deno.env.get("RIVULET_BENCH_BROKER") ??
      `127.0.0.1:${Deno.env.get("KAFKA_PORT") ?? "9092"}`,
    "group.id": Deno.env.get("RIVULET_BENCH_GROUP") ?? `bench-${crypto.randomUUID()}`,
    "auto.offset.reset": "earliest",
  };
}

/** The input and output topic. */
export function benchTopics(): { input: string; output: string } {
  const input = Deno.env.get("RIVULET_BENCH_INPUT");
  const output = Deno.env.get("RIVULET_BENCH_OUTPUT");
  if (input === undefined || output === undefined) {
    throw new Error(
      "Set RIVULET_BENCH_INPUT and RIVULET_BENCH_OUTPUT (bench/kafka/compare.ts does)",
    );
  }
  return { input, output };
}
