#!/usr/bin/env bash
# The local Kafka broker for development and tests: Apache Kafka from Maven
# Central on this machine's JDK, single node, KRaft mode, on 127.0.0.1.
#
#   scripts/kafka.sh start    fetch (cached), configure, format, start, wait until ready
#   scripts/kafka.sh stop     stop it (not an error when none runs)
#   scripts/kafka.sh status   say whether it runs
#   scripts/kafka.sh fetch    only fetch the broker's jars into the cache
#
# Environment:
#   KAFKA_VERSION     broker version (default below; see README for what was tried)
#   KAFKA_PORT        client port (default 9092); the controller uses KAFKA_PORT+1
#   KAFKA_HOME_DIR    data, logs and pid file (default .kafka/<port> in the repo)
#   KAFKA_CACHE_DIR   downloaded jars (default .cache/kafka in the repo)
#   KAFKA_EXTRA_CONFIG  a file whose lines are appended to server.properties
#   KAFKA_READY_SECONDS how long start waits for a client to create a topic (default 90)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${KAFKA_VERSION:-4.4.0}"
port="${KAFKA_PORT:-9092}"
controller_port="$((port + 1))"
home="${KAFKA_HOME_DIR:-$root/.kafka/$port}"
cache="${KAFKA_CACHE_DIR:-$root/.cache/kafka}/$version"
pid_file="$home/broker.pid"
log_dir="$home/logs"
ready_seconds="${KAFKA_READY_SECONDS:-90}"

say() { echo "kafka.sh: $*" >&2; }

running_pid() {
  [ -f "$pid_file" ] || return 1
  local pid
  pid="$(cat "$pid_file")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q kafka.Kafka "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

fetch() {
  if [ -f "$cache/complete" ]; then return 0; fi
  say "fetching Apache Kafka $version and its dependencies from Maven Central into $cache"
  mkdir -p "$cache"
  mvn -q -B -f "$root/scripts/kafka/pom.xml" -Dkafka.version="$version" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$cache/libs" >&2
  touch "$cache/complete"
}

write_config() {
  mkdir -p "$home/data" "$log_dir"
  cat >"$home/server.properties" <<PROPS
# Written by scripts/kafka.sh: single-node KRaft broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$home/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.flush.interval.messages=9223372036854775807
PROPS
  if [ -n "${KAFKA_EXTRA_CONFIG:-}" ]; then cat "$KAFKA_EXTRA_CONFIG" >>"$home/server.properties"; fi
}

java_run() {
  java -Xms256m -Xmx1g -Dkafka.logs.dir="$log_dir" \
    -Dlog4j2.configurationFile="$root/scripts/kafka/log4j2.properties" \
    -cp "$cache/libs/*" "$@"
}

format_storage() {
  [ -f "$home/data/meta.properties" ] && return 0
  say "formatting storage in $home/data"
  java_run kafka.tools.StorageTool format -t "$(cluster_id)" -c "$home/server.properties" >>"$log_dir/format.log" 2>&1 || {
    say "formatting storage failed:"
    tail -n 30 "$log_dir/format.log" >&2
    return 1
  }
}

# A fixed-format cluster id (22 base64url characters) derived from the port.
cluster_id() { printf 'rivulet-local-%08d' "$port" | base64 | tr '+/' '-_' | cut -c1-22; }

last_log_lines() {
  say "the broker's last log lines:"
  for f in "$log_dir/server.log" "$log_dir/stdout.log"; do
    [ -f "$f" ] && tail -n 40 "$f" >&2
  done
}

start() {
  if pid="$(running_pid)"; then
    say "already running (pid $pid) on 127.0.0.1:$port"
    return 0
  fi
  fetch
  write_config
  format_storage
  say "starting Kafka $version on 127.0.0.1:$port (logs in $log_dir)"
  # setsid: the broker outlives this script and takes no signals meant for it.
  setsid bash -c 'exec "$@"' _ java -Xms256m -Xmx1g -Dkafka.logs.dir="$log_dir" \
    -Dlog4j2.configurationFile="$root/scripts/kafka/log4j2.properties" \
    -cp "$cache/libs/*" kafka.Kafka "$home/server.properties" \
    >"$log_dir/stdout.log" 2>&1 </dev/null &
  echo $! >"$pid_file"
  "$root/scripts/deno" run --quiet --allow-net=127.0.0.1 --allow-env \
    "$root/scripts/kafka_ready.ts" "127.0.0.1:$port" "$ready_seconds" >&2 &
  local ready_pid=$!
  # Stop waiting as soon as the broker dies: its log says why.
  while kill -0 "$ready_pid" 2>/dev/null; do
    if ! running_pid >/dev/null; then
      kill "$ready_pid" 2>/dev/null || true
      wait "$ready_pid" 2>/dev/null || true
      say "the broker exited during start"
      last_log_lines
      rm -f "$pid_file"
      return 1
    fi
    sleep 0.5
  done
  if ! wait "$ready_pid"; then
    say "no client could use the broker within ${ready_seconds}s"
    last_log_lines
    stop
    return 1
  fi
  say "ready on 127.0.0.1:$port (pid $(cat "$pid_file"))"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    say "not running on 127.0.0.1:$port"
    rm -f "$pid_file"
    return 0
  fi
  say "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "broker did not stop in 30s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
  say "stopped"
}

status() {
  if pid="$(running_pid)"; then
    echo "running (pid $pid) on 127.0.0.1:$port, Kafka $version"
  else
    echo "not running on 127.0.0.1:$port"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  fetch) fetch ;;
  *)
    echo "usage: scripts/kafka.sh start|stop|status|fetch" >&2
    exit 2
    ;;
esac
