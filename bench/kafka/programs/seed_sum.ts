/**
 * The seed's program as a rivulet user writes it (`examples/realtime_kafka.ts`),
 * for the Pathway comparison of the Kafka benchmark: csv column `value`,
 * `apply(parseInt)`, a global `sum`, every change written as json, with
 * `kafka.read` / `kafka.write` defaults. The counterpart of
 * `bench/pathway/seed_sum.py`; broker and topics come from the environment the
 * harness sets (`bench/kafka/compare.ts`). Runs until killed.
 *
 * @module
 */
import * as rw from "../../../mod.ts";
import { benchSettings, benchTopics } from "./_settings.ts";

const settings = benchSettings();
const { input, output } = benchTopics();
const t = rw.kafka.read(settings, { topicNames: [input], valueColumns: ["value"], format: "csv" });
const values = t.select({ value: rw.apply((x: string) => parseInt(x), "value") });
const sum = values.reduce({ sum: rw.reducers.sum("value") });
rw.kafka.write(sum, settings, { topicName: output, format: "json" });
await rw.run();
