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
  if (bytes.length <= SHORT_MESSAGE) {
    const text = shortAscii(bytes);
    if (text !== undefined) return text;
  }
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

// TextDecoder costs ~250 ns a call whatever the size; for short ASCII text
// (the seed's "17") a plain loop is several times faster. Past ~32 bytes
// TextDecoder wins (bench/formats_bench.ts).
const SHORT_MESSAGE = 32;

/** The text of `bytes` if they are all ASCII, else undefined. */
function shortAscii(bytes: Uint8Array): string | undefined {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] >= 0x80) return undefined;
  // Up to 3 bytes (the seed's "17"): direct calls, without apply's argument list.
  switch (bytes.length) {
    case 0:
      return "";
    case 1:
      return String.fromCharCode(bytes[0]);
    case 2:
      return String.fromCharCode(bytes[0], bytes[1]);
    case 3:
      return String.fromCharCode(bytes[0], bytes[1], bytes[2]);
  }
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}

/** The first bytes as hex, to help find the message without dumping it whole. */
function previewBytes(bytes: Uint8Array): string {
  const shown = bytes.subarray(0, 16);
  let hex = "";
  for (const byte of shown) hex += byte.toString(16).padStart(2, "0");
  return bytes.length > shown.length ? `${hex}…` : hex;
}
