/**
 * The client contract (contract.ts) on the in-memory fake: the cases that
 * need no network. One cluster serves every client the cases make.
 */
import { MemoryKafka } from "../../../connectors/kafka/memory/client.ts";
import { clientContract } from "./contract.ts";
import type { ClientConfig } from "../../../connectors/kafka/config.ts";

const cluster = new MemoryKafka({ autoCreatePartitions: 1 });
const config = (): ClientConfig => ({
  brokers: ["memory:0"],
  clientId: "rivulet-contract",
  groupId: `contract-${crypto.randomUUID().slice(0, 8)}`,
  autoOffsetReset: "earliest",
});

clientContract("memory", () => cluster, { config, quietMs: 50 });
