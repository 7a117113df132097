/** One column value of a pgoutput tuple: null, unchanged (a TOAST value not sent), or its text form. */
export type TupleValue = null | { readonly unchanged: true } | string;

export interface RelationColumn {
  readonly name: string;
  readonly key: boolean;
}

export type PgoutputMessage =
  | { readonly tag: 'begin'; readonly finalLsn: bigint; readonly xid: number }
  | { readonly tag: 'commit'; readonly commitLsn: bigint; readonly endLsn: bigint }
  | {
      readonly tag: 'relation';
      readonly relid: number;
      readonly schema: string;
      readonly table: string;
      readonly columns: readonly RelationColumn[];
    }
  | { readonly tag: 'insert'; readonly relid: number; readonly row: readonly TupleValue[] }
  | {
      readonly tag: 'update';
      readonly relid: number;
      readonly old?: readonly TupleValue[];
      readonly row: readonly TupleValue[];
    }
  | { readonly tag: 'delete'; readonly relid: number; readonly old: readonly TupleValue[] }
  | { readonly tag: 'truncate'; readonly relids: readonly number[] }
  | { readonly tag: 'other'; readonly code: string };

const UNCHANGED = { unchanged: true } as const;

/**
 * Decodes one message of PostgreSQL's logical replication protocol (pgoutput, version 1), the
 * bytes `pg_logical_slot_peek_binary_changes` returns per row. Values stay in PostgreSQL's text
 * form; the caller converts them by column type.
 */
export function decodePgoutput(buf: Buffer): PgoutputMessage {
  let at = 0;
  const u8 = () => buf.readUInt8(at++);
  const i16 = () => {
    const v = buf.readInt16BE(at);
    at += 2;
    return v;
  };
  const i32 = () => {
    const v = buf.readInt32BE(at);
    at += 4;
    return v;
  };
  const u64 = () => {
    const v = buf.readBigUInt64BE(at);
    at += 8;
    return v;
  };
  const str = () => {
    const end = buf.indexOf(0, at);
    const s = buf.toString('utf8', at, end);
    at = end + 1;
    return s;
  };
  const tuple = (): TupleValue[] => {
    const n = i16();
    const out: TupleValue[] = [];
    for (let i = 0; i < n; i++) {
      const kind = String.fromCharCode(u8());
      if (kind === 'n') out.push(null);
      else if (kind === 'u') out.push(UNCHANGED);
      else {
        const len = i32();
        out.push(buf.toString('utf8', at, at + len));
        at += len;
      }
    }
    return out;
  };
  const tag = String.fromCharCode(u8());
  switch (tag) {
    case 'B': {
      const finalLsn = u64();
      u64(); // commit time
      return { tag: 'begin', finalLsn, xid: i32() };
    }
    case 'C': {
      u8(); // flags
      const commitLsn = u64();
      return { tag: 'commit', commitLsn, endLsn: u64() };
    }
    case 'R': {
      const relid = i32();
      const schema = str();
      const table = str();
      u8(); // replica identity setting
      const n = i16();
      const columns: RelationColumn[] = [];
      for (let i = 0; i < n; i++) {
        const flags = u8();
        const name = str();
        i32(); // type oid
        i32(); // type modifier
        columns.push({ name, key: (flags & 1) === 1 });
      }
      return { tag: 'relation', relid, schema, table, columns };
    }
    case 'I': {
      const relid = i32();
      u8(); // 'N'
      return { tag: 'insert', relid, row: tuple() };
    }
    case 'U': {
      const relid = i32();
      let kind = String.fromCharCode(u8());
      let old: TupleValue[] | undefined;
      if (kind === 'K' || kind === 'O') {
        old = tuple();
        kind = String.fromCharCode(u8());
      }
      return { tag: 'update', relid, ...(old ? { old } : {}), row: tuple() };
    }
    case 'D': {
      const relid = i32();
      u8(); // 'K' or 'O'
      return { tag: 'delete', relid, old: tuple() };
    }
    case 'T': {
      const n = i32();
      u8(); // options
      const relids: number[] = [];
      for (let i = 0; i < n; i++) relids.push(i32());
      return { tag: 'truncate', relids };
    }
    default:
      return { tag: 'other', code: tag };
  }
}

/** `0/5A496F50` → bigint, and back. */
export function parseLsn(text: string): bigint {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}
