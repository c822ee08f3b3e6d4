/**
 * The contract every format passes: built-in (raw, csv, json) and user-written
 * ones loaded from a file. Each implementation supplies a fixture (a stream of
 * messages with the result each must give, and some bad inputs); the contract
 * checks the interface, the results, state saving and restoring at every
 * point of the stream, independence of topics, and how bad input is reported.
 *
 * @module
 */

import assert from "node:assert/strict";
import type {
  Decoder,
  DecodeResult,
  Format,
  FormatErrorCode,
  FormatOptions,
  MessageInfo,
} from "../../formats/format.ts";
import { isFormatError } from "../../formats/format.ts";

/** What a message must decode to: a result, or bad input with this code. */
export type Expected = DecodeResult | { readonly error: FormatErrorCode };

/** One message of a fixture stream. */
export interface FixtureMessage {
  readonly value: string | Uint8Array;
  /** Default 0. */
  readonly partition?: number;
  /**
   * Default: the partition's next offset. A message expected to `wait` does
   * not use up its offset: the next message of its partition is its re-offer.
   */
  readonly offset?: string;
  /** The message key (default: none). */
  readonly key?: string | Uint8Array;
  readonly expect: Expected;
}

/** What a format is tested with. */
export interface FormatFixture {
  /** The options the format is opened with. */
  readonly options: FormatOptions;
  /** A stream of good messages (a `wait` is allowed), decoded in order. */
  readonly stream: readonly FixtureMessage[];
  /** Bad messages, each decoded after the whole stream on its own decoder. */
  /** The format takes any bytes (raw): it has no bad input, and says so instead of listing some. */
  readonly acceptsAnyBytes?: boolean;
  readonly badInputs: readonly {
    readonly value: string | Uint8Array;
    readonly code: FormatErrorCode;
  }[];
}

const encoder = new TextEncoder();

interface ResolvedMessage {
  readonly bytes: Uint8Array;
  readonly info: MessageInfo;
  readonly expect: Expected;
}

function resolveStream(topic: string, stream: readonly FixtureMessage[]): ResolvedMessage[] {
  const nextOffset = new Map<number, bigint>();
  return stream.map((message) => {
    const partition = message.partition ?? 0;
    const offset = message.offset ?? String(nextOffset.get(partition) ?? 0n);
    if (!("kind" in message.expect && message.expect.kind === "wait")) {
      nextOffset.set(partition, BigInt(offset) + 1n);
    }
    const bytes = typeof message.value === "string" ? encoder.encode(message.value) : message.value;
    const key = message.key === undefined
      ? null
      : typeof message.key === "string"
      ? encoder.encode(message.key)
      : message.key;
    return { bytes, info: { topic, partition, offset, key }, expect: message.expect };
  });
}

/** Decodes one message, turning bad input into `{ error: code }` for comparison. */
function decodeOne(decoder: Decoder, message: ResolvedMessage): Expected {
  try {
    return decoder.decode(message.bytes, message.info);
  } catch (error) {
    if (isFormatError(error)) return { error: error.code };
    throw error;
  }
}

function check(decoder: Decoder, messages: readonly ResolvedMessage[], what: string): void {
  messages.forEach((message, index) => {
    assert.deepEqual(
      decodeOne(decoder, message),
      message.expect,
      `${what}: message ${index} (${message.info.partition}@${message.info.offset})`,
    );
  });
}

/** Saved state as the runtime stores it: through JSON text. */
function throughJson(state: unknown): unknown {
  const text = JSON.stringify(state);
  assert.equal(typeof text, "string", "save() returns a JSON value");
  return JSON.parse(text);
}

/**
 * Registers the contract tests for `format` (or a function loading it, e.g.
 * with `loadFormat`) under the name `name`.
 */
export function formatContract(
  name: string,
  format: Format | (() => Promise<Format>),
  fixture: FormatFixture,
): void {
  const load = typeof format === "function" ? format : () => Promise.resolve(format);
  const topic = `contract-${name}`;
  const stream = resolveStream(topic, fixture.stream);

  Deno.test(`${name} format has a name and opens decoders with decode and save`, async () => {
    const loaded = await load();
    assert.equal(typeof loaded.name, "string");
    assert.notEqual(loaded.name, "");
    const decoder = loaded.open(topic, fixture.options);
    assert.equal(typeof decoder.decode, "function");
    assert.equal(typeof decoder.save, "function");
  });

  Deno.test(`${name} format decodes its fixture stream as expected`, async () => {
    const loaded = await load();
    check(loaded.open(topic, fixture.options), stream, "fresh decoder");
  });

  Deno.test(`${name} format restores saved state at every point of the stream`, async () => {
    const loaded = await load();
    const uninterrupted = loaded.open(topic, fixture.options);
    check(uninterrupted, stream, "without a restart");
    const finalState = throughJson(uninterrupted.save());
    for (let split = 0; split <= stream.length; split++) {
      const first = loaded.open(topic, fixture.options);
      check(first, stream.slice(0, split), `before a restart at ${split}`);
      const saved = throughJson(first.save());
      const resumed = loaded.open(topic, fixture.options, saved);
      check(resumed, stream.slice(split), `after a restart at ${split}`);
      assert.deepEqual(
        throughJson(resumed.save()),
        finalState,
        `state after a restart at ${split}`,
      );
    }
  });

  Deno.test(`${name} format keeps the state of each topic apart`, async () => {
    const loaded = await load();
    const other = resolveStream(`${topic}-other`, fixture.stream);
    const mine = loaded.open(topic, fixture.options);
    const theirs = loaded.open(`${topic}-other`, fixture.options);
    // Interleaved: whatever one topic's decoder learns must not leak into the other's.
    for (let i = 0; i < stream.length; i++) {
      assert.deepEqual(decodeOne(mine, stream[i]), stream[i].expect, `topic 1, message ${i}`);
      if (i === 0) continue;
      assert.deepEqual(
        decodeOne(theirs, other[i - 1]),
        other[i - 1].expect,
        `topic 2, message ${i - 1}`,
      );
    }
    check(theirs, other.slice(-1), "topic 2, last message");
  });

  Deno.test(`${name} format reports bad input as a FormatError with its code`, async () => {
    const loaded = await load();
    assert.ok(
      fixture.badInputs.length > 0 || fixture.acceptsAnyBytes === true,
      "the fixture has bad inputs",
    );
    for (const bad of fixture.badInputs) {
      const decoder = loaded.open(topic, fixture.options);
      check(decoder, stream, "stream before bad input");
      const bytes = typeof bad.value === "string" ? encoder.encode(bad.value) : bad.value;
      const info = { topic, partition: 0, offset: "1000" };
      let thrown: unknown;
      try {
        decoder.decode(bytes, info);
      } catch (error) {
        thrown = error;
      }
      assert.ok(isFormatError(thrown), `${JSON.stringify(bad.value)} is bad input, got ${thrown}`);
      assert.equal(thrown.code, bad.code, `code for ${JSON.stringify(String(bad.value))}`);
      assert.ok(thrown.message.length > 0, "the error gives a reason");
    }
  });

  Deno.test(`${name} format decodes good messages normally after bad input`, async () => {
    const loaded = await load();
    const decoder = loaded.open(topic, fixture.options);
    // Bad inputs come once the stream has given rows: before that a csv
    // decoder has no header, and a message past offset 0 is a different error.
    let givenRows = false;
    for (const [index, message] of stream.entries()) {
      if (givenRows) {
        for (const bad of fixture.badInputs) {
          const bytes = typeof bad.value === "string" ? encoder.encode(bad.value) : bad.value;
          assert.throws(() => decoder.decode(bytes, { topic, partition: 0, offset: "1000" }));
        }
      }
      assert.deepEqual(decodeOne(decoder, message), message.expect, `message ${index}`);
      if ("kind" in message.expect && message.expect.kind === "rows") givenRows = true;
    }
    assert.ok(givenRows, "the fixture stream yields rows");
  });

  Deno.test(`${name} format leaves the message bytes unchanged`, async () => {
    const loaded = await load();
    const decoder = loaded.open(topic, fixture.options);
    for (const message of stream) {
      const before = message.bytes.slice();
      decodeOne(decoder, message);
      assert.deepEqual(message.bytes, before);
    }
  });

  Deno.test(`${name} format returns exactly the value columns, in their order`, async () => {
    const loaded = await load();
    const columns = fixture.options.valueColumns;
    assert.ok(columns !== undefined, "the fixture names value columns");
    const decoder = loaded.open(topic, fixture.options);
    let rowsSeen = 0;
    for (const message of stream) {
      const result = decodeOne(decoder, message);
      if (!("kind" in result) || result.kind !== "rows") continue;
      for (const row of result.rows) {
        assert.deepEqual(Object.keys(row), [...columns]);
        rowsSeen++;
      }
    }
    assert.ok(rowsSeen > 0, "the fixture stream yields rows");
  });
}
