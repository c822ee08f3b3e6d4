/**
 * Changelog topics: where state that lives in Kafka is written, one
 * compacted topic per state store, named from the pipeline's consumer group
 * (`<group.id>-<store>-changelog`, as Kafka Streams names its
 * `<application.id>-<store>-changelog`), with the partition count of the work
 * it belongs to. Created on the first start; checked on every later one, so a
 * topic someone created by hand with another partition count or without
 * compaction (whose size would grow with the state's history instead of
 * following the state) is refused by name instead of silently misused.
 *
 * This is the topic handling only: writing operator state to the changelog
 * and restoring from it are not built yet (see BENCHMARKS.md / the issue).
 *
 * @module
 */
import type { Admin } from "../../connectors/kafka/client.ts";
import type { Logger } from "../../connectors/types.ts";

/** A changelog topic that exists but cannot hold a state store as it is. */
export class ChangelogTopicError extends Error {
  /** The topic refused. */
  readonly topic: string;
  constructor(topic: string, message: string) {
    super(message);
    this.name = "ChangelogTopicError";
    this.topic = topic;
  }
}

/**
 * The changelog topic of state store `store` of the pipeline whose consumer
 * group is `groupId`. Characters a topic name cannot hold become `_`.
 */
export function changelogTopicName(groupId: string, store: string): string {
  const name = `${groupId}-${store}-changelog`.replace(/[^a-zA-Z0-9._-]/g, "_");
  if (name.length > 249) {
    throw new Error(
      `The changelog topic name for group ${JSON.stringify(groupId)} and store ${
        JSON.stringify(store)
      } is longer than Kafka's 249 characters`,
    );
  }
  return name;
}

/** Options of {@linkcode ensureChangelogTopic}. */
export interface ChangelogTopicOptions {
  readonly topic: string;
  /** The partition count of the work the state belongs to. */
  readonly partitions: number;
  readonly logger?: Logger;
}

/**
 * Creates the changelog topic (`cleanup.policy=compact`) unless it exists;
 * when it exists, checks its partition count and cleanup policy. Resolves to
 * what it did; rejects with a {@linkcode ChangelogTopicError} naming the
 * topic when it is not fit.
 */
export async function ensureChangelogTopic(
  admin: Admin,
  options: ChangelogTopicOptions,
): Promise<"created" | "checked"> {
  const { topic, partitions } = options;
  if (admin.describeTopic === undefined) {
    throw new Error(
      `The Kafka client cannot describe topics, which changelog topic ${
        JSON.stringify(topic)
      } needs: use another client or --state-store local`,
    );
  }
  let created = false;
  if (!(await admin.listTopics()).includes(topic)) {
    options.logger?.info("Creating the changelog topic", { topic, partitions });
    await admin.createTopic({ topic, partitions, configs: { "cleanup.policy": "compact" } });
    created = true;
  }
  const described = await admin.describeTopic(topic);
  if (described.partitions !== partitions) {
    throw new ChangelogTopicError(
      topic,
      `Changelog topic ${JSON.stringify(topic)} has ${described.partitions} partitions, ` +
        `the work it belongs to has ${partitions}: delete the topic (its state is rebuilt from ` +
        "the input only if the input is still complete) or use a new group.id",
    );
  }
  const policy = described.configs["cleanup.policy"] ?? "delete";
  if (!policy.split(",").map((p) => p.trim()).includes("compact")) {
    throw new ChangelogTopicError(
      topic,
      `Changelog topic ${JSON.stringify(topic)} has cleanup.policy=${policy}, not compact: ` +
        "its records would be deleted by age, losing state; set cleanup.policy=compact on it",
    );
  }
  return created ? "created" : "checked";
}
