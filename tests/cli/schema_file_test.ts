import assert from "node:assert/strict";
import { schemaFromJsonText } from "../../cli/schema_file.ts";
import { JsonSyntaxError, parseJsonText } from "../../connectors/json_text.ts";
import { UsageError } from "../../cli/exit_codes.ts";
import { parseRunArgs } from "../../cli/run_plan.ts";

Deno.test("a schema file's JSON syntax error is placed by line and column", () => {
  for (
    const [text, line, column] of [
      ['{"a": x}', 1, 7],
      ['{\n  "a": "int",\n  "b" "str"\n}', 3, 7],
      ['{"a": "int",}', 1, 13],
      ['{"a": "in', 1, 10],
      ['{"a": [1, 2', 1, 12],
      ['{"a": tru}', 1, 7],
      ['{"a": "\\q"}', 1, 9],
      ['{"a": 1} x', 1, 10],
    ] as const
  ) {
    assert.throws(() => JSON.parse(text));
    assert.throws(
      () => parseJsonText(text),
      (error: unknown) =>
        error instanceof JsonSyntaxError && error.line === line && error.column === column,
      text,
    );
  }
});

Deno.test("a schema file's errors name the file and the place, never its contents", () => {
  const secret = '{"value": "int", "password": s3cr3t}';
  assert.throws(
    () => schemaFromJsonText(secret, 'schema file "s.json"'),
    (error: unknown) =>
      error instanceof UsageError &&
      error.message ===
        'The schema file "s.json" is not valid JSON: unexpected character at line 1, column 30' &&
      !error.message.includes("s3cr3t"),
  );
  assert.throws(
    () => schemaFromJsonText('["int"]', 'schema file "s.json"'),
    /must hold a JSON object of column name to type/,
  );
  assert.deepEqual(schemaFromJsonText('{"v": {"type": "int", "default": 0}}', "x"), {
    v: { type: "int", default: 0 },
  });
});

Deno.test("input flags: parsed, and refused where they cannot apply", async () => {
  const base = ["--transform", "t.ts", "--topic", "t", "--settings", "s.json"];
  const parsed = await parseRunArgs("rivulet run", [
    ...base,
    "--schema",
    "value:int",
    "--json-field-paths",
    "city=/address/city, zip=/address/zip",
    "--key-columns",
    "id",
    "--key-as-row-id",
    "--with-metadata",
    "--start-from-timestamp",
    "2026-01-01T00:00:00Z",
    "--until-end",
  ]);
  assert.ok(!parsed.help && parsed.plan.pipeline.kind === "transform");
  const plan = parsed.plan.pipeline;
  assert.equal(plan.schema, "value:int");
  assert.deepEqual(plan.jsonFieldPaths, { city: "/address/city", zip: "/address/zip" });
  assert.deepEqual(plan.keyColumns, ["id"]);
  assert.equal(plan.keyAsRowId, true);
  assert.equal(plan.withMetadata, true);
  assert.equal(plan.startFromTimestampMs, 1_767_225_600_000);
  assert.equal(plan.untilEnd, true);
  assert.equal(plan.format, "plaintext", "the command line's default format is text");

  const refused = async (args: string[], pattern: RegExp) =>
    await assert.rejects(() => parseRunArgs("rivulet run", args), pattern);
  await refused(
    [...base, "--start-from-timestamp", "soon"],
    /must be milliseconds since the epoch/,
  );
  await refused(
    ["--transform", "t.ts", "--input", "-", "--until-end"],
    /--until-end applies to Kafka input/,
  );
  await refused([...base, "--schema", "a:int", "--schema-file", "s.json"], /not both/);
  await refused([...base, "--json-field-paths", "city"], /column=\/json\/pointer pairs/);
});
