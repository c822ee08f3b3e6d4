/**
 * The one file @platformatic/kafka reads when it loads, outside the files a
 * pipeline names: its `@platformatic/wasm-utils` dependency reads
 * `native.wasm` (CRC32C of record batches, LZ4 and Snappy) from Deno's npm
 * cache at import time, with `node:fs`. The library has no hook to supply a
 * CRC32C or to load the WebAssembly lazily, and Deno cannot redirect a
 * dependency inside an npm package without a `node_modules` folder, so under
 * `deno run` with a narrow `--allow-read` that file must be granted too (a
 * `deno compile` executable embeds it and needs no grant). This module does
 * not import the library: it only resolves where the file is.
 *
 * @module
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The absolute path of the WebAssembly file @platformatic/kafka reads when it
 * loads, to name in `--allow-read` (resolving it may need read access to
 * Deno's npm cache: call it where that is granted, e.g. to print the flags).
 */
export function platformaticWasmFile(): string {
  const kafkaEntry = fileURLToPath(import.meta.resolve("@platformatic/kafka"));
  const wasmUtilsEntry = createRequire(kafkaEntry).resolve("@platformatic/wasm-utils");
  return join(dirname(wasmUtilsEntry), "native.wasm");
}

/** The platformatic client could not load because a narrow `--allow-read` left out its WebAssembly file. */
export class PlatformaticWasmReadError extends Error {
  /** `file`: the path Deno refused to read. */
  constructor(readonly file: string) {
    super(
      `The platformatic Kafka client reads its WebAssembly helpers (CRC32C, LZ4, Snappy) from ` +
        `"${file}" when it loads, and rivulet may not read it: grant it with ` +
        `--allow-read=${file} (beside the other files), or use --kafka-client kafkajs`,
    );
    this.name = "PlatformaticWasmReadError";
  }
}

/**
 * `error` as a {@linkcode PlatformaticWasmReadError} when it is Deno refusing
 * the library's read of its `native.wasm`, else `error` unchanged.
 */
export function explainLoadFailure(error: unknown): unknown {
  if (!(error instanceof Deno.errors.NotCapable)) return error;
  const match = /Requires read access to "([^"]*native\.wasm)"/.exec(error.message);
  return match === null ? error : new PlatformaticWasmReadError(match[1]);
}
