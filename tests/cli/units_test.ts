/**
 * The command's pure pieces: flag suggestions, log redaction, the metrics
 * text, the status line and the table that tail rebuilds.
 */
import assert from "node:assert/strict";
import { closest, parseFlags } from "../../cli/args.ts";
import { UsageError } from "../../cli/exit_codes.ts";
import { createLogger } from "../../cli/log.ts";
import { metricNames, renderMetrics } from "../../cli/metrics.ts";
import { formatStatus } from "../../cli/status.ts";
import { renderGrid, renderPlain, ResultTable } from "../../cli/tail_table.ts";

const stats = {
  messagesIn: 21,
  rowsIn: 10,
  commitsApplied: 10,
  changesOut: 19,
  badInput: 2,
  deadLettered: 1,
  pendingCommits: 3,
  lastTime: 1700000000000,
};

Deno.test("closest suggests a near flag and nothing for a far one", () => {
  assert.equal(closest("colums", ["columns", "topic", "format"]), "columns");
  assert.equal(closest("output-topc", ["topic", "output-topic"]), "output-topic");
  assert.equal(closest("banana", ["columns", "topic", "format"]), undefined);
});

Deno.test("parseFlags names a boolean flag given a value and a string flag missing one", () => {
  const specs = { quiet: { type: "boolean" }, format: { type: "string" } } as const;
  assert.throws(
    () => parseFlags({ command: "rivulet run", specs, args: ["--quiet=yes"] }),
    (e: unknown) =>
      e instanceof UsageError && /"--quiet" of rivulet run takes no value/.test(e.message),
  );
  assert.throws(
    () => parseFlags({ command: "rivulet run", specs, args: ["--format"] }),
    (e: unknown) =>
      e instanceof UsageError && /"--format" of rivulet run needs a value/.test(e.message),
  );
});

Deno.test("the logger redacts secret-looking fields in text and json", () => {
  const lines: string[] = [];
  const json = createLogger({ format: "json", write: (l) => lines.push(l), now: () => 0 });
  json.warn("connecting", {
    "sasl.password": "hunter2",
    token: "abc",
    broker: "b:9092",
    "ssl.key": "PEM",
  });
  const parsed = JSON.parse(lines[0]);
  assert.deepEqual(parsed, {
    time: "1970-01-01T00:00:00.000Z",
    level: "warn",
    message: "connecting",
    "sasl.password": "[redacted]",
    token: "[redacted]",
    broker: "b:9092",
    "ssl.key": "[redacted]",
  });
  const text = createLogger({ format: "text", write: (l) => lines.push(l) });
  text.info("connecting", { password: "hunter2", topic: "sum" });
  assert.equal(lines[1], "connecting password=[redacted] topic=sum");
  assert.equal(lines.join("\n").includes("hunter2"), false);
});

Deno.test("the logger drops lines below its level", () => {
  const lines: string[] = [];
  const logger = createLogger({ format: "text", level: "warn", write: (l) => lines.push(l) });
  logger.info("progress");
  logger.error("broken");
  assert.deepEqual(lines, ["error: broken"]);
});

Deno.test("renderMetrics writes every stat as a named counter or gauge", () => {
  const text = renderMetrics(stats);
  const values = Object.fromEntries(
    text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).map((l) => l.split(" ")),
  );
  assert.deepEqual(values, {
    rivulet_messages_in_total: "21",
    rivulet_rows_in_total: "10",
    rivulet_commits_applied_total: "10",
    rivulet_changes_out_total: "19",
    rivulet_bad_input_total: "2",
    rivulet_dead_lettered_total: "1",
    rivulet_pending_commits: "3",
    rivulet_last_commit_time_ms: "1700000000000",
    rivulet_connection_retrying: "0",
  });
  // Lag (Kafka sources) and restore progress (the kafka state store) are left out when unknown.
  const unknown = [
    "rivulet_consumer_lag",
    "rivulet_state_restored_records",
    "rivulet_state_restoring",
  ];
  assert.deepEqual(Object.keys(values), metricNames.filter((n) => !unknown.includes(n)));
  for (const name of Object.keys(values)) {
    assert.match(text, new RegExp(`^# TYPE ${name} (counter|gauge)$`, "m"));
  }
});

Deno.test("restoring state from Kafka shows on the status line and as gauges", () => {
  const restoring = { ...stats, restore: { restoring: true, records: 1234 } };
  assert.match(formatStatus(restoring), /^restoring state: 1234 records · /);
  assert.match(renderMetrics(restoring), /^rivulet_state_restored_records 1234$/m);
  assert.match(renderMetrics(restoring), /^rivulet_state_restoring 1$/m);
  const done = { ...stats, restore: { restoring: false, records: 1234 } };
  assert.doesNotMatch(formatStatus(done), /restoring/);
  assert.match(renderMetrics(done), /^rivulet_state_restoring 0$/m);
});

Deno.test("the connection gauge and the status line say when the brokers cannot be reached", () => {
  assert.match(
    renderMetrics({ ...stats, connection: "retrying" }),
    /^rivulet_connection_retrying 1$/m,
  );
  assert.match(formatStatus({ ...stats, connection: "retrying" }), /broker unreachable, retrying$/);
  assert.doesNotMatch(formatStatus({ ...stats, connection: "connected" }), /retrying/);
});

Deno.test("renderMetrics adds the consumer lag gauge only when the lag is known", () => {
  assert.doesNotMatch(renderMetrics(stats), /rivulet_consumer_lag/);
  assert.match(
    renderMetrics({ ...stats, lag: 42 }),
    /^# TYPE rivulet_consumer_lag gauge\nrivulet_consumer_lag 42$/m,
  );
});

Deno.test("the status line shows messages in, lag when known, commits applied, rows out and errors", () => {
  assert.equal(
    formatStatus(stats),
    "messages in 21 · commits 10 · rows out 19 · errors 2 · pending 3",
  );
  assert.equal(
    formatStatus({ ...stats, lag: 7 }),
    "messages in 21 · lag 7 · commits 10 · rows out 19 · errors 2 · pending 3",
  );
});

Deno.test("tail's table applies a retraction only to the row it retracts", () => {
  const table = new ResultTable();
  assert.equal(table.apply({ key: "1", value: '{"w":"a","n":1,"diff":1,"time":1}' }), "change");
  // A retraction of values the row no longer has (a stale record) leaves the row alone.
  table.apply({ key: "1", value: '{"w":"a","n":7,"diff":-1,"time":2}' });
  assert.deepEqual(table.rows(), [{ w: "a", n: 1 }]);
  table.apply({ key: "1", value: '{"w":"a","n":1,"diff":-1,"time":3}' });
  assert.deepEqual(table.rows(), []);
  assert.equal(table.time, 3);
});

Deno.test("tail's table counts records that are not changes and recognises markers", () => {
  const table = new ResultTable();
  assert.equal(table.apply({ key: null, value: " *COMMIT* " }), "marker");
  assert.equal(table.apply({ key: null, value: "hello" }), "not-a-change");
  assert.equal(table.apply({ key: null, value: '{"sum":1}' }), "not-a-change");
  assert.equal(table.apply({ key: null, value: '{"sum":1,"diff":2,"time":1}' }), "not-a-change");
  assert.equal(table.skipped, 3);
  // Without keys, the row's values identify it.
  table.apply({ key: null, value: '{"sum":1,"diff":1,"time":1}' });
  table.apply({ key: null, value: '{"sum":1,"diff":-1,"time":2}' });
  assert.equal(table.size, 0);
});

Deno.test("tail renders plain blocks and an aligned grid cut to the screen", () => {
  const table = new ResultTable();
  table.apply({ key: "1", value: '{"word":"apple","count":3,"diff":1,"time":4}' });
  table.apply({ key: "2", value: '{"word":"fig","count":12,"diff":1,"time":4}' });
  assert.equal(
    renderPlain(table),
    'time 4: 2 rows\n{"word":"apple","count":3}\n{"word":"fig","count":12}',
  );
  assert.equal(
    renderGrid(table, { title: "rivulet tail words", height: 10, width: 80 }),
    [
      "rivulet tail words · time 4 · 2 rows",
      "word   count",
      "-----  -----",
      "apple  3",
      "fig    12",
    ].join("\n"),
  );
  const cut = renderGrid(table, { title: "t", height: 4, width: 80 }).split("\n");
  assert.equal(cut.length, 3);
  assert.match(cut[2], /… 3 more rows/);
});
