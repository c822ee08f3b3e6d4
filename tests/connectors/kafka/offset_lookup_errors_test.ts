/**
 * A group offset lookup is asked again on the errors of a coordinator that is
 * loading or has moved, and of unstable offsets, whichever name each client
 * library gives them: made here by the libraries themselves from Kafka's codes.
 */
import assert from "node:assert/strict";
import { ProtocolError } from "@platformatic/kafka";
import { offsetLookupWaitsFor } from "../../../connectors/kafka/_retry.ts";
import { apiIds } from "../../../connectors/kafka/platformatic/errors.ts";

/** COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, UNSTABLE_OFFSET_COMMIT. */
const codes = [14, 15, 16, 88];

Deno.test("kafkajs' errors for a loading or moved coordinator and unstable offsets are asked again", async () => {
  const { createErrorFromCode } = await import("kafkajs/src/protocol/error.js") as {
    createErrorFromCode(code: number): { type: string };
  };
  for (const code of codes) {
    const { type } = createErrorFromCode(code);
    assert.ok(offsetLookupWaitsFor.includes(type), `code ${code} (kafkajs: ${type})`);
  }
  assert.ok(!offsetLookupWaitsFor.includes(createErrorFromCode(3).type), "not an unknown topic");
});

Deno.test("@platformatic/kafka's errors for a loading or moved coordinator and unstable offsets are asked again", () => {
  for (const code of codes) {
    const ids = apiIds(new ProtocolError(code));
    assert.ok(ids.some((id) => offsetLookupWaitsFor.includes(id)), `code ${code} (${ids})`);
  }
  assert.ok(!apiIds(new ProtocolError(3)).some((id) => offsetLookupWaitsFor.includes(id)));
});
