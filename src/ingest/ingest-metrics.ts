import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import type { IngestStats } from './stream-ingest.ts';

/**
 * A drop reason as a label: its kind only (`malformed`, `oversized`, `unclassified_field`, `pii`,
 * …). Reasons can name fields a device sent, which are not a closed list; labels must be.
 */
export function dropReasonLabel(reason: string): string {
  const kind = reason.startsWith('unclassified field') ? 'unclassified field' : (reason.split(':')[0] ?? '');
  return kind.trim().replace(/\W+/g, '_') || 'other';
}

/**
 * Prometheus series of one `fleetvault ingest` process, read from its running counts at each
 * scrape: messages received, rows committed, batches, duplicates folded, drops by kind, and when
 * the last batch was committed.
 *
 * @example
 * const m = new IngestMetrics('connection_events', () => ingest.stats);
 * await m.listen('127.0.0.1', 9464);
 */
export class IngestMetrics {
  readonly registry = new Registry();
  #lastCommit = 0;
  #server: Server | undefined;

  constructor(table: string, stats: () => IngestStats) {
    const registers = [this.registry];
    const counter = (name: string, help: string, value: (s: IngestStats) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['table'],
        registers,
        collect() {
          this.reset();
          this.inc({ table }, value(stats()));
        },
      });
    counter(
      'fleetvault_ingest_messages_received_total',
      'Messages received from the broker.',
      (s) => s.received,
    );
    counter('fleetvault_ingest_rows_written_total', 'Rows committed to the store.', (s) => s.written);
    counter('fleetvault_ingest_batches_total', 'Batches committed to the store.', (s) => s.batches);
    counter(
      'fleetvault_ingest_duplicates_total',
      'Messages folded into a row already committed (a device or broker retry).',
      (s) => s.duplicates,
    );
    new Counter({
      name: 'fleetvault_ingest_messages_dropped_total',
      help: 'Messages dropped, by kind of reason.',
      labelNames: ['table', 'reason'],
      registers,
      collect() {
        this.reset();
        const byKind = new Map<string, number>();
        for (const [reason, n] of Object.entries(stats().dropped)) {
          const kind = dropReasonLabel(reason);
          byKind.set(kind, (byKind.get(kind) ?? 0) + n);
        }
        for (const [reason, n] of byKind) this.inc({ table, reason }, n);
      },
    });
    const self = this;
    new Gauge({
      name: 'fleetvault_ingest_last_commit_timestamp_seconds',
      help: 'When the last batch was committed (Unix time; absent before the first).',
      labelNames: ['table'],
      registers,
      collect() {
        this.reset();
        if (self.#lastCommit > 0) this.set({ table }, self.#lastCommit / 1000);
      },
    });
  }

  committed(at: number): void {
    this.#lastCommit = at;
  }

  /** Serves `GET /metrics` (nothing else) on a loopback address. */
  listen(host: string, port: number): Promise<number> {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => resolve((server.address() as { port: number }).port));
    });
  }

  close(): Promise<void> {
    return new Promise((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}
