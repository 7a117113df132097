// The derived-rows contract: what a store derives from its tables to answer faster (DuckDB's
// rollups, ClickHouse's settled tables read without FINAL) never changes an answer. The same random
// writes (first copy, upserts that change and delete rows, a batch written again as a resumed run
// does, erasure, retention, device rows, a changed device) go to the engine's store, which keeps
// the rollups of METRICS (SMALL_METRICS and a first-match search), and to a DuckDB store that keeps none; after every write, before
// and after the run's refreshDerived, every metric by every grain and a base and a joined dimension
// must answer the same on both. A write whose run is killed before its refreshDerived (the write
// recorded, the refresh never run) must leave the derived rows not current, so the reader answers
// from the base tables; a `--full` run (a rebuild) too. Each engine's test file runs it.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { duckdb, type Engine, openMetricsReader } from '../../src/engines/index.ts';
import { type MetricAnswer, parseMetrics, rollupsOf } from '../../src/metrics/index.ts';
import type { Value } from '../../src/policy/index.ts';
import type { Store } from '../../src/store/index.ts';
import { DEVICES, EVENTS_TABLE, SMALL_METRICS_YAML } from '../helpers/small-store.ts';

/**
 * SMALL_METRICS and a first-match search (time from a device's activation to its first success),
 * which reads its rollup's periods and, for devices whose activation week has successes on both
 * sides of it, the events.
 */
const METRICS = parseMetrics(
  `${SMALL_METRICS_YAML}  first_success:
    from: devices
    unit: user_id
    time: activated_at
    measure:
      percentiles: [0.5, 0.9]
      of: { first_after: { table: connection_events, on: [id, device_id], time: ts, where: { outcome: success } } }
    dimensions: [firmware_version, product_model]
`,
  'derived.metrics.yaml',
);

/** How a run of the contract reads what only its engine knows. */
export interface DerivedContractTarget {
  /** A new store location. */
  location(): string | Promise<string>;
  /**
   * After refreshDerived: whether the fast path is what answers now (every rollup current, or
   * every table settled with no second version of any key left).
   */
  derivedCurrent(location: string): Promise<boolean>;
}

const id = (kind: number, n: number) =>
  (BigInt(kind) << 96n) | (0x4000n << 64n) | (0x8000n << 48n) | BigInt(n);
const uuidText = (v: bigint) => {
  const h = v.toString(16).padStart(32, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
const DAY_US = 86_400_000_000n;
const T0 = BigInt(Date.parse('2026-10-01T00:00:00Z')) * 1000n;

/** A seeded generator (mulberry32), so a failing run can be run again. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DEVICE_COUNT = 90;

/** A device; activated on one of the first days at some hour (again, later, when `round` moves it). */
function deviceRow(i: number, firmware: string, round = 0): Value[] {
  return [
    id(1, i),
    id(2, i % 45),
    ['cam', 'plug', 'lamp'][i % 3] as string,
    firmware,
    i % 2 ? 'eu' : 'us',
    T0 + BigInt(((i + round) % 9) * 14 * 3600) * 1_000_000n,
  ];
}

function eventRow(rnd: () => number, n: number): Value[] {
  const outcome = rnd() < 0.3 ? 'fail' : 'success';
  return [
    id(3, n),
    id(1, 1 + Math.floor(rnd() * DEVICE_COUNT)),
    T0 + BigInt(Math.floor(rnd() * 24 * 86_400)) * 1_000_000n,
    outcome,
    outcome === 'fail' ? (['E_TLS', 'E_DNS', 'E_AUTH'][Math.floor(rnd() * 3)] as string) : null,
    rnd() < 0.1 ? null : -40 - Math.floor(rnd() * 50),
    rnd() < 0.15 ? null : Math.floor(rnd() * 5000),
    // A decimal of up to 20 integer digits (or none): sums and averages through the rollups.
    outcome === 'fail' && rnd() < 0.8
      ? `${Math.floor(rnd() * 1e9)}12345678901.${Math.floor(rnd() * 100)}`
      : null,
  ];
}

type Write = (store: Store) => Promise<void>;
/** A write; `events`: it changes connection_events, so the rollups are not current until refreshed. */
type Step = { what: string; write: Write; events?: true };

/** The random writes of one run, each a function applied alike to both stores. */
function writes(seed: number): Step[] {
  const rnd = random(seed);
  let next = 1;
  const fresh = (n: number) => Array.from({ length: n }, () => eventRow(rnd, next++));
  /** Keys a source deletion or a change (a tombstone on every other shard) touched (see messages below). */
  const tombstoned = new Set<bigint>();
  /** `n` distinct keys written before (held, changed, deleted, erased or expired since), none of `but`. */
  const held = (n: number, but: ReadonlySet<bigint> = new Set(), upTo = next - 1) => {
    const out = new Set<bigint>();
    while (out.size < n) {
      const k = id(3, 1 + Math.floor(rnd() * upTo));
      if (!but.has(k)) out.add(k);
    }
    return [...out];
  };
  const batches = [fresh(400), fresh(400), fresh(400)];
  const upsert =
    (rows: Value[][], deleted: Value[][]): Write =>
    async (s) => {
      const w = await s.openWriter(EVENTS_TABLE, 'upsert');
      await w.writeBatch(rows, deleted, 'cp');
      await w.finish('cp');
    };
  const out: Step[] = [
    {
      what: 'first copy: devices, then events in batches',
      write: async (s) => {
        await s.bindKey('derived');
        await s.setMeta('k', '2');
        const d = await s.openWriter(DEVICES, 'append');
        await d.writeBatch(
          Array.from({ length: DEVICE_COUNT }, (_, i) => deviceRow(i + 1, '1.0')),
          [],
          'd',
        );
        await d.finish('d');
        const w = await s.openWriter(EVENTS_TABLE, 'append');
        for (const b of batches.slice(0, 2)) await w.writeBatch(b, [], 'cp');
        // The run stops here (killed): batch 3 is written, its checkpoint not.
        await w.writeBatch(batches[2] as Value[][], [], undefined);
      },
    },
    {
      what: 'a resumed run writes the batch after its checkpoint again, then goes on',
      write: upsert([...(batches[2] as Value[][]), ...fresh(200)], []),
      events: true,
    },
  ];
  for (let round = 0; round < 3; round++) {
    // A batch names each key once (the source's primary key), as a row or as deleted.
    const keys = held(55);
    const changed = keys.slice(0, 40).map((k) => {
      const r = eventRow(rnd, 0);
      r[0] = k;
      return r;
    });
    const deleted = keys.slice(40).map((k) => [k]);
    for (const k of keys) tombstoned.add(k);
    out.push({
      what: `round ${round}: new rows, changed rows, deleted keys`,
      write: upsert([...fresh(150), ...changed], deleted),
      events: true,
    });
    const devices = Array.from({ length: 3 }, () => uuidText(id(1, 1 + Math.floor(rnd() * DEVICE_COUNT))));
    out.push({
      what: `round ${round}: erase the events of three devices`,
      write: async (s) => void (await s.erase('connection_events', 'device_id', devices)),
      events: true,
    });
    const cutoff = new Date(Number((T0 + BigInt(round * 2) * DAY_US + DAY_US / 3n) / 1000n));
    out.push({
      what: `round ${round}: retention drops events before ${cutoff.toISOString()}`,
      write: async (s) => void (await s.expire('connection_events', 'ts', cutoff)),
    });
    // Messages under new keys and under keys of the first copy's batches (held: not added, or
    // erased or expired since: added again). Not under a key an upsert ever wrote (a resumed
    // batch, a change, a deletion): a tombstone of it may be left on another shard, and there
    // DuckDB adds the message where ClickHouse's tombstone, newer, hides it (an engine difference
    // this contract does not judge).
    const messages = [
      ...fresh(30),
      ...held(5, tombstoned, 800).map((k) => {
        const r = eventRow(rnd, 0);
        r[0] = k;
        return r;
      }),
    ];
    out.push({
      what: `round ${round}: device messages, some under erased keys`,
      write: async (s) => void (await s.insertNew(EVENTS_TABLE, messages)),
      events: true,
    });
    const moved = [...new Set(Array.from({ length: 10 }, () => 1 + Math.floor(rnd() * DEVICE_COUNT)))].map(
      (i) => deviceRow(i, `${round + 2}.0`, round + 1),
    );
    out.push({
      what: `round ${round}: devices change firmware`,
      write: async (s) => {
        const w = await s.openWriter(DEVICES, 'upsert');
        await w.writeBatch(moved, [], 'd');
        await w.finish('d');
      },
    });
  }
  // A `--full` run: the table rebuilt from the source's rows (the device messages go with the old
  // copy), then an incremental run after it.
  // Keys of rows written before (changed now), then new ones: each key once, as a source holds it.
  const kept = held(100).map((k) => {
    const r = eventRow(rnd, 0);
    r[0] = k;
    return r;
  });
  const rebuilt = [...fresh(500), ...kept];
  out.push({
    what: 'a --full run rebuilds the events',
    write: async (s) => {
      s.allowDiscardingIngested();
      const w = await s.openWriter(EVENTS_TABLE, 'rebuild');
      await w.writeBatch(rebuilt.slice(0, 300), [], 'full');
      await w.writeBatch(rebuilt.slice(300), [], 'full');
      await w.finish('full');
    },
    events: true,
  });
  out.push({ what: 'after it, new rows', write: upsert(fresh(100), []), events: true });
  return out;
}

/** Every metric of METRICS by day and week, in total, by a base and by a joined dimension. */
async function answers(location: string): Promise<string[]> {
  const reader = await openMetricsReader(location, METRICS);
  const out: string[] = [];
  const round = (a: MetricAnswer) =>
    JSON.stringify([...a.groups, ...a.totals], (_, v) =>
      typeof v === 'number' ? Number(v.toPrecision(10)) : v,
    );
  try {
    for (const [metric, def] of METRICS.metrics) {
      const dims =
        def.from === 'devices'
          ? ['product_model', 'firmware_version']
          : ['error_code', 'devices.firmware_version'];
      for (const grain of ['day', 'week'] as const) {
        for (const by of [[], ...dims.map((d) => [d])]) {
          const a = await reader.query(
            { metric, grain, by, from: '2026-09-28', to: '2026-10-25' },
            { cache: false },
          );
          out.push(`${metric} ${grain} ${by.join()}: ${round(a)}`);
        }
      }
    }
  } finally {
    reader.close();
  }
  return out;
}

async function apply(engine: Engine, location: string, write: Write, refresh: boolean, first: boolean) {
  const store = await engine.openStore(location);
  try {
    await write(store);
    if (refresh) await store.refreshDerived(first ? rollupsOf(METRICS) : undefined);
  } finally {
    await store.close();
  }
}

/** The contract on `engine`, against a DuckDB store without rollups that takes the same writes. */
export function runDerivedContract(
  engine: Engine,
  label: string,
  target: DerivedContractTarget,
  seeds: readonly number[] = [17, 71],
): void {
  describe(`derived-rows contract on ${label}`, () => {
    for (const seed of seeds) {
      it(`answers from derived rows as from the base tables after random writes (seed ${seed})`, async () => {
        const at = await target.location();
        const reference = join(mkdtempSync(join(tmpdir(), 'fv-derived-')), 'reference.duckdb');
        let first = true;
        let compared = 0;
        for (const { what, write, events } of writes(seed)) {
          await apply(duckdb, reference, write, false, false);
          // The write alone (a run killed before its end), then the run's last step.
          await apply(engine, at, write, false, false);
          // The write is recorded: until a refresh, the rollups are not current (not read).
          if (events && !first)
            expect(
              await target.derivedCurrent(at),
              `${what}: derived rows current before refreshDerived`,
            ).toBe(false);
          const expected = await answers(reference);
          expect(await answers(at), `${what}, before refreshDerived`).toEqual(expected);
          await apply(engine, at, async () => {}, true, first);
          first = false;
          expect(await target.derivedCurrent(at), `${what}: derived rows current`).toBe(true);
          expect(await answers(at), `${what}, after refreshDerived`).toEqual(expected);
          compared += expected.filter((a) => a.includes('"value"')).length;
        }
        expect(compared).toBeGreaterThan(50);
      }, 600_000);
    }
  });
}
