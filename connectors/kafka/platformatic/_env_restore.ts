/**
 * Puts back the real `process.env` once @platformatic/kafka has loaded (see
 * `_env_guard.ts`).
 *
 * @module
 */
import process from "node:process";

const holder = globalThis as { __rivuletRealEnv?: typeof process.env };
if (holder.__rivuletRealEnv !== undefined) {
  process.env = holder.__rivuletRealEnv;
  delete holder.__rivuletRealEnv;
}
