import type { Writable } from 'node:stream';

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
    private readonly out: Writable = process.stdout,
    private readonly err: Writable = process.stderr,
    private readonly everyMs = 5_000,
  ) {}

  line(text = ''): void {
    if (!this.json) this.out.write(`${text}\n`);
  }

  data(value: unknown): void {
    this.out.write(
      `${JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v), this.json ? undefined : 2)}\n`,
    );
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
