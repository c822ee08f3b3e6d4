/**
 * An engine snapshot ({@linkcode Graph.snapshot}) as keyed entries, and back:
 * so that state written to a keyed, compacted log (a Kafka changelog topic)
 * is rewritten per entry that changed, not as a whole, and the log's size
 * follows the state's size rather than its history.
 *
 * Each operator's state is split by its own keys where it has them: a Map
 * (input rows by id) one entry per row id; an array of groups with a `key`
 * (reduce groups, join buckets) one entry per group key; an object of Maps
 * (upserted rows: base and updates) one entry per field and row id; anything
 * else is one entry. The header entry holds the format, the time, and each
 * operator's kind and shape. Pure: no I/O.
 *
 * @module
 */

/** The key of the header entry. */
export const HEADER_ENTRY = "h";

type Shape =
  | { readonly kind: "null" }
  | { readonly kind: "map" }
  | { readonly kind: "keyed" }
  | { readonly kind: "maps"; readonly fields: readonly string[] }
  | { readonly kind: "whole" };

interface Header {
  readonly format: unknown;
  readonly time: unknown;
  readonly nodes: readonly { readonly kind: unknown; readonly shape: Shape }[];
}

interface SnapshotLike {
  readonly format: unknown;
  readonly time: unknown;
  readonly nodes: readonly { readonly kind: unknown; readonly state: unknown }[];
}

function isKeyedArray(state: unknown): state is { key: unknown }[] {
  return Array.isArray(state) &&
    state.every((item) => typeof item === "object" && item !== null && "key" in item);
}

function isObjectOfMaps(state: unknown): state is Record<string, Map<string, unknown>> {
  if (typeof state !== "object" || state === null || Array.isArray(state)) return false;
  if (state instanceof Map) return false;
  const values = Object.values(state);
  return values.length > 0 &&
    values.every((v) => v instanceof Map && [...v.keys()].every((k) => typeof k === "string"));
}

function isStringKeyedMap(state: unknown): state is Map<string, unknown> {
  return state instanceof Map && [...state.keys()].every((k) => typeof k === "string");
}

/** Splits a snapshot into entries (insertion order: header, then each operator's). */
export function snapshotEntries(snapshot: unknown): Map<string, unknown> {
  const { format, time, nodes } = snapshot as SnapshotLike;
  const entries = new Map<string, unknown>();
  const shapes: Header["nodes"][number][] = [];
  entries.set(HEADER_ENTRY, undefined); // first; set below
  nodes.forEach(({ kind, state }, i) => {
    let shape: Shape;
    if (state === null || state === undefined) shape = { kind: "null" };
    else if (isStringKeyedMap(state)) {
      shape = { kind: "map" };
      for (const [id, row] of state) entries.set(`${i}|m|${id}`, row);
    } else if (isKeyedArray(state)) {
      shape = { kind: "keyed" };
      for (const item of state) entries.set(`${i}|k|${JSON.stringify(item.key)}`, item);
    } else if (isObjectOfMaps(state)) {
      const fields = Object.keys(state);
      shape = { kind: "maps", fields };
      fields.forEach((field, f) => {
        for (const [id, value] of state[field]) entries.set(`${i}|${f}|${id}`, value);
      });
    } else {
      shape = { kind: "whole" };
      entries.set(`${i}|w`, state);
    }
    shapes.push({ kind, shape });
  });
  const header: Header = { format, time, nodes: shapes };
  entries.set(HEADER_ENTRY, header);
  return entries;
}

/** Rebuilds the snapshot {@linkcode snapshotEntries} split; throws without a header. */
export function snapshotFromEntries(entries: ReadonlyMap<string, unknown>): unknown {
  const header = entries.get(HEADER_ENTRY) as Header | undefined;
  if (header === undefined) {
    throw new Error("Cannot rebuild a snapshot: its header entry is missing");
  }
  const states: unknown[] = header.nodes.map(({ shape }) => {
    switch (shape.kind) {
      case "null":
        return null;
      case "map":
        return new Map();
      case "keyed":
        return [];
      case "maps":
        return Object.fromEntries(shape.fields.map((field) => [field, new Map()]));
      case "whole":
        return undefined;
    }
  });
  for (const [key, value] of entries) {
    if (key === HEADER_ENTRY) continue;
    const first = key.indexOf("|");
    const second = key.indexOf("|", first + 1);
    const node = Number(key.slice(0, first));
    const part = second === -1 ? key.slice(first + 1) : key.slice(first + 1, second);
    const id = second === -1 ? "" : key.slice(second + 1);
    const shape = header.nodes[node]?.shape;
    if (shape === undefined) {
      throw new Error(`Cannot rebuild a snapshot: entry ${key} names no operator`);
    }
    if (shape.kind === "map") (states[node] as Map<string, unknown>).set(id, value);
    else if (shape.kind === "keyed") (states[node] as unknown[]).push(value);
    else if (shape.kind === "maps") {
      const field = shape.fields[Number(part)];
      (states[node] as Record<string, Map<string, unknown>>)[field].set(id, value);
    } else if (shape.kind === "whole") states[node] = value;
  }
  return {
    format: header.format,
    time: header.time,
    nodes: header.nodes.map(({ kind }, i) => ({ kind, state: states[i] })),
  };
}
