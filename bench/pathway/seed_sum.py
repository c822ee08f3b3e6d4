"""The seed's program (sum of a csv column `value`, output as json), adapted to Pathway 0.33's API.

Pathway 0.33's Kafka reader has no csv format, so the messages are read as `plaintext` (one
column `data`) and the header message `value` is filtered out; the rest is the seed's program
as written: a Python `lambda x: int(x)` per row (`pw.apply_with_type`), a global `sum`, `pw.io.kafka.write` as json.
`*COMMIT*` messages close each update: autocommit is set to an hour, so only they do, as in
the seed.
"""

import pathway as pw
from _settings import rdkafka_settings, topics

input_topic, output_topic = topics()
settings = rdkafka_settings()

t = pw.io.kafka.read(
    settings,
    topic=input_topic,
    format="plaintext",
    # Pathway refuses None here; an hour never elapses in a run, so only *COMMIT* commits.
    autocommit_duration_ms=3_600_000,
)
t = t.filter(t.data != "value")
# pw.apply's result is typed ANY in Pathway 0.33, which sum refuses: the type is given.
t = t.select(value=pw.apply_with_type(lambda x: int(x), int, t.data))
t = t.reduce(sum=pw.reducers.sum(t.value))
pw.io.kafka.write(t, settings, topic_name=output_topic, format="json")
pw.run(monitoring_level=pw.MonitoringLevel.NONE)
