/**
 * The metrics endpoint of a running `rivulet run`, scraped over loopback
 * while the pipeline reads standard input.
 */
import assert from "node:assert/strict";
import { spawnRivulet } from "./_rivulet.ts";

/** Reads lines from a stream of text until `match` finds one; the rest keeps draining. */
async function waitForLine(
  lines: ReadableStreamDefaultReader<string>,
  seen: string[],
  match: (line: string) => boolean,
): Promise<string> {
  let buffer = "";
  while (true) {
    const { value, done } = await lines.read();
    if (done) {
      throw new Error(
        `The command ended before the expected line; it wrote:\n${seen.join("\n")}${buffer}`,
      );
    }
    buffer += value;
    const parts = buffer.split("\n");
    buffer = parts.pop() ?? "";
    for (const line of parts) {
      seen.push(line);
      if (match(line)) return line;
    }
  }
}

async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return await response.text();
}

function metric(text: string, name: string): number | undefined {
  const match = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return match === null ? undefined : Number(match[1]);
}

Deno.test("--metrics-port serves the pipeline's counters in Prometheus text on 127.0.0.1", async () => {
  const child = spawnRivulet([
    "run",
    "--transform",
    "examples/sum.ts",
    "--input",
    "-",
    "--format",
    "csv",
    "--columns",
    "value",
    "--metrics-port",
    "0",
    "--log-format",
    "json",
  ], { stdin: true });
  const seen: string[] = [];
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const stdout = new Response(child.stdout).text();
  const input = child.stdin.getWriter();
  try {
    const line = await waitForLine(stderr, seen, (l) => l.includes("metricsPort"));
    const port = JSON.parse(line).metricsPort as number;
    assert.ok(port > 0);

    // Values 1..9 (a 0 would leave the sum unchanged: no change out), long enough that the source hands messages over while stdin stays open.
    const values = Array.from({ length: 10_000 }, (_, i) => `${(i % 9) + 1}\n*COMMIT*\n`).join("");
    await input.write(new TextEncoder().encode(`value\n${values}`));
    // Wait (boundedly) until commits are applied; the counts, not the wait, are asserted.
    let text = await scrape(port);
    for (
      let attempt = 0;
      attempt < 400 && !(metric(text, "rivulet_commits_applied_total")! > 0);
      attempt++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      text = await scrape(port);
    }
    const commits = metric(text, "rivulet_commits_applied_total")!;
    assert.ok(commits > 0, text);
    // Every counter is there and they agree with each other: each commit adds one row,
    // the sum's first commit gives +1 and every later one -1 +1.
    assert.equal(metric(text, "rivulet_changes_out_total"), 2 * commits - 1);
    assert.ok(metric(text, "rivulet_rows_in_total")! >= commits);
    assert.ok(metric(text, "rivulet_messages_in_total")! >= 2 * commits + 1);
    assert.equal(metric(text, "rivulet_bad_input_total"), 0);
    assert.equal(metric(text, "rivulet_dead_lettered_total"), 0);
    assert.ok(metric(text, "rivulet_pending_commits")! >= 0);
    assert.equal(
      metric(text, "rivulet_last_commit_time_ms"),
      commits,
      "local runs number their commits",
    );
    assert.match(text, /^# TYPE rivulet_commits_applied_total counter$/m);
    assert.match(text, /^# HELP rivulet_messages_in_total /m);

    const other = await fetch(`http://127.0.0.1:${port}/other`);
    assert.equal(other.status, 404);
    await other.body?.cancel();
  } finally {
    await input.close();
  }
  const status = await child.status;
  await waitForLine(stderr, seen, () => false).catch(() => {});
  assert.equal(status.code, 0, seen.join("\n"));
  assert.equal(
    (await stdout).trim().split("\n").length,
    2 * 10_000 - 1,
    "all commits reach stdout",
  );
});
