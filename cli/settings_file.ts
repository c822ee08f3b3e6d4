/**
 * Kafka settings files: a JSON object of librdkafka keys and values, as in
 * the seed's `rdkafka_settings`. Read, checked and translated before anything
 * connects, so a typo is reported by name instead of silently ignored.
 *
 * @module
 */
import { resolve } from "node:path";
import {
  type KafkaSettings,
  loadSettingsFile,
  translateSettingsOnce,
} from "../connectors/kafka/settings.ts";
import type { ClientConfig } from "../connectors/kafka/config.ts";
import { UsageError } from "./exit_codes.ts";

/** A settings file, read and translated. */
export interface LoadedSettings {
  /** The librdkafka-style map, as `kafka.read` and `kafka.write` take it. */
  readonly settings: Readonly<Record<string, string>>;
  /** The client configuration they translate to (secrets are non-enumerable). */
  readonly config: ClientConfig;
  /** Keys rivulet knows but ignores, one sentence each. */
  readonly warnings: readonly string[];
}

/**
 * Reads the settings in `path` (JSON) and translates them. A missing file,
 * invalid JSON, a non-string value, a bad value or an unknown key (librdkafka
 * rejects those too) is a {@linkcode UsageError} naming the file and key.
 * Values may reference environment variables as `${NAME}`.
 *
 * @example
 * ```ts ignore
 * const { settings } = await loadSettings("settings.json");
 * ```
 */
export async function loadSettings(path: string): Promise<LoadedSettings> {
  let settings: KafkaSettings;
  try {
    settings = await loadSettingsFile(path);
  } catch (error) {
    throw asUsageError(error, "");
  }
  return checkSettings(settings, `settings file ${JSON.stringify(path)}`);
}

/** Checks and translates settings given as a JSON value (from a file or a config file). */
export function checkSettings(parsed: unknown, where: string): LoadedSettings {
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(
      `The ${where} must hold a JSON object of librdkafka settings, e.g. {"bootstrap.servers": "127.0.0.1:9092", "group.id": "sum"}`,
    );
  }
  const settings = parsed as Record<string, string>;
  let translated;
  try {
    // The same translation rw.kafka.read and rw.kafka.write use for this object.
    translated = translateSettingsOnce(settings);
  } catch (error) {
    throw asUsageError(error, ` (in the ${where})`);
  }
  const unknown = translated.warningDetails.filter((w) => w.kind === "unknown");
  if (unknown.length > 0) {
    throw new UsageError(
      `${unknown.map((w) => w.message.replace(/ is ignored/, "")).join("; ")} in the ${where}: ` +
        `fix the spelling, or remove the key`,
    );
  }
  return { settings, config: translated.config, warnings: translated.warnings };
}

function asUsageError(error: unknown, where: string): unknown {
  const name = (error as Error | undefined)?.name;
  if (name === "SettingsError" || name === "SettingsFileError") {
    return new UsageError(`${(error as Error).message}${where}`, { cause: error });
  }
  return error;
}

/** Reads a text file the user named; a missing or unreadable file is a {@linkcode UsageError}. */
export async function readUserFile(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(
        `The ${what} ${JSON.stringify(path)} does not exist (looked at ${resolve(path)})`,
      );
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new UsageError(`The ${what} ${JSON.stringify(path)} is a directory, not a file`);
    }
    throw new UsageError(
      `Cannot read the ${what} ${JSON.stringify(path)}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}
