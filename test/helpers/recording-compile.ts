// A ClickHouse reader's compile step, kept: each compiled statement recorded, on the stored tables
// as a test or benchmark chooses to show them (without rollups, or without routing so that every
// join ships its table), to compare two plans of one metric on one store.
import { clickhouse } from '../../src/engines/clickhouse/index.ts';
import type { Engine, StoredTables } from '../../src/engines/engine.ts';

/** The stored tables without their rollups: the compiler reads the base tables. */
export const withoutRollups = (t: StoredTables): StoredTables => ({ ...t, rollups: [] });

/** The stored tables without their routing: every join reads its table whole and ships it (GLOBAL). */
export const withoutRouting = (t: StoredTables): StoredTables => {
  const { routedBy: _, ...rest } = t;
  return rest;
};

/** ClickHouse's compile on the tables as `view` shows them, each statement pushed to `compiled`. */
export function recordingCompile(
  compiled: string[],
  view: (t: StoredTables) => StoredTables = (t) => t,
): Engine['compile'] {
  return (def, shape, tables, opts) => {
    const c = clickhouse.compile(def, shape, view(tables), opts);
    compiled.push(c.sql);
    return c;
  };
}

/** Answer rows as comparable text in no particular order, numbers to `digits` significant digits. */
export function comparableRows(rows: ReadonlyArray<ReadonlyArray<unknown>>, digits = 10): string[] {
  return rows
    .map((r) => JSON.stringify(r.map((v) => (typeof v === 'number' ? Number(v.toPrecision(digits)) : v))))
    .sort();
}
