/**
 * The local broker script's start/stop behaviour, on its own port and folder so
 * it does not disturb the broker the other tests use.
 */
import assert from "node:assert/strict";
import { freePortBlock } from "../support/ports.ts";

const script = new URL("../../scripts/kafka.sh", import.meta.url).pathname;
/** A free block (client port and controller port): another broker may hold any fixed one. */
const port = freePortBlock(2);

async function kafkaSh(command: string, env: Record<string, string>) {
  const output = await new Deno.Command("bash", {
    args: [script, command],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  return { code: output.code, text };
}

/** Pids of broker processes started with this test's folder. */
function brokerPids(home: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes("kafka.Kafka") && cmdline.includes(home)) pids.push(Number(entry.name));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

Deno.test({
  name: "kafka.sh starts once, reports a second start, stops, and tolerates stopping twice",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const home = await Deno.makeTempDir({ prefix: "rivulet-kafka-script-" });
    const env = { KAFKA_PORT: String(port), KAFKA_HOME_DIR: home };
    try {
      const none = await kafkaSh("stop", env);
      assert.equal(none.code, 0, none.text);
      assert.match(none.text, /not running/);

      const first = await kafkaSh("start", env);
      assert.equal(first.code, 0, first.text);
      assert.match(first.text, new RegExp(`ready on 127\\.0\\.0\\.1:${port}`));
      assert.doesNotMatch(first.text, /fetching/, "jars come from the cache after the first fetch");
      const pids = brokerPids(home);
      assert.equal(pids.length, 1);

      const second = await kafkaSh("start", env);
      assert.equal(second.code, 0, second.text);
      assert.match(second.text, /already running/);
      assert.deepEqual(brokerPids(home), pids, "starting twice leaves one broker");

      const stopped = await kafkaSh("stop", env);
      assert.equal(stopped.code, 0, stopped.text);
      assert.deepEqual(brokerPids(home), []);
      const status = await kafkaSh("status", env);
      assert.equal(status.code, 3);
      assert.match(status.text, /not running/);

      const again = await kafkaSh("stop", env);
      assert.equal(again.code, 0, "stopping with none running is not an error");
    } finally {
      await kafkaSh("stop", env);
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name: "kafka.sh prints the broker's own last log lines when the broker cannot start",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const home = await Deno.makeTempDir({ prefix: "rivulet-kafka-script-" });
    const env = { KAFKA_PORT: String(port), KAFKA_HOME_DIR: home, KAFKA_READY_SECONDS: "30" };
    // Someone else holds the controller port: the broker cannot bind it.
    const squatter = Deno.listen({ hostname: "127.0.0.1", port: port + 1 });
    try {
      const result = await kafkaSh("start", env);
      assert.notEqual(result.code, 0);
      assert.match(result.text, /the broker's last log lines/, result.text);
      assert.match(result.text, /Address already in use|bind/i, result.text);
      assert.deepEqual(brokerPids(home), []);
    } finally {
      squatter.close();
      await kafkaSh("stop", env);
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name: "kafka.sh refuses a client port another process holds, rather than taking its answers",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const home = await Deno.makeTempDir({ prefix: "rivulet-kafka-script-" });
    const env = { KAFKA_PORT: String(port), KAFKA_HOME_DIR: home, KAFKA_READY_SECONDS: "30" };
    const squatter = Deno.listen({ hostname: "127.0.0.1", port });
    try {
      const result = await kafkaSh("start", env);
      assert.equal(result.code, 1, result.text);
      assert.match(result.text, new RegExp(`127\\.0\\.0\\.1:${port} is already in use`));
      assert.deepEqual(brokerPids(home), [], "no broker was started");
    } finally {
      squatter.close();
      await kafkaSh("stop", env);
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a broker port the scripts chose and another process took before the broker bound it is replaced by another free port",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const home = await Deno.makeTempDir({ prefix: "rivulet-kafka-port-" });
    const root = new URL("../..", import.meta.url).pathname;
    // As if _kafka_port.sh had chosen `port` and a CI run started in the same second then took it.
    const squatter = Deno.listen({ hostname: "127.0.0.1", port });
    const env = { KAFKA_HOME_DIR: home, KAFKA_READY_SECONDS: "60" };
    let started = "";
    try {
      const output = await new Deno.Command("bash", {
        args: [
          "-c",
          `root="$1"; unset KAFKA_PORT; source "$root/scripts/_kafka_port.sh"; ` +
          `KAFKA_PORT=${port}; kafka_port_chosen=1; ` +
          `kafka_start_local_broker && echo "started on $KAFKA_PORT"`,
          "_",
          root,
        ],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(output.stdout) +
        new TextDecoder().decode(output.stderr);
      assert.equal(output.code, 0, text);
      assert.match(text, new RegExp(`127\\.0\\.0\\.1:${port} is already in use`));
      assert.match(text, /kafka port: the broker did not start; trying 127\.0\.0\.1:\d+/);
      started = /started on (\d+)/.exec(text)?.[1] ?? "";
      assert.notEqual(started, "", text);
      assert.notEqual(started, String(port));
      assert.equal(brokerPids(home).length, 1, "one broker runs, on the other port");
    } finally {
      squatter.close();
      if (started !== "") await kafkaSh("stop", { KAFKA_PORT: started, KAFKA_HOME_DIR: home });
      await Deno.remove(home, { recursive: true });
    }
  },
});
