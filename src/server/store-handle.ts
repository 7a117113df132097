import type {
  BudgetReceipt,
  ExactGrants,
  ExactQuestion,
  MetricAnswer,
  MetricDefinition,
  MetricQuery,
} from '../metrics/index.ts';
import { DEFAULT_K } from '../policy/index.ts';
import type { GuardedResult, SqlLimits } from '../store/index.ts';

/** What the server reads from the store; a MetricsReader, or a handle that swaps one during syncs. */
export interface MetricsSource {
  readonly k: number;
  list(): MetricDefinition[];
  /** Under differential privacy, `principal` pays for the answer from its budget. */
  query(q: MetricQuery, opts?: { principal?: string }): Promise<MetricAnswer>;
  /** What a principal has left of its privacy budget; null under k-anonymity. */
  budgetOf(principal: string): Promise<BudgetReceipt | null>;
  /** The question an exact-answer approval would name (differential privacy only). */
  exactQuestion(q: MetricQuery): Promise<ExactQuestion>;
  /** The exact answer under differential privacy, when `grants` lets `requester` see it under `id`. */
  exact(q: MetricQuery, id: string, requester: string, grants: ExactGrants): Promise<MetricAnswer>;
  sql(text: string, limits: SqlLimits): Promise<GuardedResult>;
  storeStatus(): Promise<Record<string, unknown>>;
}

interface Closable extends MetricsSource {
  close(): void;
}

/**
 * Holds the store's reader and lets a sync take the store for itself: the reader is closed (the
 * writer needs the file's lock), requests wait, and a fresh reader (with an empty answer cache)
 * serves again once the sync is done.
 */
export class StoreHandle implements MetricsSource {
  private current: Closable | undefined;
  private ready: Promise<void> = Promise.resolve();

  constructor(private readonly open: () => Promise<Closable>) {}

  static async create(open: () => Promise<Closable>): Promise<StoreHandle> {
    const h = new StoreHandle(open);
    h.current = await open();
    return h;
  }

  private inflight = 0;
  private drained: Array<() => void> = [];

  private async use<T>(fn: (r: Closable) => Promise<T>): Promise<T> {
    await this.ready;
    if (!this.current) this.current = await this.open();
    this.inflight++;
    try {
      return await fn(this.current);
    } finally {
      this.inflight--;
      if (this.inflight === 0) for (const d of this.drained.splice(0)) d();
    }
  }

  get k(): number {
    return this.current?.k ?? DEFAULT_K;
  }

  list(): MetricDefinition[] {
    return this.current?.list() ?? [];
  }

  async query(q: MetricQuery, opts: { principal?: string } = {}): Promise<MetricAnswer> {
    return this.use((r) => r.query(q, opts));
  }

  async budgetOf(principal: string): Promise<BudgetReceipt | null> {
    return this.use((r) => r.budgetOf(principal));
  }

  async exactQuestion(q: MetricQuery): Promise<ExactQuestion> {
    return this.use((r) => r.exactQuestion(q));
  }

  async exact(q: MetricQuery, id: string, requester: string, grants: ExactGrants): Promise<MetricAnswer> {
    return this.use((r) => r.exact(q, id, requester, grants));
  }

  async sql(text: string, limits: SqlLimits): Promise<GuardedResult> {
    return this.use((r) => r.sql(text, limits));
  }

  async storeStatus(): Promise<Record<string, unknown>> {
    return this.use((r) => r.storeStatus());
  }

  /** Runs `work` with the store released; requests arriving meanwhile wait for it. */
  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    let release: () => void = () => {};
    const previous = this.ready;
    this.ready = new Promise<void>((r) => {
      release = r;
    });
    await previous;
    if (this.inflight > 0) await new Promise<void>((r) => this.drained.push(r));
    this.current?.close();
    this.current = undefined;
    try {
      return await work();
    } finally {
      this.current = await this.open().catch(() => undefined);
      release();
    }
  }

  close(): void {
    this.current?.close();
    this.current = undefined;
  }
}
