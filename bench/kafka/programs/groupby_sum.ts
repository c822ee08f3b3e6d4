/**
 * json `{"k": number, "v": number}` messages, `groupby("k")` with `sum("v")`,
 * every change written as json, with `kafka.read` / `kafka.write` defaults: the
 * counterpart of `bench/pathway/groupby_sum.py` in the Pathway comparison
 * (`bench/kafka/compare.ts`). Runs until killed.
 *
 * @module
 */
import * as rw from "../../../mod.ts";
import { benchSettings, benchTopics } from "./_settings.ts";

const settings = benchSettings();
const { input, output } = benchTopics();
const t = rw.kafka.read(settings, {
  topicNames: [input],
  valueColumns: ["k", "v"],
  format: "json",
});
const pairs = t as unknown as rw.Table<{ k: number; v: number }>;
const totals = pairs.groupby("k").reduce({ k: "k", total: rw.reducers.sum("v") });
rw.kafka.write(totals, settings, { topicName: output, format: "json" });
await rw.run();
