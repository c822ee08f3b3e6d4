/**
 * The contract every {@linkcode KafkaClient} keeps, as Deno tests: call
 * {@linkcode clientContract} with a name and a factory, and each behaviour the
 * connectors rely on is checked against that client. `contract_test.ts` runs
 * it on the kafkajs and the platformatic adapter against the real broker; an
 * in-memory client can run the same cases with `broker: false`, which leaves
 * out those that need a real network (the security failures).
 *
 * The cases create their own topics through the client's admin, so nothing
 * here talks to Kafka except through the client under test.
 *
 * @module
 */
import assert from "node:assert/strict";
import type {
  ConsumerCallbacks,
  ConsumerGroupMetadata,
  FetchedBatch,
  GroupConsumer,
  GroupConsumerOptions,
  KafkaClient,
  TopicPartition,
  TransactionalProducer,
} from "../../../connectors/kafka/client.ts";
import { KafkaClientError } from "../../../connectors/kafka/client.ts";
import type { ClientConfig } from "../../../connectors/kafka/config.ts";
import type { Position, SourceMessage } from "../../../connectors/types.ts";

/** Makes the client under test for a configuration. */
export type ClientFactory = (config: ClientConfig) => KafkaClient;

/** Options for {@linkcode clientContract}. */
export interface ContractOptions {
  /** The configuration of the cluster the cases run against. */
  readonly config: () => ClientConfig;
  /**
   * Cases that need a real broker and network: the security failures, run
   * against the secure broker of tests/security (default false).
   */
  readonly broker?: boolean;
  /**
   * How long a case waits to conclude that nothing more arrives (after a
   * pause, during a blocked batch, before a transaction commits). A fake
   * client can make it short; a real one fetches with a wait of up to a second.
   */
  readonly quietMs?: number;
  /** Extra Deno.test options (sanitizers). */
  readonly testOptions?: Partial<Deno.TestDefinition>;
  /** The group protocol the client under test speaks (default classic). */
  readonly groupProtocol?: "classic" | "consumer";
}

const decoder = new TextDecoder();
const text = (bytes: Uint8Array | null) => (bytes === null ? null : decoder.decode(bytes));
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A guard against hanging: far above what any step takes, so a broken client fails, not hangs. */
const hangGuardMs = 45_000;

function unique(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 12)}`;
}

/** Polls `check` until it holds; rejects after the hang guard naming `what`. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + hangGuardMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(25);
  }
}

/** A running member: what it was handed, its assignment history, and its consumer. */
class Member {
  readonly batches: FetchedBatch[] = [];
  readonly assigned: TopicPartition[][] = [];
  readonly revoked: TopicPartition[][] = [];
  readonly fatal: Error[] = [];
  /** Positions the consumer moved to past records it did not hand over (onSkipped). */
  readonly skipped: Position[] = [];
  /** The consumer's group metadata when each onAssigned was called. */
  readonly metadataWhenAssigned: (ConsumerGroupMetadata | undefined)[] = [];
  readonly consumer: GroupConsumer;
  /** Set to hold the next onBatch until released. */
  hold: Promise<void> | undefined;

  constructor(client: KafkaClient, options: GroupConsumerOptions) {
    this.consumer = client.consumer(options);
  }

  get messages(): SourceMessage[] {
    return this.batches.flatMap((b) => [...b.messages]);
  }

  values(): (string | null)[] {
    return this.messages.map((m) => text(m.value));
  }

  owned(): string[] {
    return this.consumer.assignment().map((tp) => `${tp.topic}-${tp.partition}`).sort();
  }

  callbacks(): ConsumerCallbacks {
    return {
      onBatch: async (batch) => {
        this.batches.push(batch);
        if (this.hold !== undefined) await this.hold;
      },
      onAssigned: (partitions) => {
        this.assigned.push([...partitions]);
        this.metadataWhenAssigned.push(this.consumer.groupMetadata());
      },
      onRevoked: (partitions) => void this.revoked.push([...partitions]),
      onFatal: (error) => void this.fatal.push(error),
      onSkipped: (position) => void this.skipped.push(position),
    };
  }

  async start(startAt?: readonly Position[]): Promise<this> {
    await this.consumer.connect();
    await this.consumer.run(this.callbacks(), startAt === undefined ? {} : { startAt });
    return this;
  }

  async waitFor(count: number): Promise<void> {
    await until(`${count} messages (have ${this.messages.length})`, () => {
      if (this.fatal.length > 0) throw this.fatal[0];
      return this.messages.length >= count;
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.consumer.disconnect();
  }
}

/** Asserts that `error` is a client error of kind `fenced`, never retriable. */
function isFencedError(error: unknown): true {
  assert.ok(error instanceof KafkaClientError, String(error));
  assert.equal(error.classification.kind, "fenced", error.message);
  assert.equal(error.retriable, false, error.message);
  assert.equal(error.classification.retriable, false, error.message);
  return true;
}

/** The client's admin, connected, disconnected on dispose. */
async function connectedAdmin(client: KafkaClient) {
  const admin = client.admin();
  await admin.connect();
  return Object.assign(admin, { [Symbol.asyncDispose]: () => admin.disconnect() });
}

async function createTopic(client: KafkaClient, prefix: string, partitions = 1): Promise<string> {
  const topic = unique(prefix);
  await using admin = await connectedAdmin(client);
  await admin.createTopic({ topic, partitions });
  return topic;
}

async function produce(
  client: KafkaClient,
  topic: string,
  values: readonly string[],
  partition = 0,
): Promise<void> {
  const producer = client.producer();
  await producer.connect();
  try {
    await producer.send([{
      topic,
      records: values.map((value) => ({ key: null, value, partition })),
    }]);
  } finally {
    await producer.disconnect();
  }
}

/** What a member read, by topic-partition, in order. */
function readBack(member: Member): Record<string, (string | null)[]> {
  const read = new Map<string, (string | null)[]>();
  for (const message of member.messages) {
    const key = `${message.topic}-${message.partition}`;
    read.set(key, [...(read.get(key) ?? []), text(message.value)]);
  }
  return Object.fromEntries([...read].sort());
}

const range = (prefix: string, from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

/**
 * Registers the contract's Deno tests for one client, each named
 * `"<name> client: <behaviour>"`.
 *
 * @example
 * ```ts ignore
 * clientContract("kafkajs", (config) => createKafkajsClient(config), { config: testConfig });
 * ```
 */
export function clientContract(
  name: string,
  factory: ClientFactory,
  options: ContractOptions,
): void {
  const quietMs = options.quietMs ?? 2_000;
  const test = (title: string, fn: (client: KafkaClient) => Promise<void>) =>
    Deno.test({
      sanitizeOps: false,
      sanitizeResources: false,
      ...options.testOptions,
      name: `${name} client: ${title}`,
      fn: () => fn(factory(options.config())),
    });
  const group = () => unique(`contract-${name.replace(/\W+/g, "-")}`);
  /**
   * What a `read_committed` reader in a new group reads of `topic` from its
   * start: at least `count` values, and whatever else arrives in a quiet spell after.
   */
  const committedValues = async (client: KafkaClient, topic: string, count: number) => {
    await using reader = await new Member(client, {
      groupId: group(),
      topics: [topic],
      autoOffsetReset: "earliest",
      isolation: "read_committed",
    }).start();
    await reader.waitFor(count);
    await delay(quietMs);
    return reader.values();
  };

  test("admin: a created topic has leaders, is listed, and its offsets follow production", async (client) => {
    const topic = await createTopic(client, "contract-admin", 3);
    await using admin = await connectedAdmin(client);
    // Creating it again is what was wanted, not an error.
    await admin.createTopic({ topic, partitions: 3 });
    assert.ok((await admin.listTopics()).includes(topic));
    const offsets = async () =>
      [...await admin.partitionOffsets(topic)].sort((a, b) => a.partition - b.partition);
    assert.deepEqual(await offsets(), [
      { partition: 0, low: "0", high: "0" },
      { partition: 1, low: "0", high: "0" },
      { partition: 2, low: "0", high: "0" },
    ]);
    await produce(client, topic, ["a", "b", "c"], 1);
    assert.deepEqual((await offsets()).map((p) => p.high), ["0", "3", "0"]);
    assert.deepEqual(await admin.groupPositions(group(), [topic]), [], "no commits, no positions");
    if (admin.offsetsForTimes !== undefined) {
      const byTime = async (timestampMs: number) =>
        [...await admin.offsetsForTimes!(topic, timestampMs)].sort((a, b) =>
          a.partition - b.partition
        ).map((p) => p.offset);
      assert.deepEqual(await byTime(0), ["0", "0", "0"], "from the start");
      assert.deepEqual(
        await byTime(Date.now() + 3_600_000),
        ["0", "3", "0"],
        "no record that recent: the end",
      );
    }
  });

  test("admin: a disconnected admin refuses requests with a client error", async (client) => {
    const admin = client.admin();
    await admin.connect();
    assert.ok(Array.isArray(await admin.listTopics()));
    await admin.disconnect();
    await assert.rejects(admin.listTopics(), KafkaClientError);
    await assert.rejects(
      admin.partitionOffsets(unique("contract-after-disconnect")),
      KafkaClientError,
    );
  });

  test("admin: describeTopic gives a topic's partition count and its cleanup policy", async (client) => {
    await using admin = await connectedAdmin(client);
    assert.ok(admin.describeTopic !== undefined, "changelog topics need describeTopic");
    const compacted = unique("contract-describe-compact");
    await admin.createTopic({
      topic: compacted,
      partitions: 2,
      configs: { "cleanup.policy": "compact" },
    });
    const described = await admin.describeTopic!(compacted);
    assert.equal(described.partitions, 2);
    assert.equal(described.configs["cleanup.policy"], "compact");
    const plain = await createTopic(client, "contract-describe-plain", 3);
    const plainDescribed = await admin.describeTopic!(plain);
    assert.equal(plainDescribed.partitions, 3);
    // A broker reports its default ("delete"); the in-memory cluster leaves it unset.
    assert.equal(plainDescribed.configs["cleanup.policy"] ?? "delete", "delete");
  });

  test("idempotent acks=all production keeps keys, values, headers, partitions and order", async (client) => {
    const topic = await createTopic(client, "contract-produce", 2);
    const producer = client.producer({ idempotent: true });
    await producer.connect();
    await producer.send([{
      topic,
      records: [
        {
          key: "k1",
          value: "v1",
          partition: 0,
          headers: { trace: "t-1", bin: new Uint8Array([1]) },
        },
        { key: new Uint8Array([0, 255]), value: "v2", partition: 1 },
        { key: null, value: null, partition: 1 },
        { key: "k4", value: "Grüße, 東京", partition: 0 },
      ],
    }]);
    await producer.send([{ topic, records: [{ key: null, value: "v5", partition: 1 }] }]);
    await producer.disconnect();
    await using member = await new Member(client, {
      groupId: group(),
      topics: [topic],
      autoOffsetReset: "earliest",
    }).start();
    await member.waitFor(5);
    const seen = member.messages.map((m) => ({
      partition: m.partition,
      offset: m.offset,
      key: m.key === null ? null : [...m.key].join(","),
      value: text(m.value),
      headers: m.headers,
    })).sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
    assert.deepEqual(seen, [
      {
        partition: 0,
        offset: "0",
        key: "107,49",
        value: "v1",
        headers: { trace: "t-1", bin: "\u0001" },
      },
      { partition: 0, offset: "1", key: "107,52", value: "Grüße, 東京", headers: {} },
      { partition: 1, offset: "0", key: "0,255", value: "v2", headers: {} },
      { partition: 1, offset: "1", key: null, value: null, headers: {} },
      { partition: 1, offset: "2", key: null, value: "v5", headers: {} },
    ]);
    for (const m of member.messages) assert.match(m.timestamp, /^\d{13}$/);
  });

  test("group fetch: batches in offset order with the high watermark, exact offset commits", async (client) => {
    const topic = await createTopic(client, "contract-fetch");
    await produce(client, topic, range("m", 0, 10));
    const groupId = group();
    {
      await using member = await new Member(client, {
        groupId,
        topics: [topic],
        autoOffsetReset: "earliest",
      }).start();
      await member.waitFor(10);
      assert.deepEqual(member.values(), range("m", 0, 10));
      assert.deepEqual(member.messages.map((m) => m.offset), range("", 0, 10));
      for (const batch of member.batches) {
        assert.equal(batch.topic, topic);
        assert.equal(batch.partition, 0);
        assert.ok(batch.messages.length > 0, "no empty batch is handed over");
        assert.equal(batch.highWatermark, "10");
      }
      assert.deepEqual(member.owned(), [`${topic}-0`]);
      // Exactly this position, not the last offset handed over.
      await member.consumer.commit([{ topic, partition: 0, offset: "4" }]);
    }
    await using admin = await connectedAdmin(client);
    assert.deepEqual(await admin.groupPositions(groupId, [topic]), [
      { topic, partition: 0, offset: "4" },
    ]);
    // The next member of the group starts at the committed position.
    await using next = await new Member(client, {
      groupId,
      topics: [topic],
      autoOffsetReset: "earliest",
    }).start();
    await next.waitFor(6);
    assert.deepEqual(next.values(), range("m", 4, 10));
  });

  test("autoOffsetReset latest starts after what was there at the first join", async (client) => {
    const topic = await createTopic(client, "contract-latest");
    await produce(client, topic, ["old-1", "old-2"]);
    await using member = await new Member(client, {
      groupId: group(),
      topics: [topic],
      autoOffsetReset: "latest",
    }).start();
    await until("the assignment", () => member.assigned.length > 0);
    // The start is looked up once the partition is assigned: let that happen.
    await delay(quietMs);
    await produce(client, topic, ["new-1"]);
    await member.waitFor(1);
    assert.deepEqual(member.values(), ["new-1"]);
  });

  test("seek: startAt and a seek while running both read from exactly that offset", async (client) => {
    const topic = await createTopic(client, "contract-seek");
    await produce(client, topic, range("s", 0, 8));
    await using member = await new Member(client, {
      groupId: group(),
      topics: [topic],
      autoOffsetReset: "earliest",
    }).start([{ topic, partition: 0, offset: "5" }]);
    await member.waitFor(3);
    assert.deepEqual(member.values(), ["s5", "s6", "s7"]);
    member.consumer.seek([{ topic, partition: 0, offset: "2" }]);
    await member.waitFor(9);
    assert.deepEqual(member.values(), ["s5", "s6", "s7", "s2", "s3", "s4", "s5", "s6", "s7"]);
  });

  test("seek: a seek back while a batch of that partition is being handled wins over that batch's end", async (client) => {
    const topic = await createTopic(client, "contract-seek-during");
    await produce(client, topic, range("d", 0, 6));
    const member = new Member(client, {
      groupId: group(),
      topics: [topic],
      autoOffsetReset: "earliest",
    });
    let release!: () => void;
    member.hold = new Promise<void>((resolve) => (release = resolve));
    await using running = await member.start();
    await running.waitFor(1);
    const first = running.values();
    assert.equal(first[0], "d0");
    // Handling the first batch: go back to offset 1 before it resolves.
    running.consumer.seek([{ topic, partition: 0, offset: "1" }]);
    member.hold = undefined;
    release();
    await running.waitFor(first.length + 5);
    assert.deepEqual(running.values(), [...first, ...range("d", 1, 6)]);
  });

  test("backpressure: no batch is handed over while the previous one is being handled", async (client) => {
    const topic = await createTopic(client, "contract-backpressure", 2);
    await produce(client, topic, ["p0-a"], 0);
    await produce(client, topic, ["p1-a"], 1);
    const member = new Member(client, {
      groupId: group(),
      topics: [topic],
      autoOffsetReset: "earliest",
    });
    let release!: () => void;
    member.hold = new Promise((resolve) => (release = resolve));
    await using _ = await member.start();
    await member.waitFor(1);
    await delay(quietMs);
    assert.equal(member.batches.length, 1, "the second partition's batch waits for the first");
    member.hold = undefined;
    release();
    await member.waitFor(2);
    assert.deepEqual(member.values().sort(), ["p0-a", "p1-a"]);
  });

  test("pause: fetching stops, the member stays in the group and commits", async (client) => {
    const topic = await createTopic(client, "contract-pause");
    await produce(client, topic, ["before"]);
    const groupId = group();
    await using member = await new Member(client, {
      groupId,
      topics: [topic],
      autoOffsetReset: "earliest",
    }).start();
    await member.waitFor(1);
    member.consumer.pause();
    await produce(client, topic, ["after-1", "after-2"]);
    await delay(quietMs);
    assert.deepEqual(member.values(), ["before"]);
    await member.consumer.commit([{ topic, partition: 0, offset: "1" }]);
    await using admin = await connectedAdmin(client);
    assert.deepEqual(await admin.groupPositions(groupId, [topic]), [
      { topic, partition: 0, offset: "1" },
    ]);
  });

  test("two members: assignment and revocation callbacks, disjoint partitions, kept ones continue", async (client) => {
    const topic = await createTopic(client, "contract-rebalance", 2);
    const groupId = group();
    const options = { groupId, topics: [topic], autoOffsetReset: "earliest" } as const;
    await produce(client, topic, ["p0-a"], 0);
    await produce(client, topic, ["p1-a"], 1);
    await using first = await new Member(client, options).start();
    await first.waitFor(2);
    await until("the first member to own both partitions", () => first.owned().length === 2);
    assert.deepEqual(
      first.assigned.flat().map((tp) => tp.partition).sort(),
      [0, 1],
    );
    let kept: number;
    {
      await using second = await new Member(client, options).start();
      await until(
        "the partitions to be shared",
        () => first.owned().length === 1 && second.owned().length === 1,
      );
      const lost = first.revoked.flat();
      assert.equal(lost.length, 1, "the first member was told which partition it lost");
      assert.deepEqual(second.assigned.flat(), lost);
      assert.notDeepEqual(first.owned(), second.owned());
      kept = lost[0].partition === 0 ? 1 : 0;
      // The second member reads the lost partition from the start (nothing committed).
      await second.waitFor(1);
      assert.deepEqual(second.values(), [`p${lost[0].partition}-a`]);
      await produce(client, topic, [`p${kept}-b`], kept);
      await first.waitFor(3);
    }
    // The second member left: the first gets the partition back.
    await until("the first member to own both again", () => first.owned().length === 2);
    assert.ok(first.assigned.length >= 2, "the first member was told what it got back");
    await produce(client, topic, [`p${kept}-c`], kept);
    await until("the kept partition's next record", () => first.values().includes(`p${kept}-c`));
    const keptValues = first.messages.filter((m) => m.partition === kept).map((m) => text(m.value));
    assert.deepEqual(
      keptValues,
      [`p${kept}-a`, `p${kept}-b`, `p${kept}-c`],
      "a partition kept through rebalances is never handed over twice",
    );
  });

  test("transactions: a group's offsets are read only when final: a lookup during a transaction holding some answers after its commit, with them", async (client) => {
    const input = await createTopic(client, "contract-stable-in");
    const output = await createTopic(client, "contract-stable-out");
    const groupId = group();
    const producer = client.transactionalProducer({ transactionalId: unique("contract-stable") });
    await producer.connect();
    await using admin = await connectedAdmin(client);
    try {
      const transaction = await producer.begin();
      await transaction.send([{ topic: output, records: [{ key: null, value: "v" }] }]);
      await transaction.sendOffsets(groupId, [{ topic: input, partition: 0, offset: "7" }]);
      // Asked while the transaction is open: the offsets it holds are not final yet. Without
      // require_stable the answer would be "no offsets" at once.
      const lookup = admin.groupPositions(groupId, [input]);
      let answered = false;
      lookup.then(() => (answered = true), () => (answered = true));
      await delay(1_000);
      assert.equal(answered, false, "no answer while the transaction is open");
      await transaction.commit();
      assert.deepEqual(await lookup, [{ topic: input, partition: 0, offset: "7" }]);
    } finally {
      await producer.disconnect();
    }
  });

  test("transactions: a consumer joins and reads while a transaction holds offsets of its group", async (client) => {
    const input = await createTopic(client, "contract-pending-in");
    await produce(client, input, ["a", "b"], 0);
    const groupId = group();
    const producer = client.transactionalProducer({ transactionalId: unique("contract-pending") });
    await producer.connect();
    try {
      const transaction = await producer.begin();
      await transaction.sendOffsets(groupId, [{ topic: input, partition: 0, offset: "1" }]);
      // A consumer's own lookup at its join does not wait for the transaction: nothing is
      // committed yet, so it starts at the earliest offset.
      await using member = await new Member(client, {
        groupId,
        topics: [input],
        autoOffsetReset: "earliest",
      }).start();
      await member.waitFor(2);
      assert.deepEqual(member.values(), ["a", "b"]);
      await transaction.abort();
    } finally {
      await producer.disconnect();
    }
  });

  test("transactions: committed records and offsets appear together, aborted ones never", async (client) => {
    const input = await createTopic(client, "contract-tx-in");
    const output = await createTopic(client, "contract-tx-out");
    const groupId = group();
    const producer = client.transactionalProducer({ transactionalId: unique("contract-tx") });
    await producer.connect();
    try {
      const committed = await producer.begin();
      await committed.send([{ topic: output, records: [{ key: null, value: "c1" }] }]);
      await committed.send([{ topic: output, records: [{ key: "k", value: "c2" }] }]);
      await committed.sendOffsets(groupId, [{ topic: input, partition: 0, offset: "5" }]);
      await committed.commit();

      const aborted = await producer.begin();
      await aborted.send([{ topic: output, records: [{ key: null, value: "x1" }] }]);
      await aborted.sendOffsets(groupId, [{ topic: input, partition: 0, offset: "9" }]);
      await aborted.abort();

      const last = await producer.begin();
      await last.send([{ topic: output, records: [{ key: null, value: "c3" }] }]);
      await last.commit();
    } finally {
      await producer.disconnect();
    }
    await using admin = await connectedAdmin(client);
    assert.deepEqual(await admin.groupPositions(groupId, [input]), [
      { topic: input, partition: 0, offset: "5" },
    ], "the committed transaction's offset, not the aborted one's");

    await using committedReader = await new Member(client, {
      groupId: group(),
      topics: [output],
      autoOffsetReset: "earliest",
      isolation: "read_committed",
    }).start();
    await committedReader.waitFor(3);
    assert.deepEqual(committedReader.values(), ["c1", "c2", "c3"]);
    // The log: c1 c2 COMMIT x1 ABORT c3 COMMIT. After c3 only a marker is left, so the
    // consumer says it moved past it: that is how a partition ending in a marker is read to its end.
    const end = { topic: output, partition: 0, offset: "7" };
    await until(
      "the position after the last marker",
      () => committedReader.skipped.some((p) => p.offset === "7"),
    );
    assert.deepEqual(committedReader.skipped.at(-1), end);

    await using uncommittedReader = await new Member(client, {
      groupId: group(),
      topics: [output],
      autoOffsetReset: "earliest",
      isolation: "read_uncommitted",
    }).start();
    await uncommittedReader.waitFor(4);
    assert.deepEqual(uncommittedReader.values(), ["c1", "c2", "x1", "c3"]);
    await until(
      "the uncommitted reader's position after the last marker",
      () => uncommittedReader.skipped.some((p) => p.offset === "7"),
    );
    assert.deepEqual(uncommittedReader.skipped.at(-1), end);
  });

  test("a restarted transactional producer fences the old one and settles its open transaction", async (client) => {
    const topic = await createTopic(client, "contract-fence");
    const transactionalId = unique("contract-fence");
    const old = client.transactionalProducer({ transactionalId });
    await old.connect();
    const restarted = client.transactionalProducer({ transactionalId });
    try {
      await (async () => {
        const first = await old.begin();
        await first.send([{ topic, records: [{ key: null, value: "old-committed" }] }]);
        await first.commit();
      })();
      const open = await old.begin();
      await open.send([{ topic, records: [{ key: null, value: "old-open" }] }]);
      // Connecting with the same id fences the old producer and aborts its
      // open transaction before connect resolves (not at the first begin):
      // exactly-once restarts read the groups' offsets right after it.
      await restarted.connect();
      await assert.rejects(open.commit(), (error: unknown) => {
        assert.ok(error instanceof KafkaClientError, String(error));
        assert.equal(error.retriable, false, error.message);
        return true;
      });
      for (const round of [1, 2]) {
        const transaction = await restarted.begin();
        await transaction.send([{ topic, records: [{ key: null, value: `new-${round}` }] }]);
        await transaction.commit();
      }
    } finally {
      await old.disconnect().catch(() => {});
      await restarted.disconnect();
    }
    await using reader = await new Member(client, {
      groupId: group(),
      topics: [topic],
      autoOffsetReset: "earliest",
    }).start();
    await reader.waitFor(3);
    assert.deepEqual(reader.values(), ["old-committed", "new-1", "new-2"]);
  });

  test("a transactional producer fenced by a newer one with its id: its next send and its commit fail as fenced", async (client) => {
    const topic = await createTopic(client, "contract-fenced-kind");
    const transactionalId = unique("contract-fenced-kind");
    const old = client.transactionalProducer({ transactionalId });
    await old.connect();
    const newer = client.transactionalProducer({ transactionalId });
    try {
      const open = await old.begin();
      await open.send([{ topic, records: [{ key: null, value: "old-1" }] }]);
      await newer.connect();
      await assert.rejects(
        open.send([{ topic, records: [{ key: null, value: "old-2" }] }]),
        isFencedError,
      );
      await assert.rejects(open.commit(), isFencedError);
      const transaction = await newer.begin();
      await transaction.send([{ topic, records: [{ key: null, value: "new-1" }] }]);
      await transaction.commit();
    } finally {
      await old.disconnect().catch(() => {});
      await newer.disconnect();
    }
    await using reader = await new Member(client, {
      groupId: group(),
      topics: [topic],
      autoOffsetReset: "earliest",
      isolation: "read_committed",
    }).start();
    await reader.waitFor(1);
    await delay(quietMs);
    assert.deepEqual(reader.values(), ["new-1"], "nothing of the fenced producer's transaction");
  });

  test("consumer group metadata: a joined member's generation and member id, known at its assignment, none before joining or after leaving", async (client) => {
    const topic = await createTopic(client, "contract-group-metadata");
    const groupId = group();
    const member = new Member(client, { groupId, topics: [topic], autoOffsetReset: "earliest" });
    assert.equal(member.consumer.groupMetadata(), undefined, "not a member before run()");
    await member.start();
    try {
      await until("the assignment", () => member.owned().length === 1);
      await until("the metadata", () => member.consumer.groupMetadata() !== undefined);
      const metadata = member.consumer.groupMetadata()!;
      assert.equal(metadata.groupId, groupId);
      assert.ok(
        Number.isInteger(metadata.generationId) && metadata.generationId >= 0,
        `generation ${metadata.generationId}`,
      );
      assert.equal(typeof metadata.memberId, "string");
      assert.notEqual(metadata.memberId, "");
      assert.equal(metadata.groupInstanceId, undefined, "no static membership");
      // Already known to onAssigned: the runtime sends offsets with it from there on.
      assert.deepEqual(member.metadataWhenAssigned.at(-1), metadata);
    } finally {
      await member.consumer.disconnect();
    }
    assert.equal(member.consumer.groupMetadata(), undefined, "not a member after disconnect()");
  });

  test("admin: groupMembers names the member ids of a group's current members, none once they left", async (client) => {
    const topic = await createTopic(client, "contract-group-members");
    const groupId = group();
    await using admin = await connectedAdmin(client);
    // A client of KIP-848's protocol has none (DescribeGroups reads its groups as empty).
    if (options.groupProtocol === "consumer") {
      assert.equal(admin.groupMembers, undefined, "no groupMembers rather than a wrong answer");
      return;
    }
    assert.ok(admin.groupMembers !== undefined, "a partitioned run's hand-off needs groupMembers");
    assert.deepEqual(await admin.groupMembers!(groupId), [], "an unknown group has none");
    const member = new Member(client, { groupId, topics: [topic], autoOffsetReset: "earliest" });
    await member.start();
    let memberId: string;
    try {
      await until("the metadata", () => member.consumer.groupMetadata() !== undefined);
      memberId = member.consumer.groupMetadata()!.memberId;
      assert.deepEqual(await admin.groupMembers!(groupId), [memberId]);
    } finally {
      await member.consumer.disconnect();
    }
    assert.deepEqual(await admin.groupMembers!(groupId), [], "a member that left is not named");
  });

  test("transactions: offsets sent with the member's group metadata are committed with the transaction, and not when it is aborted", async (client) => {
    const input = await createTopic(client, "contract-kip447-in");
    const output = await createTopic(client, "contract-kip447-out");
    await produce(client, input, ["a", "b", "c"]);
    const groupId = group();
    await using member = await new Member(client, {
      groupId,
      topics: [input],
      autoOffsetReset: "earliest",
    }).start();
    await member.waitFor(3);
    await until("the metadata", () => member.consumer.groupMetadata() !== undefined);
    const metadata = member.consumer.groupMetadata()!;
    await using admin = await connectedAdmin(client);
    const producer = client.transactionalProducer({ transactionalId: unique("contract-kip447") });
    await producer.connect();
    try {
      const aborted = await producer.begin();
      await aborted.send([{ topic: output, records: [{ key: null, value: "x1" }] }]);
      await aborted.sendOffsets(groupId, [{ topic: input, partition: 0, offset: "2" }], metadata);
      await aborted.abort();
      assert.deepEqual(await admin.groupPositions(groupId, [input]), [], "nothing after an abort");

      const committed = await producer.begin();
      await committed.send([{ topic: output, records: [{ key: null, value: "c1" }] }]);
      await committed.sendOffsets(groupId, [{ topic: input, partition: 0, offset: "3" }], metadata);
      assert.deepEqual(
        member.consumer.groupMetadata(),
        metadata,
        "no rebalance happened meanwhile",
      );
      await committed.commit();
    } finally {
      await producer.disconnect();
    }
    assert.deepEqual(await admin.groupPositions(groupId, [input]), [
      { topic: input, partition: 0, offset: "3" },
    ]);
    assert.deepEqual(await committedValues(client, output, 1), ["c1"]);
  });

  test("transactions: a group sent with no positions joins the transaction; aborting it leaves the group's offsets and hides its records", async (client) => {
    const input = await createTopic(client, "contract-nopos-in");
    const output = await createTopic(client, "contract-nopos-out");
    const groupId = group();
    await using admin = await connectedAdmin(client);
    const producer = client.transactionalProducer({ transactionalId: unique("contract-nopos") });
    await producer.connect();
    try {
      const first = await producer.begin();
      await first.send([{ topic: output, records: [{ key: null, value: "c1" }] }]);
      await first.sendOffsets(groupId, [{ topic: input, partition: 0, offset: "5" }]);
      await first.commit();
      // What rivulet's abortHanging sends: a record per partition and each group with no
      // positions, then an abort.
      const aborted = await producer.begin();
      await aborted.send([{ topic: output, records: [{ key: "k", value: null, partition: 0 }] }]);
      await aborted.sendOffsets(groupId, []);
      await aborted.abort();
    } finally {
      await producer.disconnect();
    }
    assert.deepEqual(await admin.groupPositions(groupId, [input]), [
      { topic: input, partition: 0, offset: "5" },
    ]);
    assert.deepEqual(await committedValues(client, output, 1), ["c1"]);
  });

  test("transactions: after a rebalance, offsets sent with a member's metadata of the generation before are refused as fenced, and the group's offsets stay", async (client) => {
    const input = await createTopic(client, "contract-zombie-in", 2);
    const output = await createTopic(client, "contract-zombie-out");
    // Every offset committed below is in the log: a consumer resets an offset past the end.
    for (const partition of [0, 1]) await produce(client, input, range("r", 0, 6), partition);
    const groupId = group();
    const options = { groupId, topics: [input], autoOffsetReset: "earliest" } as const;
    await using admin = await connectedAdmin(client);
    const producer = client.transactionalProducer({ transactionalId: unique("contract-zombie") });
    await producer.connect();
    try {
      await using first = await new Member(client, options).start();
      await until("the first member to own both partitions", () => first.owned().length === 2);
      await until(
        "the first member's metadata",
        () => first.consumer.groupMetadata() !== undefined,
      );
      const before = first.consumer.groupMetadata()!;
      const baseline = await producer.begin();
      await baseline.sendOffsets(groupId, [
        { topic: input, partition: 0, offset: "1" },
        { topic: input, partition: 1, offset: "1" },
      ], before);
      await baseline.commit();

      await using second = await new Member(client, options).start();
      await until(
        "both members in the new generation",
        () =>
          first.owned().length === 1 && second.owned().length === 1 &&
          second.consumer.groupMetadata() !== undefined &&
          first.consumer.groupMetadata() !== undefined &&
          first.consumer.groupMetadata()!.generationId !== before.generationId,
      );
      const after = first.consumer.groupMetadata()!;
      assert.equal(after.memberId, before.memberId, "the same member, in a new generation");

      // The first member, as a zombie that missed the rebalance, sends with what it had.
      const zombie = await producer.begin();
      await zombie.send([{ topic: output, records: [{ key: null, value: "zombie" }] }]);
      await assert.rejects(
        zombie.sendOffsets(groupId, [
          { topic: input, partition: 0, offset: "5" },
          { topic: input, partition: 1, offset: "5" },
        ], before),
        isFencedError,
      );
      await zombie.abort();
      assert.deepEqual(
        [...await admin.groupPositions(groupId, [input])].sort((a, b) => a.partition - b.partition),
        [{ topic: input, partition: 0, offset: "1" }, { topic: input, partition: 1, offset: "1" }],
        "the group's offsets are unchanged",
      );

      // The same member with its current metadata commits for the partition it owns.
      const [owned] = first.consumer.assignment();
      const current = await producer.begin();
      await current.send([{ topic: output, records: [{ key: null, value: "current" }] }]);
      await current.sendOffsets(groupId, [{ ...owned, offset: "2" }], after);
      await current.commit();
      const positions = await admin.groupPositions(groupId, [input]);
      assert.equal(
        positions.find((p) => p.partition === owned.partition)?.offset,
        "2",
        `the current generation's commit: ${JSON.stringify(positions)}`,
      );
    } finally {
      await producer.disconnect();
    }
    await using reader = await new Member(client, {
      groupId: group(),
      topics: [output],
      autoOffsetReset: "earliest",
      isolation: "read_committed",
    }).start();
    await reader.waitFor(1);
    await delay(quietMs);
    assert.deepEqual(reader.values(), ["current"], "nothing of the zombie's transaction");
  });

  test("read_committed: one producer's committed and aborted transactions interleaved, only the committed read", async (client) => {
    const topic = await createTopic(client, "contract-interleaved");
    const producer = client.transactionalProducer({ transactionalId: unique("contract-mixed") });
    await producer.connect();
    const expected: string[] = [];
    try {
      for (let round = 0; round < 8; round++) {
        const transaction = await producer.begin();
        const values = [0, 1, 2].map((i) => `r${round}-${i}`);
        await transaction.send([{ topic, records: values.map((value) => ({ key: null, value })) }]);
        // Aborted every third round and the last: an abort between commits and at the end.
        if (round % 3 === 1 || round === 7) await transaction.abort();
        else {
          await transaction.commit();
          expected.push(...values);
        }
      }
    } finally {
      await producer.disconnect();
    }
    await using reader = await new Member(client, {
      groupId: group(),
      topics: [topic],
      autoOffsetReset: "earliest",
      isolation: "read_committed",
    }).start();
    await reader.waitFor(expected.length);
    await delay(quietMs);
    assert.deepEqual(reader.values(), expected);
  });

  test("restarted transactional producers: every committed transaction's records reach every partition it wrote, whichever topics a transaction adds", async (client) => {
    // What exactly-once with state in Kafka does across crashes: each run
    // fences the one before (which left a transaction open), commits markers
    // on the changelog's partitions only, then transactions that write the
    // output, the changelog (a partition first written only in a later
    // transaction) and the group's offsets. Every committed record, on every
    // partition of both topics, must be read back read_committed.
    const changelog = await createTopic(client, "contract-restarts-changelog", 3);
    const output = await createTopic(client, "contract-restarts-output", 2);
    const input = await createTopic(client, "contract-restarts-input", 3);
    const transactionalId = unique("contract-restarts");
    const groupId = group();
    const expected = new Map<string, string[]>();
    const expect = (topic: string, partition: number, value: string) => {
      const key = `${topic}-${partition}`;
      expected.set(key, [...(expected.get(key) ?? []), value]);
    };
    const abandoned: TransactionalProducer[] = [];
    let lastOffsets: Position[] = [];
    try {
      for (let run = 0; run < 4; run++) {
        const producer = client.transactionalProducer({ transactionalId });
        abandoned.push(producer);
        await producer.connect();
        const markers = await producer.begin();
        await markers.send([{
          topic: changelog,
          records: [0, 1, 2].map((partition) => ({ key: "end", value: `m${run}`, partition })),
        }]);
        await markers.commit();
        for (const partition of [0, 1, 2]) expect(changelog, partition, `m${run}`);
        for (let round = 0; round < 3; round++) {
          const transaction = await producer.begin();
          const tag = `r${run}-${round}`;
          await transaction.send([{
            topic: output,
            records: [{ key: null, value: `out-${tag}`, partition: round % 2 }],
          }]);
          expect(output, round % 2, `out-${tag}`);
          // Round 0 writes changelog partition 0 only; later rounds all three.
          const partitions = round === 0 ? [0] : [0, 1, 2];
          await transaction.send([{
            topic: changelog,
            records: partitions.map((partition) => ({ key: "k", value: `cl-${tag}`, partition })),
          }]);
          for (const partition of partitions) expect(changelog, partition, `cl-${tag}`);
          lastOffsets = [0, 1, 2].map((partition) => ({
            topic: input,
            partition,
            offset: String(run * 100 + round + 1),
          }));
          await transaction.sendOffsets(groupId, lastOffsets);
          await transaction.commit();
        }
        // Killed mid-transaction: records sent, never ended (the next run aborts it).
        const open = await producer.begin();
        await open.send([
          { topic: output, records: [{ key: null, value: `lost-${run}`, partition: 0 }] },
          {
            topic: changelog,
            records: [0, 1, 2].map((partition) => ({ key: "k", value: `lost-${run}`, partition })),
          },
        ]);
        await open.sendOffsets(groupId, [{ topic: input, partition: 0, offset: "99999" }]);
      }
      // The last run's open transaction is settled by one more producer.
      const last = client.transactionalProducer({ transactionalId });
      abandoned.push(last);
      await last.connect();
    } finally {
      for (const producer of abandoned) await producer.disconnect().catch(() => {});
    }
    await using admin = await connectedAdmin(client);
    assert.deepEqual(
      [...await admin.groupPositions(groupId, [input])].sort((a, b) => a.partition - b.partition),
      lastOffsets,
      "the last committed transaction's offsets",
    );
    const total = [...expected.values()].reduce((sum, values) => sum + values.length, 0);
    await using reader = await new Member(client, {
      groupId: group(),
      topics: [changelog, output],
      autoOffsetReset: "earliest",
      isolation: "read_committed",
    }).start();
    await reader.waitFor(total).catch((error) => {
      throw new Error(`${error.message}; read ${JSON.stringify(readBack(reader))}`);
    });
    await delay(quietMs);
    assert.deepEqual(readBack(reader), Object.fromEntries([...expected].sort()));
  });

  test("read_committed: committed transactions between an aborted one and an abort that wrote nothing there are read", async (client) => {
    // A partition can get an ABORT marker without records of that
    // transaction: the partition was added, then its produce request failed
    // (here: a record too large) or the producer was killed before sending.
    // @platformatic/kafka's own filter dropped every batch of the producer
    // from the first aborted transaction's records to such a marker, the
    // committed transactions between them included.
    const topic = await createTopic(client, "contract-empty-abort");
    const transactionalId = unique("contract-empty");
    let producer = client.transactionalProducer({ transactionalId });
    await producer.connect();
    const commit = async (value: string) => {
      const transaction = await producer.begin();
      await transaction.send([{ topic, records: [{ key: null, value }] }]);
      await transaction.commit();
    };
    try {
      await commit("c1");
      const aborted = await producer.begin();
      await aborted.send([{ topic, records: [{ key: null, value: "x1" }] }]);
      await aborted.abort();
      await commit("c2");
      await commit("c3");
      const failed = await producer.begin();
      await assert.rejects(
        failed.send([{ topic, records: [{ key: null, value: "y".repeat(2 * 1024 * 1024) }] }]),
      );
      await failed.abort();
      // After a failed transaction a new producer goes on, as exactly-once's
      // TransactionWriter does (a producer's sequence numbers may be spent).
      await producer.disconnect();
      producer = client.transactionalProducer({ transactionalId });
      await producer.connect();
      await commit("c4");
    } finally {
      await producer.disconnect();
    }
    await using reader = await new Member(client, {
      groupId: group(),
      topics: [topic],
      autoOffsetReset: "earliest",
      isolation: "read_committed",
    }).start();
    await reader.waitFor(4).catch((error) => {
      throw new Error(`${error.message}; read ${JSON.stringify(reader.values())}`);
    });
    await delay(quietMs);
    assert.deepEqual(reader.values(), ["c1", "c2", "c3", "c4"]);
  });

  test("read_committed: records of an open transaction wait for its commit", async (client) => {
    const topic = await createTopic(client, "contract-isolation");
    await produce(client, topic, ["plain-1"]);
    const producer = client.transactionalProducer({ transactionalId: unique("contract-open") });
    await producer.connect();
    try {
      const open = await producer.begin();
      await open.send([{ topic, records: [{ key: null, value: "tx-1" }] }]);
      await produce(client, topic, ["plain-2"]);
      await using member = await new Member(client, {
        groupId: group(),
        topics: [topic],
        autoOffsetReset: "earliest",
      }).start();
      await member.waitFor(1);
      await delay(quietMs);
      assert.deepEqual(member.values(), ["plain-1"], "nothing after the open transaction yet");
      await open.commit();
      await member.waitFor(3);
      assert.deepEqual(member.values(), ["plain-1", "tx-1", "plain-2"]);
    } finally {
      await producer.disconnect();
    }
  });

  test("errors: a record too large for the broker is a non-retriable client error", async (client) => {
    const topic = await createTopic(client, "contract-too-large");
    const producer = client.producer();
    await producer.connect();
    try {
      const huge = "x".repeat(2 * 1024 * 1024);
      await assert.rejects(
        producer.send([{ topic, records: [{ key: null, value: huge }] }]),
        (error: unknown) => {
          assert.ok(error instanceof KafkaClientError, String(error));
          assert.equal(error.retriable, false, error.message);
          return true;
        },
      );
    } finally {
      await producer.disconnect();
    }
  });

  if (options.broker === true) securityContract(name, factory, test);
}

/** Registers the security failures: each classified the same way whichever client connects. */
function securityContract(
  name: string,
  factory: ClientFactory,
  _test: unknown,
): void {
  Deno.test({
    name: `${name} client: security failures are classified as the security suite expects`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      const { securityFailureCases, startSecureBroker } = await import("./_security_cases.ts");
      const broker = await startSecureBroker();
      try {
        for (const failure of securityFailureCases(broker)) {
          await t.step(failure.title, async () => {
            const explained = await failure.connect(factory);
            assert.equal(explained.kind, failure.kind, explained.message);
            assert.equal(explained.fatal, true, explained.message);
            assert.match(explained.message, failure.message);
            for (const secret of failure.secrets) {
              assert.ok(
                !explained.output.includes(secret),
                `a secret leaked:\n${explained.output}`,
              );
            }
          });
        }
      } finally {
        await broker.stop();
      }
    },
  });
}
