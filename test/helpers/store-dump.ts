import { DuckDBInstance } from '@duckdb/node-api';

/** Every table of a store file, read through DuckDB, as one text blob for canary searches. */
export async function dumpStore(path: string): Promise<string> {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const db = await instance.connect();
  try {
    const tables = (
      await db.runAndReadAll(
        'SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()',
      )
    )
      .getRows()
      .map((r) => String(r[0]));
    const parts: string[] = [];
    for (const t of tables) {
      const r = await db.runAndReadAll(`SELECT * FROM "${t}"`);
      parts.push(`## ${t}`, JSON.stringify(r.getRowsJson()));
    }
    return parts.join('\n');
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

export async function queryStore(path: string, sql: string): Promise<unknown[][]> {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const db = await instance.connect();
  try {
    return (await db.runAndReadAll(sql)).getRowsJson() as unknown[][];
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

/** Runs `sql` on the DuckDB store at `path`, read-write: what a test plants in a store. */
export async function plantInStore(path: string, sql: string): Promise<void> {
  const instance = await DuckDBInstance.create(path);
  const db = await instance.connect();
  try {
    await db.run(sql);
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}
