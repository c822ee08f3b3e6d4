/**
 * A user-written format: each line of a message is a row of `key=value`
 * pairs separated by `;`, e.g. `user=ada;clicks=3`. Values stay strings.
 *
 * Load it with `--format ./examples/formats/kv.ts` (or `loadFormat` in a
 * script). It imports nothing from rivulet but types, which vanish when it is
 * run: that is what lets it load into the compiled binary too. Bad input is
 * reported by throwing an Error with a `code` ("malformed", "missing_column",
 * "invalid_utf8"), which rivulet treats like its own format errors.
 *
 * @module
 */

import type { Decoder, DecodeResult, Format, FormatOptions } from "../../formats/format.ts";

// One decoder for the whole module: creating one per message is slow.
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A bad-input error rivulet recognises by its `code`. */
function badInput(code: string, reason: string, column?: string): Error {
  return Object.assign(new Error(reason), { code, column });
}

function parseLine(line: string, lineNumber: number): Record<string, string> {
  const row: Record<string, string> = {};
  for (const pair of line.split(";")) {
    if (pair.trim() === "") continue; // a trailing ";" is fine
    const equals = pair.indexOf("=");
    if (equals === -1) {
      throw badInput("malformed", `Line ${lineNumber}: ${JSON.stringify(pair)} is not key=value`);
    }
    const key = pair.slice(0, equals).trim();
    if (key === "" || key === "__proto__" || Object.hasOwn(row, key)) {
      throw badInput("malformed", `Line ${lineNumber}: key ${JSON.stringify(key)} is not usable`);
    }
    row[key] = pair.slice(equals + 1);
  }
  return row;
}

function openDecoder(options: FormatOptions): Decoder {
  const columns = options.valueColumns;
  return {
    decode(value: Uint8Array): DecodeResult {
      let text: string;
      try {
        text = utf8.decode(value);
      } catch {
        throw badInput("invalid_utf8", "The message is not valid UTF-8");
      }
      const rows = [];
      const lines = text.split("\n");
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i];
        if (line.trim() === "") continue;
        const pairs = parseLine(line, i + 1);
        if (columns === undefined) {
          rows.push(pairs);
          continue;
        }
        const row: Record<string, string> = {};
        for (const column of columns) {
          if (!Object.hasOwn(pairs, column)) {
            throw badInput(
              "missing_column",
              `Line ${i + 1} has no key ${JSON.stringify(column)}`,
              column,
            );
          }
          row[column] = pairs[column];
        }
        rows.push(row);
      }
      return { kind: "rows", rows };
    },
    save(): null {
      return null; // kv keeps no state between messages
    },
  };
}

/** The `kv` format. */
const kv: Format = {
  name: "kv",
  open(_topic: string, options: FormatOptions): Decoder {
    return openDecoder(options);
  },
};

export default kv;
