/**
 * Wrong input to the command: each gets a message naming the problem and a
 * non-zero exit (2: nothing ran).
 */
import assert from "node:assert/strict";
import { fixtures, rivulet } from "./_rivulet.ts";

const localSum = [
  "--input",
  "examples/connector_example.txt",
  "--format",
  "csv",
  "--columns",
  "value",
];

Deno.test("a missing transform file is named, exit 2", async () => {
  const result = await rivulet(["run", "--transform", "nowhere/sum.ts", ...localSum]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /transform "nowhere\/sum\.ts" does not exist/);
  assert.equal(result.stdout, "");
});

Deno.test("a missing input file is named, exit 2", async () => {
  const result = await rivulet([
    "run",
    "--transform",
    "examples/sum.ts",
    "--input",
    "missing.txt",
    "--format",
    "csv",
  ]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /input file "missing\.txt" does not exist/);
});

Deno.test("an unknown flag is named with the closest known flag, exit 2", async () => {
  const result = await rivulet([
    "run",
    "--transform",
    "examples/sum.ts",
    "--colums",
    "value",
    "--input",
    "-",
  ]);
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /Unknown flag "--colums" for rivulet run: did you mean "--columns"\?/,
  );
});

Deno.test("an unknown command is named, exit 2", async () => {
  const result = await rivulet(["rnu"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /Unknown command "rnu".*Did you mean "rivulet run"\?/);
});

Deno.test("a format module that does not implement the interface is named with what it lacks, exit 2", async () => {
  const result = await rivulet([
    "run",
    "--transform",
    "examples/sum.ts",
    "--input",
    "examples/connector_example.txt",
    "--format-module",
    `${fixtures}not_a_format.ts`,
  ]);
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /not_a_format\.ts.*does not implement the format interface.*open\(\)/,
  );
});

Deno.test("an unknown built-in format name is named with the choices, exit 2", async () => {
  const result = await rivulet([
    "run",
    "--transform",
    "examples/sum.ts",
    "--input",
    "-",
    "--format",
    "cvs",
  ]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /Unknown format "cvs": expected one of raw, plaintext, csv, json/);
});

Deno.test("a settings file with a misspelt key is named with the likely key, exit 2", async () => {
  const result = await rivulet([
    "run",
    "--transform",
    "examples/sum.ts",
    "--topic",
    "connector_example",
    "--settings",
    `${fixtures}settings_typo.json`,
    "--format",
    "csv",
  ]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /Unknown setting "sesion\.timeout\.ms"/);
  assert.match(result.stderr, /session\.timeout\.ms/, "the message suggests the right key");
  assert.match(result.stderr, /settings_typo\.json/);
});

Deno.test("a missing settings file is named, exit 2", async () => {
  const result = await rivulet([
    "run",
    "--transform",
    "examples/sum.ts",
    "--topic",
    "t",
    "--settings",
    "no-such-settings.json",
  ]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /no-such-settings\.json/);
});

Deno.test("--topic without --settings says what to add, exit 2", async () => {
  const result = await rivulet([
    "run",
    "--transform",
    "examples/sum.ts",
    "--topic",
    "connector_example",
  ]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--topic needs Kafka settings: add --settings settings\.json/);
});

Deno.test("a transform that returns no table is named, exit 2", async () => {
  const result = await rivulet(["run", "--transform", `${fixtures}not_a_table.ts`, ...localSum]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /must return a table.*returned number/);
});

Deno.test("a transform without a default export says how to export it, exit 2", async () => {
  const result = await rivulet(["run", "--transform", `${fixtures}pipe_format.ts`, ...localSum]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /must export a function as its default export/);
});

Deno.test("a config file with an unknown key is named with the closest one, exit 2", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/pipeline.json`, JSON.stringify({ transfrom: "sum.ts" }));
  const result = await rivulet(["run", "--config", `${dir}/pipeline.json`]);
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /Unknown key "transfrom" of config file .*did you mean "transform"\?/,
  );
});

Deno.test("a bad number for a flag is named with its range, exit 2", async () => {
  const result = await rivulet([
    "run",
    "--transform",
    "examples/sum.ts",
    "--input",
    "-",
    "--metrics-port",
    "http",
  ]);
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /"--metrics-port" must be a whole number from 0 to 65535, not "http"/,
  );
});

Deno.test("every command has --help with examples and exit codes; --version prints the version", async () => {
  for (const command of ["run", "tail", "check"]) {
    const result = await rivulet([command, "--help"]);
    assert.equal(result.code, 0, command);
    assert.match(result.stdout, /Examples:/, command);
    assert.match(result.stdout, /Exit codes:/, command);
  }
  const main = await rivulet(["--help"]);
  assert.equal(main.code, 0);
  assert.match(main.stdout, /rivulet run --transform examples\/sum\.ts/);
  const version = await rivulet(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^rivulet \d+\.\d+\.\d+\n$/);
});

Deno.test("an unknown --kafka-client is named with the clients there are, exit 2", async () => {
  for (const command of [["run", "--transform", "examples/sum.ts", ...localSum], ["tail", "sum"]]) {
    const result = await rivulet([...command, "--kafka-client", "rdkafka"]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /Flag "--kafka-client" must be kafkajs or platformatic, not "rdkafka"/,
    );
  }
});

Deno.test("--kafka-client reaches the clients of a transform run and of a script that runs itself", async () => {
  const dir = await Deno.makeTempDir();
  const settings = `${dir}/settings.json`;
  // Nothing listens there: the choice must fail before any connection is tried.
  await Deno.writeTextFile(
    settings,
    JSON.stringify({ "bootstrap.servers": "127.0.0.1:1", "group.id": "cli-client-choice" }),
  );
  const transform = await rivulet([
    "run",
    "--transform",
    "examples/sum.ts",
    "--topic",
    "in",
    "--settings",
    settings,
    "--kafka-client",
    "platformatic",
  ]);
  const script = await rivulet([
    "run",
    "examples/realtime_kafka.ts",
    "--kafka-client",
    "platformatic",
  ], {
    flags: [`--allow-write=${dir}`],
    env: { RIVULET_SETTINGS: settings, RIVULET_STATE_DIR: `${dir}/state` },
  });
  await Deno.remove(dir, { recursive: true });
  for (const result of [transform, script]) {
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /The Kafka client "platformatic" is not available in this build/);
  }
});
