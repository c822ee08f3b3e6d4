/**
 * Helpers for the Kafka connector tests: a client configuration for the local
 * broker, clients of the implementation under test, and a collector that
 * waits for a number of messages.
 *
 * @module
 */
import type { ClientConfig } from "../../../connectors/kafka/config.ts";
import type { KafkaClient } from "../../../connectors/kafka/client.ts";
import type { SourceMessage } from "../../../connectors/types.ts";
import { makeTestClient, testBroker, uniqueTopic } from "../../support/kafka.ts";

/** Deno's sanitizers flag kafkajs' internal timers; the broker is real, so they are off. */
export const brokerTest = { sanitizeOps: false, sanitizeResources: false } as const;

/** A configuration for the test broker with a fresh consumer group. */
export function testConfig(overrides: Partial<ClientConfig> = {}): ClientConfig {
  return {
    brokers: [testBroker],
    clientId: "rivulet-connector-test",
    groupId: uniqueTopic("rivulet-test-group"),
    autoOffsetReset: "earliest",
    ...overrides,
  };
}

/** A client of the implementation under test. */
export function testClient(config: ClientConfig = testConfig()): KafkaClient {
  return makeTestClient(config);
}

/** A configuration for the test broker and a client on it: a source's or sink's first options. */
export function testParts(
  overrides: Partial<ClientConfig> = {},
): { readonly config: ClientConfig; readonly client: KafkaClient } {
  const config = testConfig(overrides);
  return { config, client: makeTestClient(config) };
}

const decoder = new TextDecoder();

/** A message's value as text ("" for a null value). */
export function text(bytes: Uint8Array | null): string {
  return bytes === null ? "" : decoder.decode(bytes);
}

/** Messages handed to a handler, and a way to wait until enough arrived. */
export class Collector {
  readonly messages: SourceMessage[] = [];
  readonly calls: (readonly SourceMessage[])[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];

  /** The handler to give a source. */
  readonly handler = (messages: readonly SourceMessage[]): Promise<void> => {
    this.calls.push(messages);
    this.messages.push(...messages);
    this.#waiters = this.#waiters.filter((w) => {
      if (this.messages.length < w.count) return true;
      w.resolve();
      return false;
    });
    return Promise.resolve();
  };

  /** Resolves once `count` messages arrived; rejects after `timeoutMs` so a broken test fails, not hangs. */
  waitFor(count: number, timeoutMs = 30_000): Promise<void> {
    if (this.messages.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Only ${this.messages.length} of ${count} messages arrived`)),
        timeoutMs,
      );
      this.#waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** Values by partition, in the order they were handed over. */
  byPartition(): Map<string, string[]> {
    const result = new Map<string, string[]>();
    for (const m of this.messages) {
      const key = `${m.topic}-${m.partition}`;
      result.set(key, [...(result.get(key) ?? []), text(m.value)]);
    }
    return result;
  }
}
