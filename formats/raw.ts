/**
 * The `raw` format, as Pathway's: every message is one row with two columns,
 * `key` and `data`, the message key and value as bytes (`Uint8Array`),
 * untouched. A message without a key has `key` null; a message without a
 * value (a Kafka tombstone, passed as empty bytes) has empty `data`. Use
 * `plaintext` for the same as text.
 *
 * @module
 */

import type { Decoder, DecodeResult, Format, MessageInfo } from "./format.ts";

/**
 * The `raw` format. It has no state and ignores `valueColumns` and `header`:
 * its columns are `key` and `data`.
 *
 * @example
 * ```ts
 * import { raw } from "./raw.ts";
 * const decoder = raw.open("logs", {});
 * const bytes = new Uint8Array([0, 1, 255]);
 * decoder.decode(bytes, { topic: "logs", partition: 0, offset: "0", key: null });
 * // { kind: "rows", rows: [{ key: null, data: Uint8Array [0, 1, 255] }] }
 * ```
 */
export const raw: Format = {
  name: "raw",
  open(): Decoder {
    return rawDecoder;
  },
};

// Stateless, so every topic can share one decoder.
const rawDecoder: Decoder = {
  decode(value: Uint8Array, message: MessageInfo): DecodeResult {
    // Copied: the client may hand over views into a fetch buffer it reuses.
    const key = message.key === undefined || message.key === null
      ? null
      : new Uint8Array(message.key);
    return { kind: "rows", rows: [{ key, data: new Uint8Array(value) }] };
  },
  save(): null {
    return null;
  },
};
