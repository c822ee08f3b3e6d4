/**
 * SIGTERM-to-exit time of an idle `rivulet run` reading Kafka: the seed's
 * transform, its input read and its output written, nothing in flight. Each
 * run starts the command, waits until it has applied the input and sits idle,
 * sends SIGTERM and times until the process has exited. Prints every run and
 * the median and maximum.
 *
 * Run (against the local broker, KAFKA_PORT):
 *   scripts/deno run --allow-all bench/sigterm_exit.ts [runs=20] [--state-dir]
 *
 * @module
 */
import "../connectors/kafka/kafkajs/client.ts";
import { Kafka, logLevel } from "kafkajs";

const runs = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 20);
const withState = Deno.args.includes("--state-dir");
const broker = `127.0.0.1:${Deno.env.get("KAFKA_PORT") ?? "9092"}`;
const root = new URL("../", import.meta.url).pathname;

const kafka = new Kafka({
  clientId: "sigterm-bench",
  brokers: [broker],
  logLevel: logLevel.NOTHING,
});
const id = crypto.randomUUID().slice(0, 8);
const input = `sigterm-bench-in-${id}`;
const output = `sigterm-bench-out-${id}`;
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ topics: [{ topic: input }, { topic: output }], waitForLeaders: true });
await admin.disconnect();
const producer = kafka.producer();
await producer.connect();
await producer.send({
  topic: input,
  messages: ["value", "1", "*COMMIT*", "2", "*COMMIT*"].map((value) => ({ value, partition: 0 })),
});
await producer.disconnect();

const dir = await Deno.makeTempDir({ prefix: "rivulet-sigterm-bench-" });
const settings = `${dir}/settings.json`;
await Deno.writeTextFile(
  settings,
  JSON.stringify({ "bootstrap.servers": broker, "group.id": `sigterm-bench-${id}` }),
);

/** Reads a stream's lines until one matches; keeps draining afterwards. */
async function waitForLine(stream: ReadableStream<Uint8Array>, pattern: RegExp): Promise<void> {
  const lines = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`the command ended before printing ${pattern}:\n${buffer}`);
    buffer += value;
    if (pattern.test(buffer)) break;
  }
  (async () => {
    while (!(await lines.read()).done) { /* drain */ }
  })();
}

const times: number[] = [];
for (let run = 0; run < runs; run++) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      `${root}main.ts`,
      "run",
      "--transform",
      `${root}examples/sum.ts`,
      "--topic",
      input,
      "--settings",
      settings,
      "--format",
      "csv",
      "--output-topic",
      output,
      "--log-format",
      "json",
      ...(withState ? ["--state-dir", `${dir}/state`] : []),
    ],
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // The status line reports the applied commits once the input is read; then it is idle.
  await waitForLine(child.stderr, /partitions assigned/);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const start = performance.now();
  child.kill("SIGTERM");
  const status = await child.status;
  const ms = performance.now() - start;
  if (status.code !== 0) throw new Error(`run ${run + 1} exited ${status.code}`);
  times.push(ms);
  console.log(`run ${run + 1}: ${ms.toFixed(0)} ms`);
}
const sorted = [...times].sort((a, b) => a - b);
const median = sorted.length % 2 === 1
  ? sorted[(sorted.length - 1) / 2]
  : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
console.log(
  `SIGTERM to exit over ${runs} runs${withState ? " (with --state-dir)" : ""}: ` +
    `median ${median.toFixed(0)} ms, max ${sorted[sorted.length - 1].toFixed(0)} ms`,
);
await Deno.remove(dir, { recursive: true });
