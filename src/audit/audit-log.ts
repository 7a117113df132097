import { createHash } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  writeFileSync,
} from 'node:fs';

/** One audited event. `detail` names what was asked (metric, parameters, counts), never result data. */
export interface AuditEvent {
  readonly actor: string;
  readonly action: string;
  readonly outcome: 'ok' | 'refused' | 'failed';
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface AuditRecord extends AuditEvent {
  readonly seq: number;
  readonly ts: string;
  readonly prev: string;
  readonly hash: string;
}

export interface AuditVerdict {
  readonly ok: boolean;
  readonly records: number;
  /** The first record that was edited, removed, inserted or reordered. */
  readonly firstBad?: { readonly line: number; readonly reason: string };
}

const GENESIS = '0'.repeat(64);

function hashOf(r: Omit<AuditRecord, 'hash'>): string {
  const body = JSON.stringify([r.seq, r.ts, r.prev, r.actor, r.action, r.outcome, r.detail ?? null]);
  return createHash('sha256').update(body).digest('hex');
}

function parseLine(line: string): AuditRecord | undefined {
  try {
    const r = JSON.parse(line) as AuditRecord;
    return typeof r.seq === 'number' && typeof r.hash === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * An append-only, hash-chained audit log (JSON lines, mode 0600): each record carries the hash of
 * the one before, so editing, removing, inserting or reordering any record breaks the chain.
 *
 * @example
 * const log = new AuditLog('.fleetvault/audit.jsonl');
 * log.append({ actor: 'token:ab12', action: 'metric.query', outcome: 'ok', detail: { metric: 'activations' } });
 */
export class AuditLog {
  constructor(readonly path: string) {}

  // Read from the file each time, not cached, so a CLI command and the server append to one chain.
  private tail(): { seq: number; hash: string } {
    if (!existsSync(this.path)) return { seq: 0, hash: GENESIS };
    const fd = openSync(this.path, 'r');
    try {
      const size = fstatSync(fd).size;
      const len = Math.min(size, 65_536);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, size - len);
      const lines = buf.toString('utf8').trimEnd().split('\n');
      const r = parseLine(lines[lines.length - 1] ?? '');
      return r ? { seq: r.seq, hash: r.hash } : { seq: 0, hash: GENESIS };
    } finally {
      closeSync(fd);
    }
  }

  /** The head to anchor elsewhere (signed state, store): record count and the last record's hash. */
  head(): { records: number; hash: string } {
    const t = this.tail();
    return { records: t.seq, hash: t.hash };
  }

  append(event: AuditEvent): AuditRecord {
    const prev = this.tail();
    const base = { seq: prev.seq + 1, ts: new Date().toISOString(), prev: prev.hash, ...event };
    const record: AuditRecord = { ...base, hash: hashOf(base) };
    appendFileSync(this.path, `${JSON.stringify(record)}\n`, { mode: 0o600 });
    this.anchorHead(record);
    return record;
  }

  /** Where every append records the log's head (`<log>.head`): a tail cut after it is seen. */
  static headPath(path: string): string {
    return `${path}.head`;
  }

  /** The head the last append recorded; undefined when none was (a log from before head files). */
  static readHead(path: string): { records: number; hash: string } | undefined {
    try {
      const h = JSON.parse(readFileSync(AuditLog.headPath(path), 'utf8')) as {
        records?: unknown;
        hash?: unknown;
      };
      if (typeof h.records === 'number' && typeof h.hash === 'string')
        return { records: h.records, hash: h.hash };
    } catch {
      // missing or unreadable: the signed state's and the store's anchors still hold
    }
    return undefined;
  }

  /** Replaced atomically, never moved back (a slower process appending beside this one keeps the newer). */
  private anchorHead(record: AuditRecord): void {
    const file = AuditLog.headPath(this.path);
    if ((AuditLog.readHead(this.path)?.records ?? 0) >= record.seq) return;
    writeFileSync(`${file}.${process.pid}.tmp`, JSON.stringify({ records: record.seq, hash: record.hash }), {
      mode: 0o600,
    });
    renameSync(`${file}.${process.pid}.tmp`, file);
  }

  /** The anchors every check uses besides the signed state's and the store's: the head file. */
  static headAnchors(path: string): Array<{ what: string; records: number; hash: string }> {
    const h = AuditLog.readHead(path);
    return h ? [{ what: `the head file ${AuditLog.headPath(path)}`, ...h }] : [];
  }

  /** The newest records, newest first. */
  recent(limit: number): AuditRecord[] {
    if (!existsSync(this.path)) return [];
    const lines = readFileSync(this.path, 'utf8').trimEnd().split('\n').filter(Boolean);
    return lines
      .slice(-limit)
      .map((l) => parseLine(l))
      .filter((r): r is AuditRecord => r !== undefined)
      .reverse();
  }

  /**
   * Walks the chain and checks that it still reaches each anchored head (recorded in the signed
   * state and the store): a log cut, deleted or replaced by a shorter or different one fails.
   */
  static verifyAnchored(
    path: string,
    anchors: readonly { readonly what: string; readonly records: number; readonly hash: string }[],
    lines: readonly string[] = AuditLog.lines(path),
  ): AuditVerdict {
    const v = AuditLog.verify(path, lines);
    if (!v.ok) return v;
    for (const a of anchors) {
      if (a.records === 0) continue;
      const r = parseLine(lines[a.records - 1] ?? '');
      if (!r || r.hash !== a.hash) {
        return {
          ok: false,
          records: v.records,
          firstBad: {
            line: Math.min(a.records, lines.length + 1),
            reason: `${a.what} anchors record ${a.records} (hash ${a.hash.slice(0, 12)}…), which this log ${r ? 'replaces with another' : 'no longer has (cut, deleted or replaced)'}`,
          },
        };
      }
    }
    return v;
  }

  /** The log's records as lines, read once for every check of a start or sync (none when it is missing). */
  static lines(path: string): string[] {
    if (!existsSync(path)) return [];
    const lines = readFileSync(path, 'utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return lines;
  }

  /** Walks the whole chain and names the first record that does not fit. */
  static verify(path: string, lines: readonly string[] = AuditLog.lines(path)): AuditVerdict {
    let prev = GENESIS;
    for (const [i, line] of lines.entries()) {
      const r = parseLine(line);
      const at = i + 1;
      if (!r) return { ok: false, records: i, firstBad: { line: at, reason: 'not an audit record' } };
      if (r.seq !== at)
        return {
          ok: false,
          records: i,
          firstBad: { line: at, reason: `sequence ${r.seq} where ${at} was expected (removed or reordered)` },
        };
      if (r.prev !== prev)
        return {
          ok: false,
          records: i,
          firstBad: { line: at, reason: 'does not follow the record before it' },
        };
      const { hash, ...rest } = r;
      if (hashOf(rest) !== hash)
        return { ok: false, records: i, firstBad: { line: at, reason: 'content was edited' } };
      prev = hash;
    }
    return { ok: true, records: lines.length };
  }
}
