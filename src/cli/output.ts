import type { Writable } from 'node:stream';

/**
 * The only place fleetvault writes to a terminal. Library code returns results; commands render
 * them here, as text for people or JSON for machines.
 */
export class Output {
  private progressShown = false;

  constructor(
    readonly json: boolean,
    private readonly out: Writable = process.stdout,
    private readonly err: Writable = process.stderr,
  ) {}

  line(text = ''): void {
    if (!this.json) this.out.write(`${text}\n`);
  }

  data(value: unknown): void {
    this.out.write(
      `${JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v), this.json ? undefined : 2)}\n`,
    );
  }

  warn(text: string): void {
    this.clearProgress();
    this.err.write(`${text}\n`);
  }

  /** A one-line progress bar on an interactive terminal; silent otherwise. */
  progress(label: string, done: number, total: number): void {
    const tty = (this.err as { isTTY?: boolean }).isTTY === true;
    if (this.json || !tty) return;
    const width = 28;
    const ratio = total > 0 ? Math.min(1, done / total) : 0;
    const bar = '#'.repeat(Math.round(ratio * width)).padEnd(width, '.');
    this.err.write(`\r${label.padEnd(20)} [${bar}] ${done.toLocaleString('en-US')} rows`);
    this.progressShown = true;
  }

  clearProgress(): void {
    if (this.progressShown) this.err.write('\r\x1b[2K');
    this.progressShown = false;
  }
}
