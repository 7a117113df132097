import { DuckDBInstance, StatementType } from '@duckdb/node-api';
import { FvError } from '../../errors/index.ts';

export interface SqlResult {
  readonly columns: readonly string[];
  readonly rows: ReadonlyArray<ReadonlyArray<unknown>>;
}

/**
 * Runs one read-only SELECT against a store file opened read-only with external access off,
 * so no statement can write, attach, load or read files. Anything else is refused.
 *
 * @example
 * await readOnlySql('.fleetvault/store.duckdb', 'SELECT count(*) FROM devices');
 */
export async function readOnlySql(path: string, sql: string, maxRows = 10_000): Promise<SqlResult> {
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(path, {
      access_mode: 'READ_ONLY',
      enable_external_access: 'false',
      lock_configuration: 'true',
    });
  } catch (error) {
    throw new FvError(
      'FV_STORE_OPEN',
      `cannot open store ${path} read-only: ${String((error as Error).message).split('\n')[0]}`,
    );
  }
  const db = await instance.connect();
  try {
    let count: number;
    try {
      count = (await db.extractStatements(sql)).count;
    } catch (error) {
      throw new FvError('FV_SQL_FAILED', String((error as Error).message).split('\n')[0] ?? 'syntax error');
    }
    if (count !== 1) throw new FvError('FV_SQL_REFUSED', `expected exactly one statement, got ${count}`);
    let prepared: Awaited<ReturnType<typeof db.prepare>>;
    try {
      prepared = await db.prepare(sql);
    } catch (error) {
      throw new FvError('FV_SQL_FAILED', String((error as Error).message).split('\n')[0] ?? 'cannot prepare');
    }
    if (prepared.statementType !== StatementType.SELECT) {
      throw new FvError('FV_SQL_REFUSED', 'only a read-only SELECT statement is allowed');
    }
    try {
      const reader = await prepared.runAndReadUntil(maxRows);
      return { columns: reader.columnNames(), rows: reader.getRowsJson().slice(0, maxRows) };
    } catch (error) {
      throw new FvError('FV_SQL_FAILED', String((error as Error).message).split('\n')[0] ?? 'query failed');
    }
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}
