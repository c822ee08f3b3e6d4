/**
 * A program that loads kafkajs before rivulet's kafkajs adapter: the adapter's
 * repairs cannot take effect then, and it must refuse to load (the patch test
 * runs this and reads the error).
 */
import { Kafka } from "kafkajs";

console.log(`kafkajs loaded first: ${typeof Kafka}`);
await import("../../../connectors/kafka/kafkajs/client.ts");
console.log("the adapter loaded");
