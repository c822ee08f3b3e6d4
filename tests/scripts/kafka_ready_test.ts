/**
 * scripts/kafka_ready.ts, which kafka.sh runs at every broker start: it waits
 * through rivulet's own Kafka client, so kafkajs' negative timeout warning
 * (repaired in connectors/kafka/kafkajs/_patches.ts) no longer shows.
 */
import assert from "node:assert/strict";
import { testBroker } from "../support/kafka.ts";

const script = new URL("../../scripts/kafka_ready.ts", import.meta.url).pathname;

/** Runs the script with the permissions kafka.sh grants; all output together. */
async function kafkaReady(broker: string, seconds: number) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-net=127.0.0.1",
      "--allow-env",
      // As kafka.sh: the platformatic client reads its WebAssembly file when it loads.
      "--allow-read",
      script,
      broker,
      String(seconds),
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: output.code, text: decoder.decode(output.stdout) + decoder.decode(output.stderr) };
}

Deno.test({
  name: "kafka_ready finds the running broker ready without Node's TimeoutNegativeWarning",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { code, text } = await kafkaReady(testBroker, 60);
    assert.equal(code, 0, text);
    assert.match(text, /kafka_ready: broker .* created and listed topic "rivulet-ready"/);
    assert.doesNotMatch(text, /TimeoutNegativeWarning|negative number/);
  },
});

Deno.test("kafka_ready gives up on a port nothing listens on, saying why", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const { code, text } = await kafkaReady(`127.0.0.1:${port}`, 1);
  assert.equal(code, 1, text);
  assert.match(
    text,
    new RegExp(`broker 127\\.0\\.0\\.1:${port} not ready after 1s: .*refused`, "i"),
  );
});
