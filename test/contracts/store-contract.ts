// The store contract: what every engine's writer does with the same calls, the same answers. Each
// engine's test file runs it (src/engines/duckdb/duckdb-engine.test.ts,
// test/clickhouse-engine.e2e.test.ts) and adds only what is its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engines/index.ts';
import { FvError } from '../../src/errors/index.ts';
import type { Value } from '../../src/policy/index.ts';
import { ingestedRows, type Store, type StoreTableSpec } from '../../src/store/index.ts';

export const uuid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
export const big = (n: number) => BigInt(`0x${uuid(n).replaceAll('-', '')}`);
/** Keys as a source streams them, batch by batch. */
async function* batches(...list: bigint[][]): AsyncGenerator<bigint[]> {
  yield* list;
}
const T0 = 1_767_225_600_000_000n; // 2026-01-01T00:00:00Z in microseconds

export const devices: StoreTableSpec = {
  name: 'devices',
  columns: [
    { name: 'id', kind: 'uuid', sourceType: 'bigint' },
    { name: 'user_id', kind: 'uuid', sourceType: 'bigint' },
    { name: 'model', kind: 'text', sourceType: 'text' },
    { name: 'seen', kind: 'timestamptz', sourceType: 'timestamptz' },
    { name: 'day', kind: 'date', sourceType: 'date' },
    { name: 'ok', kind: 'boolean', sourceType: 'boolean' },
    { name: 'score', kind: 'float', sourceType: 'double precision' },
  ],
  key: ['id'],
  shardBy: 'user_id',
};

// id, user, model, seen (+ms), day, ok, score
export const row = (id: number, user: number, model: string, ms = 0) => [
  big(id),
  big(user),
  model,
  T0 + BigInt(id) * 3_600_000_000n + BigInt(ms) * 1000n,
  20_454 + id,
  id % 2 === 0,
  id / 4,
];

/** An event table routed by its device, as connection_events is: what device messages land in. */
const events: StoreTableSpec = {
  name: 'events',
  columns: [
    { name: 'id', kind: 'uuid', sourceType: 'bigint' },
    { name: 'device_id', kind: 'uuid', sourceType: 'bigint' },
    { name: 'ts', kind: 'timestamptz', sourceType: 'timestamp with time zone' },
    { name: 'rssi', kind: 'integer', sourceType: 'integer' },
    { name: 'outcome', kind: 'text', sourceType: 'text' },
  ],
  key: ['id'],
  shardBy: 'device_id',
};
const event = (id: number, device: number, outcome: string, rssi = -50): Value[] => [
  big(id),
  big(device),
  T0 + BigInt(id) * 1_000_000n,
  rssi,
  outcome,
];

/** Where an engine's run of the contract keeps its store, and the one thing read back its own way. */
export interface StoreContractTarget {
  /** A store location; a new one per call where the engine can have one (a file), else the same. */
  location(): string;
  /** Closes nothing: reads sum(amount) and sum(rate) as text, and amount's type name, from `payments`. */
  readDecimals(location: string): Promise<unknown[]>;
  /** ClickHouse 21.9 on prints a decimal without its trailing zeros (`toString` included). */
  decimalsWithoutTrailingZeros?: boolean;
}

/**
 * The writer's contract on `engine`: keys, settings, batches with checkpoints, upserts and
 * deletions, expiry and erasure, tombstones, rebuilds, change-capture positions, exact decimals,
 * device rows, and values refused before anything is written.
 */
export function runStoreContract(engine: Engine, label: string, target: StoreContractTarget): void {
  describe(`store contract on ${label}`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await engine.openStore(target.location());
    });
    afterAll(async () => {
      await store?.close();
    });

    it('binds a key, records settings, and refuses another key', async () => {
      await store.bindKey('fp-1');
      await store.bindKey('fp-1');
      await expect(store.bindKey('fp-2')).rejects.toMatchObject({ code: 'FV_KEY_MISMATCH' });
      await store.setMeta('k', '10');
      await store.setMeta('k', '12');
      expect(await store.meta('k')).toBe('12');
      expect(await store.meta('absent')).toBeUndefined();
      // Recorded at once inside a transaction's work (an erasure's record): megabytes of it too.
      const record = JSON.stringify({ user: Array.from({ length: 80_000 }, (_, i) => uuid(i)) });
      await store.atomically(async () => {
        await store.setMeta('k', '14');
        await store.setMetaNow('erasing', record);
        expect(await store.meta('erasing')).toBe(record);
      });
      expect(await store.meta('erasing')).toBe(record);
      expect(await store.meta('k')).toBe('14');
      await store.setMetaNow('erasing', '');
      expect(await store.meta('erasing')).toBe('');
    });

    it('appends, upserts by key, deletes keys, and moves the checkpoint with each batch', async () => {
      const w = await store.openWriter(devices, 'append');
      await w.writeBatch([row(1, 100, 'a'), row(2, 100, 'b'), row(3, 200, 'c', 250)], [], 'cp1');
      await w.finish('cp1');
      expect(await store.tableState('devices')).toMatchObject({ rows: 3, checkpoint: 'cp1' });
      const u = await store.openWriter(devices, 'upsert');
      // Device 2 moves to another user (maybe another shard); 3 is deleted; 4 is new; 1 re-sent twice.
      await u.writeBatch([row(2, 300, 'b2'), row(4, 200, 'd'), row(1, 100, 'a')], [[big(3)]], 'cp2');
      await u.writeBatch([row(1, 100, 'a')], [], 'cp3');
      const s = await store.tableState('devices');
      expect(s).toMatchObject({ rows: 3, checkpoint: 'cp3' });
      expect(s?.columns).toEqual(devices.columns);
    });

    it('expires by time, erases with links followed, and reports keys gone from the source', async () => {
      const cutoff = new Date(Number((T0 + 2n * 3_600_000_000n) / 1000n)); // after device 1, at device 2
      expect(await store.expire('devices', 'seen', cutoff)).toBe(1);
      // What an erasure follows is found by reading: nothing goes until it erases.
      expect(await store.linked('devices', 'user_id', [uuid(300)], 'id')).toEqual([uuid(2)]);
      expect(await store.tableState('devices')).toMatchObject({ rows: 2 });
      expect(await store.erase('devices', 'user_id', [uuid(300)])).toBe(1);
      expect(await store.linked('devices', 'user_id', [uuid(300)], 'id')).toEqual([]);
      expect(await store.erase('devices', 'user_id', ['not-a-uuid'])).toBe(0);
      expect(await store.linked('devices', 'user_id', ['not-a-uuid'], 'id')).toEqual([]);
      expect(await store.tableState('devices')).toMatchObject({ rows: 1 });
      expect(await store.missingKeys('devices', 'id', batches([big(4)]))).toEqual([]);
      expect(await store.missingKeys('devices', 'id', batches([big(9)], [], [big(4)]))).toEqual([]);
      expect(await store.missingKeys('devices', 'id', batches([big(9)], []))).toEqual([uuid(4)]);
      // Thousands at once (one person's many devices): in statements the server takes.
      const many = Array.from({ length: 6_000 }, (_, i) => uuid(100_000 + i));
      expect(await store.linked('devices', 'user_id', [...many, uuid(200)], 'id')).toEqual([uuid(4)]);
      expect(await store.erase('devices', 'id', many)).toBe(0);
      expect(await store.tableState('devices')).toMatchObject({ rows: 1 });
    });

    it('keeps tombstones by domain', async () => {
      await store.addTombstones('user', [uuid(300), 'junk']);
      await store.addTombstones('device', [uuid(2)]);
      const t = await store.tombstones();
      expect([...(t.get('user') ?? [])]).toEqual([uuid(300)]);
      expect([...(t.get('device') ?? [])]).toEqual([uuid(2)]);
      // What one batch asks: only its own candidates, only in the domain asked.
      expect([...(await store.tombstonesAmong('user', [big(300), big(301), big(2)]))]).toEqual([uuid(300)]);
      expect([...(await store.tombstonesAmong('device', [big(300), big(2), big(2)]))]).toEqual([uuid(2)]);
      expect((await store.tombstonesAmong("it's", [big(300)])).size).toBe(0);
      expect((await store.tombstonesAmong('user', [])).size).toBe(0);
      // Counts and times by domain, on the store's clock; a domain's own set; those since a time.
      const counts = await store.tombstoneCounts();
      expect(counts.get('user')?.count).toBe(1);
      expect(counts.get('device')?.count).toBe(1);
      const latest = counts.get('user')?.latest ?? 0;
      expect(Math.abs(latest - Date.now())).toBeLessThan(10 * 60_000);
      expect([...(await store.tombstonesIn('user'))]).toEqual([uuid(300)]);
      expect([...(await store.tombstonesIn('user', latest))]).toEqual([uuid(300)]);
      expect((await store.tombstonesIn('user', latest + 5_000)).size).toBe(0);
      expect((await store.tombstonesIn("it's")).size).toBe(0);
    });

    it('clears a column holding erased pseudonyms and keeps the rows', async () => {
      const refs: StoreTableSpec = {
        name: 'refs',
        columns: [
          { name: 'id', kind: 'uuid', sourceType: 'bigint' },
          { name: 'referred_by', kind: 'uuid', sourceType: 'bigint' },
          { name: 'at', kind: 'timestamptz', sourceType: 'timestamptz' },
        ],
        key: ['id'],
      };
      const w = await store.openWriter(refs, 'append');
      await w.writeBatch(
        [
          [big(1), null, T0],
          [big(2), big(1), T0 + 1n],
          [big(3), big(1), T0 + 2n],
          [big(4), big(2), T0 + 3n],
        ],
        [],
        'c1',
      );
      await w.finish('c1');
      expect(await store.clear('refs', 'referred_by', [uuid(1), 'junk'])).toBe(2);
      expect(await store.clear('refs', 'referred_by', [uuid(1)])).toBe(0);
      expect(await store.clear('nosuch', 'referred_by', [uuid(1)])).toBe(0);
      expect(await store.tableState('refs')).toMatchObject({ rows: 4 });
      expect(await store.linked('refs', 'referred_by', [uuid(1)], 'id')).toEqual([]);
      expect(await store.linked('refs', 'referred_by', [uuid(2)], 'id')).toEqual([uuid(4)]);
      expect((await store.linked('refs', 'id', [uuid(1), uuid(2), uuid(3), uuid(4)], 'id')).sort()).toEqual([
        uuid(1),
        uuid(2),
        uuid(3),
        uuid(4),
      ]);
    });

    it('holds the links of rows it does not hold, the latest per key and column, until erased', async () => {
      // A held-back gadget (no such table yet): its owner and its home, by the gadget's key.
      await store.holdLinks('gadgets', 'id', [
        { key: uuid(1), column: 'owner', link: uuid(100) },
        { key: uuid(1), column: 'home', link: uuid(900) },
        { key: uuid(2), column: 'owner', link: uuid(100) },
        { key: 'junk', column: 'owner', link: uuid(100) },
      ]);
      await store.holdLinks('gadgets', 'id', [{ key: uuid(3), column: 'owner', link: uuid(101) }]);
      const sorted = async (p: Promise<string[]>) => (await p).sort();
      expect(await sorted(store.heldLinks('gadgets', 'owner', [uuid(100), uuid(101)]))).toEqual([
        uuid(1),
        uuid(2),
        uuid(3),
      ]);
      expect(await store.heldLinks('gadgets', 'home', [uuid(100)])).toEqual([]);
      expect(await store.heldLinks('other', 'owner', [uuid(100)])).toEqual([]);
      expect(await store.heldLinks('gadgets', 'owner', ['not-a-uuid'])).toEqual([]);
      // A gadget held back again with another owner keeps only the new one.
      await store.holdLinks('gadgets', 'id', [{ key: uuid(2), column: 'owner', link: uuid(102) }]);
      expect(await store.heldLinks('gadgets', 'owner', [uuid(100)])).toEqual([uuid(1)]);
      expect(await store.heldLinks('gadgets', 'owner', [uuid(102)])).toEqual([uuid(2)]);
      // Erasing by a link takes every link of the keys it reaches; by the key column, the key's.
      expect(await store.erase('gadgets', 'owner', [uuid(100)])).toBe(0);
      expect(await store.heldLinks('gadgets', 'owner', [uuid(100)])).toEqual([]);
      expect(await store.heldLinks('gadgets', 'home', [uuid(900)])).toEqual([]);
      expect(await store.heldLinks('gadgets', 'owner', [uuid(101)])).toEqual([uuid(3)]);
      expect(await store.erase('gadgets', 'id', [uuid(3)])).toBe(0);
      expect(await store.heldLinks('gadgets', 'owner', [uuid(101)])).toEqual([]);
      expect(await store.heldLinks('gadgets', 'owner', [uuid(102)])).toEqual([uuid(2)]);
      expect(await store.erase('gadgets', 'id', [uuid(2)])).toBe(0);
      expect(await store.heldLinks('gadgets', 'owner', [uuid(102)])).toEqual([]);
      expect(await store.holdsLinks('gadgets')).toBe(false);
      // Which keys hold a link in a column; released by key, or for every key the table holds
      // (`refs`, holding ids 1 to 4, from the test before).
      await store.holdLinks('refs', 'id', [
        { key: uuid(3), column: 'referred_by', link: null },
        { key: uuid(2), column: 'referred_by', link: uuid(9) },
        { key: uuid(7), column: 'referred_by', link: uuid(9) },
        { key: uuid(8), column: 'referred_by', link: uuid(9) },
      ]);
      expect(await store.holdsLinks('refs')).toBe(true);
      // A link held without a value (a row moved to no owner) counts as held, and matches no value.
      expect([...(await store.heldAmong('refs', 'referred_by', [uuid(2), uuid(3), uuid(7)]))].sort()).toEqual(
        [uuid(2), uuid(3), uuid(7)],
      );
      expect(await store.heldLinks('refs', 'referred_by', [uuid(3)])).toEqual([]);
      expect((await store.heldAmong('refs', 'other', [uuid(2)])).size).toBe(0);
      await store.releaseHeld('refs', [uuid(8), 'junk']);
      await store.releaseHeld('refs');
      expect(await store.heldLinks('refs', 'referred_by', [uuid(9)])).toEqual([uuid(7)]);
      await store.releaseHeld('refs', [uuid(7)]);
      expect(await store.holdsLinks('refs')).toBe(false);
    });

    it('rebuilds beside the old copy and swaps it in with its checkpoint', async () => {
      const w = await store.openWriter(devices, 'rebuild');
      await w.writeBatch([row(5, 500, 'e'), row(6, 600, 'f')], [], 'r1');
      // The old copy still answers until the swap.
      expect(await store.tableState('devices')).toMatchObject({ rows: 1 });
      await w.finish('r2');
      expect(await store.tableState('devices')).toMatchObject({ rows: 2, checkpoint: 'r2' });
    });

    it('holds a change-capture position only together with the rows before it', async () => {
      const w = await store.openWriter(devices, 'upsert');
      await store.atomically(async () => {
        await w.writeBatch([row(7, 700, 'g')], [[big(5)]], undefined);
        await store.setMeta('cdc_lsn', '0/10');
      });
      expect(await store.meta('cdc_lsn')).toBe('0/10');
      await expect(
        store.atomically(async () => {
          await store.setMeta('cdc_lsn', '0/20');
          throw new FvError('FV_CDC_CHANGE', 'stop');
        }),
      ).rejects.toThrow('stop');
      expect(await store.meta('cdc_lsn')).toBe('0/10');
      expect(await store.tableState('devices')).toMatchObject({ rows: 2 });
    });

    it('stores numeric as an exact decimal with the source precision, and refuses a value too wide by column', async () => {
      const spec: StoreTableSpec = {
        name: 'payments',
        columns: [
          { name: 'id', kind: 'uuid', sourceType: 'bigint' },
          { name: 'amount', kind: 'decimal', sourceType: 'numeric(10,2)' },
          { name: 'rate', kind: 'decimal', sourceType: 'numeric' },
        ],
        key: ['id'],
      };
      // A store of its own where the engine can have one: the values are read back after it closes.
      const at = target.location();
      const payments = await engine.openStore(at);
      await payments.bindKey('fp-1');
      const amounts = ['0.10', '0.20', '19.99', '67426.54', '-3.33', '0.01'];
      const rows = Array.from({ length: 3000 }, (_, i) => [
        big(i + 1),
        amounts[i % amounts.length] as string,
        '0.1234567891',
      ]);
      const cents = rows.reduce((n, r) => n + BigInt(String(r[1]).replace('.', '')), 0n);
      const expected = `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;
      const w = await payments.openWriter(spec, 'append');
      await w.writeBatch(rows, [], 'c');
      await w.finish('c');
      const wide = await (await payments.openWriter(spec, 'upsert'))
        .writeBatch([[big(9999), '123456789012.00', null]], [], undefined)
        .catch((x: unknown) => x as FvError);
      expect(wide).toMatchObject({ code: 'FV_STORE_VALUE' });
      expect((wide as FvError).message).toContain('payments.amount');
      expect((wide as FvError).message).not.toContain('123456789012');
      // A plain numeric keeps 20 integer digits, not 21, on every engine (ClickHouse 18.16 crashed
      // printing a Decimal128 of 28).
      const huge = await (await payments.openWriter(spec, 'upsert'))
        .writeBatch([[big(9998), null, '-100000000000000000000']], [], undefined)
        .catch((x: unknown) => x as FvError);
      expect(huge).toMatchObject({ code: 'FV_STORE_VALUE' });
      expect((huge as FvError).message).toContain('payments.rate');
      expect((huge as FvError).message).toContain('DECIMAL(30,10)');
      expect((huge as FvError).message).not.toContain('100000000000000000000');
      await payments.close();
      const answer = await target.readDecimals(at);
      expect(answer[0]).toBe(target.decimalsWithoutTrailingZeros ? expected.replace(/\.?0+$/, '') : expected);
      expect(answer[1]).toMatch(/^370\.3703673\d*$/);
      expect(String(answer[2])).toMatch(/^(Nullable\()?Decimal\(10, 2\)\)?$|^DECIMAL\(10,2\)$/);
    });

    it('adds device rows only under keys nobody holds: never replacing a stored row, whatever its shard', async () => {
      const sync = await store.openWriter(events, 'upsert');
      await sync.writeBatch([event(1, 100, 'prod'), event(2, 101, 'prod')], [], 'e1');
      // A publisher reuses key 1 with another device (so another shard, maybe) and key 2 as it is.
      const added = await store.insertNew(events, [
        event(1, 999, 'forged', 7),
        event(2, 101, 'forged'),
        event(3, 100, 'device'),
      ]);
      expect(added).toBe(1);
      expect(await store.tableState('events')).toMatchObject({ rows: 3, checkpoint: 'e1' });
      expect(await store.insertNew(events, [event(3, 100, 'redelivered')])).toBe(0);
      expect(await ingestedRows(store, 'events')).toBe(1);
      // Every stored row is the first one written under its key.
      expect(await store.linked('events', 'device_id', [uuid(999)], 'outcome')).toEqual([]);
      expect(await store.erase('events', 'device_id', [uuid(999)])).toBe(0);
      expect((await store.linked('events', 'device_id', [uuid(100), uuid(101)], 'outcome')).sort()).toEqual([
        'device',
        'prod',
      ]);
      expect(await store.erase('events', 'device_id', [uuid(100), uuid(101)])).toBe(3);
      // A row the sync copies later for a key a message took replaces the message's row.
      await store.insertNew(events, [event(4, 200, 'device')]);
      await sync.writeBatch([event(4, 201, 'prod-later')], [], 'e2');
      expect(await store.tableState('events')).toMatchObject({ rows: 1 });
      expect(await store.linked('events', 'device_id', [uuid(200), uuid(201)], 'outcome')).toEqual([
        'prod-later',
      ]);
      expect(await store.erase('events', 'device_id', [uuid(200), uuid(201)])).toBe(1);
    });

    it('refuses to rebuild a table holding rows devices sent, unless told to drop them', async () => {
      await store.insertNew(events, [event(5, 300, 'device')]);
      expect(await ingestedRows(store, 'events')).toBe(3);
      await expect(store.openWriter(events, 'rebuild')).rejects.toMatchObject({
        code: 'FV_INGESTED_ROWS',
        message: expect.stringContaining('table events holds rows ingested from devices (3 added'),
      });
      expect(await store.tableState('events')).toMatchObject({ rows: 1 });
      store.allowDiscardingIngested();
      const w = await store.openWriter(events, 'rebuild');
      await w.writeBatch([event(6, 300, 'prod')], [], 'e3');
      await w.finish('e3');
      expect(await store.tableState('events')).toMatchObject({ rows: 1, checkpoint: 'e3' });
      expect(await ingestedRows(store, 'events')).toBe(0);
    });

    it('refuses a value its column cannot hold before writing anything, the stored row untouched', async () => {
      const w = await store.openWriter(events, 'upsert');
      for (const bad of [event(6, 301, 'wrapped', 2 ** 31), event(6, 301, 'huge', -(2 ** 31) - 1)]) {
        const e = await w
          .writeBatch([event(7, 300, 'ok'), bad], [], 'e4')
          .catch((x: unknown) => x as FvError);
        expect(e).toMatchObject({ code: 'FV_STORE_VALUE' });
        expect((e as FvError).message).toContain('events.rssi');
        expect((e as FvError).message).not.toContain(String(2 ** 31));
        await expect(store.insertNew(events, [bad])).rejects.toMatchObject({ code: 'FV_STORE_VALUE' });
      }
      expect(await store.tableState('events')).toMatchObject({ rows: 1, checkpoint: 'e3' });
      expect(await store.linked('events', 'device_id', [uuid(300)], 'outcome')).toEqual(['prod']);
    });

    it('gives back its memory between the batches of an open writer, which goes on, in every mode', async () => {
      for (const mode of ['rebuild', 'append', 'upsert'] as const) {
        const spec = { ...devices, name: `released_${mode}` };
        if (mode === 'upsert') {
          const first = await store.openWriter(spec, 'append');
          await first.writeBatch([row(1, 100, 'a'), row(2, 100, 'b')], [], 'r0');
          await first.finish('r0');
        }
        const w = await store.openWriter(spec, mode);
        await w.writeBatch([row(3, 100, 'c')], [], 'r1');
        await store.releaseMemory();
        // An upsert replaces a row and deletes another on the reopened store (its staging made again).
        await w.writeBatch([row(4, 200, 'd'), row(1, 100, 'a2')], mode === 'upsert' ? [[big(2)]] : [], 'r2');
        await store.releaseMemory();
        await w.writeBatch([row(5, 200, 'e')], [], 'r3');
        await w.finish('r3');
        const models = await store.linked(spec.name, 'user_id', [uuid(100), uuid(200)], 'model');
        expect(models.sort(), mode).toEqual(['a2', 'c', 'd', 'e']);
        expect(await store.tableState(spec.name), mode).toMatchObject({ rows: 4, checkpoint: 'r3' });
      }
    });

    it('gives back its memory between steps and holds everything as before, a transaction open or not', async () => {
      const before = {
        events: await store.tableState('events'),
        devices: await store.tableState('devices'),
        tombstones: await store.tombstoneCounts(),
        k: await store.meta('k'),
      };
      await store.releaseMemory();
      expect(await store.tableState('events')).toEqual(before.events);
      expect(await store.tableState('devices')).toEqual(before.devices);
      expect(await store.tombstoneCounts()).toEqual(before.tombstones);
      expect(await store.meta('k')).toBe(before.k);
      // Writes go on after it: a batch, and rows devices add (their staging is made again).
      const w = await store.openWriter(events, 'upsert');
      await w.writeBatch([event(8, 300, 'after')], [], 'e5');
      expect(await store.insertNew(events, [event(9, 300, 'device')])).toBe(1);
      // Inside a transaction it gives back nothing and the transaction's writes still commit as one.
      await store.atomically(async () => {
        await store.setMeta('k', '15');
        await store.releaseMemory();
        await w.writeBatch([event(10, 300, 'inside')], [], 'e6');
      });
      expect(await store.meta('k')).toBe('15');
      expect(await store.tableState('events')).toMatchObject({ rows: 4, checkpoint: 'e6' });
      await expect(
        store.atomically(async () => {
          await store.setMeta('k', '16');
          await store.releaseMemory();
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      expect(await store.meta('k')).toBe('15');
    });
  });
}
