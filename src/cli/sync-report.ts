import { ERROR_CATALOG } from '../errors/index.ts';
import type { SyncResult } from '../sync/index.ts';
import { quarantinedRows, totalRows } from '../sync/index.ts';
import type { Output } from './output.ts';

function list(names: readonly string[]): string {
  return names.length ? names.join(', ') : '-';
}

/** Renders a sync result for people: per table rows and what happened to each column. */
export function printSyncReport(out: Output, result: SyncResult): void {
  const secs = result.durationMs / 1000;
  const read = totalRows(result, 'rowsRead');
  const n = (x: number) => x.toLocaleString('en-US');
  const quarantined = result.tables.reduce((q, t) => q + quarantinedRows(t), 0);
  out.line(`${result.ok ? 'Synced' : 'Sync stopped'} into ${result.store} in ${secs.toFixed(1)} s`);
  // Every row read is counted once: written, deleted in the source, quarantined or blocked.
  out.line(
    `  rows read ${n(read)} = written ${n(totalRows(result, 'rowsWritten'))} + deleted in the source ${n(totalRows(result, 'rowsDeleted'))} + quarantined ${n(quarantined)} + blocked ${n(totalRows(result, 'rowsBlocked'))}; ${n(Math.round(read / Math.max(secs, 0.001)))} rows/s`,
  );
  const erased = totalRows(result, 'rowsErased');
  const expired = totalRows(result, 'rowsExpired');
  if (erased + expired > 0)
    out.line(`  also removed from the store: ${n(erased)} with deleted owners, ${n(expired)} past retention`);
  for (const t of result.tables) {
    out.line('');
    out.line(
      `  ${t.table}  [${t.status}${t.mode !== 'none' ? `, ${t.mode}` : ''}]  read ${n(t.rowsRead)}  written ${n(t.rowsWritten)}  deleted ${n(t.rowsDeleted)}  quarantined ${n(quarantinedRows(t))}${t.rowsBlocked ? `  blocked ${n(t.rowsBlocked)}` : ''}${t.rowsErased ? `  erased with deleted owners ${n(t.rowsErased)}` : ''}${t.rowsExpired ? `  expired ${n(t.rowsExpired)}` : ''}`,
    );
    out.line(`    copied:        ${list(t.columns.copied)}`);
    out.line(`    pseudonymized: ${list(t.columns.pseudonymized)}`);
    out.line(`    generalized:   ${list(t.columns.generalized)}`);
    out.line(`    dropped:       ${list(t.columns.dropped)}`);
    out.line(`    never read:    ${list(t.columns.neverRead)}`);
    for (const x of t.quarantined) {
      out.line(
        `    quarantined ${x.rows} rows: ${t.table}.${x.column} matched ${x.detector} (e.g. rows ${x.sampleKeys.join(', ')})`,
      );
    }
    if (t.error) {
      out.line(`    ${t.error.code}: ${t.error.message}`);
      const solve = ERROR_CATALOG[t.error.code].solve;
      if (solve) out.line(`    how to solve: ${solve}`);
    }
  }
  const stopped = result.tables.filter((t) => t.status !== 'copied');
  if (stopped.length > 0) {
    out.line('');
    out.line(
      `${stopped.length} of ${result.tables.length} table(s) not copied (${stopped.map((t) => t.table).join(', ')}); every other table was copied. Fix each as advised above, then run sync again.`,
    );
  }
}
