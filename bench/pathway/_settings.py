"""What both Pathway programs of the Kafka benchmark share: the broker and topics, from the
environment the harness (bench/kafka/compare.ts) sets."""

import os


def rdkafka_settings() -> dict:
    """librdkafka settings for the benchmark broker, a fresh consumer group, read from the start."""
    return {
        "bootstrap.servers": os.environ["RIVULET_BENCH_BROKER"],
        "group.id": os.environ["RIVULET_BENCH_GROUP"],
        "auto.offset.reset": "earliest",
    }


def topics() -> tuple[str, str]:
    """The input and output topic."""
    return os.environ["RIVULET_BENCH_INPUT"], os.environ["RIVULET_BENCH_OUTPUT"]
