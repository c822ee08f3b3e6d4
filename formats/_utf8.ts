/**
 * Shared UTF-8 decoding for the text formats. One fatal decoder for the whole
 * process: creating a TextDecoder per message is measurable on the hot path.
 *
 * @module
 */

import { FormatError } from "./format.ts";

// `fatal: true` so that bad bytes are reported instead of turned into U+FFFD,
// which would silently change the data. The BOM is dropped (the default).
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes message bytes as UTF-8 text. Throws {@linkcode FormatError} with code
 * `invalid_utf8` when the bytes are not valid UTF-8.
 *
 * @example
 * ```ts
 * import { decodeUtf8 } from "./_utf8.ts";
 * decodeUtf8(new TextEncoder().encode("héllo")); // "héllo"
 * ```
 */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new FormatError(
      "invalid_utf8",
      `The message is not valid UTF-8 (${bytes.length} bytes, starting ${
        JSON.stringify(previewBytes(bytes))
      })`,
    );
  }
}

/** The first bytes as hex, to help find the message without dumping it whole. */
function previewBytes(bytes: Uint8Array): string {
  const shown = bytes.subarray(0, 16);
  let hex = "";
  for (const byte of shown) hex += byte.toString(16).padStart(2, "0");
  return bytes.length > shown.length ? `${hex}…` : hex;
}
