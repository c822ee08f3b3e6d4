/**
 * `rivulet check`: loads everything a run would — pipeline script or
 * transform, format module, settings — and reports every problem found,
 * without connecting to Kafka or reading input.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { silentLogger } from "../connectors/types.ts";
import { buildTransformPipeline, loadFormatFor, settingsOf } from "./build.ts";
import { ExitCode, type ExitStatus, UsageError } from "./exit_codes.ts";
import { CHECK_HELP } from "./help.ts";
import { writeStderr } from "./log.ts";
import { parseRunArgs, type RunPlan } from "./run_plan.ts";
import { importUserModule, transformOf } from "./user_module.ts";

/** Options of {@linkcode checkCommand}. */
export interface CheckCommandOptions {
  /** The arguments after `check`. */
  readonly args: readonly string[];
  /** Where "ok" lines and help go (default: standard output). */
  readonly print?: (text: string) => void;
  /** Where problems go (default: standard error). */
  readonly printProblem?: (text: string) => void;
}

/** Runs `rivulet check ARGS`; resolves to 0 when everything loads, 2 otherwise. */
export async function checkCommand(options: CheckCommandOptions): Promise<ExitStatus> {
  const print = options.print ?? ((text: string) => console.log(text));
  const printProblem = options.printProblem ?? writeStderr;
  let plan: RunPlan;
  try {
    const parsed = await parseRunArgs("rivulet check", options.args);
    if (parsed.help) {
      print(CHECK_HELP);
      return ExitCode.Ok;
    }
    plan = parsed.plan;
  } catch (error) {
    printProblem(`problem: ${(error as Error).message}`);
    return ExitCode.Usage;
  }
  const report = new Report(print, printProblem);
  if (plan.pipeline.kind === "script") {
    await checkScript(plan.pipeline.script, report);
  } else {
    const transform = plan.pipeline;
    const isModulePath = !["raw", "plaintext", "csv", "json"].includes(transform.format);
    await report.step(`transform ${transform.transform}`, async () => {
      const notes = [await typeCheck(transform.transform)];
      transformOf(await importUserModule(transform.transform, "transform"), transform.transform);
      return [...notes, "its default export is a function"];
    });
    await report.step(`format ${transform.format}`, async () => {
      const notes = isModulePath ? [await typeCheck(transform.format)] : ["built in"];
      await loadFormatFor(transform.format);
      return [...notes, isModulePath ? "it implements the format interface" : "loaded"];
    });
    if (transform.settings !== undefined) {
      const settings = transform.settings;
      const label = settings.kind === "file"
        ? `settings ${settings.path}`
        : `settings in the config file`;
      await report.step(label, async () => {
        const loaded = await settingsOf(settings);
        for (const warning of loaded.warnings) report.warning(warning);
        return ["translated", `brokers ${loaded.config.brokers.join(",")}`];
      });
    }
    if (report.problems === 0) {
      await report.step("pipeline", async () => {
        await buildTransformPipeline({ plan: transform, logger: silentLogger });
        return ["source, transform and sink build"];
      });
    }
  }
  if (report.problems > 0) {
    printProblem(`${report.problems} problem${report.problems === 1 ? "" : "s"} found`);
    return ExitCode.Usage;
  }
  print("everything loads");
  return ExitCode.Ok;
}

async function checkScript(script: string, report: Report): Promise<void> {
  await report.step(`pipeline script ${script}`, async () => {
    const notes = [await typeCheck(script)];
    const text = await Deno.readTextFile(resolve(script)).catch(() => "");
    if (!/\bexport\s+default\b/.test(text)) {
      // Importing a script that runs itself would run the pipeline.
      return [...notes, "not imported: it has no default export, so importing it would run it"];
    }
    const module = await importUserModule(script, "pipeline script");
    if (typeof module.exports.default !== "function") {
      throw new UsageError(
        `The pipeline script ${
          JSON.stringify(script)
        } must export a function (rw) => { ... } as its default export`,
      );
    }
    return [...notes, "its default export is a function"];
  });
}

/**
 * Type-checks a file with `deno check` when a deno executable is at hand;
 * returns a note. The compiled rivulet has none: it says so.
 */
async function typeCheck(path: string): Promise<string> {
  const file = isAbsolute(path) ? path : resolve(path);
  if (Deno.build.standalone) {
    return `not type-checked: the compiled rivulet has no TypeScript checker (run "deno check ${path}")`;
  }
  const deno = Deno.execPath();
  const permission = await Deno.permissions.query({ name: "run", command: deno });
  if (permission.state !== "granted") {
    return `not type-checked: rivulet may not run deno (allow it with --allow-run=${deno})`;
  }
  try {
    await Deno.stat(file);
  } catch {
    return "not type-checked";
  }
  const output = await new Deno.Command(deno, {
    args: ["check", "--quiet", file],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    const text = new TextDecoder().decode(output.stderr) + new TextDecoder().decode(output.stdout);
    throw new UsageError(
      `Type errors in ${JSON.stringify(path)}:\n${indent(cleanCheckOutput(text))}`,
    );
  }
  return "type-checked";
}

function cleanCheckOutput(text: string): string {
  const lines = text
    // deno prints a stack backtrace of its own after the diagnostics
    .replace(/\n*Stack backtrace:[\s\S]*$/, "")
    // deno colours even with NO_COLOR on some outputs
    // deno-lint-ignore no-control-regex
    .replace(/\x1b\[[0-9;]*m/g, "")
    .trim()
    .split("\n");
  // Each diagnostic quotes the source line above a caret line: leave both out, so that no
  // text of the user's file (a literal password, say) is repeated; "at file:line:col" stays.
  const caret = /^\s*[\^~]+\s*$/;
  return lines.filter((line, i) => !caret.test(line) && !caret.test(lines[i + 1] ?? ""))
    .join("\n");
}

function indent(text: string): string {
  return text.split("\n").map((line) => `    ${line}`).join("\n");
}

/** Prints one line per step: ok with notes, or the problem. */
class Report {
  problems = 0;
  readonly #print: (text: string) => void;
  readonly #printProblem: (text: string) => void;

  constructor(print: (text: string) => void, printProblem: (text: string) => void) {
    this.#print = print;
    this.#printProblem = printProblem;
  }

  async step(label: string, run: () => Promise<string[]>): Promise<void> {
    try {
      const notes = await run();
      this.#print(`ok       ${label}: ${notes.join("; ")}`);
    } catch (error) {
      this.problems++;
      const message = error instanceof Error ? error.message : String(error);
      this.#printProblem(`problem  ${label}: ${message}`);
    }
  }

  warning(text: string): void {
    this.#printProblem(`warning  ${text}`);
  }
}
