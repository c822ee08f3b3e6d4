#!/usr/bin/env bash
# The test command (README): runs every test against the local broker.
# Starts the broker when none runs (and stops it afterwards, also when a test
# fails), runs `deno test`, and ends with one line: `tests: N passed, N failed`.
# Arguments are passed to `deno test` (for example a path or --filter NAME).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/_kafka_port.sh
source "$root/scripts/_kafka_port.sh"

started_broker=0
if ! scripts/kafka.sh status >/dev/null 2>&1; then
  kafka_start_local_broker || { echo "tests: 0 passed, 1 failed"; exit 1; }
  started_broker=1
fi
cleanup() { [ "$started_broker" = 1 ] && scripts/kafka.sh stop; }
trap cleanup EXIT

out="$(mktemp)"
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(tests/)
NO_COLOR=1 scripts/deno test --allow-all "${targets[@]}" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}

# Deno's summary: "ok | 12 passed (3 steps) | 0 failed | 1 ignored (2s)".
summary="$(grep -E '^(ok|FAILED) \| ' "$out" | tail -n 1)"
passed="$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary")"
failed="$(sed -nE 's/.*\| ([0-9]+) failed.*/\1/p' <<<"$summary")"
ignored="$(sed -nE 's/.*\| ([0-9]+) ignored.*/\1/p' <<<"$summary")"
rm -f "$out"
if [ -z "$passed" ]; then
  # No summary: deno failed before running tests (type error, bad flag).
  passed=0
  failed=1
fi
failed="${failed:-0}"
[ "$status" -ne 0 ] && [ "$failed" = 0 ] && failed=1
line="tests: ${passed} passed, ${failed} failed"
[ -n "$ignored" ] && [ "$ignored" != 0 ] && line="$line, ${ignored} skipped"
cleanup
trap - EXIT
echo "$line"
exit "$status"
