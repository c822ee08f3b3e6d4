/**
 * The local cache of the kafka state store (`runtime/delivery/changelog_cache.ts`):
 * its file format, and when a cache does not fit the changelog. No broker.
 */
import assert from "node:assert/strict";
import {
  cacheMisfit,
  type ChangelogCache,
  ChangelogCacheStore,
  decodeCache,
  encodeCache,
} from "../../runtime/delivery/changelog_cache.ts";

const cache: ChangelogCache = {
  version: 1,
  topic: "g-state-changelog",
  offsets: ["10", "20"],
  incarnation: { partition: 1, offset: "3", id: "a-uuid" },
  savedAtMs: 1_000_000,
  entries: new Map([
    ["meta", new Uint8Array([1, 2, 3])],
    ["g/ключ", new Uint8Array([])],
    ["g/other", new Uint8Array(70_000).fill(7)],
  ]),
};
const fits = [{ partition: 0, low: "0", high: "12" }, { partition: 1, low: "0", high: "20" }];

Deno.test("changelog cache: the file gives back what was saved; a cut or foreign file is unusable, not an error", async () => {
  assert.deepEqual(decodeCache(encodeCache(cache)), cache);
  const dir = await Deno.makeTempDir();
  try {
    const store = new ChangelogCacheStore(dir);
    assert.deepEqual(await store.load(), { unusable: "there is no local cache" });
    await store.save(cache);
    assert.deepEqual(await store.load(), cache);
    const bytes = await Deno.readFile(store.path);
    await Deno.writeFile(store.path, bytes.subarray(0, bytes.length - 5));
    const cut = await store.load();
    assert.ok("unusable" in cut && /cut short/.test(cut.unusable), JSON.stringify(cut));
    // Cut between two entries: the count tells.
    await Deno.writeFile(store.path, bytes.subarray(0, bytes.length - (4 + 7 + 4 + 70_000)));
    const between = await store.load();
    assert.ok("unusable" in between && /cut short/.test(between.unusable));
    await Deno.writeTextFile(store.path, "something else");
    const foreign = await store.load();
    assert.ok("unusable" in foreign && /not a changelog cache/.test(foreign.unusable));
    assert.deepEqual(await ChangelogCacheStore.discard(dir), [store.path]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("changelog cache: it fits while its offsets are inside the log and it is younger than delete.retention.ms", () => {
  const now = cache.savedAtMs + 1000;
  assert.equal(cacheMisfit(cache, cache.topic, fits, {}, now), undefined);
  assert.match(
    cacheMisfit(cache, "other", fits, {}, now)!,
    /of changelog topic "g-state-changelog"/,
  );
  assert.match(cacheMisfit(cache, cache.topic, fits.slice(0, 1), {}, now)!, /2 partitions/);
  const deleted = [fits[0], { partition: 1, low: "21", high: "30" }];
  assert.match(
    cacheMisfit(cache, cache.topic, deleted, {}, now)!,
    /partition 1 starts at offset 21, after the cache's 20: records after the cache were deleted/,
  );
  const shorter = [{ partition: 0, low: "0", high: "9" }, fits[1]];
  assert.match(cacheMisfit(cache, cache.topic, shorter, {}, now)!, /created again/);
  const retention = { "delete.retention.ms": "1000" };
  assert.equal(cacheMisfit(cache, cache.topic, fits, retention, now - 1), undefined);
  assert.match(cacheMisfit(cache, cache.topic, fits, retention, now)!, /delete\.retention\.ms/);
  // Kafka's default (24 h) when the topic does not say.
  assert.match(cacheMisfit(cache, cache.topic, fits, {}, now + 86_400_000)!, /86400000 ms/);
});
