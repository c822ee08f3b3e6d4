/**
 * Runs `rivulet run` (main.ts) as a user would against a secure broker: the
 * settings in a file, the password in an environment variable the file
 * references, and only the permissions the run needs (the broker's address,
 * the transform, the settings and the TLS files).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { resolveKafkaClientName } from "../../connectors/kafka/clients.ts";
import { platformaticWasmFile } from "../../connectors/kafka/platformatic/wasm_file.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
/** The seed's transform: `value` parsed as an integer, reduced to `sum`. */
export const sumTransform: string = `${root}examples/sum.ts`;
/** The environment variable the settings files reference for the SASL password. */
export const passwordVariable = "RIVULET_KAFKA_PASSWORD";
/** Variables kafkajs reads when it loads. */
const kafkajsEnv = "NODE_ENV,KAFKAJS_*";

/**
 * The client under test (RIVULET_KAFKA_CLIENT), named on the command line: the
 * narrow `--allow-env` does not let the run read the variable itself.
 */
const clientName = resolveKafkaClientName();
/** Files the client reads when it loads (the platformatic client's WebAssembly). */
const clientLoadReads = clientName === "platformatic" ? [platformaticWasmFile()] : [];

/** Settings keys whose values are files the run must be allowed to read. */
const fileKeys = ["ssl.ca.location", "ssl.certificate.location", "ssl.key.location"];

/** Options of {@linkcode startRun}. */
export interface RunOptions {
  /** librdkafka settings; `sasl.password`, if any, should reference {@linkcode passwordVariable}. */
  readonly settings: Record<string, string>;
  /** The value of {@linkcode passwordVariable} (omit for settings without a password). */
  readonly password?: string;
  readonly topic: string;
  readonly outputTopic: string;
}

/** A running `rivulet run`. */
export interface Run {
  /** Sends SIGTERM and waits for the exit. */
  stop(): Promise<RunResult>;
  /** Waits for the exit. */
  finished(): Promise<RunResult>;
}

/** How a run ended and everything it printed. */
export interface RunResult {
  readonly code: number;
  /** Standard output and standard error together (for searching secrets). */
  readonly output: string;
  readonly stderr: string;
}

/**
 * Starts `rivulet run --transform examples/sum.ts --topic T --settings FILE
 * --format csv --columns value --output-topic O` with the narrowest
 * permissions: network only to the settings' brokers, reads only of the
 * transform, the settings file and the TLS files it names.
 */
export async function startRun(options: RunOptions): Promise<Run> {
  const dir = await Deno.makeTempDir({ prefix: "rivulet-security-run-" });
  const settingsFile = `${dir}/kafka.json`;
  await Deno.writeTextFile(settingsFile, JSON.stringify(options.settings, null, 2));
  const files = fileKeys.map((key) => options.settings[key]).filter((path) => path !== undefined);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-net=${options.settings["bootstrap.servers"]}`,
      `--allow-read=${[sumTransform, settingsFile, ...files, ...clientLoadReads].join(",")}`,
      `--allow-env=${kafkajsEnv},${passwordVariable}`,
      `${root}main.ts`,
      "run",
      "--kafka-client",
      clientName,
      "--transform",
      sumTransform,
      "--topic",
      options.topic,
      "--settings",
      settingsFile,
      "--format",
      "csv",
      "--columns",
      "value",
      "--output-topic",
      options.outputTopic,
    ],
    cwd: root,
    env: {
      NO_COLOR: "1",
      ...(options.password === undefined ? {} : { [passwordVariable]: options.password }),
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const ended = child.output().then(async (output) => {
    await Deno.remove(dir, { recursive: true });
    const decoder = new TextDecoder();
    const stderr = decoder.decode(output.stderr);
    return { code: output.code, output: decoder.decode(output.stdout) + stderr, stderr };
  });
  return {
    stop: () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      return ended;
    },
    finished: () => ended,
  };
}
