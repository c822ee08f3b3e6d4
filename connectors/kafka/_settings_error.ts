/**
 * The error for a bad setting, shared by the translation's private modules.
 * Re-exported by `settings.ts`, which is where users import it from.
 *
 * @module
 */

/**
 * A setting with a bad value, raised before anything connects. The message
 * names the key and, unless the key holds a secret, the bad value.
 */
export class SettingsError extends Error {
  /** The librdkafka key at fault, e.g. `"session.timeout.ms"`. */
  readonly key: string;
  /**
   * @param key the librdkafka key at fault
   * @param reason the rest of the sentence after `Setting "key"`; it must not
   *   contain the value of a secret
   */
  constructor(key: string, reason: string) {
    super(`Setting ${JSON.stringify(key)} ${reason}`);
    this.name = "SettingsError";
    this.key = key;
  }
}
