/**
 * The platformatic adapter's deferred option validators
 * (connectors/kafka/platformatic/_lazy_validators.ts): a validator made
 * while the patch is on compiles on its first call and answers as Ajv's own
 * (result and `errors`), and ending the patch puts Ajv's `compile` back.
 */
import assert from "node:assert/strict";
import { endLazyValidators } from "../../../connectors/kafka/platformatic/_lazy_validators.ts";
import ajv2020 from "ajv/dist/2020.js";

// A CommonJS module under Deno: the default import is `module.exports`, whose `default` is the class.
type Validate = ((data: unknown) => boolean) & { errors?: unknown };
type AjvInstance = { compile(schema: unknown): Validate };
const Ajv2020 = (ajv2020 as unknown as { default: new (options: object) => AjvInstance }).default;

const schema = {
  type: "object",
  properties: { groupId: { type: "string", minLength: 1 }, maxBytes: { type: "integer" } },
  required: ["groupId"],
  additionalProperties: false,
};
const samples: unknown[] = [
  { groupId: "g", maxBytes: 10 },
  { groupId: "" },
  { maxBytes: 1.5 },
  { groupId: "g", other: true },
  "not an object",
];

Deno.test("a deferred validator answers as Ajv's own, errors included, and the patch ends cleanly", () => {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  const deferred = ajv.compile(schema);
  const { deferred: count, reached } = endLazyValidators(ajv);
  assert.ok(reached, "the instance is of the patched Ajv class");
  assert.ok(count >= 1, "the validator made while the patch was on was deferred");
  // Ajv's own compile is back: this one is compiled at once.
  const own = new Ajv2020({ allErrors: true, strict: true }).compile(schema);
  for (const sample of samples) {
    assert.equal(deferred(sample), own(sample), JSON.stringify(sample));
    assert.deepEqual(deferred.errors, own.errors, JSON.stringify(sample));
  }
});
