/**
 * The `rivulet` command: `deno run ... main.ts ARGS` and the compiled
 * executable take the same arguments. This file only dispatches to the
 * commands in `cli/`; see `rivulet --help`.
 *
 * @example
 * ```sh
 * deno run --allow-read --allow-net --allow-env=NODE_ENV,KAFKAJS_*,RIVULET_* main.ts \
 *   run --transform examples/sum.ts --input examples/connector_example.txt --format csv --columns value
 * ```
 *
 * @module
 */
import { ExitCode, type ExitStatus } from "./cli/exit_codes.ts";
import { COMMAND_HELP, MAIN_HELP } from "./cli/help.ts";
import { closest } from "./cli/args.ts";
import { writeStderr } from "./cli/log.ts";
import { VERSION } from "./cli/version.ts";

const commands: Readonly<Record<string, (args: readonly string[]) => Promise<ExitStatus>>> = {
  run: async (args) => (await import("./cli/run.ts")).runCommand({ args }),
  check: async (args) => (await import("./cli/check.ts")).checkCommand({ args }),
  tail: async (args) => (await import("./cli/tail.ts")).tailCommand({ args }),
};

/** Runs the command line `args`; resolves to the exit status. */
export async function main(args: readonly string[]): Promise<ExitStatus> {
  const [command, ...rest] = args;
  if (command === undefined || command === "--help" || command === "-h") {
    console.log(MAIN_HELP);
    return command === undefined ? ExitCode.Usage : ExitCode.Ok;
  }
  if (command === "--version" || command === "-V" || command === "version") {
    console.log(`rivulet ${VERSION}`);
    return ExitCode.Ok;
  }
  if (command === "help") {
    const help = rest[0] === undefined ? MAIN_HELP : COMMAND_HELP[rest[0]];
    if (help === undefined) return unknownCommand(rest[0]);
    console.log(help);
    return ExitCode.Ok;
  }
  const handler = Object.hasOwn(commands, command) ? commands[command] : undefined;
  if (handler === undefined) return unknownCommand(command);
  return await handler(rest);
}

function unknownCommand(command: string): ExitStatus {
  const suggestion = closest(command, Object.keys(commands));
  const hint = suggestion === undefined ? "" : ` Did you mean "rivulet ${suggestion}"?`;
  writeStderr(
    `error: Unknown command ${
      JSON.stringify(command)
    }: use run, tail or check (see "rivulet --help").${hint}`,
  );
  return ExitCode.Usage;
}

if (import.meta.main) {
  // Exit explicitly: a Kafka client may hold sockets or timers after the work is done.
  Deno.exit(await main(Deno.args));
}
