/**
 * The client contract (contract.ts) on both adapters, against the real broker
 * (KAFKA_PORT) and, for the security failures, the secure broker of
 * tests/security (RIVULET_SECURE_KAFKA_PORT).
 */
import { createKafkajsClient } from "../../../connectors/kafka/kafkajs/client.ts";
import { createPlatformaticClient } from "../../../connectors/kafka/platformatic/client.ts";
import { clientContract } from "./contract.ts";
import { testConfig } from "./_support.ts";

clientContract("kafkajs", (config) => createKafkajsClient(config), {
  config: testConfig,
  broker: true,
});
clientContract("platformatic", (config) => createPlatformaticClient(config), {
  config: testConfig,
  broker: true,
});
// KIP-848's consumer group protocol (group.protocol=consumer), on brokers 4.0 and later only.
if (Deno.env.get("KAFKA_VERSION")?.startsWith("3.") !== true) {
  clientContract(
    "platformatic (group.protocol=consumer)",
    (config) => createPlatformaticClient({ ...config, groupProtocol: "consumer" }),
    { config: testConfig, groupProtocol: "consumer" },
  );
}
