/**
 * Lets @platformatic/kafka load under rivulet's narrow `--allow-env`.
 *
 * The library logs through the `debug` package, which at load time lists
 * every environment variable (`Object.keys(process.env)`, for its `DEBUG_*`
 * options) and reads and deletes `DEBUG`. Under Deno that needs permission
 * for the whole environment, which rivulet's command does not ask for
 * (`--allow-env=NODE_ENV,KAFKAJS_*,RIVULET_*`): the import would fail with
 * "Requires env access". While the library loads, `process.env` is replaced
 * by a view that lists no variables, reads a variable the program may not
 * read as unset and ignores writes it may not make; `_env_restore.ts`, imported
 * right after the library, puts the real one back. With full permission
 * nothing changes: the view passes everything through.
 *
 * @module
 */
import process from "node:process";

const real = process.env;

function permitted(name: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "env", variable: name }).state === "granted";
  } catch {
    return false;
  }
}

const allPermitted = (() => {
  try {
    return Deno.permissions.querySync({ name: "env" }).state === "granted";
  } catch {
    return false;
  }
})();

if (!allPermitted) {
  // The target is an empty object, not the real environment: a proxy checks
  // its listing against its target's, which would list the environment again.
  const view = new Proxy({} as typeof real, {
    ownKeys: () => [],
    get: (_, name) =>
      typeof name === "string" && permitted(name) ? Reflect.get(real, name) : undefined,
    has: (_, name) => typeof name === "string" && permitted(name) && Reflect.has(real, name),
    set: (_, name, value) => {
      if (typeof name === "string" && permitted(name)) Reflect.set(real, name, value);
      return true;
    },
    deleteProperty: (_, name) => {
      if (typeof name === "string" && permitted(name)) Reflect.deleteProperty(real, name);
      return true;
    },
  });
  (globalThis as { __rivuletRealEnv?: typeof real }).__rivuletRealEnv = real;
  process.env = view;
}
