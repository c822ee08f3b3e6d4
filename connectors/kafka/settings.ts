/**
 * Translates librdkafka-style settings (the seed's `rdkafka_settings` dict)
 * into a {@linkcode ClientConfig}. Unknown keys become warnings; bad values are
 * errors before anything connects; the password never appears in a message.
 *
 * @module
 */
import type { ClientConfig } from "./config.ts";

/** librdkafka keys and string values, as in the seed. */
export type KafkaSettings = Readonly<Record<string, string>>;

/** The result of translating settings. */
export interface TranslatedSettings {
  readonly config: ClientConfig;
  /** One sentence per unknown or ignored key, naming it. */
  readonly warnings: readonly string[];
}

/** A setting with a bad value. Never includes a secret's value. */
export class SettingsError extends Error {
  readonly key: string;
  constructor(key: string, reason: string) {
    super(`Setting ${JSON.stringify(key)} ${reason}`);
    this.name = "SettingsError";
    this.key = key;
  }
}

/** Options for {@linkcode translateSettings}. */
export interface TranslateOptions {
  /** Reads a file named by an `ssl.*.location` setting. */
  readonly readFile?: (path: string) => string;
  /** Looks up an environment variable referenced as `${NAME}` in a value. */
  readonly env?: (name: string) => string | undefined;
}

// A minimal plaintext translation; the security work extends it (SASL, TLS).
export function translateSettings(
  settings: KafkaSettings,
  _options: TranslateOptions = {},
): TranslatedSettings {
  const servers = settings["bootstrap.servers"];
  if (servers === undefined || servers.trim() === "") {
    throw new SettingsError("bootstrap.servers", "is required");
  }
  const reset = settings["auto.offset.reset"] ?? "earliest";
  if (!["earliest", "latest", "smallest", "largest", "beginning", "end"].includes(reset)) {
    throw new SettingsError(
      "auto.offset.reset",
      `must be earliest or latest, not ${JSON.stringify(reset)}`,
    );
  }
  const config: ClientConfig = {
    brokers: servers.split(",").map((s) => s.trim()).filter((s) => s !== ""),
    clientId: settings["client.id"] ?? "rivulet",
    groupId: settings["group.id"],
    autoOffsetReset: ["latest", "largest", "end"].includes(reset) ? "latest" : "earliest",
  };
  const known = new Set(["bootstrap.servers", "client.id", "group.id", "auto.offset.reset"]);
  const warnings = Object.keys(settings).filter((k) => !known.has(k)).map((k) =>
    `Unknown setting ${JSON.stringify(k)} is ignored`
  );
  return { config, warnings };
}
