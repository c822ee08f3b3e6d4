/** `rivulet check` (placeholder while it is written). @module */
import type { ExitStatus } from "./exit_codes.ts";
/** Runs `rivulet check ARGS`. */
export function checkCommand(_options: { args: readonly string[] }): Promise<ExitStatus> {
  return Promise.resolve(1);
}
