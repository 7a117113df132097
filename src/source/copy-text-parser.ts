import { StringDecoder } from 'node:string_decoder';
import type { Value, ValueKind } from '../policy/index.ts';

const ESCAPES: Readonly<Record<string, string>> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

function unescapeCopy(field: string): string {
  if (!field.includes('\\')) return field;
  return field.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(Number.parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(Number.parseInt(e, 8));
    return ESCAPES[e] ?? e;
  });
}

/** Turns one field of PostgreSQL's COPY text format into the in-flight value of its kind. */
export function parseField(field: string, kind: ValueKind): Value {
  if (field === '\\N') return null;
  switch (kind) {
    case 'integer':
    case 'float':
    case 'date':
      return Number(field);
    case 'bigint':
    case 'timestamp':
    case 'timestamptz':
      return BigInt(field);
    case 'boolean':
      return field === 't';
    default:
      return unescapeCopy(field);
  }
}

/**
 * Incremental parser for `COPY … TO STDOUT` text format: feed it chunks, it returns the rows
 * completed so far. Multi-byte characters split across chunks are handled.
 */
export class CopyTextParser {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';

  constructor(private readonly kinds: readonly ValueKind[]) {}

  push(chunk: Buffer): Value[][] {
    const text = this.rest + this.decoder.write(chunk);
    const rows: Value[][] = [];
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
      const fields = text.slice(start, nl).split('\t');
      const row: Value[] = new Array(this.kinds.length);
      for (let i = 0; i < this.kinds.length; i++)
        row[i] = parseField(fields[i] ?? '\\N', this.kinds[i] as ValueKind);
      rows.push(row);
      start = nl + 1;
    }
    this.rest = text.slice(start);
    return rows;
  }

  /** True when the stream ended on a row boundary. */
  get clean(): boolean {
    return this.rest.length === 0;
  }
}
