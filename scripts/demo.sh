#!/usr/bin/env bash
# The README's first command: starts the local broker (if none runs), runs the
# seed's example pipeline, produces the seed's stream and shows the `sum`
# topic's records as they arrive, ending at 45. Stops what it started.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

started_broker=0
if ! scripts/kafka.sh status >/dev/null 2>&1; then
  scripts/kafka.sh start || exit 1
  started_broker=1
fi
cleanup() { [ "$started_broker" = 1 ] && scripts/kafka.sh stop; }
trap cleanup EXIT

port="${KAFKA_PORT:-9092}"
scripts/deno run --quiet --allow-net="127.0.0.1:$port" --allow-read --allow-write=.state \
  --allow-env --allow-run examples/demo.ts
