"""json `{"k": int, "v": int}` messages, `groupby(k)` with `sum(v)`, output as json.

Every input row changes a group's sum, so most input becomes output: the counterpart of
rivulet's `kv-groupby` run in bench/kafka/_run.ts. `*COMMIT*` messages close each update:
autocommit is set to an hour, so only they do.
"""

import pathway as pw
from _settings import rdkafka_settings, topics


class Pair(pw.Schema):
    k: int
    v: int


input_topic, output_topic = topics()
settings = rdkafka_settings()

t = pw.io.kafka.read(
    settings,
    topic=input_topic,
    format="json",
    schema=Pair,
    # Pathway refuses None here; an hour never elapses in a run, so only *COMMIT* commits.
    autocommit_duration_ms=3_600_000,
)
totals = t.groupby(t.k).reduce(t.k, total=pw.reducers.sum(t.v))
pw.io.kafka.write(totals, settings, topic_name=output_topic, format="json")
pw.run(monitoring_level=pw.MonitoringLevel.NONE)
