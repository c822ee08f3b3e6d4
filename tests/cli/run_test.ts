/**
 * `rivulet run` as a subprocess: local runs of a transform, formats loaded
 * from files, pipeline scripts, config files and bad input policies.
 */
import assert from "node:assert/strict";
import { fixtures, records, rivulet, seedSumStream, spawnRivulet } from "./_rivulet.ts";

Deno.test("rivulet run prints the seed's change stream: +0, then -0 +1 ... -36 +45 with diff and time", async () => {
  const result = await rivulet([
    "run",
    "--transform",
    "examples/sum.ts",
    "--input",
    "examples/connector_example.txt",
    "--format",
    "csv",
    "--columns",
    "value",
  ]);
  assert.equal(result.code, 0, result.stderr);
  // Times of a local run are the commits' sequence numbers (the file has no timestamps).
  assert.deepEqual(records(result.stdout), seedSumStream());
});

Deno.test("rivulet run reads standard input with --input -", async () => {
  const result = await rivulet(
    [
      "run",
      "--transform",
      "examples/sum.ts",
      "--input",
      "-",
      "--format",
      "csv",
      "--columns",
      "value",
    ],
    { stdin: "value\n5\n7\n*COMMIT*\n1\n" },
  );
  assert.equal(result.code, 0, result.stderr);
  // The 1 after the last *COMMIT* waits for a marker that never comes: it is not applied.
  assert.deepEqual(records(result.stdout), [{ sum: 12, diff: 1, time: 1 }]);
});

Deno.test("rivulet run loads a transform file given with --transform", async () => {
  const result = await rivulet([
    "run",
    "--transform",
    `${fixtures}double.ts`,
    "--input",
    `${fixtures}numbers.txt`,
    "--format",
    "csv",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(
    records(result.stdout).map((r) => [r.doubled, r.diff, r.time]),
    [[2, 1, 1], [4, 1, 1], [6, 1, 2]],
  );
});

Deno.test("rivulet run loads a user format module with --format-module", async () => {
  const result = await rivulet(
    [
      "run",
      "--transform",
      `${fixtures}double.ts`,
      "--input",
      "-",
      "--format-module",
      `${fixtures}pipe_format.ts`,
      "--columns",
      "n,label",
    ],
    { stdin: "4|four\n*COMMIT*\n" },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(records(result.stdout), [{ doubled: 8, diff: 1, time: 1 }]);
});

Deno.test("rivulet run loads the kv example format by path with --format", async () => {
  const result = await rivulet(
    [
      "run",
      "--transform",
      `${fixtures}double.ts`,
      "--input",
      "-",
      "--format",
      "./examples/formats/kv.ts",
      "--columns",
      "n",
    ],
    { stdin: "n=10;other=x\n*COMMIT*\n" },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(records(result.stdout), [{ doubled: 20, diff: 1, time: 1 }]);
});

Deno.test("rivulet run takes its flags from --config, paths relative to the config file", async () => {
  const result = await rivulet(["run", "--config", `${fixtures}config.json`], { cwd: "/" });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(records(result.stdout).map((r) => r.doubled), [2, 4, 6]);
});

Deno.test("rivulet run runs a pipeline script whose default export builds on the API", async () => {
  const result = await rivulet(["run", `${fixtures}pipeline_default.ts`]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(records(result.stdout), [
    { total: 3, rows: 2, diff: 1, time: 1 },
    { total: 3, rows: 2, diff: -1, time: 2 },
    { total: 6, rows: 3, diff: 1, time: 2 },
  ]);
});

Deno.test("rivulet run runs a library-mode pipeline script that calls run() itself", async () => {
  const result = await rivulet(["run", `${fixtures}pipeline_library.ts`]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(records(result.stdout).map((r) => [r.largest, r.diff]), [[2, 1], [2, -1], [
    3,
    1,
  ]]);
});

Deno.test("bad input stops the run with exit 3 and names the line", async () => {
  const result = await rivulet(
    [
      "run",
      "--transform",
      `${fixtures}double.ts`,
      "--input",
      "-",
      "--format",
      "json",
      "--columns",
      "n",
    ],
    { stdin: '{"n": "1"}\n*COMMIT*\n{"n": \n*COMMIT*\n' },
  );
  assert.equal(result.code, 3, result.stderr);
  assert.match(result.stderr, /stdin/);
  assert.match(result.stderr, /--error-policy skip/);
  assert.deepEqual(records(result.stdout), [{ doubled: 2, diff: 1, time: 1 }]);
});

Deno.test("--error-policy skip logs bad input and goes on", async () => {
  const result = await rivulet(
    [
      "run",
      "--transform",
      `${fixtures}double.ts`,
      "--input",
      "-",
      "--format",
      "json",
      "--columns",
      "n",
      "--error-policy",
      "skip",
      "--log-format",
      "json",
    ],
    { stdin: '{"n": "1"}\n*COMMIT*\n{"n": \n{"n": "5"}\n*COMMIT*\n' },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(records(result.stdout).map((r) => r.doubled), [2, 10]);
  const logs = records(result.stderr);
  assert.ok(
    logs.some((l) => l.level === "warn" && /skipped/.test(String(l.message))),
    result.stderr,
  );
  const done = logs.find((l) => l.message === "done");
  assert.equal(done?.badInput, 1);
  assert.equal(done?.commitsApplied, 2);
});

Deno.test("--state-dir checkpoints: a second run over the same file resumes past it and emits nothing again", async () => {
  const state = await Deno.makeTempDir();
  const args = [
    "run",
    "--transform",
    "examples/sum.ts",
    "--input",
    "examples/connector_example.txt",
    "--format",
    "csv",
    "--columns",
    "value",
    "--state-dir",
    `${state}/sum`,
  ];
  const first = await rivulet(args, { flags: [`--allow-write=${state}`] });
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(records(first.stdout), seedSumStream());
  const second = await rivulet(args, { flags: [`--allow-write=${state}`] });
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stdout, "", "nothing is re-emitted after a resume");
});

Deno.test("--state-dir without write permission fails before reading, naming the flag to add, exit 2", async () => {
  const state = await Deno.makeTempDir();
  const result = await rivulet([
    "run",
    "--transform",
    "examples/sum.ts",
    "--input",
    "examples/connector_example.txt",
    "--format",
    "csv",
    "--state-dir",
    state,
  ]);
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    new RegExp(`may not write the state directory .*--allow-write=${state}`),
  );
  assert.equal(result.stdout, "");
});

Deno.test("--commit-markers ends each commit's changes with a *COMMIT* line, for a downstream rivulet", async () => {
  const result = await rivulet(
    [
      "run",
      "--transform",
      "examples/sum.ts",
      "--input",
      "-",
      "--format",
      "csv",
      "--commit-markers",
    ],
    { stdin: "value\n1\n*COMMIT*\n2\n*COMMIT*\n" },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.stdout.trim().split("\n"), [
    '{"sum":1,"diff":1,"time":1}',
    "*COMMIT*",
    '{"sum":1,"diff":-1,"time":2}',
    '{"sum":3,"diff":1,"time":2}',
    "*COMMIT*",
  ]);
});

Deno.test("a chained local run reads another run's output, diffs as retractions, with --diff-column", async () => {
  const upstream = await rivulet(
    [
      "run",
      "--transform",
      "examples/sum.ts",
      "--input",
      "-",
      "--format",
      "csv",
      "--commit-markers",
    ],
    { stdin: "value\n1\n*COMMIT*\n2\n*COMMIT*\n" },
  );
  assert.equal(upstream.code, 0, upstream.stderr);
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/identity.ts`,
    "export default (input: { select(spec: unknown): unknown }) => input.select({ sum: 'sum' });\n",
  );
  const plain = await rivulet(
    [
      "run",
      "--transform",
      `${dir}/identity.ts`,
      "--input",
      "-",
      "--format",
      "json",
      "--columns",
      "sum",
    ],
    { stdin: upstream.stdout },
  );
  assert.equal(plain.code, 0, plain.stderr);
  // Without --diff-column every record is a new row: the retraction of 1 is kept as a row.
  const plainChanges = records(plain.stdout).map((r) => [r.sum, r.diff]);
  assert.deepEqual(plainChanges, [[1, 1], [1, 1], [3, 1]]);
  const chained = await rivulet(
    [
      "run",
      "--transform",
      `${dir}/identity.ts`,
      "--input",
      "-",
      "--format",
      "json",
      "--columns",
      "sum",
      "--diff-column",
    ],
    { stdin: upstream.stdout },
  );
  assert.equal(chained.code, 0, chained.stderr);
  // With it, the downstream table follows the upstream one: 1, then 1 replaced by 3.
  const chainedChanges = records(chained.stdout).map((r) => [r.sum, r.diff]);
  assert.deepEqual(chainedChanges, [[1, 1], [1, -1], [3, 1]]);
});

Deno.test("standard input is processed as it arrives, and SIGINT stops the run gracefully with exit 0", async () => {
  const child = spawnRivulet([
    "run",
    "--transform",
    "examples/sum.ts",
    "--input",
    "-",
    "--format",
    "csv",
    "--log-format",
    "json",
  ], { stdin: true });
  const input = child.stdin.getWriter();
  await input.write(new TextEncoder().encode("value\n4\n*COMMIT*\n"));
  // The commit's change comes out while standard input is still open.
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await stdout.read();
    if (done) break;
    text += value;
  }
  assert.equal(text, '{"sum":4,"diff":1,"time":1}\n');
  child.kill("SIGINT");
  const status = await child.status;
  await input.close().catch(() => {});
  const stderr = await new Response(child.stderr).text();
  assert.equal(status.code, 0, stderr);
  const done = records(stderr).find((line) => line.message === "done");
  assert.equal(done?.commitsApplied, 1);
});

Deno.test("rivulet run runs what a script built when the script does not call run() itself", async () => {
  const result = await rivulet(["run", `${fixtures}pipeline_no_run.ts`]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(records(result.stdout).map((r) => [r.rows, r.diff]), [[2, 1], [2, -1], [3, 1]]);
});
