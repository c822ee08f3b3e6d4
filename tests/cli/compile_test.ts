/**
 * The compile task builds one executable that runs the seed's example with a
 * transform file from outside it. `deno compile` needs a runtime (denort):
 * `DENORT_BIN`, or one in Deno's cache. Where neither is at hand (it cannot be
 * downloaded here) the test is skipped and says why; it never fakes the build.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { records, root, seedSumStream } from "./_rivulet.ts";

const DENO_VERSION = Deno.version.deno;

/** Where `deno compile` would find a runtime without downloading one, if anywhere. */
function compileRuntime(): { found: true; where: string } | { found: false; why: string } {
  const explicit = Deno.env.get("DENORT_BIN");
  if (explicit !== undefined && explicit !== "") {
    return exists(explicit)
      ? { found: true, where: `DENORT_BIN=${explicit}` }
      : { found: false, why: `DENORT_BIN names ${explicit}, which does not exist` };
  }
  const denoDir = Deno.env.get("DENO_DIR") ??
    join(Deno.env.get("HOME") ?? "/root", ".cache", "deno");
  const cached = join(
    denoDir,
    "dl",
    "release",
    `v${DENO_VERSION}`,
    `denort-${Deno.build.target}.zip`,
  );
  if (exists(cached)) return { found: true, where: cached };
  return {
    found: false,
    why: `no Deno runtime for compile: DENORT_BIN is unset and ${cached} is not cached ` +
      `(deno compile would download it from dl.deno.land, which this machine cannot reach)`,
  };
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

const runtime = compileRuntime();
if (!runtime.found) console.log(`skipped: compile test: ${runtime.why}`);

Deno.test({
  name: "the compiled rivulet runs the seed's example with a transform file from outside it",
  ignore: !runtime.found,
  async fn() {
    const build = await new Deno.Command(Deno.execPath(), {
      args: ["task", "compile"],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(build.code, 0, new TextDecoder().decode(build.stderr));

    // A transform and an input that the executable has never seen, outside the repository.
    const dir = await Deno.makeTempDir();
    await Deno.writeTextFile(
      join(dir, "sum.ts"),
      `export default (input: any, rw: any): any =>
  input.select({ value: rw.apply((x: string): number => parseInt(x, 10), "value") })
    .reduce({ sum: rw.reducers.sum("value") });
`,
    );
    await Deno.copyFile(join(root, "examples", "connector_example.txt"), join(dir, "stream.txt"));
    const run = await new Deno.Command(join(root, "dist", "rivulet"), {
      args: [
        "run",
        "--transform",
        "sum.ts",
        "--input",
        "stream.txt",
        "--format",
        "csv",
        "--columns",
        "value",
      ],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 0, stderr);
    assert.deepEqual(records(new TextDecoder().decode(run.stdout)), seedSumStream());

    const check = await new Deno.Command(join(root, "dist", "rivulet"), {
      args: ["check", "--transform", "sum.ts", "--input", "stream.txt", "--format", "csv"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
    assert.match(
      new TextDecoder().decode(check.stdout),
      /not type-checked: the compiled rivulet has no TypeScript checker/,
    );
  },
});
