/** `rivulet tail` (placeholder while it is written). @module */
import type { ExitStatus } from "./exit_codes.ts";
/** Runs `rivulet tail ARGS`. */
export function tailCommand(_options: { args: readonly string[] }): Promise<ExitStatus> {
  return Promise.resolve(1);
}
