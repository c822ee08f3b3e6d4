import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { FormatError } from "../../formats/format.ts";
import { builtinFormats, csv, json, loadFormat, raw } from "../../formats/mod.ts";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const kvPath = join(repoRoot, "examples/formats/kv.ts");
const info = { topic: "t", partition: 0, offset: "0" };
const bytes = (text: string) => new TextEncoder().encode(text);

const modulesDir = Deno.makeTempDirSync({ prefix: "rivulet-format-" });
globalThis.addEventListener("unload", () => Deno.removeSync(modulesDir, { recursive: true }));

/** Writes a module into its own folder of the temporary directory; returns its path. */
async function writeModule(source: string, name = "format.ts"): Promise<string> {
  const dir = await Deno.makeTempDir({ dir: modulesDir });
  const path = join(dir, name);
  await Deno.writeTextFile(path, source);
  return path;
}

Deno.test("loadFormat returns the built-in formats by name", async () => {
  assert.deepEqual(Object.keys(builtinFormats), ["raw", "plaintext", "csv", "json"]);
  assert.equal(await loadFormat("raw"), raw);
  assert.equal(await loadFormat("csv"), csv);
  assert.equal(await loadFormat("json"), json);
});

Deno.test("loadFormat loads a user format from a relative path, an absolute path and a file URL", async () => {
  const relative = await loadFormat("examples/formats/kv.ts", { cwd: repoRoot });
  const absolute = await loadFormat(kvPath);
  const url = await loadFormat(pathToFileURL(kvPath).href);
  for (const format of [relative, absolute, url]) {
    assert.equal(format.name, "kv");
    assert.deepEqual(format.open("t", {}).decode(bytes("a=1;b=2"), info), {
      kind: "rows",
      rows: [{ a: "1", b: "2" }],
    });
  }
});

Deno.test("loadFormat names the built-ins when given an unknown name", async () => {
  await assert.rejects(
    () => loadFormat("jsonl"),
    /Unknown format "jsonl": expected one of raw, plaintext, csv, json, or the path of a format module/,
  );
});

Deno.test("loadFormat names the file it could not find", async () => {
  await assert.rejects(
    () => loadFormat("./no/such_format.ts", { cwd: "/tmp" }),
    /Format module "\.\/no\/such_format\.ts" not found \(looked at \/tmp\/no\/such_format\.ts\)/,
  );
});

Deno.test("loadFormat reports a module that does not load", async () => {
  const path = await writeModule("export default {;\n");
  await assert.rejects(() => loadFormat(path), /Cannot load format module ".*format\.ts" \(.*\):/);
});

Deno.test("loadFormat reports a module that exports no format", async () => {
  const path = await writeModule("export const other = 1;\n");
  await assert.rejects(
    () => loadFormat(path),
    /exports no format: export it as "export default" or "export const format"/,
  );
});

Deno.test("loadFormat says what a module's export lacks", async () => {
  const path = await writeModule("export default { decode() {} };\n");
  await assert.rejects(
    () => loadFormat(path),
    /does not implement the format interface: its export lacks a name string and an open\(\) function/,
  );
});

Deno.test("loadFormat takes a module's format export when it has no default export", async () => {
  const path = await writeModule(
    'export const format = { name: "one", open: () => ({ decode: () => ({ kind: "rows", rows: [{ one: 1 }] }), save: () => null }) };\n',
  );
  const format = await loadFormat(path);
  assert.equal(format.name, "one");
  assert.deepEqual(format.open("t", {}).decode(bytes("x"), info), {
    kind: "rows",
    rows: [{ one: 1 }],
  });
});

Deno.test("loadFormat checks that a user format's decoders have decode and save", async () => {
  const path = await writeModule(
    'export default { name: "half", open: () => ({ decode() {} }) };\n',
  );
  const format = await loadFormat(path);
  assert.throws(
    () => format.open("t", {}),
    /The format "half" \(.*format\.ts\) does not implement the format interface: open\(\) returned a decoder without save\(\)/,
  );
});

Deno.test("loadFormat turns a user format's coded errors into FormatErrors", async () => {
  const format = await loadFormat(kvPath);
  const decoder = format.open("t", { valueColumns: ["user"] });
  assert.throws(
    () => decoder.decode(bytes("clicks=1"), info),
    (error: unknown) =>
      error instanceof FormatError && error.code === "missing_column" && error.column === "user" &&
      /Line 1 has no key "user"/.test(error.message),
  );
});

Deno.test("loadFormat makes any other error a user format throws while decoding malformed input", async () => {
  const path = await writeModule(
    'export default { name: "buggy", open: () => ({ decode() { throw new TypeError("oops"); }, save: () => null }) };\n',
  );
  const decoder = (await loadFormat(path)).open("t", {});
  assert.throws(
    () => decoder.decode(bytes("x"), info),
    (error: unknown) =>
      error instanceof FormatError && error.code === "malformed" &&
      /The format "buggy" \(.*\) failed on the message: oops/.test(error.message) &&
      error.cause instanceof TypeError,
  );
});

Deno.test("loadFormat reports a user format that returns something other than rows or wait", async () => {
  const path = await writeModule(
    'export default { name: "odd", open: () => ({ decode: () => ({ kind: "rows", rows: [1] }), save: () => undefined }) };\n',
  );
  const decoder = (await loadFormat(path)).open("t", {});
  assert.throws(
    () => decoder.decode(bytes("x"), info),
    /The format "odd" \(.*\) returned \{"kind":"rows","rows":\[1\]\} from decode\(\): expected/,
  );
  assert.equal(decoder.save(), null);
});
