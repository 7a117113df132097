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
  readonly rowsRead: number;
  readonly rowsWritten: number;
  readonly rowsDeleted: number;
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
  readonly error?: { readonly code: string; readonly message: string };
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
  field: 'rowsRead' | 'rowsWritten' | 'rowsDeleted' | 'rowsErased' | 'rowsExpired',
): number {
  return result.tables.reduce((n, t) => n + t[field], 0);
}
