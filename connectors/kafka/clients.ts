/**
 * The Kafka client implementations by name, and the choice between them.
 * Each implementation (an adapter folder: `kafkajs/`, `platformatic/`) is
 * loaded by a dynamic import of a literal path, so `deno compile` embeds it
 * while a run loads (and lets read the environment) only the one chosen.
 *
 * The choice: an explicit option (the `kafkaClient` option of `kafka.read`,
 * `kafka.write` and `run()`, or `--kafka-client` on the command line), else
 * the `RIVULET_KAFKA_CLIENT` environment variable, else
 * {@linkcode defaultKafkaClientName}.
 *
 * @example
 * ```ts ignore
 * const client = await createKafkaClient(resolveKafkaClientName(), config, logger);
 * const admin = client.admin();
 * await admin.connect();
 * console.log(await admin.listTopics());
 * await admin.disconnect();
 * await client.close();
 * ```
 *
 * @module
 */
import type {
  Admin,
  GroupConsumer,
  GroupConsumerOptions,
  KafkaClient,
  Producer,
  ProducerOptions,
  TransactionalProducer,
  TransactionalProducerOptions,
} from "./client.ts";
import type { ClientConfig } from "./config.ts";
import { closest } from "../closest.ts";
import { explainLoadFailure } from "./platformatic/wasm_file.ts";
import { type Logger, silentLogger } from "../types.ts";

/** The Kafka client implementations rivulet knows, by name. */
export const kafkaClientNames = ["kafkajs", "platformatic"] as const;

/** The name of a Kafka client implementation: `kafkajs` or `platformatic` (@platformatic/kafka). */
export type KafkaClientName = typeof kafkaClientNames[number];

/** The client a run uses when nothing chooses one. */
export const defaultKafkaClientName: KafkaClientName = "kafkajs";

/** The environment variable that chooses the client when no option does. */
export const kafkaClientEnvVar = "RIVULET_KAFKA_CLIENT";

/** A client name that is not one of {@linkcode kafkaClientNames}. */
export class UnknownKafkaClientError extends Error {
  constructor(value: string, where: string) {
    const suggestion = closest(value, kafkaClientNames, 3);
    super(
      `${where} must be ${kafkaClientNames.join(" or ")}, not ${JSON.stringify(value)}${
        suggestion === undefined ? "" : ` (did you mean ${JSON.stringify(suggestion)}?)`
      }`,
    );
    this.name = "UnknownKafkaClientError";
  }
}

/** A client this build of rivulet does not contain. */
export class KafkaClientUnavailableError extends Error {
  constructor(name: KafkaClientName) {
    super(
      `The Kafka client ${JSON.stringify(name)} is not available in this build of rivulet: ` +
        `use ${
          JSON.stringify(defaultKafkaClientName)
        } (--kafka-client ${defaultKafkaClientName}, ` +
        `or ${kafkaClientEnvVar}=${defaultKafkaClientName})`,
    );
    this.name = "KafkaClientUnavailableError";
  }
}

/** `group.protocol=consumer` (KIP-848) asked of a client that speaks only the classic protocol. */
export class GroupProtocolUnsupportedError extends Error {
  constructor(name: KafkaClientName) {
    super(
      `group.protocol consumer (KIP-848) needs the platformatic Kafka client; ` +
        `${JSON.stringify(name)} speaks only the classic group protocol: ` +
        `use --kafka-client platformatic (or ${kafkaClientEnvVar}=platformatic), ` +
        `or remove group.protocol`,
    );
    this.name = "GroupProtocolUnsupportedError";
  }
}

/**
 * Reads a client name; anything else is an {@linkcode UnknownKafkaClientError}
 * naming where the value came from (`Flag "--kafka-client"`, ...).
 */
export function parseKafkaClientName(value: string, where: string): KafkaClientName {
  const name = value.trim().toLowerCase();
  if ((kafkaClientNames as readonly string[]).includes(name)) return name as KafkaClientName;
  throw new UnknownKafkaClientError(value, where);
}

/** Options of {@linkcode resolveKafkaClientName}. */
export interface ResolveKafkaClientOptions {
  /** The explicit choice (an option or a flag); wins over the environment. */
  readonly option?: KafkaClientName;
  /** Reads an environment variable (default: Deno's, when the program may read it). */
  readonly env?: (name: string) => string | undefined;
}

/**
 * The client to use: the explicit option, else `RIVULET_KAFKA_CLIENT`, else
 * {@linkcode defaultKafkaClientName}. A program not allowed to read that
 * variable runs with the default.
 *
 * @example
 * ```ts
 * import { resolveKafkaClientName } from "./clients.ts";
 * resolveKafkaClientName({ env: () => "platformatic" }); // "platformatic"
 * resolveKafkaClientName({ option: "kafkajs", env: () => "platformatic" }); // "kafkajs"
 * ```
 */
export function resolveKafkaClientName(options: ResolveKafkaClientOptions = {}): KafkaClientName {
  if (options.option !== undefined) return options.option;
  const value = (options.env ?? readPermittedEnv)(kafkaClientEnvVar);
  if (value === undefined || value.trim() === "") return defaultKafkaClientName;
  return parseKafkaClientName(value, `Environment variable ${kafkaClientEnvVar}`);
}

function readPermittedEnv(name: string): string | undefined {
  const permission = Deno.permissions.querySync({ name: "env", variable: name });
  return permission.state === "granted" ? Deno.env.get(name) : undefined;
}

/** Makes clients of one implementation, once its adapter is loaded. */
export type KafkaClientFactory = (config: ClientConfig, logger?: Logger) => KafkaClient;

/**
 * Loads the named client's adapter (a dynamic import: only the chosen
 * library loads) and returns its factory. A client this build does not
 * contain is a {@linkcode KafkaClientUnavailableError}.
 */
export async function loadKafkaClient(name: KafkaClientName): Promise<KafkaClientFactory> {
  switch (name) {
    case "kafkajs": {
      const { createKafkajsClient } = await import("./kafkajs/client.ts");
      return (config, logger = silentLogger) => {
        if (config.groupProtocol === "consumer") throw new GroupProtocolUnsupportedError(name);
        return createKafkajsClient(config, { logger });
      };
    }
    case "platformatic": {
      let adapter: typeof import("./platformatic/client.ts");
      try {
        adapter = await import("./platformatic/client.ts");
      } catch (error) {
        throw explainLoadFailure(error);
      }
      const { createPlatformaticClient } = adapter;
      return (config, logger = silentLogger) => createPlatformaticClient(config, { logger });
    }
    default:
      throw new UnknownKafkaClientError(String(name), "The Kafka client name");
  }
}

/**
 * Loads the named client's adapter and makes a client for one cluster. Its
 * parts connect when told to; close it once its parts are disconnected.
 */
export async function createKafkaClient(
  name: KafkaClientName,
  config: ClientConfig,
  logger: Logger = silentLogger,
): Promise<KafkaClient> {
  return (await loadKafkaClient(name))(config, logger);
}

/** A client whose implementation is chosen and loaded by {@linkcode DeferredKafkaClient.open}. */
export interface DeferredKafkaClient extends KafkaClient {
  /** Chooses and loads the implementation; parts can be made after it resolved. Idempotent. */
  open(): Promise<void>;
  /** The implementation chosen, once open. */
  readonly name: KafkaClientName | undefined;
}

/**
 * A client that can be handed to sources and sinks before its implementation
 * is loaded (they make parts only once the pipeline runs): `choose` is asked
 * at {@linkcode DeferredKafkaClient.open}, so a choice made when the pipeline
 * starts (`run({ kafkaClient })`) still counts.
 *
 * @example
 * ```ts ignore
 * const client = deferredKafkaClient(() => resolveKafkaClientName(), config, logger);
 * const source = new KafkaSource({ config, client, topics: ["in"] });
 * await client.open(); // the pipeline does this before it starts its sources
 * ```
 */
export function deferredKafkaClient(
  choose: () => KafkaClientName,
  config: ClientConfig,
  logger: Logger = silentLogger,
): DeferredKafkaClient {
  let opening: Promise<void> | undefined;
  let client: KafkaClient | undefined;
  let name: KafkaClientName | undefined;
  const opened = (): KafkaClient => {
    if (client !== undefined) return client;
    throw new Error(
      "The Kafka client is not open: the pipeline opens it before it starts (call open() first)",
    );
  };
  return {
    get name() {
      return name;
    },
    open: () =>
      opening ??= (async () => {
        const chosen = choose();
        client = await createKafkaClient(chosen, config, logger);
        name = chosen;
      })(),
    consumer: (options: GroupConsumerOptions): GroupConsumer => opened().consumer(options),
    producer: (options?: ProducerOptions): Producer => opened().producer(options),
    transactionalProducer: (options: TransactionalProducerOptions): TransactionalProducer =>
      opened().transactionalProducer(options),
    admin: (): Admin => opened().admin(),
    close: async () => {
      await opening?.catch(() => {});
      await client?.close();
    },
  };
}
