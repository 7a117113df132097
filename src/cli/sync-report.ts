import { ERROR_CATALOG, type ErrorCode } from '../errors/index.ts';
import type { SyncResult } from '../sync/index.ts';
import { totalRows } from '../sync/index.ts';
import type { Output } from './output.ts';

function list(names: readonly string[]): string {
  return names.length ? names.join(', ') : '-';
}

/** Renders a sync result for people: per table rows and what happened to each column. */
export function printSyncReport(out: Output, result: SyncResult): void {
  const secs = result.durationMs / 1000;
  const read = totalRows(result, 'rowsRead');
  out.line(`${result.ok ? 'Synced' : 'Sync stopped'} into ${result.store} in ${secs.toFixed(1)} s`);
  out.line(
    `  rows read ${read.toLocaleString('en-US')}, written ${totalRows(result, 'rowsWritten').toLocaleString('en-US')}, deleted ${(totalRows(result, 'rowsDeleted') + totalRows(result, 'rowsErased')).toLocaleString('en-US')}, ${Math.round(read / Math.max(secs, 0.001)).toLocaleString('en-US')} rows/s`,
  );
  for (const t of result.tables) {
    const q = t.quarantined.reduce((n, x) => n + x.rows, 0);
    out.line('');
    out.line(
      `  ${t.table}  [${t.status}${t.mode !== 'none' ? `, ${t.mode}` : ''}]  read ${t.rowsRead.toLocaleString('en-US')}  written ${t.rowsWritten.toLocaleString('en-US')}  deleted ${t.rowsDeleted}${t.rowsErased ? `  erased with deleted owners ${t.rowsErased.toLocaleString('en-US')}` : ''}${t.rowsExpired ? `  expired ${t.rowsExpired.toLocaleString('en-US')}` : ''}  quarantined ${q}`,
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
      const solve = ERROR_CATALOG[t.error.code as ErrorCode]?.solve;
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
