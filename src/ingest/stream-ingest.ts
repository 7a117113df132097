import type { Policy, Value } from '../policy/index.ts';
import { type MasterKey, piiScanner } from '../privacy/index.ts';
import type { SourceTable } from '../source/index.ts';
import type { Store, TableWriter } from '../store/index.ts';
import { planTable, rowTransformer, type TablePlan } from '../sync/index.ts';
import { jsonValue } from './json-values.ts';
import type { MqttMessage } from './mqtt-subscriber.ts';

/** What a stream has done so far: counts only, never a message's content. */
export interface IngestStats {
  received: number;
  /** Rows committed to the store (a redelivered message replaces its own row). */
  written: number;
  batches: number;
  /** Dropped messages by reason: `malformed: …`, `oversized`, `pii: column matched detector`, … */
  dropped: Record<string, number>;
  /** Redeliveries and repeats within a batch, folded into one row by the event id. */
  duplicates: number;
}

/** The broker side, as the ingest needs it: messages in, acknowledgements out once durable. */
export interface MessageSource {
  on(event: 'message', listener: (m: MqttMessage) => void): unknown;
  ack(messages: readonly MqttMessage[]): void;
}

export interface StreamIngestOptions {
  readonly policy: Policy;
  /** The policy table the messages are rows of. */
  readonly table: string;
  /** The table's columns and types (from the source catalog, or as a sync recorded them). */
  readonly source: SourceTable;
  readonly store: Store;
  readonly key: MasterKey;
  readonly messages: MessageSource;
  /** Rows per committed batch; also what the broker may send ahead of our acknowledgements. */
  readonly batchSize: number;
  /** Longest a message waits for its batch. */
  readonly flushMs: number;
  readonly maxBytes: number;
  readonly onBatch?: (info: { rows: number; committedAt: number }) => void;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
type Transform = ReturnType<typeof rowTransformer>;

/**
 * Device messages through the same policy and privacy pipeline as the sync, into the store in
 * micro-batches: each batch is one store transaction, and only after it commits are its messages
 * acknowledged to the broker (at-least-once). A redelivered message has the same primary key and
 * replaces its own row, so nothing is duplicated. Memory is bounded by the batch size, because
 * the broker sends no more than that many unacknowledged messages. A message that is not valid
 * JSON, too big, misses its key, carries an unclassified field, a value of the wrong type or
 * personal data in a kept field is dropped with a reason; its content is never logged.
 */
export class StreamIngest {
  readonly stats: IngestStats = { received: 0, written: 0, batches: 0, dropped: {}, duplicates: 0 };
  readonly plan: TablePlan;
  #pending: MqttMessage[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #writer: TableWriter | undefined;
  #transform: Transform | undefined;
  #failure: unknown;

  constructor(private readonly opts: StreamIngestOptions) {
    const table = opts.policy.tables.get(opts.table);
    if (!table) throw new Error(`table ${opts.table} is not in the policy`);
    this.plan = planTable(table, opts.source, opts.policy);
  }

  async start(): Promise<void> {
    const tombstones = await this.opts.store.tombstones();
    this.#transform = rowTransformer(
      this.plan,
      this.opts.key,
      piiScanner(this.opts.policy.customDetectors),
      tombstones,
    );
    this.#writer = await this.opts.store.openWriter(this.plan.store, 'upsert');
    this.opts.messages.on('message', (m) => {
      this.stats.received++;
      this.#pending.push(m);
      if (this.#pending.length >= this.opts.batchSize) void this.flush();
    });
    this.#timer = setInterval(() => void this.flush(), this.opts.flushMs);
  }

  /** Commits what is pending; batches run one after another. Rejects once a batch has failed. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      if (this.#failure) throw this.#failure;
      const batch = this.#pending;
      if (batch.length === 0) return;
      this.#pending = [];
      try {
        await this.#commit(batch);
      } catch (error) {
        this.#failure = error;
        throw error;
      }
    });
    return this.#flushing;
  }

  /** Stops taking batches after committing what is pending; unacknowledged messages stay with the broker. */
  async stop(): Promise<IngestStats> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flush().catch(() => {});
    if (this.#failure) throw this.#failure;
    return this.stats;
  }

  #drop(reason: string): void {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + 1;
  }

  /** The message as a source row, or why it is dropped. */
  #raw(m: MqttMessage): Value[] | string {
    if (m.payload.length > this.opts.maxBytes) return 'oversized';
    let doc: unknown;
    try {
      doc = JSON.parse(m.payload.toString('utf8'));
    } catch {
      return 'malformed: not JSON';
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return 'malformed: not an object';
    const fields = doc as Record<string, unknown>;
    const table = this.plan.policy;
    for (const name of Object.keys(fields)) {
      if (!table.columns.has(name)) {
        // Fail closed like the sync: a field nobody classified is not guessed at.
        return NAME.test(name) ? `unclassified field ${name}` : 'unclassified field';
      }
    }
    for (const k of table.primaryKey) {
      if (fields[k] === undefined || fields[k] === null) return `malformed: no ${k}`;
    }
    const raw: Value[] = [];
    for (const c of this.plan.read) {
      const v = jsonValue(fields[c.name], c.kind);
      if (v === undefined) return `malformed: ${c.name} is not ${c.kind}`;
      raw.push(v);
    }
    return raw;
  }

  async #commit(batch: readonly MqttMessage[]): Promise<void> {
    const rows = new Map<string, Value[]>();
    const raws: Value[][] = [];
    for (const m of batch) {
      const r = this.#raw(m);
      if (typeof r === 'string') this.#drop(r);
      else raws.push(r);
    }
    // The whole batch at once: weak evidence (names) is decided per column over the batch.
    for (const t of (this.#transform as Transform).batch(raws)) {
      if (t.deleted) this.#drop('erased owner');
      else if (t.unfit) this.#drop(`unfit: ${t.unfit.column} does not fit ${t.unfit.transform}`);
      else if (t.detection) this.#drop(`pii: ${t.detection.column} matched ${t.detection.detector}`);
      else {
        const key = t.key.map(String).join('\u0000');
        if (rows.has(key)) this.stats.duplicates++;
        rows.set(key, t.values);
      }
    }
    if (rows.size > 0) await (this.#writer as TableWriter).writeBatch([...rows.values()], [], undefined);
    // Durable now (or dropped for good): only now may the broker forget these messages.
    this.opts.messages.ack(batch);
    this.stats.written += rows.size;
    this.stats.batches++;
    this.opts.onBatch?.({ rows: rows.size, committedAt: Date.now() });
  }
}
