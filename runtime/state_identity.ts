/**
 * What a saved state belongs to, and whether the brokers still hold the input
 * it was computed from. A checkpoint records its sources (name, consumer
 * group, topics with their partition counts, offset ranges and topic ids where
 * the client exposes them); on a restart {@linkcode checkStateIdentity}
 * compares that record and the saved positions with what the brokers report
 * now. Kafka offsets only grow, so a position past a partition's end, a high
 * watermark lower than one seen before, a partition count that changed or a
 * different topic id all mean the topic was deleted and created again: resuming
 * would read nothing, or the wrong messages, and say nothing. The pipeline then
 * refuses to start ({@linkcode StaleStateError}) until the user discards the
 * state (`--reset-state`).
 *
 * Pure: no I/O. The same check applies to state restored from any store.
 *
 * @module
 */
import type { Position, SourceIdentity, TopicIdentity } from "../connectors/types.ts";

/** What one source's saved state was computed from. */
export interface RecordedSource {
  readonly name: string;
  /** The consumer group, for Kafka sources. */
  readonly group?: string;
  readonly topics: readonly TopicIdentity[];
}

/** What a saved state belongs to (stored in the checkpoint). */
export interface StateIdentity {
  readonly sources: readonly RecordedSource[];
}

/** Why saved state does not fit the input the brokers hold now. */
export type StaleStateReason =
  | "other_pipeline"
  | "position_beyond_end"
  | "position_before_start"
  | "partition_count"
  | "topic_incarnation";

/** A structured refusal: what does not fit, where. */
export interface StaleStateRefusal {
  readonly reason: StaleStateReason;
  /** The source whose state does not fit. */
  readonly source: string;
  readonly topic?: string;
  readonly partition?: number;
  /** What the state recorded and what the brokers report, in words. */
  readonly detail: string;
}

/** The result of {@linkcode checkStateIdentity}. */
export type StateIdentityCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly refusal: StaleStateRefusal };

/** What a restart compares: the saved record and positions, and the brokers' answer now. */
export interface StateIdentityInput {
  /** The identity the checkpoint recorded; absent in checkpoints written before it existed. */
  readonly recorded?: StateIdentity;
  /** The saved positions, one list per source in pipeline order. */
  readonly positions: readonly (readonly Position[])[];
  /** What each source reports now, in pipeline order (`undefined`: the source cannot tell). */
  readonly current: readonly (SourceIdentity | undefined)[];
}

/**
 * Checks saved state against the input as it is now. Returns the first
 * misfit found; sources that cannot describe themselves (files) are only
 * checked for name.
 */
export function checkStateIdentity(input: StateIdentityInput): StateIdentityCheck {
  const refuse = (refusal: StaleStateRefusal): StateIdentityCheck => ({ ok: false, refusal });
  const { recorded, positions, current } = input;
  if (recorded !== undefined && recorded.sources.length !== current.length) {
    return refuse({
      reason: "other_pipeline",
      source: recorded.sources.map((s) => s.name).join(", "),
      detail: `the state has ${recorded.sources.length} source(s), the pipeline ${current.length}`,
    });
  }
  for (const [index, now] of current.entries()) {
    const saved = recorded?.sources[index];
    if (saved !== undefined && now !== undefined) {
      if (saved.name !== now.name) {
        return refuse({
          reason: "other_pipeline",
          source: now.name,
          detail: `the state was written for source ${JSON.stringify(saved.name)}`,
        });
      }
      if ((saved.group ?? null) !== (now.group ?? null)) {
        return refuse({
          reason: "other_pipeline",
          source: now.name,
          detail: `the state was written for consumer group ${JSON.stringify(saved.group)}, ` +
            `the pipeline reads with ${JSON.stringify(now.group)}`,
        });
      }
    }
    if (now === undefined) continue;
    const nowTopics = new Map(now.topics.map((t) => [t.topic, t]));
    for (const was of saved?.topics ?? []) {
      const is = nowTopics.get(was.topic);
      // A topic that does not exist (yet) is waited for; its saved positions are checked below.
      // A topic that did not exist when saved recorded no partitions: nothing to compare.
      if (is === undefined || is.partitions.length === 0 || was.partitions.length === 0) continue;
      const where = { source: now.name, topic: was.topic };
      if (was.topicId !== undefined && is.topicId !== undefined && was.topicId !== is.topicId) {
        return refuse({
          reason: "topic_incarnation",
          ...where,
          detail: `topic id ${was.topicId} when saved, ${is.topicId} now`,
        });
      }
      if (was.partitions.length !== is.partitions.length) {
        return refuse({
          reason: "partition_count",
          ...where,
          detail: `${was.partitions.length} partition(s) when saved, ${is.partitions.length} now`,
        });
      }
      const nowOffsets = new Map(is.partitions.map((p) => [p.partition, p]));
      for (const p of was.partitions) {
        const o = nowOffsets.get(p.partition);
        if (o !== undefined && BigInt(o.high) < BigInt(p.high)) {
          return refuse({
            reason: "topic_incarnation",
            ...where,
            partition: p.partition,
            detail:
              `the partition's end was at offset ${p.high} when saved and is at ${o.high} now ` +
              `(offsets never go back: the topic was deleted and created again)`,
          });
        }
      }
    }
    for (const position of positions[index] ?? []) {
      const topic = nowTopics.get(position.topic);
      if (topic === undefined || topic.partitions.length === 0) continue;
      const where = { source: now.name, topic: position.topic, partition: position.partition };
      const offsets = topic.partitions.find((p) => p.partition === position.partition);
      if (offsets === undefined) {
        return refuse({
          reason: "partition_count",
          ...where,
          detail: `the state has a position in partition ${position.partition}, ` +
            `the topic has ${topic.partitions.length} partition(s) now`,
        });
      }
      const offset = BigInt(position.offset);
      if (offset > BigInt(offsets.high)) {
        return refuse({
          reason: "position_beyond_end",
          ...where,
          detail:
            `the saved position ${position.offset} lies beyond the partition's end ${offsets.high}`,
        });
      }
      if (offset < BigInt(offsets.low)) {
        return refuse({
          reason: "position_before_start",
          ...where,
          detail:
            `the saved position ${position.offset} lies before the partition's first offset ` +
            `${offsets.low} (the messages in between were deleted)`,
        });
      }
    }
  }
  return { ok: true };
}

/**
 * The identity to save with a checkpoint: what the sources reported at start,
 * with each partition's end raised to the saved position where the pipeline
 * read further (so a later restart sees a partition that shrank).
 */
export function recordStateIdentity(
  sources: readonly (SourceIdentity | undefined)[],
  names: readonly string[],
  positions: readonly (readonly Position[])[],
): StateIdentity {
  return {
    sources: names.map((name, index) => {
      const now = sources[index];
      if (now === undefined) return { name, topics: [] };
      const at = new Map(
        (positions[index] ?? []).map((p) => [`${p.topic}\0${p.partition}`, BigInt(p.offset)]),
      );
      return {
        name: now.name,
        ...(now.group === undefined ? {} : { group: now.group }),
        topics: now.topics.map((topic) => ({
          ...topic,
          partitions: topic.partitions.map((p) => {
            const read = at.get(`${topic.topic}\0${p.partition}`);
            return read !== undefined && read > BigInt(p.high) ? { ...p, high: String(read) } : p;
          }),
        })),
      };
    }),
  };
}

/** Saved state that does not fit the input; the command exits with status 2. */
export class StaleStateError extends Error {
  /** What does not fit. */
  readonly refusal: StaleStateRefusal;
  /** The state directory holding the refused state (local store). */
  readonly stateDir: string | undefined;
  /** The changelog topic holding the refused state (kafka store). */
  readonly changelogTopic: string | undefined;
  /**
   * Creates the error with a message naming where the state is and the way out.
   *
   * @param stateDir the directory holding the refused state, if it is local
   * @param refusal what does not fit
   * @param changelogTopic the changelog topic holding it, if it lives in Kafka
   */
  constructor(stateDir: string | undefined, refusal: StaleStateRefusal, changelogTopic?: string) {
    const where = refusal.topic === undefined
      ? ""
      : ` topic ${JSON.stringify(refusal.topic)}${
        refusal.partition === undefined ? "" : ` partition ${refusal.partition}`
      }`;
    const place = changelogTopic === undefined
      ? JSON.stringify(stateDir)
      : `changelog topic ${JSON.stringify(changelogTopic)}`;
    const otherwise = changelogTopic === undefined ? "another --state-dir" : "another group.id";
    super(
      `The saved state in ${place} does not fit the input (${refusal.reason}): ` +
        `source ${JSON.stringify(refusal.source)}${where}: ${refusal.detail}. ` +
        `Resuming from it would skip or double-count messages. Run with --reset-state ` +
        `(option resetState) to discard the saved state and start as new, or use ${otherwise}`,
    );
    this.name = "StaleStateError";
    this.refusal = refusal;
    this.stateDir = stateDir;
    this.changelogTopic = changelogTopic;
  }
}
