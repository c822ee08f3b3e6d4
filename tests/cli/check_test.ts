/**
 * `rivulet check` as a subprocess: it loads, type-checks and builds without
 * connecting, and reports each problem.
 */
import assert from "node:assert/strict";
import { fixtures, rivulet } from "./_rivulet.ts";

// check runs `deno check` on the user's files: it needs to run deno.
const allowDeno = { flags: [`--allow-run=${Deno.execPath()}`] };

Deno.test("rivulet check passes the seed's transform and says what it checked", async () => {
  const result = await rivulet(
    [
      "check",
      "--transform",
      "examples/sum.ts",
      "--input",
      "examples/connector_example.txt",
      "--format",
      "csv",
      "--columns",
      "value",
    ],
    allowDeno,
  );
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /ok +transform examples\/sum\.ts: type-checked; its default export is a function/,
  );
  assert.match(result.stdout, /ok +pipeline: source, transform and sink build/);
  assert.match(result.stdout, /everything loads/);
});

Deno.test("rivulet check reports a transform's type error with its place, exit 2", async () => {
  // Written at test time: a file with a type error in the repository would fail `deno check .`.
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/type_error.ts`,
    [
      "/** A transform with a type error: check must report it. */",
      "export default function broken(input: unknown): unknown {",
      '  const count: number = "not a number";',
      "  return count > 0 ? input : input;",
      "}",
      "",
    ].join("\n"),
  );
  const result = await rivulet(
    ["check", "--transform", `${dir}/type_error.ts`, "--input", "-", "--format", "csv"],
    allowDeno,
  );
  assert.equal(result.code, 2);
  assert.match(result.stderr, /problem +transform .*type_error\.ts: Type errors/);
  assert.match(result.stderr, /Type 'string' is not assignable to type 'number'/);
  assert.match(result.stderr, /type_error\.ts:3:/);
});

Deno.test("rivulet check reports every problem at once: format module and settings, without connecting", async () => {
  const result = await rivulet(
    [
      "check",
      "--transform",
      "examples/sum.ts",
      "--topic",
      "connector_example",
      "--format-module",
      `${fixtures}not_a_format.ts`,
      "--settings",
      `${fixtures}settings_typo.json`,
    ],
    allowDeno,
  );
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /problem +format .*not_a_format\.ts: .*does not implement the format interface/,
  );
  assert.match(
    result.stderr,
    /problem +settings .*settings_typo\.json: Unknown setting "sesion\.timeout\.ms"/,
  );
  assert.match(result.stderr, /2 problems found/);
});

Deno.test("rivulet check loads a user format module and type-checks it", async () => {
  const result = await rivulet(
    [
      "check",
      "--transform",
      `${fixtures}double.ts`,
      "--input",
      "-",
      "--format",
      `${fixtures}pipe_format.ts`,
      "--columns",
      "n",
    ],
    allowDeno,
  );
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /ok +format .*pipe_format\.ts: type-checked; it implements the format interface/,
  );
});

Deno.test("rivulet check imports a default-export pipeline script but not one that runs itself", async () => {
  const builds = await rivulet(["check", `${fixtures}pipeline_default.ts`], allowDeno);
  assert.equal(builds.code, 0, builds.stderr);
  assert.match(builds.stdout, /its default export is a function/);
  assert.equal(builds.stdout.includes('"total"'), false, "checking a script does not run it");
  const library = await rivulet(["check", `${fixtures}pipeline_library.ts`], allowDeno);
  assert.equal(library.code, 0, library.stderr);
  assert.match(library.stdout, /not imported: it has no default export/);
  assert.equal(library.stdout.includes('"largest"'), false, "checking a script does not run it");
});

Deno.test("rivulet check says when it cannot type-check rather than pretending", async () => {
  const result = await rivulet([
    "check",
    "--transform",
    "examples/sum.ts",
    "--input",
    "-",
    "--format",
    "csv",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /not type-checked: rivulet may not run deno \(allow it with --allow-run=/,
  );
});
