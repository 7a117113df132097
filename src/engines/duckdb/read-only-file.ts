import { DuckDBInstance } from '@duckdb/node-api';
import { FvError } from '../../errors/index.ts';

/**
 * A DuckDB file opened read-only with no access outside it; a file DuckDB cannot open is
 * FV_STORE_OPEN, saying `cannot open <what>` and DuckDB's first line.
 */
export async function openReadOnlyFile(path: string, what: string): Promise<DuckDBInstance> {
  try {
    return await DuckDBInstance.create(path, { access_mode: 'READ_ONLY', enable_external_access: 'false' });
  } catch (error) {
    throw new FvError(
      'FV_STORE_OPEN',
      `cannot open ${what}: ${String((error as Error).message).split('\n')[0]}`,
    );
  }
}
