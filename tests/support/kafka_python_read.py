"""Reads every record of a topic with kafka-python and prints them as JSON lines.

Usage: kafka_python_read.py BROKER TOPIC

Each line: {"topic", "partition", "offset", "key", "value", "headers"} with the
key, the value and each header value as hex (null stays null), so the test
compares the exact bytes kafka-python received. Reads from the beginning to the
end offsets found at start, then exits.
"""
import json
import sys
import time

from kafka import KafkaConsumer, TopicPartition


def hexed(value):
    return None if value is None else value.hex()


def main():
    broker, topic = sys.argv[1], sys.argv[2]
    consumer = KafkaConsumer(
        bootstrap_servers=broker,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
    )
    deadline = time.monotonic() + 30
    partitions = consumer.partitions_for_topic(topic)
    while not partitions:
        if time.monotonic() > deadline:
            raise SystemExit(f"topic {topic} has no partitions")
        time.sleep(0.2)
        partitions = consumer.partitions_for_topic(topic)
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    consumer.seek_to_beginning(*assigned)
    end = consumer.end_offsets(assigned)
    records = []
    while any(consumer.position(tp) < end[tp] for tp in assigned):
        if time.monotonic() > deadline:
            raise SystemExit("timed out before the end offsets")
        for batch in consumer.poll(timeout_ms=500).values():
            for m in batch:
                records.append({
                    "topic": m.topic,
                    "partition": m.partition,
                    "offset": m.offset,
                    "key": hexed(m.key),
                    "value": hexed(m.value),
                    "headers": [[name, hexed(value)] for name, value in (m.headers or [])],
                })
    consumer.close()
    records.sort(key=lambda r: (r["partition"], r["offset"]))
    for record in records:
        print(json.dumps(record))


if __name__ == "__main__":
    main()
