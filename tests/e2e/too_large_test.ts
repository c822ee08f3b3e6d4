/**
 * A message over the size limit (`--max-message-bytes`) is bad input under the
 * error policy, through the command against the broker: `stop` exits 3 naming
 * the message and `too_large`, `skip` applies the rest, `dead-letter` sends the
 * message whole to the dead-letter topic and applies the rest.
 */
import assert from "node:assert/strict";
import { consumeAll, createTopics, produce, testBroker, uniqueTopic } from "../support/kafka.ts";
import { seedSumArgs, spawnRivulet } from "../cli/_rivulet.ts";

const large = "5".repeat(200);

async function setup(): Promise<{ input: string; settings: string }> {
  const input = uniqueTopic("too-large-in");
  await createTopics([input]);
  await produce(input, ["value", "1", "*COMMIT*", large, "*COMMIT*", "2", "*COMMIT*"]);
  const settings = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(
    settings,
    JSON.stringify({ "bootstrap.servers": testBroker, "group.id": uniqueTopic("too-large") }),
  );
  return { input, settings };
}

function command(input: string, settings: string, output: string, extra: string[]): string[] {
  return seedSumArgs(input, output, settings, "--max-message-bytes", "100", ...extra);
}

Deno.test("too large under stop: exit 3 naming the message's place and the limit", async () => {
  const { input, settings } = await setup();
  const output = uniqueTopic("too-large-out");
  await createTopics([output]);
  const ended = await spawnRivulet(command(input, settings, output, ["--quiet"])).output();
  const stderr = new TextDecoder().decode(ended.stderr);
  assert.equal(ended.code, 3, stderr);
  assert.match(stderr, new RegExp(`${input}-0@3\\b`));
  assert.match(stderr, /200 bytes, over the limit of 100 bytes/);
  assert.ok(!stderr.includes(large), "the message itself is not printed");
  const written = await consumeAll(output, { timeoutMs: 2_000 });
  assert.deepEqual(written.map((r) => JSON.parse(r.value).sum), [1], "nothing past it");
});

for (const policy of ["skip", "dead-letter"] as const) {
  Deno.test(
    `too large under ${policy}: the rest is applied (sum 3)${
      policy === "dead-letter" ? ", the message goes to the dead-letter topic whole" : ""
    }`,
    async () => {
      const { input, settings } = await setup();
      const output = uniqueTopic("too-large-out");
      const deadLetters = uniqueTopic("too-large-dlq");
      await createTopics([output, deadLetters]);
      const extra = policy === "skip"
        ? ["--error-policy", "skip"]
        : ["--error-policy", "dead-letter", "--dead-letter-topic", deadLetters];
      const child = spawnRivulet(command(input, settings, output, [...extra, "--quiet"]));
      let written;
      try {
        written = await consumeAll(output, { count: 3, timeoutMs: 30_000 });
      } finally {
        child.kill("SIGTERM");
      }
      const ended = await child.output();
      const stderr = new TextDecoder().decode(ended.stderr);
      assert.equal(ended.code, 0, stderr);
      assert.deepEqual(
        written.map((r) => [JSON.parse(r.value).sum, JSON.parse(r.value).diff]),
        [[1, 1], [1, -1], [3, 1]],
      );
      assert.match(stderr, /over the limit of 100 bytes/);
      if (policy === "dead-letter") {
        const dead = await consumeAll(deadLetters, { count: 1, timeoutMs: 10_000 });
        assert.equal(dead.length, 1);
        assert.equal(dead[0].value, large);
      }
    },
  );
}
