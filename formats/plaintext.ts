/**
 * The `plaintext` format, as Pathway's: every message is one row with two
 * columns, `key` and `data`, the message key and value as UTF-8 text,
 * untouched (no trimming, no line splitting). A message without a key has
 * `key` null; a message without a value (a Kafka tombstone, passed as empty
 * bytes) has `data` "". Bytes that are not valid UTF-8 are bad input
 * (`invalid_utf8`), never replaced by U+FFFD.
 *
 * @module
 */

import { decodeUtf8 } from "./_utf8.ts";
import type { Decoder, DecodeResult, Format, MessageInfo } from "./format.ts";

/**
 * The `plaintext` format. It has no state and ignores `valueColumns` and
 * `header`: its columns are `key` and `data`.
 *
 * @example
 * ```ts
 * import { plaintext } from "./plaintext.ts";
 * const decoder = plaintext.open("logs", {});
 * const bytes = new TextEncoder().encode("hello, world");
 * decoder.decode(bytes, { topic: "logs", partition: 0, offset: "0", key: null });
 * // { kind: "rows", rows: [{ key: null, data: "hello, world" }] }
 * ```
 */
export const plaintext: Format = {
  name: "plaintext",
  open(): Decoder {
    return plaintextDecoder;
  },
};

const plaintextDecoder: Decoder = {
  decode(value: Uint8Array, message: MessageInfo): DecodeResult {
    const key = message.key === undefined || message.key === null ? null : decodeUtf8(message.key);
    return { kind: "rows", rows: [{ key, data: decodeUtf8(value) }] };
  },
  save(): null {
    return null;
  },
};
