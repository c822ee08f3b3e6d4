/**
 * `--until-end` on a topic a transactional producer wrote: the partition ends
 * in a transaction marker (and here an aborted transaction), which no message
 * reaches, so the end is known only from the consumer moving past it.
 */
import assert from "node:assert/strict";
import { createTopics, testBroker, testKafka, uniqueTopic } from "../support/kafka.ts";
import { records, spawnRivulet } from "./_rivulet.ts";

/** How long the run may take before it counts as the hang this test is about. */
const hangMs = 90_000;

Deno.test({
  name:
    "rivulet run --until-end finishes on a topic that ends in transaction markers and an aborted transaction",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const topic = uniqueTopic("cli-until-end-tx");
    await createTopics([topic]);
    const producer = testKafka().producer({
      transactionalId: uniqueTopic("cli-until-end-producer"),
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    try {
      const committed = await producer.transaction();
      await committed.send({
        topic,
        messages: ["value", "1", "*COMMIT*", "2", "*COMMIT*"].map((value) => ({ value })),
      });
      await committed.commit();
      const aborted = await producer.transaction();
      await aborted.send({ topic, messages: [{ value: "100" }, { value: "*COMMIT*" }] });
      await aborted.abort();
    } finally {
      await producer.disconnect();
    }
    const settings = await Deno.makeTempFile({ suffix: ".json" });
    await Deno.writeTextFile(
      settings,
      JSON.stringify({
        "bootstrap.servers": testBroker,
        "group.id": uniqueTopic("cli-until-end-group"),
      }),
    );
    const child = spawnRivulet([
      "run",
      "--transform",
      "examples/sum.ts",
      "--topic",
      topic,
      "--settings",
      settings,
      "--format",
      "csv",
      "--columns",
      "value",
      "--until-end",
      "--quiet",
    ], { env: { NO_COLOR: "1" } });
    let hung = false;
    const guard = setTimeout(() => {
      hung = true;
      child.kill("SIGKILL");
    }, hangMs);
    try {
      const output = await child.output();
      const stdout = new TextDecoder().decode(output.stdout);
      const stderr = new TextDecoder().decode(output.stderr);
      assert.ok(!hung, `--until-end did not finish in ${hangMs / 1000} s:\n${stderr}`);
      assert.equal(output.code, 0, stderr);
      // The aborted transaction's 100 is never applied.
      assert.deepEqual(records(stdout).map((r) => [r.sum, r.diff]), [[1, 1], [1, -1], [3, 1]]);
    } finally {
      clearTimeout(guard);
      await Deno.remove(settings);
    }
  },
});
