import { FvError } from '../errors/index.ts';

/** The meta entry counting the rows `insert-new` writers added to a table since it was last built. */
export const ingestedRowsMeta = (table: string) => `ingested_rows:${table}`;

/** Rows devices added to `table` since it was last built (an upper bound: erasure and retention may have removed some). */
export async function ingestedRows(
  store: { meta(key: string): Promise<string | undefined> },
  table: string,
): Promise<number> {
  const n = Number((await store.meta(ingestedRowsMeta(table))) ?? 0);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/**
 * The refusal to rebuild a table from its source while it holds rows only devices sent: they
 * would be lost without a word.
 */
export function ingestedRowsError(table: string, rows: number, rebuild: string): FvError {
  return new FvError(
    'FV_INGESTED_ROWS',
    `table ${table} holds rows ingested from devices (${rows.toLocaleString('en-US')} added since it was last built) that no source holds; ${rebuild} would lose them. Pass --discard-ingested to do it anyway and lose them`,
  );
}
