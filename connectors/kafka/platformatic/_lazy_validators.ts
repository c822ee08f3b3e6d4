/**
 * Makes @platformatic/kafka's option validators compile when first used
 * instead of when the library loads.
 *
 * The library compiles about forty JSON-schema validators with Ajv at import
 * (every option of every admin, consumer and producer call), which cost about
 * 0.25 s of CPU at each start of rivulet (a profile of the seed pipeline's
 * start: Ajv's code generation was a third of the import). A run uses a
 * handful of them. While the library loads, `Ajv.prototype.compile` returns a
 * validator that compiles its schema on its first call and then behaves as
 * Ajv's own (the same result, the same `errors`);
 * `_lazy_validators_check.ts`, imported right after the library, puts Ajv's
 * method back and fails loudly when the replacement did not reach the
 * library's Ajv (a different Ajv version or module instance).
 *
 * @module
 */
import ajvModule from "ajv/dist/core.js";

type AnyValidate = ((this: unknown, data: unknown, ...rest: unknown[]) => unknown) & {
  errors?: unknown;
};
type Compile = (this: object, schema: unknown, meta?: boolean) => AnyValidate;
type AjvClass = { prototype: { compile: Compile } };

// A CommonJS module under Deno: the default import is `module.exports`, whose
// `default` is the class (Ajv2020, the library's, extends it).
const Ajv = (ajvModule as unknown as { default: AjvClass }).default;
const prototype = Ajv.prototype;
const original = prototype.compile;
let deferred = 0;

function compileWhenUsed(this: object, schema: unknown, meta?: boolean): AnyValidate {
  return deferredValidator(this, schema, meta);
}

function deferredValidator(ajv: object, schema: unknown, meta?: boolean): AnyValidate {
  let compiled: AnyValidate | undefined;
  deferred++;
  const validate: AnyValidate = function (this: unknown, data: unknown, ...rest: unknown[]) {
    compiled ??= original.call(ajv, schema, meta);
    const valid = compiled.call(this, data, ...rest);
    validate.errors = compiled.errors;
    return valid;
  };
  validate.errors = null;
  return validate;
}

prototype.compile = compileWhenUsed;

/**
 * Puts Ajv's own `compile` back; returns how many validators were deferred
 * and whether `ajv` (the library's instance) is one of the patched class.
 */
export function endLazyValidators(libraryAjv: unknown): { deferred: number; reached: boolean } {
  prototype.compile = original;
  return { deferred, reached: libraryAjv instanceof (Ajv as unknown as typeof Object) };
}
