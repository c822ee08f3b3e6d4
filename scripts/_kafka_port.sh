# Sourced by scripts/test.sh and .ci/run: chooses the local broker's port.
# KAFKA_PORT as given wins. Otherwise 9092, unless something that is not our
# broker (another project's Kafka, say) already listens there: then the first
# of two free consecutive ports (client, controller). Exports KAFKA_PORT so the
# tests (tests/support/kafka.ts) and scripts/kafka.sh use the same one.

# Whether something accepts connections on 127.0.0.1:$1.
kafka_port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ -z "${KAFKA_PORT:-}" ]; then
  KAFKA_PORT=9092
  if ! KAFKA_PORT=9092 "$root/scripts/kafka.sh" status >/dev/null 2>&1 &&
    { kafka_port_in_use 9092 || kafka_port_in_use 9093; }; then
    for _ in $(seq 1 200); do
      candidate=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768..)
      if ! kafka_port_in_use "$candidate" && ! kafka_port_in_use "$((candidate + 1))"; then
        KAFKA_PORT=$candidate
        break
      fi
    done
    echo "kafka port: 9092 is held by another process; using $KAFKA_PORT" >&2
  fi
fi
export KAFKA_PORT
