/**
 * Reads a topic back with tools that are not rivulet and not kafkajs: kcat
 * (librdkafka) and kafka-python, so a test compares the exact bytes another
 * client sees. Both are installed by .ci/run; a test without one of them says
 * `skipped: ...` with the reason instead of passing silently.
 *
 * @module
 */
import { testBroker } from "./kafka.ts";

/** One record as an outside client read it: bytes as hex, null kept. */
export interface OutsideRecord {
  readonly topic: string;
  readonly partition: number;
  readonly key: string | null;
  readonly value: string | null;
  /** Header names and values (hex), in order. */
  readonly headers: readonly (readonly [string, string | null])[];
}

const root = new URL("../../", import.meta.url).pathname;
/** The venv .ci/run installs kafka-python into. */
export const kafkaPythonExe = `${root}.cache/venv-kafka-python/bin/python`;

/** Why kcat cannot be used here, or undefined when it can. */
export function kcatMissing(): string | undefined {
  try {
    const { success } = new Deno.Command("kcat", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync();
    return success ? undefined : "kcat -V failed";
  } catch {
    return "kcat is not installed (apt-get install kcat; .ci/run installs it)";
  }
}

/** Why kafka-python cannot be used here, or undefined when it can. */
export function kafkaPythonMissing(): string | undefined {
  try {
    const { success } = new Deno.Command(kafkaPythonExe, {
      args: ["-c", "import kafka"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return success ? undefined : `kafka-python is not importable by ${kafkaPythonExe}`;
  } catch {
    return `kafka-python's venv ${kafkaPythonExe} is missing (.ci/run creates it)`;
  }
}

/** Prints the reason a tool-dependent test is skipped, once per test file and tool. */
export function sayMissing(tool: string, reason: string | undefined): void {
  if (reason !== undefined) console.log(`skipped: ${tool} read-back: ${reason}`);
}

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

/**
 * Every record of `topic` as kcat reads it (from the beginning to the end of
 * every partition), sorted by partition and offset. Keys and values are read
 * by length, so binary bytes come through exactly.
 */
export async function kcatRecords(topic: string, broker = testBroker): Promise<OutsideRecord[]> {
  const { code, stdout, stderr } = await new Deno.Command("kcat", {
    args: [
      "-C",
      "-b",
      broker,
      "-t",
      topic,
      "-o",
      "beginning",
      "-e",
      "-q",
      "-f",
      "%p\t%o\t%K\t%S\t%h\n%k%s\n",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(`kcat failed: ${new TextDecoder().decode(stderr)}`);
  const records: (OutsideRecord & { offset: number })[] = [];
  const text = new TextDecoder();
  let at = 0;
  while (at < stdout.length) {
    const lineEnd = stdout.indexOf(10, at);
    const [partition, offset, keyLength, valueLength, headerText] = text.decode(
      stdout.subarray(at, lineEnd),
    ).split("\t");
    at = lineEnd + 1;
    const take = (length: number) => {
      if (length < 0) return null;
      const bytes = stdout.subarray(at, at + length);
      at += length;
      return hex(bytes);
    };
    const key = take(Number(keyLength));
    const value = take(Number(valueLength));
    at += 1; // the newline after the value
    const headers: [string, string][] = headerText === ""
      ? []
      : headerText.split(",").map((pair) => {
        const eq = pair.indexOf("=");
        return [pair.slice(0, eq), hex(new TextEncoder().encode(pair.slice(eq + 1)))];
      });
    records.push({
      topic,
      partition: Number(partition),
      offset: Number(offset),
      key,
      value,
      headers,
    });
  }
  records.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  return records.map(({ offset: _, ...record }) => record);
}

/** Every record of `topic` as kafka-python reads it, sorted by partition and offset. */
export async function kafkaPythonRecords(
  topic: string,
  broker = testBroker,
): Promise<OutsideRecord[]> {
  const { code, stdout, stderr } = await new Deno.Command(kafkaPythonExe, {
    args: [`${root}tests/support/kafka_python_read.py`, broker, topic],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(`kafka-python failed: ${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout).split("\n").filter((l) => l !== "").map((line) => {
    const r = JSON.parse(line);
    return {
      topic: r.topic,
      partition: r.partition,
      key: r.key,
      value: r.value,
      headers: r.headers.map(([n, v]: [string, string | null]) => [n, v] as const),
    };
  });
}

/** Text or bytes as the hex the readers report. */
export function hexOf(value: string | Uint8Array): string {
  return hex(typeof value === "string" ? new TextEncoder().encode(value) : value);
}
