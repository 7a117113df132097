import { rollupsAnswering } from '../../metrics/index.ts';
import type { Engine } from '../engine.ts';
import { compileMetric } from './compile-duckdb.ts';
import { DuckDbMetricsEngine } from './duckdb-reader.ts';
import { DuckDbStore } from './duckdb-store.ts';
import { readOnlySql } from './read-only-sql.ts';

/** DuckDB embedded: one store file on this machine (the default engine). */
export const duckdb: Engine = {
  name: 'duckdb',
  openStore: (path) => DuckDbStore.open(path),
  openReader: (path) => DuckDbMetricsEngine.open(path, duckdb.compile),
  compile(def, shape, tables, opts) {
    const current = tables.rollups ?? [];
    const answering = rollupsAnswering(current, shape.range);
    const c = compileMetric(def, shape.grain, shape.by, shape.filters, opts, answering, current);
    const bounds = [new Date(shape.range.from).toISOString(), new Date(shape.range.to).toISOString()];
    return { sql: c.sql, params: [...bounds, ...c.params] };
  },
  sql: (path, text, limits) => readOnlySql(path, text, limits),
  files: (path) => [path],
  checkServing: async () => {},
};

export { columnRef, fromParts } from './compile-duckdb.ts';
export { AS_NAMED } from './duckdb-reader.ts';
export { DuckDbStore, holdsStore, isBookkeeping } from './duckdb-store.ts';
export { appendChunked, duckDbErrorKind, duckDbType } from './duckdb-values.ts';
export { NativeMemory } from './native-memory.ts';
export { openReadOnlyFile } from './read-only-file.ts';
export { readOnlySql, type SandboxLimits } from './read-only-sql.ts';
export {
  checkPlan,
  checkSql,
  type GuardedResult,
  guardedSql,
  lockForAnalysts,
  type SqlLimits,
} from './sql-guard.ts';
