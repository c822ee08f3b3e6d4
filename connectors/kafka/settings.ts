/**
 * Translates librdkafka-style settings (the seed's `rdkafka_settings` dict)
 * into a {@linkcode ClientConfig}. Unknown keys become warnings; bad values are
 * errors before anything connects; a secret (`sasl.password`,
 * `ssl.key.password`, a private key) never appears in a message.
 *
 * A value may reference an environment variable as `${NAME}`, which is how a
 * settings file should hold a password; `$${` stands for a literal `${`.
 *
 * @example Translating the seed's settings
 * ```ts
 * import { translateSettings } from "./settings.ts";
 *
 * const { config, warnings } = translateSettings({
 *   "bootstrap.servers": "broker.example.com:9093",
 *   "security.protocol": "sasl_ssl",
 *   "sasl.mechanism": "SCRAM-SHA-256",
 *   "group.id": "sums",
 *   "session.timeout.ms": "6000",
 *   "sasl.username": "username",
 *   "sasl.password": "${KAFKA_PASSWORD}",
 * });
 * console.log(config.sasl?.mechanism, warnings); // "scram-sha-256" []
 * ```
 *
 * @module
 */
import type {
  ClientConfig,
  CompressionCodec,
  OauthBearerTokenSource,
  SaslConfig,
  SaslMechanism,
  TlsConfig,
} from "./config.ts";
import { closestKey, ignoredKeys, isSecretKey, translatedKeys } from "./_setting_keys.ts";
import { SettingsError } from "./_settings_error.ts";
import { checkClientIdentity, parseCertificates, type PemMaterial } from "./_tls_material.ts";
import { parseJsonText } from "../json_text.ts";

export { SettingsError };

/** librdkafka keys and string values, as in the seed. */
export type KafkaSettings = Readonly<Record<string, string>>;

/** One remark about one key, as data: callers act on `kind` instead of matching the text. */
export interface SettingsWarning {
  /** The librdkafka key concerned. */
  readonly key: string;
  /**
   * `unknown`: nobody knows the key (a likely typo); `ignored`: a librdkafka key
   * rivulet does not use; `inapplicable`: a key the chosen security protocol
   * does not use; `insecure`: a value that weakens security.
   */
  readonly kind: "unknown" | "ignored" | "inapplicable" | "insecure";
  /** A sentence naming the key. Never holds a value from the settings. */
  readonly message: string;
}

/** The result of translating settings. */
export interface TranslatedSettings {
  readonly config: ClientConfig;
  /** One sentence per unknown, ignored or inapplicable key, naming it. Never holds a secret. */
  readonly warnings: readonly string[];
  /** The same warnings as data, in the same order. */
  readonly warningDetails: readonly SettingsWarning[];
}

/** Options for {@linkcode translateSettings}. */
export interface TranslateOptions {
  /**
   * Reads a file named by an `ssl.*.location` setting. The default reads the
   * file (or, for `ssl.ca.location`, every `.pem`/`.crt` file of a folder).
   */
  readonly readFile?: (path: string) => string;
  /** Looks up an environment variable referenced as `${NAME}` in a value. Default: `Deno.env.get`. */
  readonly env?: (name: string) => string | undefined;
  /** The current time, to check that client certificates are valid. Default: now. */
  readonly now?: () => Date;
}

type Protocol = "plaintext" | "ssl" | "sasl_plaintext" | "sasl_ssl";
const protocols: readonly Protocol[] = ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"];
const mechanisms: readonly SaslMechanism[] = [
  "plain",
  "scram-sha-256",
  "scram-sha-512",
  "oauthbearer",
];
const codecs: readonly CompressionCodec[] = ["none", "gzip", "snappy", "lz4", "zstd"];

/**
 * Translates librdkafka settings into the client-neutral configuration.
 *
 * @throws {SettingsError} for a missing or bad value, naming the key (and the
 *   value, unless it is a secret), a missing environment variable or file.
 */
export function translateSettings(
  settings: KafkaSettings,
  options: TranslateOptions = {},
): TranslatedSettings {
  // Texts no message may show: secret values and whatever an environment
  // reference brought in (a password put under the wrong key, say), each with
  // what to show instead.
  const hidden = new Map<string, string>();
  const values = resolveReferences(settings, options.env ?? readEnvironment, hidden);
  for (const [key, value] of values) {
    if (isSecretKey(key) && value.length > 0) hidden.set(value, "[redacted]");
  }
  try {
    const translated = translateValues(values, options);
    const details = translated.warningDetails.map((w) => ({
      ...w,
      message: hide(w.message, hidden),
    }));
    return {
      config: translated.config,
      warnings: details.map((w) => w.message),
      warningDetails: details,
    };
  } catch (error) {
    if (error instanceof SettingsError) error.message = hide(error.message, hidden);
    throw error;
  }
}

/**
 * The settings translated once per settings object: the command checks them
 * at start-up and `kafka.read`/`kafka.write` use the very same result (same
 * file reader, same environment), so what passes the check is what runs.
 */
export function translateSettingsOnce(settings: KafkaSettings): TranslatedSettings {
  const known = translatedOnce.get(settings);
  if (known !== undefined) return known;
  const translated = translateSettings(settings);
  translatedOnce.set(settings, translated);
  return translated;
}

const translatedOnce = new WeakMap<KafkaSettings, TranslatedSettings>();

/** Replaces every hidden text in a message (longest first, so a part never leaks). */
function hide(message: string, hidden: ReadonlyMap<string, string>): string {
  const texts = [...hidden.keys()].filter((text) => text.length >= 3).sort((a, b) =>
    b.length - a.length
  );
  let safe = message;
  for (const text of texts) safe = safe.replaceAll(text, hidden.get(text)!);
  return safe;
}

function translateValues(
  values: ReadonlyMap<string, string>,
  options: TranslateOptions,
): { config: ClientConfig; warningDetails: SettingsWarning[] } {
  const warnings = keyWarnings(values);
  const read = (key: string) => values.get(key);

  const protocol = parseProtocol(read("security.protocol"));
  const usesTls = protocol === "ssl" || protocol === "sasl_ssl";
  const usesSasl = protocol === "sasl_plaintext" || protocol === "sasl_ssl";
  for (const key of values.keys()) {
    if (!translatedKeys.has(key)) continue;
    const tlsKey = key.startsWith("ssl.") || key === "enable.ssl.certificate.verification";
    if ((tlsKey && !usesTls) || (key.startsWith("sasl.") && !usesSasl)) {
      warnings.push({
        key,
        kind: "inapplicable",
        message: `Setting ${JSON.stringify(key)} is ignored: security.protocol is ${
          JSON.stringify(protocol)
        }, which does not use ${tlsKey ? "TLS" : "SASL"}`,
      });
    }
  }

  const sessionTimeoutMs = wholeNumber(values, "session.timeout.ms", 1);
  const heartbeatIntervalMs = wholeNumber(values, "heartbeat.interval.ms", 1);
  if (
    sessionTimeoutMs !== undefined && heartbeatIntervalMs !== undefined &&
    heartbeatIntervalMs >= sessionTimeoutMs
  ) {
    throw new SettingsError(
      "heartbeat.interval.ms",
      `must be less than session.timeout.ms`,
    );
  }
  const config: ClientConfig = {
    brokers: parseBrokers(values),
    clientId: read("client.id") ?? "rivulet",
    groupId: read("group.id"),
    sessionTimeoutMs,
    heartbeatIntervalMs,
    autoOffsetReset: parseOffsetReset(read("auto.offset.reset")),
    connectionTimeoutMs: wholeNumber(values, "socket.connection.setup.timeout.ms", 1),
    // librdkafka's own lower bound: a smaller limit could not hold one record.
    maxRequestBytes: wholeNumber(values, "message.max.bytes", 1000),
    tls: usesTls ? tlsConfig(values, warnings, options) : undefined,
    sasl: usesSasl ? saslConfig(values, protocol) : undefined,
    ...tuning(values, warnings),
  };
  return { config: dropUndefined(config), warningDetails: warnings };
}

/**
 * A copy of the settings that is safe to log: the value of every secret key
 * is `[redacted]`, unless it is only an environment reference like
 * `${KAFKA_PASSWORD}`, which names where the secret comes from without showing it.
 *
 * @example
 * ```ts
 * import { redactSettings } from "./settings.ts";
 * redactSettings({ "sasl.username": "alice", "sasl.password": "hunter2" });
 * // { "sasl.username": "alice", "sasl.password": "[redacted]" }
 * ```
 */
export function redactSettings(settings: KafkaSettings): Record<string, string> {
  const safe: Record<string, string> = {};
  for (const [key, value] of Object.entries(settings)) {
    const onlyReference = typeof value === "string" && /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(value);
    safe[key] = isSecretKey(key) && !onlyReference ? "[redacted]" : String(value);
  }
  return safe;
}

/** Whether a setting's value is a secret that rivulet never shows. */
export function isSecretSetting(key: string): boolean {
  return isSecretKey(key);
}

/** A settings file that cannot be used as a whole (missing, not JSON, not an object). */
export class SettingsFileError extends Error {
  /** The file's path as given. */
  readonly path: string;
  /**
   * @param path the settings file
   * @param reason the rest of the sentence after `Settings file "path"`
   */
  constructor(path: string, reason: string) {
    super(`Settings file ${JSON.stringify(path)} ${reason}`);
    this.name = "SettingsFileError";
    this.path = path;
  }
}

/**
 * Reads a settings file: one JSON object whose values are all strings, with
 * librdkafka keys. Environment references stay as written: they are resolved
 * by {@linkcode translateSettings}.
 *
 * @example
 * ```ts
 * import { loadSettingsFile, translateSettings } from "./settings.ts";
 * // kafka.json: {"bootstrap.servers": "127.0.0.1:9092", "sasl.password": "${KAFKA_PASSWORD}"}
 * const { config } = translateSettings(await loadSettingsFile("kafka.json"));
 * ```
 *
 * @throws {SettingsFileError} when the file is missing, unreadable, not JSON or not an object.
 * @throws {SettingsError} when a value is not a string, naming the key and the file.
 */
export async function loadSettingsFile(path: string): Promise<KafkaSettings> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new SettingsFileError(path, fileProblem(error, path));
  }
  let parsed: unknown;
  try {
    parsed = parseJsonText(text);
  } catch (error) {
    // Only the line and column: the text near the fault may be a password.
    throw new SettingsFileError(path, `is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new SettingsFileError(
      path,
      `must hold a JSON object of string values, not ${
        Array.isArray(parsed) ? "an array" : parsed === null ? "null" : `a ${typeof parsed}`
      }`,
    );
  }
  const settings: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value !== "string") {
      const kind = value === null
        ? "null"
        : Array.isArray(value)
        ? "an array"
        : `a ${typeof value}`;
      const hint = typeof value === "number" || typeof value === "boolean"
        ? isSecretKey(key) ? " (quote it)" : ` (write "${value}")`
        : "";
      throw new SettingsError(
        key,
        `in ${JSON.stringify(path)} must be a string, not ${kind}${hint}`,
      );
    }
    settings[key] = value;
  }
  return settings;
}

// ---------------------------------------------------------------------------

function readEnvironment(name: string): string | undefined {
  return Deno.env.get(name);
}

/** What kind of JSON value a setting holds, for messages that never show the value itself. */
function kindOfValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** Replaces `${NAME}` references by the variables' values; `$${` is a literal `${`. */
function resolveReferences(
  settings: KafkaSettings,
  env: (name: string) => string | undefined,
  hidden: Map<string, string>,
): Map<string, string> {
  const values = new Map<string, string>();
  for (const [key, value] of Object.entries(settings)) {
    if (typeof value !== "string") {
      throw new SettingsError(key, `must be a string, not ${kindOfValue(value)}`);
    }
    const resolved = value.replace(/\$\$\{|\$\{([^}]*)\}/g, (match, name: string | undefined) => {
      if (match === "$${") return "${";
      if (name === undefined || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new SettingsError(
          key,
          `has a malformed environment reference: write \${NAME}, or $\${ for a literal \${`,
        );
      }
      let found: string | undefined;
      try {
        found = env(name);
      } catch {
        throw new SettingsError(
          key,
          `refers to environment variable ${name}, which rivulet may not read: grant it with --allow-env=${name}`,
        );
      }
      if (found === undefined) {
        throw new SettingsError(key, `refers to environment variable ${name}, which is not set`);
      }
      if (found.length > 0) hidden.set(found, `\${${name}}`);
      return found;
    });
    values.set(key, resolved);
  }
  return values;
}

function keyWarnings(values: ReadonlyMap<string, string>): SettingsWarning[] {
  const warnings: SettingsWarning[] = [];
  for (const key of values.keys()) {
    if (translatedKeys.has(key)) continue;
    const reason = ignoredKeys.get(key);
    if (reason !== undefined) {
      warnings.push({
        key,
        kind: "ignored",
        message: `Setting ${
          JSON.stringify(key)
        } is a librdkafka setting rivulet ignores: ${reason}`,
      });
      continue;
    }
    const suggestion = closestKey(key);
    warnings.push({
      key,
      kind: "unknown",
      message: `Unknown setting ${JSON.stringify(key)} is ignored${
        suggestion === undefined ? "" : ` (did you mean ${JSON.stringify(suggestion)}?)`
      }`,
    });
  }
  return warnings;
}

function parseProtocol(value: string | undefined): Protocol {
  if (value === undefined) return "plaintext";
  const protocol = protocols.find((p) => p === value.trim().toLowerCase());
  if (protocol === undefined) {
    throw new SettingsError(
      "security.protocol",
      `must be plaintext, ssl, sasl_plaintext or sasl_ssl`,
    );
  }
  return protocol;
}

function parseBrokers(values: ReadonlyMap<string, string>): string[] {
  const key = values.has("bootstrap.servers") ? "bootstrap.servers" : "metadata.broker.list";
  const list = values.get(key);
  if (list === undefined || list.trim() === "") {
    throw new SettingsError("bootstrap.servers", "is required (host:port of one or more brokers)");
  }
  return list.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "").map(
    (entry, index) => {
      // librdkafka accepts `[protocol://]host[:port]`; the port defaults to 9092.
      const match = /^(?:[a-z_]+:\/\/)?(\[[0-9a-f:.]+\]|[^:/\s[\]]+)(?::(\d+))?$/i.exec(entry);
      const port = match?.[2] === undefined ? 9092 : Number(match[2]);
      if (match === null || port < 1 || port > 65535) {
        throw new SettingsError(
          key,
          `must be host:port pairs separated by commas (entry ${index + 1} is not one)`,
        );
      }
      return `${match[1]}:${port}`;
    },
  );
}

function parseOffsetReset(value: string | undefined): "earliest" | "latest" {
  const reset = (value ?? "earliest").trim().toLowerCase();
  if (["earliest", "smallest", "beginning"].includes(reset)) return "earliest";
  if (["latest", "largest", "end"].includes(reset)) return "latest";
  throw new SettingsError(
    "auto.offset.reset",
    `must be earliest (smallest, beginning) or latest (largest, end)`,
  );
}

function wholeNumber(
  values: ReadonlyMap<string, string>,
  key: string,
  minimum: number,
): number | undefined {
  const value = values.get(key);
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  const number = Number(trimmed);
  if (!/^\d+$/.test(trimmed) || number < minimum || number > 2 ** 31 - 1) {
    const unit = key.endsWith(".ms") ? "milliseconds" : key.endsWith(".bytes") ? "bytes" : "";
    throw new SettingsError(
      key,
      `must be a whole number of ${unit} from ${minimum} to ${2 ** 31 - 1}`,
    );
  }
  return number;
}

function parseBoolean(values: ReadonlyMap<string, string>, key: string): boolean | undefined {
  const value = values.get(key);
  if (value === undefined) return undefined;
  const normalized = value.trim().toLowerCase();
  if (normalized === "true" || normalized === "1") return true;
  if (normalized === "false" || normalized === "0") return false;
  throw new SettingsError(key, `must be true or false`);
}

function saslConfig(values: ReadonlyMap<string, string>, protocol: Protocol): SaslConfig {
  const singular = values.get("sasl.mechanism");
  const plural = values.get("sasl.mechanisms");
  if (singular !== undefined && plural !== undefined && singular.trim() !== plural.trim()) {
    throw new SettingsError(
      "sasl.mechanisms",
      `differs from sasl.mechanism: give only one`,
    );
  }
  const key = singular !== undefined ? "sasl.mechanism" : "sasl.mechanisms";
  const given = singular ?? plural;
  if (given === undefined) {
    throw new SettingsError(
      "sasl.mechanism",
      `is required with security.protocol ${
        JSON.stringify(protocol)
      }: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER`,
    );
  }
  const mechanism = mechanisms.find((m) => m === given.trim().toLowerCase());
  if (mechanism === undefined) {
    throw new SettingsError(
      key,
      `must be PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (the mechanisms rivulet supports)`,
    );
  }
  if (mechanism === "oauthbearer") {
    return { mechanism, username: "", password: "", oauthBearer: oauthBearerSource(values) };
  }
  const username = values.get("sasl.username");
  const password = values.get("sasl.password");
  for (const [name, value] of [["sasl.username", username], ["sasl.password", password]]) {
    if (value === undefined || value === "") {
      throw new SettingsError(
        name as string,
        `is required with security.protocol ${JSON.stringify(protocol)} and sasl.mechanism ${
          JSON.stringify(given)
        }`,
      );
    }
  }
  return withSecrets({ mechanism, username: username as string }, {
    password: password as string,
  });
}

function tlsConfig(
  values: ReadonlyMap<string, string>,
  warnings: SettingsWarning[],
  options: TranslateOptions,
): TlsConfig {
  const readFile = options.readFile ?? readPemFile;
  const verifyCertificates = parseBoolean(values, "enable.ssl.certificate.verification") ?? true;
  if (!verifyCertificates) {
    warnings.push({
      key: "enable.ssl.certificate.verification",
      kind: "insecure",
      message:
        `Setting "enable.ssl.certificate.verification" is false: the broker's certificate is not checked, so anyone on the network path can pose as the broker`,
    });
  }
  const identification = values.get("ssl.endpoint.identification.algorithm");
  if (identification !== undefined) {
    const normalized = identification.trim().toLowerCase();
    if (normalized === "none") {
      warnings.push({
        key: "ssl.endpoint.identification.algorithm",
        kind: "ignored",
        message:
          `Setting "ssl.endpoint.identification.algorithm" is "none", but rivulet checks the broker's host name whenever it checks its certificate`,
      });
    } else if (normalized !== "https") {
      throw new SettingsError(
        "ssl.endpoint.identification.algorithm",
        `must be https or none`,
      );
    }
  }

  const ca = pemMaterial(values, "ssl.ca.location", "ssl.ca.pem", readFile);
  if (ca !== undefined) parseCertificates(ca);
  const certificate = pemMaterial(
    values,
    "ssl.certificate.location",
    "ssl.certificate.pem",
    readFile,
  );
  const key = pemMaterial(values, "ssl.key.location", "ssl.key.pem", readFile);
  const keyPassword = values.get("ssl.key.password");
  if (key !== undefined && certificate === undefined) {
    throw new SettingsError(
      "ssl.certificate.location",
      `is required with ${key.key}: a client key needs its certificate`,
    );
  }
  if (certificate !== undefined && key === undefined) {
    throw new SettingsError(
      "ssl.key.location",
      `is required with ${certificate.key}: a client certificate needs its private key`,
    );
  }
  if (certificate !== undefined && key !== undefined) {
    checkClientIdentity({ certificate, key, keyPassword, now: (options.now ?? newDate)() });
  } else if (keyPassword !== undefined) {
    warnings.push({
      key: "ssl.key.password",
      kind: "inapplicable",
      message: `Setting "ssl.key.password" is ignored: no ssl.key.location is set`,
    });
  }
  return withSecrets(
    dropUndefined({ ca: ca?.text, cert: certificate?.text, verifyCertificates }),
    { key: key?.text, keyPassword: key === undefined ? undefined : keyPassword },
  );
}

function newDate(): Date {
  return new Date();
}

/** PEM text from a `*.location` file or an inline `*.pem` value; not both. */
function pemMaterial(
  values: ReadonlyMap<string, string>,
  locationKey: string,
  inlineKey: string,
  readFile: (path: string) => string,
): PemMaterial | undefined {
  const location = values.get(locationKey);
  const inline = values.get(inlineKey);
  if (location !== undefined && inline !== undefined) {
    throw new SettingsError(inlineKey, `cannot be given together with ${locationKey}`);
  }
  if (inline !== undefined) return { key: inlineKey, text: inline, origin: "the inline value" };
  // librdkafka's "probe" means the system's CA store, which is the default anyway.
  if (location === undefined || (locationKey === "ssl.ca.location" && location === "probe")) {
    return undefined;
  }
  try {
    return {
      key: locationKey,
      text: readFile(location),
      origin: `file ${JSON.stringify(location)}`,
    };
  } catch (error) {
    throw new SettingsError(locationKey, fileProblem(error, location));
  }
}

/** Reads a PEM file, or every `.pem`/`.crt` file of a folder (a CA folder, as librdkafka allows). */
function readPemFile(path: string): string {
  if (!Deno.statSync(path).isDirectory) return Deno.readTextFileSync(path);
  const names = [...Deno.readDirSync(path)]
    .filter((entry) => entry.isFile && /\.(pem|crt)$/i.test(entry.name))
    .map((entry) => entry.name)
    .sort();
  return names.map((name) => Deno.readTextFileSync(`${path}/${name}`)).join("\n");
}

function fileProblem(error: unknown, path: string): string {
  const quoted = JSON.stringify(path);
  if (error instanceof Deno.errors.NotFound) return `names a file that does not exist: ${quoted}`;
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    return `names a file rivulet may not read: ${quoted} (grant it with --allow-read=${path})`;
  }
  const reason = error instanceof Error ? error.message : String(error);
  return `names a file that cannot be read: ${quoted} (${reason})`;
}

/**
 * Adds secret properties that logging, inspection and JSON leave out: a config
 * printed by mistake shows no password or key.
 */
function withSecrets<T extends object, S extends Record<string, string | undefined>>(
  visible: T,
  secrets: S,
): T & S {
  for (const [name, value] of Object.entries(secrets)) {
    if (value !== undefined) Object.defineProperty(visible, name, { value, enumerable: false });
  }
  return visible as T & S;
}

/** Leaves out absent options, keeping non-enumerable secrets. */
function dropUndefined<T extends object>(object: T): T {
  for (const [name, value] of Object.entries(object)) {
    if (value === undefined) delete (object as Record<string, unknown>)[name];
  }
  return object;
}

/** The producer and consumer settings every client adapter honours. */
function tuning(
  values: ReadonlyMap<string, string>,
  warnings: SettingsWarning[],
): Partial<ClientConfig> {
  const either = (a: string, b: string) => (values.has(a) ? a : b);
  const number = (key: string, minimum: number) => wholeNumber(values, key, minimum);
  const codecKey = either("compression.codec", "compression.type");
  const codecValue = values.get(codecKey);
  let compression: CompressionCodec | undefined;
  if (codecValue !== undefined) {
    compression = codecs.find((c) => c === codecValue.trim().toLowerCase());
    if (compression === undefined) {
      throw new SettingsError(
        codecKey,
        `must be none, gzip, snappy, lz4 or zstd`,
      );
    }
  }
  const acksKey = either("acks", "request.required.acks");
  const acksValue = values.get(acksKey)?.trim().toLowerCase();
  let acks: -1 | 0 | 1 | undefined;
  if (acksValue !== undefined) {
    acks = acksValue === "all" || acksValue === "-1"
      ? -1
      : acksValue === "1"
      ? 1
      : acksValue === "0"
      ? 0
      : undefined;
    if (acks === undefined) {
      throw new SettingsError(acksKey, `must be all, -1, 1 or 0`);
    }
  }
  let idempotence = parseBoolean(values, "enable.idempotence");
  if (acks !== undefined && acks !== -1) {
    if (idempotence === true) {
      throw new SettingsError(
        "enable.idempotence",
        `needs acks=all, but ${acksKey} is ${JSON.stringify(values.get(acksKey))}`,
      );
    }
    idempotence = false;
    warnings.push({
      key: acksKey,
      kind: "insecure",
      message: `Setting ${JSON.stringify(acksKey)} is ${
        JSON.stringify(values.get(acksKey))
      }: a record the leader lost before replicating it is gone, so the sink's at-least-once promise no longer holds`,
    });
  }
  const isolation = values.get("isolation.level")?.trim().toLowerCase();
  if (
    isolation !== undefined && isolation !== "read_committed" && isolation !== "read_uncommitted"
  ) {
    throw new SettingsError(
      "isolation.level",
      `must be read_committed or read_uncommitted`,
    );
  }
  return {
    compression,
    acks,
    idempotence,
    lingerMs: wholeNumberOrZero(values, either("linger.ms", "queue.buffering.max.ms")),
    batchMaxMessages: number("batch.num.messages", 1),
    batchMaxBytes: number("batch.size", 1000),
    deliveryTimeoutMs: wholeNumberOrZero(
      values,
      either("message.timeout.ms", "delivery.timeout.ms"),
    ),
    requestTimeoutMs: number(either("request.timeout.ms", "socket.timeout.ms"), 1),
    retryBackoffMs: number("retry.backoff.ms", 1),
    metadataMaxAgeMs: number(
      either("metadata.max.age.ms", "topic.metadata.refresh.interval.ms"),
      1,
    ),
    isolationLevel: isolation as ClientConfig["isolationLevel"],
    fetchMinBytes: number("fetch.min.bytes", 1),
    fetchMaxBytes: number("fetch.max.bytes", 1),
    maxPartitionFetchBytes: number("max.partition.fetch.bytes", 1),
    fetchMaxWaitMs: number("fetch.wait.max.ms", 0),
    rebalanceTimeoutMs: number("max.poll.interval.ms", 1),
  };
}

/** A whole number of milliseconds where 0 means "none" (`linger.ms=0`, `message.timeout.ms=0`: infinite). */
function wholeNumberOrZero(values: ReadonlyMap<string, string>, key: string): number | undefined {
  const number = wholeNumber(values, key, 0);
  // librdkafka's message.timeout.ms=0 is "no limit".
  if (number === 0 && (key === "message.timeout.ms" || key === "delivery.timeout.ms")) {
    return Number.MAX_SAFE_INTEGER;
  }
  return number;
}

/** Where the OAUTHBEARER token comes from: exactly one of a file, a command or librdkafka's unsecured JWT. */
function oauthBearerSource(values: ReadonlyMap<string, string>): OauthBearerTokenSource {
  const method = values.get("sasl.oauthbearer.method")?.trim().toLowerCase();
  if (method !== undefined && method !== "default") {
    throw new SettingsError(
      "sasl.oauthbearer.method",
      `is ${
        JSON.stringify(method)
      }, but rivulet does not fetch OIDC tokens itself: leave it out and give a command that prints a token in rivulet.sasl.oauthbearer.token.command`,
    );
  }
  const file = values.get("rivulet.sasl.oauthbearer.token.file");
  const command = values.get("rivulet.sasl.oauthbearer.token.command");
  const unsecured = parseBoolean(values, "enable.sasl.oauthbearer.unsecure.jwt") ?? false;
  const given = [
    file === undefined ? [] : ["rivulet.sasl.oauthbearer.token.file"],
    command === undefined ? [] : ["rivulet.sasl.oauthbearer.token.command"],
    unsecured ? ["enable.sasl.oauthbearer.unsecure.jwt"] : [],
  ].flat();
  if (given.length !== 1) {
    throw new SettingsError(
      given[1] ?? "sasl.mechanism",
      given.length === 0
        ? "is OAUTHBEARER, which needs a token: set rivulet.sasl.oauthbearer.token.file (a file holding the token), rivulet.sasl.oauthbearer.token.command (a command that prints it) or enable.sasl.oauthbearer.unsecure.jwt=true with sasl.oauthbearer.config (test brokers only)"
        : `cannot be given together with ${given[0]}: the token comes from one place`,
    );
  }
  if (file !== undefined) {
    if (file.trim() === "") {
      throw new SettingsError("rivulet.sasl.oauthbearer.token.file", "names no file");
    }
    return { kind: "file", path: file };
  }
  if (command !== undefined) {
    const words = command.trim().split(/\s+/).filter((w) => w !== "");
    if (words.length === 0) {
      throw new SettingsError("rivulet.sasl.oauthbearer.token.command", "names no command");
    }
    return { kind: "command", command: words };
  }
  const config = values.get("sasl.oauthbearer.config") ?? "";
  const fields = new Map<string, string>();
  for (const part of config.trim().split(/\s+/).filter((p) => p !== "")) {
    const eq = part.indexOf("=");
    if (eq <= 0) {
      throw new SettingsError(
        "sasl.oauthbearer.config",
        `must be name=value pairs (principal=NAME scope=A,B lifeSeconds=N)`,
      );
    }
    fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const principal = fields.get("principal");
  if (principal === undefined || principal === "") {
    throw new SettingsError(
      "sasl.oauthbearer.config",
      `needs principal=NAME for the unsecured JWT (enable.sasl.oauthbearer.unsecure.jwt=true)`,
    );
  }
  const life = fields.get("lifeSeconds") ?? "3600";
  if (!/^\d+$/.test(life) || Number(life) < 1) {
    throw new SettingsError(
      "sasl.oauthbearer.config",
      `has lifeSeconds=${JSON.stringify(life)}: it must be a whole number of seconds`,
    );
  }
  return {
    kind: "unsecured-jwt",
    principal,
    scope: (fields.get("scope") ?? "").split(",").filter((s) => s !== ""),
    lifeSeconds: Number(life),
  };
}
