import { Counter, Gauge, type Registry } from 'prom-client';
import type { CdcResult } from './cdc-sync.ts';
import { quarantinedRows, type SyncResult } from './sync-result.ts';

/** How a row a sync read ended; the four add up to the rows read. */
const OUTCOMES = ['written', 'deleted', 'quarantined', 'blocked'] as const;

/**
 * Prometheus series of the syncs a process runs, per table, with labels that never grow with
 * time or data (the table names of the policy, a closed list of outcomes, catalog codes).
 * Names follow the Prometheus conventions: `_total` counters, `_seconds` units, timestamps as
 * Unix seconds.
 *
 * @example
 * const m = new SyncMetrics(registry);
 * m.record(await runSync(opts), 'cursor');
 */
export class SyncMetrics {
  readonly #runs: Counter<'mode' | 'result'>;
  readonly #failures: Counter<'mode' | 'code'>;
  readonly #lastSuccess: Gauge<'mode'>;
  readonly #duration: Gauge<'mode'>;
  readonly #tableLastSuccess: Gauge<'table'>;
  readonly #tableDuration: Gauge<'table'>;
  readonly #tableFailures: Counter<'table' | 'code'>;
  readonly #read: Counter<'table'>;
  readonly #rows: Counter<'table' | 'outcome'>;
  readonly #erased: Counter<'table'>;
  readonly #expired: Counter<'table'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#runs = new Counter({
      name: 'fleetvault_sync_runs_total',
      help: 'Sync runs by mode and result (ok: every table copied).',
      labelNames: ['mode', 'result'],
      registers,
    });
    this.#failures = new Counter({
      name: 'fleetvault_sync_failures_total',
      help: 'Sync runs that stopped before copying any table, by error code.',
      labelNames: ['mode', 'code'],
      registers,
    });
    this.#lastSuccess = new Gauge({
      name: 'fleetvault_sync_last_success_timestamp_seconds',
      help: 'When the last sync that copied every table ended (Unix time).',
      labelNames: ['mode'],
      registers,
    });
    this.#duration = new Gauge({
      name: 'fleetvault_sync_last_duration_seconds',
      help: 'How long the last sync took.',
      labelNames: ['mode'],
      registers,
    });
    this.#tableLastSuccess = new Gauge({
      name: 'fleetvault_sync_table_last_success_timestamp_seconds',
      help: 'When a table was last copied completely (Unix time).',
      labelNames: ['table'],
      registers,
    });
    this.#tableDuration = new Gauge({
      name: 'fleetvault_sync_table_last_duration_seconds',
      help: 'How long the last sync of a table took.',
      labelNames: ['table'],
      registers,
    });
    this.#tableFailures = new Counter({
      name: 'fleetvault_sync_table_failures_total',
      help: 'Syncs in which a table was refused or failed, by error code.',
      labelNames: ['table', 'code'],
      registers,
    });
    this.#read = new Counter({
      name: 'fleetvault_sync_rows_read_total',
      help: 'Rows read from the source per table.',
      labelNames: ['table'],
      registers,
    });
    this.#rows = new Counter({
      name: 'fleetvault_sync_rows_total',
      help: 'Rows read per table by outcome (written, deleted in the source, quarantined, blocked); the outcomes add up to the rows read.',
      labelNames: ['table', 'outcome'],
      registers,
    });
    this.#erased = new Counter({
      name: 'fleetvault_sync_rows_erased_total',
      help: 'Rows removed from the store because their owner was deleted in the source.',
      labelNames: ['table'],
      registers,
    });
    this.#expired = new Counter({
      name: 'fleetvault_sync_rows_expired_total',
      help: 'Rows removed from the store because they fell out of the retention window.',
      labelNames: ['table'],
      registers,
    });
  }

  /** Declares the tables up front, so every series exists (at 0) before the first sync. */
  declare(tables: Iterable<string>, mode: string): void {
    this.#runs.inc({ mode, result: 'ok' }, 0);
    this.#runs.inc({ mode, result: 'failed' }, 0);
    for (const table of tables) {
      this.#read.inc({ table }, 0);
      for (const outcome of OUTCOMES) this.#rows.inc({ table, outcome }, 0);
      this.#erased.inc({ table }, 0);
      this.#expired.inc({ table }, 0);
    }
  }

  /** One finished run (whether or not every table was copied). */
  record(result: SyncResult, mode: string, endedAt = Date.now()): void {
    this.#runs.inc({ mode, result: result.ok ? 'ok' : 'failed' });
    this.#duration.set({ mode }, result.durationMs / 1000);
    if (result.ok) this.#lastSuccess.set({ mode }, endedAt / 1000);
    for (const t of result.tables) {
      const table = t.table;
      this.#read.inc({ table }, t.rowsRead);
      this.#rows.inc({ table, outcome: 'written' }, t.rowsWritten);
      this.#rows.inc({ table, outcome: 'deleted' }, t.rowsDeleted);
      this.#rows.inc({ table, outcome: 'quarantined' }, quarantinedRows(t));
      this.#rows.inc({ table, outcome: 'blocked' }, t.rowsBlocked);
      this.#erased.inc({ table }, t.rowsErased);
      this.#expired.inc({ table }, t.rowsExpired);
      this.#tableDuration.set({ table }, t.durationMs / 1000);
      if (t.status === 'copied') this.#tableLastSuccess.set({ table }, endedAt / 1000);
      else this.#tableFailures.inc({ table, code: t.error?.code ?? t.status });
    }
  }

  /** One change-capture run: its initial copy (first run) and the changes it applied per table. */
  recordChanges(r: CdcResult, endedAt = Date.now()): void {
    if (r.initial) this.record(r.initial, 'cdc', endedAt);
    const ok = r.initial?.ok ?? true;
    if (!r.initial) {
      this.#runs.inc({ mode: 'cdc', result: 'ok' });
      this.#duration.set({ mode: 'cdc' }, r.durationMs / 1000);
      this.#lastSuccess.set({ mode: 'cdc' }, endedAt / 1000);
    }
    for (const [table, c] of Object.entries(r.tables)) {
      this.#read.inc({ table }, c.upserted + c.deleted + c.quarantined);
      this.#rows.inc({ table, outcome: 'written' }, c.upserted);
      this.#rows.inc({ table, outcome: 'deleted' }, c.deleted);
      this.#rows.inc({ table, outcome: 'quarantined' }, c.quarantined);
      this.#erased.inc({ table }, c.erased);
      if (ok) this.#tableLastSuccess.set({ table }, endedAt / 1000);
    }
  }

  /** A run that stopped before any table (the source down, the schema drifted, …). */
  failed(code: string, mode: string): void {
    this.#runs.inc({ mode, result: 'failed' });
    this.#failures.inc({ mode, code });
  }
}
