/**
 * Partitioned graphs: the same transform built once as one graph and once as
 * tasks (one graph per stage and partition, as the runtime runs them) gives
 * the same output. Random commits of inserts, upserts and removes go to the
 * unpartitioned graph whole and, split by input partition, to the stage-0
 * tasks; the changes an exchange hands out are routed (`partitionOf` of the
 * route, as the runtime does) into fragments, one per source commit and
 * destination task, delivered in a random interleaving that keeps each
 * source's order (Kafka orders per partition only). Each task's output must be
 * a valid change log after every commit, and whenever nothing is in flight
 * the union of the tasks' outputs must equal the unpartitioned graph's output.
 * Tasks are replaced mid-way by fresh graphs restored from their snapshots.
 */
import assert from "node:assert/strict";
import { deserialize, serialize } from "node:v8";
import {
  apply,
  type Change,
  equalRows,
  GLOBAL_REDUCE_ID,
  Graph,
  hashValues,
  type InputTable,
  reducers,
  type Row,
  type RowId,
} from "../../engine/mod.ts";
import { partitionOf } from "../../runtime/delivery/changelog.ts";
import {
  type Case,
  checkAgainstReference,
  type Entry,
  prng,
  referenceGroups,
  referenceJoin,
  referenceReducer,
  type TestRow,
} from "./_reference.ts";

const SEEDS = 25;
const COMMITS = 30;

/** A transform under test, its from-scratch reference, and the stages its partitioned graph has. */
interface PartitionedCase extends Case {
  stages: number;
  /**
   * Whether a task of a later stage can receive an id's changes from two
   * upstream tasks (see {@linkcode ChangeLog}): its output may then hold two
   * rows of an id while a retraction is in flight.
   */
  idsMove?: boolean;
}

/** Rows of `left` kept by the stateless chain in front of an exchange. */
function chainBefore(row: TestRow): boolean {
  return row.s !== "bb";
}

const cases: PartitionedCase[] = [
  {
    name: "group-by reduce on a non-key column",
    stages: 2,
    build: (left) =>
      left.groupby("s").reduce({
        s: "s",
        total: reducers.sum("v"),
        rows: reducers.count(),
        values: reducers.sortedTuple("v"),
        top: reducers.argmax("v"),
      }),
    reference: (world) => {
      const out = new Map<RowId, Row>();
      for (const [id, g] of referenceGroups(world.left.values(), ["s"])) {
        out.set(id, {
          s: g.key[0],
          total: referenceReducer("sum", "v", g.entries),
          rows: g.entries.length,
          values: referenceReducer("sortedTuple", "v", g.entries),
          top: referenceReducer("argmax", "v", g.entries),
        });
      }
      return out;
    },
  },
  {
    name: "global reduce",
    stages: 2,
    build: (left) =>
      left.reduce({
        total: reducers.sum("v"),
        rows: reducers.count(),
        low: reducers.min("v"),
        first: reducers.any("v"),
      }),
    reference: (world) => {
      const out = new Map<RowId, Row>();
      for (const [id, g] of referenceGroups(world.left.values(), [])) {
        out.set(id, {
          total: referenceReducer("sum", "v", g.entries),
          rows: g.entries.length,
          low: referenceReducer("min", "v", g.entries),
          first: referenceReducer("any", "v", g.entries),
        });
      }
      return out;
    },
  },
  {
    name: "group-by followed by a global reduce (3 stages)",
    stages: 3,
    build: (left) =>
      left.groupby("k").reduce({ k: "k", total: reducers.sum("v"), rows: reducers.count() })
        .reduce({
          totals: reducers.sortedTuple("total"),
          rows: reducers.sum("rows"),
          groups: reducers.count(),
        }),
    reference: (world) => {
      const groups = [...referenceGroups(world.left.values(), ["k"]).values()];
      if (groups.length === 0) return new Map();
      const totals = groups.map((g) => referenceReducer("sum", "v", g.entries) as number)
        .sort((a, b) => a - b);
      return new Map([[GLOBAL_REDUCE_ID, {
        totals,
        rows: groups.reduce((sum, g) => sum + g.entries.length, 0),
        groups: groups.length,
      }]]);
    },
  },
  ...(["inner", "left"] as const).map((how): PartitionedCase => ({
    name: `${how} join of two inputs`,
    stages: 2,
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
  {
    name: "left join on a string column with select, then a group-by on its output (3 stages)",
    stages: 3,
    build: (left, right) =>
      left.join(right, {
        on: [["s", "s"]],
        how: "left",
        select: (l: TestRow, r: TestRow | null) => ({ lk: l.k, rv: r?.v ?? null }),
      }).groupby("lk").reduce({ lk: "lk", n: reducers.count(), total: reducers.sum("rv") }),
    reference: (world) => {
      const joined = referenceJoin(
        world.left.values(),
        world.right.values(),
        "s",
        "left",
        (l, r) => ({ lk: l!.k, rv: r?.v ?? null }),
      );
      const entries = [...joined].map(([id, row]): Entry => ({
        id,
        row: { k: row.lk as number, v: row.rv as number | null, s: "" },
        time: 0,
      }));
      const out = new Map<RowId, Row>();
      for (const [id, g] of referenceGroups(entries, ["k"])) {
        out.set(id, {
          lk: g.key[0],
          n: g.entries.length,
          total: referenceReducer("sum", "v", g.entries),
        });
      }
      return out;
    },
  },
  {
    name:
      "left join whose unmatched rows move between join tasks, then updateRows by id (3 stages)",
    stages: 3,
    idsMove: true,
    build: (left, right) =>
      left.join(right, {
        on: [["s", "s"]],
        how: "left",
        select: (l: TestRow, r: TestRow | null) => ({ k: l.k, v: r?.v ?? null }),
      }).updateRows(right.select({ k: "k", v: "v" })),
    reference: (world) => {
      const out = referenceJoin(
        world.left.values(),
        world.right.values(),
        "s",
        "left",
        (l, r) => ({ k: l!.k, v: r?.v ?? null }),
      );
      for (const { id, row } of world.right.values()) out.set(id, { k: row.k, v: row.v });
      return out;
    },
  },
  {
    name: "left join whose unmatched rows move between join tasks, then a join on another column",
    stages: 3,
    idsMove: true,
    build: (left, right) =>
      left.join(right, {
        on: [["s", "s"]],
        how: "left",
        select: (l: TestRow, r: TestRow | null) => ({ k: l.k, lv: l.v, rv: r?.v ?? null }),
      }).join(right, {
        on: [["k", "k"]],
        select: (a: Row, r: TestRow) => ({ lv: a.lv, rv: a.rv, r2: r.v }),
      }),
    reference: (world) => {
      const first = referenceJoin(
        world.left.values(),
        world.right.values(),
        "s",
        "left",
        (l, r) => ({ k: l!.k, lv: l!.v, rv: r?.v ?? null }),
      );
      const entries = [...first].map(([id, row]): Entry => ({
        id,
        row: row as unknown as TestRow,
        time: 0,
      }));
      return referenceJoin(entries, world.right.values(), "k", "inner", (a, r) => ({
        lv: (a as unknown as Row).lv,
        rv: (a as unknown as Row).rv,
        r2: r!.v,
      }));
    },
  },
  {
    name: "updateRows of a table by another",
    stages: 2,
    build: (left, right) => left.updateRows(right),
    reference: (world) => {
      const out = new Map<RowId, Row>();
      for (const { id, row } of world.left.values()) out.set(id, row);
      for (const { id, row } of world.right.values()) out.set(id, row);
      return out;
    },
  },
  {
    name: "concat of a stage-0 table, a stage-1 group-by and a stage-2 global reduce",
    stages: 3,
    build: (left, right) => {
      const rows = left.select({ key: "k", value: "v" });
      const byKey = right.groupby("k").reduce({ key: "k", value: reducers.sum("v") });
      const total = byKey.reduce({ key: reducers.count(), value: reducers.sum("value") });
      return rows.concat(byKey, total);
    },
    reference: (world) => {
      const out = new Map<RowId, Row>();
      for (const { id, row } of world.left.values()) {
        out.set(hashValues([id, 0]), { key: row.k, value: row.v });
      }
      let total = 0;
      let groups = 0;
      for (const [id, g] of referenceGroups(world.right.values(), ["k"])) {
        const value = referenceReducer("sum", "v", g.entries) as number;
        out.set(hashValues([id, 1]), { key: g.key[0], value });
        total += value;
        groups++;
      }
      if (groups > 0) {
        out.set(hashValues([GLOBAL_REDUCE_ID, 2]), { key: groups, value: total });
      }
      return out;
    },
  },
  {
    name: "stateless select/filter chain before and after an exchange",
    stages: 2,
    build: (left) =>
      left.filter(chainBefore)
        .withColumns({ w: apply((v: number | null) => (v ?? 0) * 3, "v") })
        .select({ k: "k", w: "w" })
        .groupby("k").reduce({ k: "k", total: reducers.sum("w"), rows: reducers.count() })
        .filter((row) => row.rows !== 2)
        .select({ k: "k", double: (row) => row.total * 2, rows: "rows" }),
    reference: (world) => {
      const kept = [...world.left.values()].filter((e) => chainBefore(e.row))
        .map((e) => ({ ...e, row: { ...e.row, v: (e.row.v ?? 0) * 3 } }));
      const out = new Map<RowId, Row>();
      for (const [id, g] of referenceGroups(kept, ["k"])) {
        if (g.entries.length === 2) continue;
        out.set(id, {
          k: g.key[0],
          double: (referenceReducer("sum", "v", g.entries) as number) * 2,
          rows: g.entries.length,
        });
      }
      return out;
    },
  },
];

/**
 * A change log checked change by change: no retraction of a row that is not
 * there. `strict`: nor an insertion of an id that has a row already. A task
 * downstream of an operator whose output ids move between tasks (a join row
 * whose join key changed) can receive an id's new row before its old row's
 * retraction, which came through another partition: it then holds, and
 * outputs, both rows of the id until the retraction arrives. So such logs are
 * checked as multisets of (id, row), and for one row per id only when nothing
 * is in flight.
 */
class ChangeLog {
  /** The rows of each id with their counts. */
  readonly counts = new Map<RowId, [Row, number][]>();
  constructor(readonly strict: boolean) {}

  apply(changes: readonly Change[], label: string): void {
    for (const { id, row, diff } of changes) {
      assert.ok(diff === 1 || diff === -1, `${label}: diff is 1 or -1`);
      const rows = this.counts.get(id) ?? [];
      const i = rows.findIndex(([r]) => equalRows(r, row));
      if (diff === -1) {
        assert.ok(
          i >= 0,
          `${label}: retracted row ${id} ${JSON.stringify(row)} is there ` +
            `(there: ${JSON.stringify(rows)})`,
        );
        if (--rows[i][1] === 0) rows.splice(i, 1);
      } else {
        assert.ok(
          !this.strict || rows.length === 0,
          `${label}: inserted row ${id} is not present already (${JSON.stringify(rows)})`,
        );
        if (i >= 0) rows[i][1]++;
        else rows.push([row, 1]);
      }
      if (rows.length === 0) this.counts.delete(id);
      else this.counts.set(id, rows);
    }
  }

  /** The current row of each id, which must be one. */
  rows(label: string): Map<RowId, Row> {
    const out = new Map<RowId, Row>();
    for (const [id, rows] of this.counts) {
      assert.ok(
        rows.length === 1 && rows[0][1] === 1,
        `${label}: id ${id} has one row (${JSON.stringify(rows)})`,
      );
      out.set(id, rows[0][0]);
    }
    return out;
  }
}

function sortedRows(rows: Iterable<[RowId, Row]>): [RowId, Row][] {
  return [...rows].sort(([a], [b]) => (a < b ? -1 : 1));
}

/** The union of the tasks' outputs: every task's current rows, no id held by two tasks. */
function unionOf(logs: Iterable<ChangeLog>, label: string): Map<RowId, Row> {
  const union = new Map<RowId, Row>();
  for (const log of logs) {
    for (const [id, row] of log.rows(label)) {
      assert.ok(!union.has(id), `${label}: row ${id} is held by two tasks`);
      union.set(id, row);
    }
  }
  return union;
}

function assertSameRows(actual: Map<RowId, Row>, expected: Map<RowId, Row>, label: string): void {
  const same = actual.size === expected.size &&
    [...expected].every(([id, row]) => actual.has(id) && equalRows(actual.get(id)!, row));
  if (!same) assert.deepEqual(sortedRows(actual), sortedRows(expected), label);
}

/** The exchanged changes one source commit sent to one destination task, by exchange index. */
interface Fragment {
  source: string;
  parts: Map<number, Change[]>;
}

/** One graph of a partitioned run: a (stage, partition) task. */
interface Task {
  readonly name: string;
  readonly stage: number;
  readonly partition: number;
  graph: Graph;
  left: InputTable<TestRow>;
  right: InputTable<TestRow>;
  time: number;
  /** What this task's exchanges handed out during its current commit: destination task to fragment. */
  outbox: Map<string, Fragment>;
  readonly log: ChangeLog;
  label: string;
}

/** Options of {@linkcode checkPartitioned}. */
interface PartitionedOptions {
  seeds: number;
  commits: number;
  /** The right input unkeyed and driven with insert and retract only, as a json `diff` source. */
  unkeyedRight?: boolean;
}

/** Statistics of a run, so that the test can show it exercised what it claims to. */
interface RunStats {
  fragments: number;
  restores: number;
  quiescentChecks: number;
  partitionCounts: Set<string>;
}

function checkPartitioned(testCase: PartitionedCase, options: PartitionedOptions): RunStats {
  const stats: RunStats = {
    fragments: 0,
    restores: 0,
    quiescentChecks: 0,
    partitionCounts: new Set(),
  };
  for (let seed = 1; seed <= options.seeds; seed++) {
    const random = prng(seed * 104729 + testCase.name.length);
    const inputPartitions = 1 + Math.floor(random() * 4);
    const taskPartitions = 1 + Math.floor(random() * 4);
    stats.partitionCounts.add(`${inputPartitions}x${taskPartitions}`);
    const run = `${testCase.name}, seed ${seed} (${inputPartitions} input partitions, ` +
      `${taskPartitions} partitions per later stage)`;

    const makeInputs = (graph: Graph) => ({
      left: graph.input<TestRow>({ name: "left", keyed: true, columns: ["k", "v", "s"] }),
      right: graph.input<TestRow>({
        name: "right",
        keyed: !options.unkeyedRight,
        columns: ["k", "v", "s"],
      }),
    });

    // The unpartitioned graph: no exchanges, one stage, and the reference output.
    const whole = new Graph();
    const wholeInputs = makeInputs(whole);
    const wholeLog = new ChangeLog(true);
    let wholeLabel = "";
    whole.output(
      testCase.build(wholeInputs.left, wholeInputs.right),
      (batch) => wholeLog.apply(batch.changes, wholeLabel),
    );
    assert.equal(whole.stages, 1, `${run}: a graph without onExchange has one stage`);
    assert.deepEqual(whole.exchanges(), [], `${run}: a graph without onExchange has no exchanges`);

    // The tasks: queues[source -> destination] hold fragments in the source's order.
    const queues = new Map<string, Fragment[]>();
    const tasks = new Map<string, Task>();
    const taskName = (stage: number, partition: number) => `${stage}/${partition}`;
    const buildTask = (task: Omit<Task, "graph" | "left" | "right"> & Partial<Task>): Task => {
      const graph = new Graph({
        onExchange: (exchange, changes, time) => {
          assert.ok(
            exchange.stage > task.stage,
            `${task.label}: task of stage ${task.stage} handed out changes for stage ${exchange.stage}`,
          );
          assert.equal(
            time,
            task.time,
            `${task.label}: an exchange hands out at the commit's time`,
          );
          for (const change of changes) {
            const destination = taskName(
              exchange.stage,
              partitionOf(exchange.route(change), taskPartitions),
            );
            let fragment = task.outbox.get(destination);
            if (fragment === undefined) {
              task.outbox.set(destination, fragment = { source: task.name, parts: new Map() });
            }
            let part = fragment.parts.get(exchange.index);
            if (part === undefined) fragment.parts.set(exchange.index, part = []);
            part.push(change);
          }
        },
      });
      const inputs = makeInputs(graph);
      graph.output(
        testCase.build(inputs.left, inputs.right),
        (batch) => task.log.apply(batch.changes, task.label),
      );
      return Object.assign(task, { graph, ...inputs }) as Task;
    };

    const probe = buildTask({
      name: "probe",
      stage: 0,
      partition: 0,
      time: 0,
      outbox: new Map(),
      log: new ChangeLog(!testCase.idsMove),
      label: run,
    });
    const stages = probe.graph.stages;
    assert.equal(stages, testCase.stages, `${run}: stages`);
    const exchanges = probe.graph.exchanges();
    assert.deepEqual(exchanges.map((e) => e.index), exchanges.map((_, i) => i));
    for (let stage = 1; stage < stages; stage++) {
      assert.ok(exchanges.some((e) => e.stage === stage), `${run}: stage ${stage} has an exchange`);
    }
    // The same operators as the unpartitioned graph, plus the exchanges.
    const kinds = (graph: Graph) =>
      (graph.snapshot() as { nodes: { kind: string }[] }).nodes.map((n) => n.kind);
    assert.deepEqual(
      kinds(probe.graph).filter((kind) => kind !== "exchange"),
      kinds(whole),
      `${run}: a partitioned graph has the unpartitioned graph's operators`,
    );
    assert.equal(kinds(probe.graph).filter((kind) => kind === "exchange").length, exchanges.length);
    assert.ok(!kinds(whole).includes("exchange"));

    for (let stage = 0; stage < stages; stage++) {
      const partitions = stage === 0 ? inputPartitions : taskPartitions;
      for (let partition = 0; partition < partitions; partition++) {
        const name = taskName(stage, partition);
        tasks.set(
          name,
          buildTask({
            name,
            stage,
            partition,
            time: 0,
            outbox: new Map(),
            log: new ChangeLog(!testCase.idsMove),
            label: "",
          }),
        );
      }
    }

    const commitTask = (task: Task, time: number, label: string) => {
      task.time = time;
      task.label = label;
      task.graph.commit(time);
      for (const [destination, fragment] of task.outbox) {
        assert.ok(tasks.has(destination), `${label}: routed to an existing task ${destination}`);
        const queue = `${task.name}->${destination}`;
        if (!queues.has(queue)) queues.set(queue, []);
        queues.get(queue)!.push(fragment);
      }
      task.outbox = new Map();
    };

    const restoreTask = (task: Task, label: string) => {
      const saved = deserialize(serialize(task.graph.snapshot()));
      const fresh = buildTask({
        name: task.name,
        stage: task.stage,
        partition: task.partition,
        time: task.time,
        outbox: new Map(),
        log: task.log,
        label,
      });
      fresh.graph.restore(saved);
      assert.equal(fresh.graph.time, task.graph.time, `${label}: restored time`);
      tasks.set(task.name, fresh);
      stats.restores++;
    };

    // Input ids and the partition each belongs to (a keyed record's partition never changes).
    const ids = { left: [] as RowId[], right: [] as RowId[] };
    const rows = { left: new Map<RowId, TestRow>(), right: new Map<RowId, TestRow>() };
    let counter = 0;
    let commits = 0;
    const inFlight = () => [...queues.values()].some((queue) => queue.length > 0);

    while (commits < options.commits || inFlight()) {
      const deliver = inFlight() && (commits >= options.commits || random() < 0.6);
      if (!deliver) {
        commits++;
        const time = commits * 1000;
        const label = `${run}, input commit ${commits}`;
        wholeLabel = label;
        const touched = new Set<Task>();
        const operations = 1 + Math.floor(random() * 6);
        for (let i = 0; i < operations; i++) {
          const side = random() < 0.6 ? "left" : "right";
          const current = rows[side];
          const dice = random();
          let id: RowId;
          if (dice < 0.45 || ids[side].length === 0) {
            // Sometimes an id the other input has (updateRows replaces rows by id).
            const other = ids[side === "left" ? "right" : "left"].filter((id) => !current.has(id));
            id = other.length > 0 && random() < 0.4
              ? other[Math.floor(random() * other.length)]
              : hashValues([side, counter++]);
            if (!ids[side].includes(id)) ids[side].push(id);
          } else id = ids[side][Math.floor(random() * ids[side].length)];
          const task = tasks.get(taskName(0, partitionOf(id, inputPartitions)))!;
          touched.add(task);
          const targets = [wholeInputs[side], task[side]];
          const old = current.get(id);
          if (dice < 0.8 || old === undefined) {
            const row = old !== undefined && random() < 0.25 ? { ...old } : {
              k: Math.floor(random() * 4),
              v: random() < 0.1 ? null : Math.floor(random() * 10) - 3,
              s: ["a", "bb", "ccc", "a"][Math.floor(random() * 4)],
            };
            for (const input of targets) {
              if (side === "right" && options.unkeyedRight) {
                if (old !== undefined) input.retract(id, old);
                input.insert(id, row);
              } else input.upsert(id, row);
            }
            current.set(id, row);
          } else {
            for (const input of targets) {
              if (side === "right" && options.unkeyedRight) input.retract(id, old);
              else input.remove(id);
            }
            current.delete(id);
          }
        }
        whole.commit(time);
        for (const task of touched) commitTask(task, time, `${label}, task ${task.name}`);
      } else {
        const waiting = [...queues].filter(([, queue]) => queue.length > 0);
        const [queueName, queue] = waiting[Math.floor(random() * waiting.length)];
        const fragment = queue.shift()!;
        const destination = tasks.get(queueName.split("->")[1])!;
        const label = `${run}, fragment ${queueName} (after input commit ${commits})`;
        for (const [index, changes] of fragment.parts) {
          assert.equal(
            exchanges[index].stage,
            destination.stage,
            `${label}: delivered to a task of the exchange's stage`,
          );
          destination.graph.receive(index, changes);
        }
        if (random() < 0.1) {
          assert.throws(
            () => destination.graph.snapshot(),
            /Cannot snapshot: exchange \d+ has uncommitted changes/,
            `${label}: snapshot refuses received changes not yet committed`,
          );
        }
        commitTask(destination, destination.time + 1 + Math.floor(random() * 3), label);
        stats.fragments++;
      }
      if (random() < 0.08) {
        const all = [...tasks.values()];
        restoreTask(all[Math.floor(random() * all.length)], `${run}, restore`);
      }
      if (!inFlight()) {
        const label = `${run}, nothing in flight after input commit ${commits}`;
        assertSameRows(
          unionOf([...tasks.values()].map((t) => t.log), label),
          wholeLog.rows(label),
          label,
        );
        stats.quiescentChecks++;
      }
    }
    const label = `${run}, at the end`;
    assertSameRows(
      unionOf([...tasks.values()].map((t) => t.log), label),
      wholeLog.rows(label),
      label,
    );
  }
  return stats;
}

for (const testCase of cases) {
  Deno.test(`partitioned tasks give the unpartitioned graph's output: ${testCase.name}`, () => {
    const stats = checkPartitioned(testCase, { seeds: SEEDS, commits: COMMITS });
    assert.ok(stats.fragments > SEEDS, `fragments were exchanged (${stats.fragments})`);
    assert.ok(stats.restores > 0, "some tasks were restored from snapshots");
    assert.ok(stats.partitionCounts.size > 4, "several partition counts were tried");
  });
}

for (const testCase of cases.filter((c) => c.build.length > 1)) {
  Deno.test(
    `partitioned tasks give the unpartitioned graph's output when one input is unkeyed and retracts rows in full: ${testCase.name}`,
    () => {
      checkPartitioned(testCase, { seeds: SEEDS, commits: COMMITS, unkeyedRight: true });
    },
  );
}

for (const testCase of cases) {
  Deno.test(
    `a graph without onExchange computes the from-scratch result: ${testCase.name}`,
    () => checkAgainstReference(testCase, { seeds: 8, commits: COMMITS }),
  );
}

Deno.test("snapshot refuses while received changes are uncommitted; restore drops them", () => {
  const sent: { index: number; changes: Change[] }[] = [];
  const build = () => {
    const graph = new Graph({
      onExchange: (exchange, changes) => sent.push({ index: exchange.index, changes }),
    });
    const input = graph.input<{ k: string; v: number }>({ name: "in" });
    const sums = input.groupby("k").reduce({ k: "k", sum: reducers.sum("v") });
    const out: Change[] = [];
    graph.output(sums, (batch) => out.push(...batch.changes));
    return { graph, input, out };
  };
  const source = build();
  source.input.insert(hashValues(["a"]), { k: "a", v: 2 });
  source.input.insert(hashValues(["b"]), { k: "a", v: 3 });
  source.graph.commit(1);
  assert.deepEqual(source.out, [], "a stage-0 task does not reduce");
  assert.equal(sent.length, 1);
  assert.deepEqual(source.graph.exchanges(), [{ index: 0, stage: 1 }]);
  assert.equal(source.graph.stages, 2);
  assert.throws(() => source.graph.receive(1, []), RangeError);

  const target = build();
  target.graph.receive(0, sent[0].changes);
  assert.throws(() => target.graph.snapshot(), /exchange 0 has uncommitted changes/);
  target.graph.commit(2);
  assert.deepEqual(target.out.map((c) => [c.row, c.diff]), [[{ k: "a", sum: 5 }, 1]]);
  const saved = deserialize(serialize(target.graph.snapshot()));

  // Received and not committed, then restored: the received changes are dropped.
  target.graph.receive(0, sent[0].changes);
  target.graph.restore(saved);
  target.graph.commit(3);
  assert.equal(target.out.length, 1, "the dropped changes were not applied");

  const fresh = build();
  fresh.graph.restore(saved);
  fresh.graph.receive(0, [{ id: hashValues(["a"]), row: { k: "a", v: 2 }, diff: -1 }]);
  fresh.graph.commit(4);
  assert.deepEqual(fresh.out.map((c) => [c.row, c.diff]), [
    [{ k: "a", sum: 5 }, -1],
    [{ k: "a", sum: 3 }, 1],
  ]);
});

Deno.test("a join and updateRows given an id's new row before its old row's retraction end right, across a snapshot", () => {
  const build = () => {
    const graph = new Graph({ onExchange: () => {} });
    const left = graph.input<{ k: number; v: number }>({ name: "left" });
    const right = graph.input<{ k: number; w: number }>({ name: "right" });
    const joined = left.join(right, {
      on: [["k", "k"]],
      select: (l, r) => ({ v: l.v, w: r.w }),
    });
    const updated = left.updateRows(left.select({ k: "k", v: (row) => row.v * 10 }));
    const log = { joined: new ChangeLog(false), updated: new ChangeLog(false) };
    graph.output(joined, (batch) => log.joined.apply(batch.changes, "join"));
    graph.output(updated, (batch) => log.updated.apply(batch.changes, "updateRows"));
    return { graph, log };
  };
  // Exchanges 0 and 1 feed the join's sides, 2 and 3 updateRows' base and updates.
  const x = hashValues(["x"]);
  const y = hashValues(["y"]);
  const oldRow = { k: 1, v: 1 };
  const newRow = { k: 1, v: 2 };
  const task = build();
  assert.deepEqual(task.graph.exchanges().map((e) => e.stage), [1, 1, 2, 2]);
  task.graph.receive(1, [{ id: y, row: { k: 1, w: 7 }, diff: 1 }]);
  task.graph.receive(0, [{ id: x, row: oldRow, diff: 1 }]);
  task.graph.receive(2, [{ id: x, row: oldRow, diff: 1 }]);
  task.graph.commit(1);
  // x moved to another upstream task: its new row comes first.
  task.graph.receive(0, [{ id: x, row: newRow, diff: 1 }]);
  task.graph.receive(2, [{ id: x, row: newRow, diff: 1 }]);
  task.graph.commit(2);
  const restored = build();
  restored.log.joined = task.log.joined;
  restored.log.updated = task.log.updated;
  restored.graph.restore(deserialize(serialize(task.graph.snapshot())));
  restored.graph.receive(0, [{ id: x, row: oldRow, diff: -1 }]);
  restored.graph.receive(2, [{ id: x, row: oldRow, diff: -1 }]);
  restored.graph.commit(3);
  assert.deepEqual([...restored.log.joined.rows("join").values()], [{ v: 2, w: 7 }]);
  assert.deepEqual([...restored.log.updated.rows("updateRows").entries()], [[x, newRow]]);
  // And the right side's rows still meet x's one remaining row.
  restored.graph.receive(1, [{ id: y, row: { k: 1, w: 7 }, diff: -1 }]);
  restored.graph.commit(4);
  assert.equal(restored.log.joined.counts.size, 0);
});

Deno.test("earliest and latest given an id's new row before its old row's retraction end right, across a snapshot", () => {
  const log = new ChangeLog(true);
  const build = () => {
    const graph = new Graph({ onExchange: () => {} });
    const input = graph.input<{ v: number }>({ name: "in" });
    const reduced = input.reduce({
      first: reducers.earliest("v"),
      last: reducers.latest("v"),
      rows: reducers.count(),
    });
    graph.output(reduced, (batch) => log.apply(batch.changes, "reduce"));
    return graph;
  };
  const x = hashValues(["x"]);
  const y = hashValues(["y"]);
  const task = build();
  task.receive(0, [{ id: x, row: { v: 1 }, diff: 1 }]);
  task.commit(1);
  task.receive(0, [{ id: y, row: { v: 5 }, diff: 1 }]);
  task.commit(2);
  task.receive(0, [{ id: x, row: { v: 2 }, diff: 1 }]);
  task.commit(3);
  const restored = build();
  restored.restore(deserialize(serialize(task.snapshot())));
  restored.receive(0, [{ id: x, row: { v: 1 }, diff: -1 }]);
  restored.commit(4);
  assert.deepEqual([...log.rows("reduce").values()], [{ first: 5, last: 2, rows: 2 }]);
  restored.receive(0, [{ id: x, row: { v: 2 }, diff: -1 }]);
  restored.commit(5);
  assert.deepEqual(log.counts.size, 1);
  assert.deepEqual(
    log.counts.get(GLOBAL_REDUCE_ID)?.[0][0],
    { first: 5, last: 5, rows: 1 },
  );
});
