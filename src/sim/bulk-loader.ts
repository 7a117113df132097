import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/** Where the simulator writes: plain SQL plus bulk COPY of text-format chunks. */
export interface BulkLoader {
  exec(sql: string): Promise<void>;
  query<R>(sql: string): Promise<R[]>;
  copyIn(table: string, columns: readonly string[], chunks: Iterable<string>): Promise<void>;
}

/** Loads through a `pg` client with `COPY … FROM STDIN`. */
export function pgLoader(client: Client): BulkLoader {
  return {
    exec: async (sql) => {
      await client.query(sql);
    },
    query: async <R>(sql: string) => (await client.query(sql)).rows as R[],
    copyIn: async (table, columns, chunks) => {
      const sql = `COPY ${table} (${columns.join(', ')}) FROM STDIN`;
      await pipeline(Readable.from(chunks), client.query(copyFrom(sql)));
    },
  };
}

/** The subset of PGlite the loader uses (in-process COPY goes through a blob, not the wire). */
export interface PgliteLike {
  exec(sql: string): Promise<unknown>;
  query<R>(sql: string, params?: unknown[], opts?: { blob?: Blob }): Promise<{ rows: R[] }>;
}

const BLOB_CHUNKS = 40;

/** Loads into an in-process PGlite with `COPY … FROM '/dev/blob'`, in bounded slices. */
export function pgliteLoader(db: PgliteLike): BulkLoader {
  return {
    exec: async (sql) => {
      await db.exec(sql);
    },
    query: async <R>(sql: string) => (await db.query<R>(sql)).rows,
    copyIn: async (table, columns, chunks) => {
      const sql = `COPY ${table} (${columns.join(', ')}) FROM '/dev/blob'`;
      let parts: string[] = [];
      for (const chunk of chunks) {
        parts.push(chunk);
        if (parts.length >= BLOB_CHUNKS) {
          await db.query(sql, [], { blob: new Blob(parts) });
          parts = [];
        }
      }
      if (parts.length > 0) await db.query(sql, [], { blob: new Blob(parts) });
    },
  };
}
