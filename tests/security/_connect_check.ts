/**
 * A small program for the security tests: loads a settings file, translates
 * it, connects with rivulet's Kafka client and exits 0 ("connected"), 1 (the
 * connection failed: the explained reason) or 2 (bad settings). Every log line
 * goes to stderr, so a test can search all output for secrets. It is run with
 * the narrowest permissions, as a user would run rivulet.
 *
 * Usage: deno run --allow-net=HOST:PORT --allow-read=FILES [--allow-env=NAMES] _connect_check.ts SETTINGS_FILE [CLIENT]
 *
 * CLIENT is the Kafka client implementation (default: rivulet's default).
 */
import { explainConnectionFailure } from "../../connectors/kafka/connection_failure.ts";
import {
  createKafkaClient,
  parseKafkaClientName,
  resolveKafkaClientName,
} from "../../connectors/kafka/clients.ts";
import {
  loadSettingsFile,
  redactSettings,
  SettingsError,
  SettingsFileError,
  translateSettings,
} from "../../connectors/kafka/settings.ts";
import type { Logger } from "../../connectors/types.ts";

const log = (level: string) => (message: string, fields?: Record<string, unknown>) =>
  console.error(`${level}: ${message} ${JSON.stringify(fields ?? {})}`);
const logger: Logger = {
  debug: log("debug"),
  info: log("info"),
  warn: log("warn"),
  error: log("error"),
};

const [path = "settings.json", clientName] = Deno.args;
let settings;
let translated;
try {
  settings = await loadSettingsFile(path);
  translated = translateSettings(settings);
} catch (error) {
  if (error instanceof SettingsError || error instanceof SettingsFileError) {
    console.error(`error: ${error.message}`);
    Deno.exit(2);
  }
  throw error;
}
for (const warning of translated.warnings) console.error(`warning: ${warning}`);
console.error(`connecting with ${JSON.stringify(redactSettings(settings))}`);
const { config } = translated;
console.error(`client configuration: ${Deno.inspect(config, { depth: 5 })}`);
const client = await createKafkaClient(
  clientName === undefined
    ? resolveKafkaClientName()
    : parseKafkaClientName(clientName, "The client argument"),
  config,
  logger,
);
const admin = client.admin();
try {
  await admin.connect();
  await admin.listTopics();
} catch (error) {
  console.error(`raw error: ${Deno.inspect(error, { depth: 5 })}`);
  const failure = await explainConnectionFailure(error, { config });
  console.error(`error: ${failure.message}`);
  Deno.exit(1);
}
await admin.disconnect();
await client.close();
console.log("connected");
Deno.exit(0);
