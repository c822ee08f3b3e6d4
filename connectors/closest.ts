/**
 * "Did you mean …": the known name closest to a misspelt one, for messages
 * about unknown flags and unknown settings keys.
 *
 * @module
 */

/**
 * The candidate closest to `word` by edit distance, if it is within
 * `maxDistance` edits (more is a different word, not a typo).
 *
 * @example
 * ```ts
 * import { closest } from "./closest.ts";
 * closest("bootstrap.server", ["bootstrap.servers", "group.id"], 3); // "bootstrap.servers"
 * ```
 */
export function closest(
  word: string,
  candidates: Iterable<string>,
  maxDistance: number,
): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= maxDistance ? best : undefined;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length];
}
