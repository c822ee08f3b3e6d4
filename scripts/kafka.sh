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
#   KAFKA_SECURITY    1 adds secure listeners next to the plaintext one (off by default,
#                     so the everyday start stays as it is); with P = KAFKA_PORT:
#                       P+2 SSL, P+3 SASL_PLAINTEXT, P+4 SASL_SSL (PLAIN, SCRAM-SHA-256,
#                       SCRAM-SHA-512), P+5 mutual TLS (client certificate required),
#                       P+6 SSL with an expired broker certificate (for failure tests).
#                     Certificates and the SASL user's password are generated once into
#                     KAFKA_HOME_DIR/security (see scripts/kafka/security.sh).
#   KAFKA_OAUTH       1 adds a SASL_PLAINTEXT listener on P+7 that accepts only OAUTHBEARER,
#                     with Kafka's unsecured JWT validator (tokens with "alg":"none" and a
#                     "sub" claim; for tests, never for production). Off by default.
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
security="${KAFKA_SECURITY:-0}"
security_dir="$home/security"
oauth="${KAFKA_OAUTH:-0}"

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
  # Listeners the optional parts add; written once at the end (later lines win).
  listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port"
  advertised="PLAINTEXT://127.0.0.1:$port"
  protocol_map="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  if [ "$security" = 1 ]; then write_security_config; fi
  if [ "$oauth" = 1 ]; then write_oauth_config; fi
  if [ "$security" = 1 ] || [ "$oauth" = 1 ]; then
    cat >>"$home/server.properties" <<PROPS
listeners=$listeners
advertised.listeners=$advertised
listener.security.protocol.map=$protocol_map
PROPS
  fi
  if [ -n "${KAFKA_EXTRA_CONFIG:-}" ]; then cat "$KAFKA_EXTRA_CONFIG" >>"$home/server.properties"; fi
}

# The OAUTHBEARER listener (KAFKA_OAUTH=1): SASL_PLAINTEXT on P+7, unsecured JWTs.
write_oauth_config() {
  local oauth_port=$((port + 7))
  listeners="$listeners,OAUTH://127.0.0.1:$oauth_port"
  advertised="$advertised,OAUTH://127.0.0.1:$oauth_port"
  protocol_map="$protocol_map,OAUTH:SASL_PLAINTEXT"
  cat >>"$home/server.properties" <<PROPS
# OAUTHBEARER listener (KAFKA_OAUTH=1): Kafka's unsecured JWT validator, for tests only.
listener.name.oauth.sasl.enabled.mechanisms=OAUTHBEARER
listener.name.oauth.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";
PROPS
}

# The secure listeners' part of server.properties. Later lines win in a
# properties file, so the plaintext-only listener lines above are replaced.
write_security_config() {
  "$root/scripts/kafka/security.sh" "$security_dir"
  # shellcheck disable=SC1091
  source "$security_dir/secrets.env"
  # The file now holds the PLAIN user's password: readable by this user only.
  chmod 600 "$home/server.properties"
  local ssl=$((port + 2)) sasl=$((port + 3)) sasl_ssl=$((port + 4)) mtls=$((port + 5)) expired=$((port + 6))
  local plain="org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USERNAME=\"$SASL_PASSWORD\";"
  listeners="$listeners,SSL://127.0.0.1:$ssl,SASL_PLAINTEXT://127.0.0.1:$sasl,SASL_SSL://127.0.0.1:$sasl_ssl,MTLS://127.0.0.1:$mtls,EXPIRED_TLS://127.0.0.1:$expired"
  advertised="$advertised,SSL://127.0.0.1:$ssl,SASL_PLAINTEXT://127.0.0.1:$sasl,SASL_SSL://127.0.0.1:$sasl_ssl,MTLS://127.0.0.1:$mtls,EXPIRED_TLS://127.0.0.1:$expired"
  protocol_map="$protocol_map,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL,EXPIRED_TLS:SSL"
  local scram="org.apache.kafka.common.security.scram.ScramLoginModule required;"
  cat >>"$home/server.properties" <<PROPS
# Secure listeners (KAFKA_SECURITY=1): test material in $security_dir.
ssl.keystore.type=PEM
ssl.keystore.location=$security_dir/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$security_dir/ca.pem
listener.name.mtls.ssl.client.auth=required
listener.name.expired_tls.ssl.keystore.type=PEM
listener.name.expired_tls.ssl.keystore.location=$security_dir/expired-broker-keystore.pem
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=$plain
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=$scram
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$scram
listener.name.sasl_ssl.plain.sasl.jaas.config=$plain
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=$scram
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$scram
PROPS
}

java_run() {
  java -Xms256m -Xmx1g -Dkafka.logs.dir="$log_dir" \
    -Dlog4j2.configurationFile="$root/scripts/kafka/log4j2.properties" \
    -cp "$cache/libs/*" "$@"
}

format_storage() {
  local scram_users=()
  if [ "$security" = 1 ]; then
    # SCRAM credentials live in the cluster metadata: KRaft adds them at format time.
    # shellcheck disable=SC1091
    source "$security_dir/secrets.env"
    for mechanism in SCRAM-SHA-256 SCRAM-SHA-512; do
      scram_users+=(--add-scram "$mechanism=[name=$SASL_USERNAME,password=$SASL_PASSWORD]")
    done
  fi
  if [ -f "$home/data/meta.properties" ]; then
    if [ "$security" = 1 ] && [ ! -f "$home/scram-users-added" ]; then
      say "storage in $home/data was formatted without the SCRAM users; remove $home or use another KAFKA_PORT"
      return 1
    fi
    return 0
  fi
  say "formatting storage in $home/data"
  java_run kafka.tools.StorageTool format -t "$(cluster_id)" -c "$home/server.properties" \
    "${scram_users[@]}" >>"$log_dir/format.log" 2>&1 || {
    say "formatting storage failed:"
    tail -n 30 "$log_dir/format.log" >&2
    return 1
  }
  if [ "$security" = 1 ]; then touch "$home/scram-users-added"; fi
}

# A fixed-format cluster id (22 base64url characters) derived from the port.
cluster_id() { printf 'rivulet-local-%08d' "$port" | base64 | tr '+/' '-_' | cut -c1-22; }

last_log_lines() {
  # The first errors say why; a broker's shutdown after them can log more than the last lines hold.
  if [ -f "$log_dir/server.log" ] && grep -qE ' (ERROR|FATAL) ' "$log_dir/server.log"; then
    say "the broker's first errors:"
    grep -m 5 -A 3 -E ' (ERROR|FATAL) ' "$log_dir/server.log" >&2 || true
  fi
  say "the broker's last log lines:"
  for f in "$log_dir/server.log" "$log_dir/stdout.log"; do
    [ -f "$f" ] && tail -n 40 "$f" >&2
  done
  return 0
}

# Whether something accepts connections on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Whether process $1 holds the listening socket of 127.0.0.1:$2 (IPv4 or IPv6 table).
listens_on() {
  local hex inode
  hex="$(printf '%04X' "$2")"
  for inode in $(awk -v port=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == port { print $10 }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
    if find "/proc/$1/fd" -lname "socket:\[$inode\]" 2>/dev/null | grep -q .; then return 0; fi
  done
  return 1
}

start() {
  if pid="$(running_pid)"; then
    say "already running (pid $pid) on 127.0.0.1:$port"
    return 0
  fi
  # Another process (another project's broker, another checkout's) holds the port:
  # its answers must not be taken for this broker's.
  if port_in_use "$port"; then
    say "127.0.0.1:$port is already in use by another process; choose another KAFKA_PORT"
    return 1
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
  local broker_pid=$!
  echo "$broker_pid" >"$pid_file"
  "$root/scripts/deno" run --quiet --allow-net=127.0.0.1 --allow-env --allow-read \
    "$root/scripts/kafka_ready.ts" "127.0.0.1:$port" "$ready_seconds" >&2 &
  local ready_pid=$!
  # Stop waiting as soon as the broker dies: its log says why. The process itself is
  # checked, not its command line: until setsid and bash have exec'd java, the command
  # line does not name kafka.Kafka yet, and a loaded machine can take a while to get there.
  while kill -0 "$ready_pid" 2>/dev/null; do
    if ! kill -0 "$broker_pid" 2>/dev/null; then
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
  # Two starts that found the port free at once: the one whose broker did not
  # bind it was answered by the other's.
  local looked=0
  until listens_on "$broker_pid" "$port"; do
    looked=$((looked + 1))
    if [ "$looked" -lt 20 ] && kill -0 "$broker_pid" 2>/dev/null; then
      sleep 0.25
      continue
    fi
    say "another process answered on 127.0.0.1:$port, not the broker started here (pid $broker_pid)"
    last_log_lines
    stop
    return 1
  done
  say "ready on 127.0.0.1:$port (pid $(cat "$pid_file"))"
  if [ "$oauth" = 1 ]; then
    say "OAUTHBEARER listener (unsecured JWT validator): SASL_PLAINTEXT $((port + 7))"
  fi
  if [ "$security" = 1 ]; then
    say "secure listeners: SSL $((port + 2)), SASL_PLAINTEXT $((port + 3)), SASL_SSL $((port + 4)), mutual TLS $((port + 5)), expired certificate $((port + 6)); material in $security_dir"
  fi
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
