/** How long and how many rows an analyst statement may take (every engine). */
export interface SqlLimits {
  readonly maxRows: number;
  readonly timeoutMs: number;
}

/** Where an analyst statement runs: a process of its own, this small, this slow at most. */
export interface SandboxLimits extends SqlLimits {
  /** The child's whole resident memory; over it, the child is killed. DuckDB gets half. */
  readonly memoryMb?: number;
  readonly threads?: number;
  /** ClickHouse only: rows the server may read for the statement, across shards. */
  readonly maxRowsToRead?: number;
}

/** A guarded statement's answer: its columns, at most `maxRows` rows, and whether more were cut. */
export interface GuardedResult {
  readonly columns: readonly string[];
  readonly rows: ReadonlyArray<ReadonlyArray<unknown>>;
  readonly truncated: boolean;
}
