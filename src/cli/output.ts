import type { Writable } from 'node:stream';

function jsonNumbers(_key: string, v: unknown): unknown {
  if (typeof v !== 'bigint') return v;
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v.toString();
}

/**
 * The only place fleetvault writes to a terminal. Library code returns results; commands render
 * them here, as text for people or JSON for machines.
 */
export class Output {
  private progressShown = false;
  private lastLabel = '';
  private lastLine = 0;

  constructor(
    readonly json: boolean,
    readonly format: 'text' | 'csv' = 'text',
    private readonly out: Writable = process.stdout,
    private readonly err: Writable = process.stderr,
    private readonly everyMs = 5_000,
  ) {}

  line(text = ''): void {
    if (!this.json) this.out.write(`${text}\n`);
  }

  /** JSON of a value: numbers stay numbers (a 64-bit integer beyond 2^53 becomes a string). */
  data(value: unknown): void {
    this.out.write(`${JSON.stringify(value, jsonNumbers, this.json ? undefined : 2)}\n`);
  }

  /** Whether tables are wanted as CSV (`--format csv`). */
  get csv(): boolean {
    return this.format === 'csv' && !this.json;
  }

  /**
   * A table as CSV (RFC 4180, header first). A text cell that a spreadsheet would run as a
   * formula (`=`, `+`, `-`, `@` first) is prefixed with `'`.
   */
  table(columns: readonly string[], rows: ReadonlyArray<ReadonlyArray<unknown>>): void {
    const cell = (v: unknown): string => {
      if (v === null || v === undefined) return '';
      if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
      let t = typeof v === 'object' ? JSON.stringify(v, jsonNumbers) : String(v);
      if (/^[=+\-@\t\r]/.test(t)) t = `'${t}`;
      return /[",\n\r]/.test(t) ? `"${t.replaceAll('"', '""')}"` : t;
    };
    this.out.write(`${columns.map(cell).join(',')}\r\n`);
    for (const r of rows) this.out.write(`${r.map(cell).join(',')}\r\n`);
  }

  /**
   * One JSON log line on stdout (`time`, `level`, `event`, then the fields), for a service
   * manager or a log shipper; only counts, names and codes, never a value from a source.
   */
  log(event: string, fields: Record<string, unknown>, level: 'info' | 'error' = 'info'): void {
    this.out.write(`${JSON.stringify({ time: new Date().toISOString(), level, event, ...fields })}\n`);
  }

  warn(text: string): void {
    this.clearProgress();
    this.err.write(`${text}\n`);
  }

  /**
   * Progress of a long step: a one-line bar on an interactive terminal; otherwise (a log file, a
   * pipe, a service manager) one plain line per label when it starts and then at most every
   * `everyMs`, so a long step is never silent. `total` 0 means unknown: no bar, no percentage.
   */
  progress(label: string, done: number, total: number): void {
    if (this.json) return;
    const tty = (this.err as { isTTY?: boolean }).isTTY === true;
    const ratio = total > 0 ? Math.min(1, done / total) : undefined;
    if (tty) {
      const width = 28;
      const bar = ratio === undefined ? '' : ` [${'#'.repeat(Math.round(ratio * width)).padEnd(width, '.')}]`;
      this.err.write(`\r${label.padEnd(20)}${bar} ${done.toLocaleString('en-US')} rows`);
      this.progressShown = true;
      return;
    }
    const now = Date.now();
    if (label === this.lastLabel && now - this.lastLine < this.everyMs) return;
    this.lastLabel = label;
    this.lastLine = now;
    const of =
      total > 0
        ? ` of about ${Math.round(total).toLocaleString('en-US')} (${Math.round((ratio ?? 0) * 100)}%)`
        : '';
    this.err.write(`  … ${label}: ${done.toLocaleString('en-US')} rows${of}\n`);
  }

  clearProgress(): void {
    if (this.progressShown) this.err.write('\r\x1b[2K');
    this.progressShown = false;
  }
}
