/** `--state-store`: kafka needs --exactly-once and then no --state-dir; anything else is refused. */
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

Deno.test("--state-store is refused without --exactly-once (kafka) or with another value", async () => {
  await assert.rejects(
    () => parseRunArgs("rivulet run", [...base, "--state-store", "kafka"]),
    /"--state-store kafka" needs "--exactly-once"/,
  );
  await assert.rejects(
    () => parseRunArgs("rivulet run", [...base, "--state-store", "redis"]),
    /"--state-store" must be kafka or local, not "redis"/,
  );
  await assert.rejects(
    () => parseRunArgs("rivulet run", [...base, "--exactly-once", "--state-store", "local"]),
    /"--exactly-once" needs "--state-dir"/,
  );
});
