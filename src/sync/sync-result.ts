import type { FvCode } from '../errors/index.ts';

/** How each class of column travelled, by column name: the privacy report of a run. */
export interface ColumnReport {
  readonly copied: readonly string[];
  readonly pseudonymized: readonly string[];
  readonly generalized: readonly string[];
  readonly dropped: readonly string[];
  readonly neverRead: readonly string[];
}

export interface QuarantineCount {
  readonly column: string;
  readonly detector: string;
  readonly rows: number;
  /** Pseudonymized keys of a few quarantined rows, for follow-up; never values. */
  readonly sampleKeys: readonly string[];
}

export type TableStatus = 'copied' | 'refused' | 'failed' | 'not_run';

export interface TableResult {
  readonly table: string;
  readonly status: TableStatus;
  readonly mode: 'append' | 'upsert' | 'rebuild' | 'none';
  /**
   * Every row read lands in exactly one of: written, deleted, quarantined (summed over
   * `quarantined`) or blocked, so `rowsRead = rowsWritten + rowsDeleted + quarantined + rowsBlocked`
   * (`rowsAddUp` checks it).
   */
  readonly rowsRead: number;
  readonly rowsWritten: number;
  /**
   * Rows read that are deleted in the source (soft-deleted, or owned by a person erased with
   * `forget`): not copied, and removed from the store when an earlier run copied them.
   */
  readonly rowsDeleted: number;
  /** Rows read in a batch the table was refused in (a PII hit under `block`, an unfit transform): not written. */
  readonly rowsBlocked: number;
  /**
   * Rows removed because the row they belong to was deleted in production (a deleted user's
   * devices, sessions and events), before the table was copied.
   */
  readonly rowsErased: number;
  /** Rows removed because they fell out of the table's retention window. */
  readonly rowsExpired: number;
  readonly quarantined: readonly QuarantineCount[];
  readonly columns: ColumnReport;
  readonly durationMs: number;
  /** Why the table was refused or failed: a code and a message without source values. */
  readonly error?: { readonly code: FvCode; readonly message: string };
}

/** A whole run resolves to one of these; the CLI, the audit and the tests all read it. */
export interface SyncResult {
  readonly ok: boolean;
  readonly store: string;
  readonly tables: readonly TableResult[];
  readonly durationMs: number;
}

export function totalRows(
  result: SyncResult,
  field: 'rowsRead' | 'rowsWritten' | 'rowsDeleted' | 'rowsBlocked' | 'rowsErased' | 'rowsExpired',
): number {
  return result.tables.reduce((n, t) => n + t[field], 0);
}

/** Rows a table quarantined, over every column and detector. */
export function quarantinedRows(t: TableResult): number {
  return t.quarantined.reduce((n, q) => n + q.rows, 0);
}

/** Whether every row a table read is accounted for exactly once. */
export function rowsAddUp(t: TableResult): boolean {
  return t.rowsRead === t.rowsWritten + t.rowsDeleted + quarantinedRows(t) + t.rowsBlocked;
}
