/**
 * The seed's example as a user runs it (examples/realtime_kafka.ts in its own
 * process): SIGTERM mid-stream exits 0 with offsets committed, and a restart
 * continues without loss.
 */
import assert from "node:assert/strict";
import {
  consumeAll,
  createTopics,
  produce,
  testBroker,
  testKafka,
  uniqueTopic,
} from "../support/kafka.ts";

const example = new URL("../../examples/realtime_kafka.ts", import.meta.url).pathname;

function startExample(env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-read", "--allow-write", "--allow-env", example],
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function waitForRecords(topic: string, count: number): Promise<string[]> {
  const records = await consumeAll(topic, { count, timeoutMs: 30_000 });
  assert.ok(
    records.length >= count,
    `expected ${count} records in ${topic}, got ${records.length}`,
  );
  return records.map((r) => r.value);
}

Deno.test({
  name: "SIGTERM mid-stream: exit 0, offsets committed, and a restart continues without loss",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const input = uniqueTopic("connector_example");
    const output = uniqueTopic("sum");
    const group = `sigterm-${input}`;
    await createTopics([input, output]);
    const dir = await Deno.makeTempDir();
    const settingsFile = `${dir}/settings.json`;
    await Deno.writeTextFile(
      settingsFile,
      JSON.stringify({
        "bootstrap.servers": testBroker,
        "group.id": group,
        "session.timeout.ms": "6000",
      }),
    );
    const env = {
      RIVULET_SETTINGS: settingsFile,
      RIVULET_INPUT_TOPIC: input,
      RIVULET_OUTPUT_TOPIC: output,
      RIVULET_STATE_DIR: `${dir}/state`,
    };
    const stream = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => [String(from + i), "*COMMIT*"]).flat();

    await produce(input, ["value", ...stream(0, 5)]);
    const first = startExample(env);
    await waitForRecords(output, 9); // +0, -0 +1, -1 +3, -3 +6, -6 +10
    first.kill("SIGTERM");
    const status = await first.output();
    const stderr = new TextDecoder().decode(status.stderr);
    assert.equal(status.code, 0, `exit code 0 after SIGTERM; stderr: ${stderr}`);

    const admin = testKafka().admin();
    await admin.connect();
    const [committed] = await admin.fetchOffsets({ groupId: group, topics: [input] });
    await admin.disconnect();
    assert.equal(
      committed.partitions[0].offset,
      "11",
      "offsets committed past the last commit marker",
    );

    await produce(input, stream(5, 10));
    const second = startExample(env);
    try {
      const values = await waitForRecords(output, 19);
      const sums = values.map((v) => JSON.parse(v)).map((r) => [r.sum, r.diff]);
      const expected: [number, number][] = [[0, 1]];
      for (let i = 1, sum = 0; i <= 9; sum += i, i++) expected.push([sum, -1], [sum + i, 1]);
      assert.deepEqual(
        sums,
        expected,
        "the restart continues the sum: nothing lost, nothing repeated",
      );
    } finally {
      second.kill("SIGTERM");
      assert.equal((await second.output()).code, 0);
    }
  },
});
