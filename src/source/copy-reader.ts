import type { Client } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { FvError } from '../errors/index.ts';
import type { Value, ValueKind } from '../policy/index.ts';
import { CopyTextParser } from './copy-text-parser.ts';
import { quoteIdent, quoteLiteral } from './sql-text.ts';

/** What to read from one table: columns with their kinds, order and where to resume. */
export interface ReadRequest {
  readonly schema: string;
  readonly table: string;
  readonly columns: ReadonlyArray<{ readonly name: string; readonly kind: ValueKind }>;
  /** Columns that give a total, stable order (cursor first, then primary key). */
  readonly orderBy: readonly string[];
  /** Resume strictly after this position (values of `orderBy`, in-flight form). */
  readonly after?: readonly Value[];
  readonly batchSize: number;
  readonly signal?: AbortSignal;
}

// Times and dates cross the wire as integers so that no time zone or DateStyle setting can
// change them: microseconds or days since 1970-01-01 UTC.
function selectExpr(name: string, kind: ValueKind): string {
  const c = quoteIdent(name);
  if (kind === 'timestamp' || kind === 'timestamptz') return `(extract(epoch from ${c}) * 1000000)::int8`;
  if (kind === 'date') return `(${c} - date '1970-01-01')`;
  return c;
}

function literal(value: Value, kind: ValueKind): string {
  if (value === null) return 'NULL';
  switch (kind) {
    case 'timestamp':
      return `(timestamp '1970-01-01' + ${BigInt(value as bigint)} * interval '1 microsecond')`;
    case 'timestamptz':
      return `(timestamptz '1970-01-01 00:00:00+00' + ${BigInt(value as bigint)} * interval '1 microsecond')`;
    case 'date':
      return `(date '1970-01-01' + ${Number(value)})`;
    case 'integer':
    case 'bigint':
    case 'float':
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'uuid':
      return `${quoteLiteral(String(value))}::uuid`;
    default:
      return quoteLiteral(String(value));
  }
}

/** The COPY statement for a read request; only the requested columns are ever named. */
export function copySql(req: ReadRequest): string {
  const kindOf = new Map(req.columns.map((c) => [c.name, c.kind]));
  const list = req.columns.map((c) => selectExpr(c.name, c.kind)).join(', ');
  const from = `${quoteIdent(req.schema)}.${quoteIdent(req.table)}`;
  const order = req.orderBy.map(quoteIdent);
  let where = '';
  if (req.after) {
    const values = req.orderBy.map((c, i) => literal(req.after?.[i] ?? null, kindOf.get(c) ?? 'text'));
    where = ` WHERE (${order.join(', ')}) > (${values.join(', ')})`;
  }
  const orderSql = order.length ? ` ORDER BY ${order.join(', ')}` : '';
  return `COPY (SELECT ${list} FROM ${from}${where}${orderSql}) TO STDOUT`;
}

/**
 * Streams a table as batches of typed rows through `COPY (SELECT …) TO STDOUT`, in bounded
 * memory. Stopping early (break, abort) ends the COPY.
 */
export async function* readTable(client: Client, req: ReadRequest): AsyncGenerator<Value[][]> {
  const stream = client.query(copyTo(copySql(req)));
  const parser = new CopyTextParser(req.columns.map((c) => c.kind));
  let batch: Value[][] = [];
  try {
    for await (const chunk of stream) {
      req.signal?.throwIfAborted();
      for (const row of parser.push(chunk as Buffer)) batch.push(row);
      if (batch.length >= req.batchSize) {
        while (batch.length >= req.batchSize) {
          yield batch.slice(0, req.batchSize);
          batch = batch.slice(req.batchSize);
        }
      }
    }
    if (!parser.clean)
      throw new FvError('FV_SOURCE_QUERY', `COPY of ${req.table} ended in the middle of a row`);
    if (batch.length > 0) yield batch;
  } finally {
    if (!stream.destroyed) stream.destroy();
  }
}
