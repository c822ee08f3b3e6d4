/**
 * Ends `_lazy_validators.ts` once @platformatic/kafka has loaded: Ajv's own
 * `compile` is back for everything after, and the library's validators are
 * checked to be the deferred ones. Fails loudly when they are not (the
 * library or its Ajv changed): the pinned versions in `deno.json` make it hold.
 *
 * @module
 */
import { ajv } from "@platformatic/kafka";
import { endLazyValidators } from "./_lazy_validators.ts";

const { deferred, reached } = endLazyValidators(ajv);
if (!reached || deferred === 0) {
  throw new Error(
    `rivulet's deferred compilation of @platformatic/kafka's option validators did not take ` +
      `effect (${deferred} deferred; the library's Ajv is ${
        reached ? "" : "not "
      }the patched one): the library or its Ajv is not the version deno.json pins`,
  );
}
