/**
 * Property tests: for every operation and reducer, random sequences of commits
 * (inserts, upserts, removes) give outputs whose accumulated state equals a
 * from-scratch computation on the input so far, after every commit.
 */
import {
  apply,
  GLOBAL_REDUCE_ID,
  hashValues,
  type ReducerKind,
  reducers,
  type Row,
  type RowId,
} from "../../engine/mod.ts";
import {
  type Case,
  checkAgainstReference,
  type Entry,
  referenceGroups,
  referenceJoin,
  referenceReducer,
  type TestRow,
} from "./_reference.ts";

const SEEDS = 12;
const COMMITS = 40;

const allReducerKinds: ReducerKind[] = [
  "sum",
  "count",
  "min",
  "max",
  "avg",
  "any",
  "tuple",
  "sortedTuple",
  "unique",
  "countDistinct",
  "earliest",
  "latest",
  "argmin",
  "argmax",
];

const allReducers = {
  sum: reducers.sum("v"),
  count: reducers.count(),
  min: reducers.min("v"),
  max: reducers.max("v"),
  avg: reducers.avg("v"),
  any: reducers.any("v"),
  tuple: reducers.tuple("v"),
  sortedTuple: reducers.sortedTuple("v"),
  unique: reducers.unique("s"),
  countDistinct: reducers.countDistinct("s"),
  earliest: reducers.earliest("v"),
  latest: reducers.latest("v"),
  argmin: reducers.argmin("v"),
  argmax: reducers.argmax("v"),
  minString: reducers.min("s"),
  sortedStrings: reducers.sortedTuple("s"),
};

function reduceReference(entries: Entry[]): Row {
  const row: Row = {};
  for (const [name, spec] of Object.entries(allReducers)) {
    row[name] = referenceReducer(spec.reducer, spec.column, entries);
  }
  return row;
}

function mapRows(entries: Iterable<Entry>, f: (row: TestRow) => Row | null): Map<RowId, Row> {
  const out = new Map<RowId, Row>();
  for (const { id, row } of entries) {
    const mapped = f(row);
    if (mapped !== null) out.set(id, mapped);
  }
  return out;
}

const cases: Case[] = [
  {
    name: "select with a column, a row function and apply",
    build: (left) =>
      left.select({
        key: "k",
        w: (row) => (row.v ?? 0) * 2,
        n: apply((s: string) => s.length, "s"),
      }),
    reference: (world) =>
      mapRows(world.left.values(), (r) => ({ key: r.k, w: (r.v ?? 0) * 2, n: r.s.length })),
  },
  {
    name: "withColumns replacing and adding columns",
    build: (left) =>
      left.withColumns({
        v: apply((v: number | null, k: number) => (v ?? 0) + k, "v", "k"),
        t: (row) => `${row.k}${row.s}`,
      }),
    reference: (world) =>
      mapRows(
        world.left.values(),
        (r) => ({ k: r.k, s: r.s, v: (r.v ?? 0) + r.k, t: `${r.k}${r.s}` }),
      ),
  },
  {
    name: "filter",
    build: (left) => left.filter((row) => row.v !== null && row.v % 2 === 0),
    reference: (world) =>
      mapRows(world.left.values(), (r) => (r.v !== null && r.v % 2 === 0 ? r : null)),
  },
  {
    name: "global reduce with every reducer",
    build: (left) => left.reduce(allReducers),
    reference: (world) => {
      const out = new Map<RowId, Row>();
      for (const [id, group] of referenceGroups(world.left.values(), [])) {
        out.set(id, reduceReference(group.entries));
      }
      return out;
    },
  },
  {
    name: "groupby one column with every reducer",
    build: (left) => left.groupby("k").reduce({ key: "k", ...allReducers }),
    reference: (world) => {
      const out = new Map<RowId, Row>();
      for (const [id, group] of referenceGroups(world.left.values(), ["k"])) {
        out.set(id, { key: group.key[0], ...reduceReference(group.entries) });
      }
      return out;
    },
  },
  {
    name: "groupby two columns after a filter",
    build: (left) =>
      left.filter((row) => row.k !== 3).groupby("k", "s").reduce({
        k: "k",
        s: "s",
        total: reducers.sum("v"),
        top: reducers.argmax("v"),
      }),
    reference: (world) => {
      const out = new Map<RowId, Row>();
      const kept = [...world.left.values()].filter((e) => e.row.k !== 3);
      for (const [id, group] of referenceGroups(kept, ["k", "s"])) {
        out.set(id, {
          k: group.key[0],
          s: group.key[1],
          total: referenceReducer("sum", "v", group.entries),
          top: referenceReducer("argmax", "v", group.entries),
        });
      }
      return out;
    },
  },
  {
    name: "concat of two tables",
    build: (left, right) => left.concat(right),
    reference: (world) => {
      const out = new Map<RowId, Row>();
      for (const { id, row } of world.left.values()) out.set(hashValues([id, 0]), row);
      for (const { id, row } of world.right.values()) out.set(hashValues([id, 1]), row);
      return out;
    },
  },
  {
    name: "updateRows of a table by another",
    build: (left, right) => left.updateRows(right),
    reference: (world) => {
      const out = new Map<RowId, Row>();
      for (const { id, row } of world.left.values()) out.set(id, row);
      for (const { id, row } of world.right.values()) out.set(id, row);
      return out;
    },
  },
  {
    name: "a groupby result updating rows of a groupby result (shared ids)",
    build: (left, right) =>
      left.groupby("k").reduce({ k: "k", n: reducers.count() })
        .updateRows(right.groupby("k").reduce({ k: "k", n: reducers.sum("v") })),
    reference: (world) => {
      const out = new Map<RowId, Row>();
      for (const [id, g] of referenceGroups(world.left.values(), ["k"])) {
        out.set(id, { k: g.key[0], n: g.entries.length });
      }
      for (const [id, g] of referenceGroups(world.right.values(), ["k"])) {
        out.set(id, { k: g.key[0], n: referenceReducer("sum", "v", g.entries) });
      }
      return out;
    },
  },
  ...(["inner", "left", "right", "outer"] as const).map((how): Case => ({
    name: `${how} join with the default row shape`,
    build: (left, right) => left.join(right, { on: [["k", "k"]], how }),
    reference: (world) =>
      referenceJoin(world.left.values(), world.right.values(), "k", how, (l, r) => ({
        k: l?.k ?? null,
        v: l?.v ?? null,
        s: l?.s ?? null,
        right_k: r?.k ?? null,
        right_v: r?.v ?? null,
        right_s: r?.s ?? null,
      })),
  })),
  ...(["inner", "left", "right", "outer"] as const).map((how): Case => ({
    name: `${how} join on a string column with select`,
    build: (left, right) =>
      left.join(right, {
        on: [["s", "s"]],
        how,
        select: (l: TestRow | null, r: TestRow | null) => ({ lv: l?.v ?? null, rk: r?.k ?? null }),
      }),
    reference: (world) =>
      referenceJoin(
        world.left.values(),
        world.right.values(),
        "s",
        how,
        (l, r) => ({ lv: l?.v ?? null, rk: r?.k ?? null }),
      ),
  })),
  {
    name: "outer join of two groupby results, then a global reduce",
    build: (left, right) => {
      const a = left.groupby("k").reduce({ k: "k", total: reducers.sum("v") });
      const b = right.groupby("k").reduce({ k: "k", n: reducers.count() });
      return a.join(b, {
        on: [["k", "k"]],
        how: "outer",
        select: (x, y) => ({ total: x?.total ?? 0, n: y?.n ?? 0 }),
      }).reduce({
        totals: reducers.sortedTuple("total"),
        ns: reducers.sum("n"),
        rows: reducers.count(),
      });
    },
    reference: (world) => {
      const a = new Map<RowId, Entry>();
      for (const [id, g] of referenceGroups(world.left.values(), ["k"])) {
        const total = referenceReducer("sum", "v", g.entries) as number;
        a.set(id, { id, row: { k: g.key[0] as number, v: total, s: "" }, time: 0 });
      }
      const b = new Map<RowId, Entry>();
      for (const [id, g] of referenceGroups(world.right.values(), ["k"])) {
        b.set(id, { id, row: { k: g.key[0] as number, v: g.entries.length, s: "" }, time: 0 });
      }
      const joined = referenceJoin(a.values(), b.values(), "k", "outer", (x, y) => ({
        total: x?.v ?? 0,
        n: y?.v ?? 0,
      }));
      const rows = [...joined.values()].map((row, i): Entry => ({
        id: String(i).padStart(32, "0"),
        row: { k: 0, v: row.total as number, s: "" },
        time: 0,
      }));
      if (rows.length === 0) return new Map();
      return new Map([[
        GLOBAL_REDUCE_ID,
        {
          totals: referenceReducer("sortedTuple", "v", rows),
          ns: [...joined.values()].reduce((sum: number, row) => sum + (row.n as number), 0),
          rows: rows.length,
        },
      ]]);
    },
  },
];

for (const testCase of cases) {
  Deno.test(`engine output after every random commit equals a from-scratch computation: ${testCase.name}`, () => {
    checkAgainstReference(testCase, { seeds: SEEDS, commits: COMMITS });
  });
}

function failOnFive(v: number | null): number {
  if (v === 5) throw new Error("five");
  return v ?? 0;
}

const skippingCases: Case[] = [
  {
    name: "select whose function throws on some rows",
    build: (left) => left.select({ k: "k", w: apply(failOnFive, "v") }),
    reference: (world) =>
      mapRows(world.left.values(), (r) => (r.v === 5 ? null : { k: r.k, w: r.v ?? 0 })),
  },
  {
    name: "filter that throws on some rows, then groupby",
    build: (left) =>
      left.filter((r) => failOnFive(r.v) > 0).groupby("k").reduce({ k: "k", n: reducers.count() }),
    reference: (world) => {
      const kept = [...world.left.values()].filter((e) => e.row.v !== 5 && (e.row.v ?? 0) > 0);
      const out = new Map<RowId, Row>();
      for (const [id, g] of referenceGroups(kept, ["k"])) {
        out.set(id, { k: g.key[0], n: g.entries.length });
      }
      return out;
    },
  },
  {
    name: "join whose select throws on some pairs",
    build: (left, right) =>
      left.join(right, {
        on: [["k", "k"]],
        how: "left",
        select: (l, r) => ({ sum: failOnFive(l.v) + failOnFive(r?.v ?? null) }),
      }),
    reference: (world) => {
      const joined = referenceJoin(
        world.left.values(),
        world.right.values(),
        "k",
        "left",
        (l, r) => ({
          ok: l!.v !== 5 && r?.v !== 5,
          sum: (l!.v ?? 0) + (r?.v ?? 0),
        }),
      );
      for (const [id, row] of joined) {
        if (row.ok) delete row.ok;
        else joined.delete(id);
      }
      return joined;
    },
  },
];

for (const testCase of skippingCases) {
  Deno.test(
    `engine output equals a from-scratch computation when rows a user function throws on are skipped: ${testCase.name}`,
    () => checkAgainstReference(testCase, { seeds: SEEDS, commits: COMMITS, skipErrors: true }),
  );
}

for (const testCase of cases.filter((c) => c.build.length > 1)) {
  Deno.test(
    `engine output equals a from-scratch computation when one input is unkeyed and retracts rows in full: ${testCase.name}`,
    () => checkAgainstReference(testCase, { seeds: SEEDS, commits: COMMITS, unkeyedRight: true }),
  );
}

Deno.test("every reducer kind is covered by the property tests", () => {
  const covered = new Set(Object.values(allReducers).map((r) => r.reducer));
  for (const kind of allReducerKinds) {
    if (!covered.has(kind)) throw new Error(`Reducer ${kind} is not covered`);
  }
});
