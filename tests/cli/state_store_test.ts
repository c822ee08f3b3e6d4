/** `--state-store`: kafka needs no --state-dir, with or without --exactly-once; anything else is refused. */
import assert from "node:assert/strict";
import { parseRunArgs } from "../../cli/run_plan.ts";

const base = ["--transform", "t.ts", "--topic", "t", "--settings", "s.json", "--output-topic", "o"];

Deno.test("--state-store kafka with --exactly-once needs no --state-dir", async () => {
  const parsed = await parseRunArgs("rivulet run", [
    ...base,
    "--exactly-once",
    "--state-store",
    "kafka",
  ]);
  assert.ok(!parsed.help);
  assert.equal(parsed.plan.stateStore, "kafka");
  assert.equal(parsed.plan.stateDir, undefined);
  assert.equal(parsed.plan.exactlyOnce, true);
});

Deno.test("--state-store kafka without --exactly-once (at-least-once) needs no --state-dir; --reset-state applies to it", async () => {
  const parsed = await parseRunArgs("rivulet run", [...base, "--state-store", "kafka"]);
  assert.ok(!parsed.help);
  assert.equal(parsed.plan.stateStore, "kafka");
  assert.equal(parsed.plan.stateDir, undefined);
  assert.equal(parsed.plan.exactlyOnce, false);
  const reset = await parseRunArgs("rivulet run", [
    ...base,
    "--state-store",
    "kafka",
    "--reset-state",
  ]);
  assert.ok(!reset.help);
  assert.equal(reset.plan.resetState, true);
  const cached = await parseRunArgs("rivulet run", [
    ...base,
    "--state-store",
    "kafka",
    "--state-dir",
    "cache",
  ]);
  assert.ok(!cached.help);
  assert.ok(cached.plan.stateDir?.endsWith("cache"));
});

Deno.test("--state-store is refused with another value, and --exactly-once with local needs --state-dir", async () => {
  await assert.rejects(
    () => parseRunArgs("rivulet run", [...base, "--state-store", "redis"]),
    /"--state-store" must be kafka or local, not "redis"/,
  );
  await assert.rejects(
    () => parseRunArgs("rivulet run", [...base, "--exactly-once", "--state-store", "local"]),
    /"--exactly-once" needs "--state-dir"/,
  );
});
