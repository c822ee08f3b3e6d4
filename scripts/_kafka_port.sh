# Sourced by scripts/test.sh and .ci/run: chooses the local broker's port and
# starts the broker on it. KAFKA_PORT as given wins. Otherwise 9092, unless
# something that is not our broker (another project's Kafka, say) already
# listens there: then the first of two free consecutive ports (client,
# controller). Exports KAFKA_PORT so the tests (tests/support/kafka.ts) and
# scripts/kafka.sh use the same one.

# Whether something accepts connections on 127.0.0.1:$1.
kafka_port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Sets KAFKA_PORT to a random port whose successor is free too.
kafka_pick_free_port() {
  for _ in $(seq 1 200); do
    local candidate=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768..)
    if ! kafka_port_in_use "$candidate" && ! kafka_port_in_use "$((candidate + 1))"; then
      KAFKA_PORT=$candidate
      return 0
    fi
  done
  return 1
}

# 1 when the port below was chosen here (and another may be tried), 0 when given.
kafka_port_chosen=0
if [ -z "${KAFKA_PORT:-}" ]; then
  kafka_port_chosen=1
  KAFKA_PORT=9092
  if ! KAFKA_PORT=9092 "$root/scripts/kafka.sh" status >/dev/null 2>&1 &&
    { kafka_port_in_use 9092 || kafka_port_in_use 9093; }; then
    kafka_pick_free_port
    echo "kafka port: 9092 is held by another process; using $KAFKA_PORT" >&2
  fi
fi
export KAFKA_PORT

# Starts the local broker. A port chosen here was free when it was checked, but
# another process (a CI run started in the same second) may take it before the
# broker binds it: then up to two other free ports are tried.
kafka_start_local_broker() {
  local attempt
  for attempt in 1 2 3; do
    "$root/scripts/kafka.sh" start && return 0
    [ "$kafka_port_chosen" = 1 ] && [ "$attempt" -lt 3 ] || return 1
    kafka_pick_free_port || return 1
    export KAFKA_PORT
    echo "kafka port: the broker did not start; trying 127.0.0.1:$KAFKA_PORT" >&2
  done
  return 1
}
