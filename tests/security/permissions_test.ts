/**
 * Least privilege: `rivulet run` with the narrowest permissions (reads of the
 * transform and the input, the network only to the broker) runs the seed's
 * pipeline, and a transform that reaches for a file or a connection it was
 * not granted is refused by Deno, with Deno's message naming what was asked.
 * The transforms are written at test time next to a secret file, so that the
 * secret is one directory entry away and still out of reach.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const input = `${root}examples/connector_example.txt`;
/** The broker a pipeline would be granted; these runs read a file and never connect to it. */
const grantedBroker = "127.0.0.1:9092";
const secretText = "Secret-Sauce-4471-never-printed";

const scratch = Deno.makeTempDirSync({ prefix: "rivulet-permissions-" });
globalThis.addEventListener("unload", () => Deno.removeSync(scratch, { recursive: true }));

/** A regular expression's source matching `text` literally. */
const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `rivulet run --transform FILE` on the seed's stream with exactly the given grants. */
async function runTransform(
  transform: string,
  grants: { read: readonly string[] },
): Promise<Result> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-read=${[transform, input, ...grants.read].join(",")}`,
      `--allow-net=${grantedBroker}`,
      "--allow-env=NODE_ENV,KAFKAJS_*",
      `${root}main.ts`,
      "run",
      "--transform",
      transform,
      "--input",
      input,
      "--format",
      "csv",
      "--columns",
      "value",
    ],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** A folder with a secret file and a transform whose source is `body` (the secret's path is `secret`). */
async function transformBeside(body: string): Promise<{ transform: string; secret: string }> {
  const dir = await Deno.makeTempDir({ dir: scratch });
  const secret = `${dir}/secret.txt`;
  await Deno.writeTextFile(secret, secretText);
  const transform = `${dir}/transform.ts`;
  await Deno.writeTextFile(
    transform,
    `const secret = ${JSON.stringify(secret)};\n${body}`,
  );
  return { transform, secret };
}

/** The seed's sum, but the transform also reads the secret file when it builds the pipeline. */
const readsWhenBuilding = `
// deno-lint-ignore no-explicit-any
export default function sum(input: any, rw: any) {
  const stolen = Deno.readTextFileSync(secret);
  const values = input.select({ value: rw.apply((x: string) => parseInt(x) + stolen.length * 0, "value") });
  return values.reduce({ sum: rw.reducers.sum("value") });
}
`;

Deno.test("a transform that reads a file it was not granted is refused by Deno and the command exits 2", async () => {
  const { transform, secret } = await transformBeside(readsWhenBuilding);
  const result = await runTransform(transform, { read: [] });
  assert.equal(result.code, 2, result.stderr);
  assert.match(
    result.stderr,
    new RegExp(
      `threw while building the pipeline: Requires read access to "${
        literally(secret)
      }", run again with the --allow-read flag`,
    ),
  );
  assert.ok(!(result.stdout + result.stderr).includes(secretText), "the secret stays secret");
  assert.equal(result.stdout, "", "nothing was computed");
});

Deno.test("the same transform runs when the file is granted: the refusal came from the permission", async () => {
  const { transform, secret } = await transformBeside(readsWhenBuilding);
  const result = await runTransform(transform, { read: [secret] });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^\{"sum":45,"diff":1,"time":10\}$/m);
});

Deno.test("a user function that reads a file per row is refused by Deno and the pipeline stops", async () => {
  const { transform, secret } = await transformBeside(`
// deno-lint-ignore no-explicit-any
export default function leak(input: any, rw: any) {
  return input.select({ value: rw.apply((x: string) => x + Deno.readTextFileSync(secret), "value") });
}
`);
  const result = await runTransform(transform, { read: [] });
  assert.notEqual(result.code, 0, result.stderr);
  assert.match(
    result.stderr,
    new RegExp(
      `Requires read access to "${literally(secret)}", run again with the --allow-read flag`,
    ),
  );
  assert.ok(!(result.stdout + result.stderr).includes(secretText), "the secret stays secret");
  assert.equal(result.stdout, "", "no row was written");
});

Deno.test("a transform that opens a connection it was not granted is refused by Deno, the broker's grant notwithstanding", async () => {
  // A real listener: were the connection allowed, it would be accepted here.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const accepted = listener.accept().then(
    (connection) => {
      connection.close();
      return true;
    },
    () => false,
  );
  const { transform } = await transformBeside(`
// deno-lint-ignore no-explicit-any
export default async function exfiltrate(input: any) {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port: ${port} });
  await connection.write(new TextEncoder().encode(secret));
  connection.close();
  return input;
}
`);
  const result = await runTransform(transform, { read: [] });
  listener.close();
  assert.equal(result.code, 2, result.stderr);
  assert.match(
    result.stderr,
    new RegExp(
      `threw while building the pipeline: Requires net access to "127\\.0\\.0\\.1:${port}", run again with the --allow-net flag`,
    ),
  );
  assert.equal(await accepted, false, "no connection reached the listener");
});
