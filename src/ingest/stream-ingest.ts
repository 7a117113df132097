import { FvError, isFvError } from '../errors/index.ts';
import type { Policy, Value, ValueKind } from '../policy/index.ts';
import { type MasterKey, piiScanner } from '../privacy/index.ts';
import type { SourceTable } from '../source/index.ts';
import { rowChecker, type Store, type ValueProblem } from '../store/index.ts';
import {
  addQuarantine,
  batchPipeline,
  erasedAmong,
  eraseLateArrivals,
  type PseudonymizerCache,
  parentTables,
  planTable,
  type QuarantineCount,
  rowTransformer,
  type TablePlan,
} from '../sync/index.ts';
import { type JsonField, jsonIdentifier, jsonValue } from './json-values.ts';
import type { MqttMessage } from './mqtt-subscriber.ts';

/** What a stream has done so far: counts only, never a message's content. */
export interface IngestStats {
  received: number;
  /** Rows committed to the store: messages whose key no stored row held. */
  written: number;
  batches: number;
  /**
   * Dropped messages by reason: `malformed: …`, `out of range: …`, `oversized`, `qos 0 …`,
   * `pii: column matched detector`, …
   */
  dropped: Record<string, number>;
  /**
   * Messages not written because a stored row (copied from production, or an earlier message)
   * or an earlier message of the batch already held their key: redeliveries, repeats, and
   * publishers reusing a key. Ingest never replaces a stored row.
   */
  duplicates: number;
  /** Messages quarantined under `on_detect: quarantine`, by column and detector, with a few pseudonymized keys. */
  quarantined: QuarantineCount[];
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
type Check = (row: readonly Value[]) => ValueProblem | undefined;
type Reader = (v: unknown) => JsonField;

/**
 * Refuses a table whose rows the sync rebuilds or compares with production: messages written
 * there would be lost at the next sync without a word. Ingest writes leaf tables with a cursor
 * (append-only event tables such as connection_events).
 */
export function requireIngestTable(policy: Policy, table: string): void {
  const t = policy.tables.get(table);
  if (!t) throw new FvError('FV_USAGE', `--table ${table || '(none)'} is not a table of the policy`);
  if (!t.cursor) {
    throw new FvError(
      'FV_USAGE',
      `table ${table} has no cursor in the policy, so every sync rebuilds it from production and would drop the rows devices sent; ingest into an append-only table with a cursor`,
    );
  }
  const parents = parentTables([...policy.tables.values()].map((p) => ({ policy: p })));
  if (parents.some((p) => p.policy.name === table)) {
    throw new FvError(
      'FV_USAGE',
      `other tables point to ${table}'s keys, so every sync erases the stored keys production does not hold, rows devices sent included; ingest into a table no other table points to`,
    );
  }
}

/**
 * Device messages through the same policy and privacy pipeline as the sync, into the store in
 * micro-batches: each batch is one store transaction, and only after it commits are its messages
 * acknowledged to the broker (at-least-once). A message only ever adds a row under a key nobody
 * holds (`Store.insertNew`): a redelivered message finds its own row and adds nothing, and no
 * publisher can replace a row copied from production. Memory is bounded by the batch size,
 * because the broker sends no more than that many unacknowledged messages. A message that is not
 * valid JSON, too big, misses its key, carries an unclassified field, a value of the wrong type,
 * a value its source column or the store cannot hold, or personal data in a kept field is dropped
 * and counted under its reason, never failing its batch; its content is never logged.
 */
export class StreamIngest {
  readonly stats: IngestStats = {
    received: 0,
    written: 0,
    batches: 0,
    dropped: {},
    duplicates: 0,
    quarantined: [],
  };
  readonly plan: TablePlan;
  #pending: MqttMessage[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  /** Each message's values alone (a transform refusing one costs that message only). */
  #transform: Transform | undefined;
  #scanner = piiScanner([]);
  readonly #pseudonymizers: PseudonymizerCache = new Map();
  /** Quarantined messages by column and detector, with a few pseudonymized keys: never values. */
  readonly #quarantine = new Map<
    string,
    { column: string; detector: string; rows: number; sampleKeys: string[] }
  >();
  readonly #keyIdx: number[];
  #failure: unknown;
  /** The store's own limits, checked on every transformed row: the check its writer makes. */
  readonly #fits: Check;
  /** One reader per read column: the JSON field as the value the sync would have read. */
  readonly #readers: Reader[];

  constructor(private readonly opts: StreamIngestOptions) {
    requireIngestTable(opts.policy, opts.table);
    const table = opts.policy.tables.get(opts.table);
    if (!table) throw new Error(`table ${opts.table} is not in the policy`);
    this.plan = planTable(table, opts.source, opts.policy);
    this.#fits = rowChecker(opts.store.limits, this.plan.store.columns);
    this.#keyIdx = this.plan.store.key.map((k) => this.plan.store.columns.findIndex((c) => c.name === k));
    const source = new Map(opts.source.columns.map((c) => [c.name, c]));
    this.#readers = this.plan.read.map((c): Reader => {
      const type = source.get(c.name)?.type ?? '';
      const sourceKind: ValueKind = source.get(c.name)?.kind ?? c.kind;
      return table.columns.get(c.name)?.action === 'pseudonymize'
        ? (v) => jsonIdentifier(v, sourceKind, type)
        : (v) => jsonValue(v, c.kind, type);
    });
  }

  async start(): Promise<void> {
    this.#scanner = piiScanner(this.opts.policy.customDetectors);
    this.#transform = rowTransformer(this.plan, this.opts.key, this.#scanner);
    // Creates the table when no sync has yet (a dry insert: nothing is added).
    await this.opts.store.insertNew(this.plan.store, []);
    this.opts.messages.on('message', (m) => {
      this.stats.received++;
      if (m.qos === 0) {
        // Sent once, never again, and not held back by the Receive Maximum: counted, not kept.
        this.#drop('qos 0: publish at QoS 1');
        return;
      }
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

  /** The message as a source row the policy's transforms accept, or why it is dropped. */
  #raw(m: MqttMessage): Value[] | string {
    if (m.payload.length > this.opts.maxBytes) return 'oversized';
    let doc: unknown;
    try {
      doc = JSON.parse(m.payload.toString('utf8'));
    } catch {
      return 'malformed: not JSON';
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return 'malformed: not an object';
    // Own fields only: `constructor` or `toString` must not come from Object.prototype.
    const given = doc as Record<string, unknown>;
    const field = (name: string) => (Object.hasOwn(given, name) ? given[name] : undefined);
    const table = this.plan.policy;
    for (const name of Object.keys(given)) {
      if (!table.columns.has(name)) {
        // Fail closed like the sync: a field nobody classified is not guessed at.
        return NAME.test(name) ? `unclassified field ${name}` : 'unclassified field';
      }
    }
    for (const k of table.primaryKey) {
      if (field(k) === undefined || field(k) === null) return `malformed: no ${k}`;
    }
    const raw: Value[] = [];
    for (const [i, c] of this.plan.read.entries()) {
      const v = (this.#readers[i] as Reader)(field(c.name));
      if ('why' in v)
        return `${v.why.startsWith('outside') ? 'out of range' : 'malformed'}: ${c.name} ${v.why}`;
      raw.push(v.value);
    }
    try {
      // Row by row first: a transform refusing a value costs this message only, never the batch.
      (this.#transform as Transform)(raw);
    } catch (error) {
      return `malformed: refused by the policy's transforms${isFvError(error) ? ` (${error.code})` : ''}`;
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
    // The whole batch at once, through the pipeline the sync and change capture use: weak
    // evidence (names) is decided per column over the batch, and `on_detect` means the same.
    // The people erased among this batch, read from the store now: a `forget` after the stream
    // started keeps their devices' messages out from its next batch on.
    const erased = await erasedAmong(this.opts.store, this.opts.key, this.plan, raws, this.#pseudonymizers);
    const out = batchPipeline(
      this.plan,
      rowTransformer(this.plan, this.opts.key, this.#scanner, erased),
    )({
      rows: raws,
    });
    if (!out.ok) {
      // Refused (`on_detect: block`): nothing of the batch is written or acknowledged; the
      // broker keeps the messages and the stream stops, as a sync stops its table.
      throw new FvError(out.refusal.code, out.refusal.message);
    }
    for (const _ of out.deletedKeys) this.#drop('erased owner');
    for (const q of out.quarantined) {
      for (let i = 0; i < q.rows; i++) this.#drop(`pii: ${q.column} matched ${q.detector}`);
      addQuarantine(this.#quarantine, [q]);
    }
    this.stats.quarantined = [...this.#quarantine.values()];
    for (const values of out.rows) {
      const p = this.#fits(values);
      if (p) {
        this.#drop(`out of range: ${p.column} ${p.why}`);
        continue;
      }
      // The first message with a key wins, within a batch as across batches.
      const key = this.#keyIdx.map((i) => String(values[i])).join('\u0000');
      if (rows.has(key)) this.stats.duplicates++;
      else rows.set(key, values);
    }
    // Only keys nobody holds are added: a row copied from production, or one a message stored
    // before, is never replaced (a redelivery finds its own row and adds nothing).
    const added = rows.size > 0 ? await this.opts.store.insertNew(this.plan.store, [...rows.values()]) : 0;
    this.stats.duplicates += rows.size - added;
    // A `forget` beside the stream between the check and the insert: its person's rows go again.
    if (added > 0)
      await eraseLateArrivals({
        policy: this.opts.policy,
        store: this.opts.store,
        key: this.opts.key,
        plan: this.plan,
        rows: raws,
        before: erased,
        cache: this.#pseudonymizers,
      });
    // Durable now (or dropped for good): only now may the broker forget these messages.
    this.opts.messages.ack(batch);
    this.stats.written += added;
    this.stats.batches++;
    this.opts.onBatch?.({ rows: added, committedAt: Date.now() });
  }
}
