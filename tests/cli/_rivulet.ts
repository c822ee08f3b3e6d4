/**
 * Runs the real `rivulet` command as a subprocess (`deno run main.ts ...`)
 * with the narrow permissions the README documents.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** The repository's root. */
export const root: string = fileURLToPath(new URL("../../", import.meta.url));
/** The test fixtures' folder. */
export const fixtures: string = fileURLToPath(new URL("./fixtures/", import.meta.url));

/** The permissions `deno run main.ts` needs: read files, reach brokers, the env vars kafkajs reads. */
export const runFlags: readonly string[] = [
  "--no-prompt",
  "--allow-read",
  "--allow-net",
  "--allow-env=NODE_ENV,KAFKAJS_*,RIVULET_*",
];

/**
 * `rivulet run` on the seed's example: `examples/sum.ts` over csv `input`,
 * written to `output`, with the Kafka settings file `settings`; `extra` flags
 * follow.
 */
export function seedSumArgs(
  input: string,
  output: string,
  settings: string,
  ...extra: readonly string[]
): string[] {
  return [
    "run",
    "--transform",
    `${root}examples/sum.ts`,
    "--topic",
    input,
    "--settings",
    settings,
    "--format",
    "csv",
    "--output-topic",
    output,
    ...extra,
  ];
}

/** What a run of the command gave. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@linkcode rivulet}. */
export interface RivuletOptions {
  /** Text for standard input (default: none, stdin closed). */
  readonly stdin?: string;
  /** More `deno run` flags, e.g. `--allow-write=DIR` or `--allow-run`. */
  readonly flags?: readonly string[];
  /** The working directory (default: the repository root). */
  readonly cwd?: string;
  /** Environment variables for the command. */
  readonly env?: Record<string, string>;
}

/** Options of {@linkcode spawnRivulet}. */
export interface SpawnOptions {
  /** More `deno run` flags, e.g. `--allow-write=DIR`. */
  readonly flags?: readonly string[];
  /** The working directory (default: the repository root). */
  readonly cwd?: string;
  /** Pipe standard input (default: closed). */
  readonly stdin?: boolean;
  /** Environment variables for the command. */
  readonly env?: Record<string, string>;
}

/** Starts `rivulet ARGS` (`deno run` with {@linkcode runFlags} on main.ts); stdout and stderr piped. */
export function spawnRivulet(
  args: readonly string[],
  options: SpawnOptions = {},
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...runFlags, ...(options.flags ?? []), `${root}main.ts`, ...args],
    cwd: options.cwd ?? root,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.env === undefined ? {} : { env: options.env }),
  }).spawn();
}

/** Runs `rivulet ARGS` to completion. */
export async function rivulet(
  args: readonly string[],
  options: RivuletOptions = {},
): Promise<CommandResult> {
  const child = spawnRivulet(args, {
    flags: options.flags,
    cwd: options.cwd,
    stdin: options.stdin !== undefined,
    env: { NO_COLOR: "1", ...options.env },
  });
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** The JSON objects of a change stream, one per non-empty line. */
export function records(stdout: string): Record<string, unknown>[] {
  return stdout.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line));
}

/** The seed's change stream for sums of 0..9: +0, then -0 +1, -1 +3, ... -36 +45, each commit one time. */
export function seedSumStream(): { sum: number; diff: number; time: number }[] {
  const out: { sum: number; diff: number; time: number }[] = [];
  let sum: number | undefined;
  for (let i = 0; i < 10; i++) {
    const time = i + 1;
    if (sum !== undefined) out.push({ sum, diff: -1, time });
    sum = (sum ?? 0) + i;
    out.push({ sum, diff: 1, time });
  }
  return out;
}
