import { FvError } from '../errors/index.ts';

/**
 * How many analyst statements run at once: `perPrincipal` for one token or account, `total` for
 * the whole server. One more is refused at once (FV_SQL_BUSY, a 429), not queued: a queue would
 * let one principal hold the others' turns, and each statement already has its own deadline.
 *
 * @example
 * const gate = new SqlGate({ perPrincipal: 1, total: 2 });
 * await gate.run('token:abc', () => metrics.sql(text, limits));
 */
export class SqlGate {
  private readonly running = new Map<string, number>();
  private all = 0;

  constructor(private readonly limits: { readonly perPrincipal: number; readonly total: number }) {}

  async run<T>(principal: string, work: () => Promise<T>): Promise<T> {
    const mine = this.running.get(principal) ?? 0;
    if (mine >= this.limits.perPrincipal)
      throw new FvError(
        'FV_SQL_BUSY',
        `${this.limits.perPrincipal} statement(s) of yours are still running; send the next when one has finished`,
      );
    if (this.all >= this.limits.total)
      throw new FvError(
        'FV_SQL_BUSY',
        `the server already runs ${this.limits.total} analyst statements; retry shortly`,
      );
    this.running.set(principal, mine + 1);
    this.all++;
    try {
      return await work();
    } finally {
      this.all--;
      const left = (this.running.get(principal) ?? 1) - 1;
      if (left === 0) this.running.delete(principal);
      else this.running.set(principal, left);
    }
  }
}
