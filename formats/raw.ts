/**
 * The `raw` format: every message is one row with one column, `data`, holding
 * the message value as UTF-8 text, untouched (no trimming, no line splitting).
 *
 * A message without a value (a Kafka tombstone, passed as empty bytes) gives a
 * row whose `data` is the empty string: the message is not dropped, and raw
 * has no other way to say "nothing". Bytes that are not valid UTF-8 are bad
 * input (`invalid_utf8`), never replaced by U+FFFD.
 *
 * @module
 */

import { decodeUtf8 } from "./_utf8.ts";
import type { Decoder, DecodeResult, Format } from "./format.ts";

/**
 * The `raw` format. It has no state and ignores `valueColumns` and `header`:
 * its only column is `data`.
 *
 * @example
 * ```ts
 * import { raw } from "./raw.ts";
 * const decoder = raw.open("logs", {});
 * const bytes = new TextEncoder().encode("hello, world");
 * decoder.decode(bytes, { topic: "logs", partition: 0, offset: "0" });
 * // { kind: "rows", rows: [{ data: "hello, world" }] }
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
  decode(value: Uint8Array): DecodeResult {
    return { kind: "rows", rows: [{ data: decodeUtf8(value) }] };
  },
  save(): null {
    return null;
  },
};
