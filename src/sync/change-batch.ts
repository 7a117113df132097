import type { Client } from 'pg';
import { FvError } from '../errors/index.ts';
import type { Policy, Value } from '../policy/index.ts';
import type { MasterKey, PiiScanner } from '../privacy/index.ts';
import {
  formatLsn,
  type PgoutputMessage,
  pgTextValue,
  quoteIdent,
  type TupleValue,
} from '../source/index.ts';
import type { Store, TableWriter } from '../store/index.ts';
import { type BatchWrite, batchPipeline } from './batch-pipeline.ts';
import { eraseLinked, linkDomains, tombstone } from './erase-linked.ts';
import { erasedAmong, eraseLateArrivals, type PseudonymizerCache } from './erased-among.ts';
import { HeldLinkWriter, heldColumns } from './held-links.ts';
import { rowTransformer } from './row-transformer.ts';
import { keyDomain, type TablePlan } from './table-plan.ts';

/** Store meta key of the position (end of the last whole transaction) the store holds. */
export const META_LSN = 'cdc_lsn';

/** What a relation message said about one published table. */
export interface Relation {
  readonly plan: TablePlan;
  readonly columns: readonly string[];
}

/** One decoded change, its values in the plan's read order. */
export interface Change {
  readonly plan: TablePlan;
  readonly kind: 'upsert' | 'delete';
  readonly raw: Value[];
  /** The primary key in PostgreSQL's text form: the row's identity within the table. */
  readonly keyText: readonly string[];
  /** Read-order indexes of large (TOAST) values an update did not carry because they did not change. */
  readonly unsent: readonly number[];
}

export interface CdcTableCount {
  upserted: number;
  deleted: number;
  /** Rows removed because the row they belong to was deleted (a deleted user's devices …). */
  erased: number;
  quarantined: number;
}

function convert(plan: TablePlan, i: number, text: string): Value {
  const c = plan.read[i] as TablePlan['read'][number];
  const value = pgTextValue(text, c.kind);
  if (value === undefined) {
    throw new FvError(
      'FV_CDC_CHANGE',
      `${plan.policy.name}.${c.name}: a replicated value is not a valid ${c.kind}`,
    );
  }
  return value;
}

/** A change's values in the plan's read order, from the relation's column order. */
export function changeOf(
  rel: Relation,
  m: Extract<PgoutputMessage, { tag: 'insert' | 'update' | 'delete' }>,
): Change {
  const { plan } = rel;
  const row = m.tag === 'delete' ? m.old : m.row;
  const old = m.tag === 'update' ? m.old : undefined;
  const unsent: number[] = [];
  const raw = plan.read.map((c, n) => {
    const i = rel.columns.indexOf(c.name);
    let v: TupleValue | undefined = row[i];
    if (v !== null && typeof v === 'object') {
      // Not sent because it did not change: the old tuple may have it; otherwise it is read back.
      v = old?.[i];
      if (v === undefined || (v !== null && typeof v === 'object')) {
        unsent.push(n);
        return null;
      }
    }
    return v === null || v === undefined ? null : convert(plan, n, v);
  });
  const keyText = plan.policy.primaryKey.map((k) => {
    const v = row[rel.columns.indexOf(k)];
    if (typeof v !== 'string') {
      throw new FvError(
        'FV_CDC_CHANGE',
        `${plan.policy.name}.${k}: a change did not carry this primary key column's value`,
      );
    }
    return v;
  });
  return { plan, kind: m.tag === 'delete' ? 'delete' : 'upsert', raw, keyText, unsent };
}

/** Changes per table, the last change of each key winning (the order of first appearance kept). */
function fold(changes: readonly Change[]): Map<string, Change[]> {
  const out = new Map<string, Map<string, Change>>();
  for (const c of changes) {
    const t = c.plan.policy.name;
    const key = c.keyText.join('\u0000');
    const m = out.get(t) ?? new Map<string, Change>();
    m.delete(key);
    m.set(key, c);
    out.set(t, m);
  }
  return new Map([...out].map(([t, m]) => [t, [...m.values()]]));
}

// PostgreSQL's text form of every value, as pgoutput sends it: no client-side parsing.
const RAW_TEXT = { getTypeParser: () => (v: string) => v };
const KEYS_PER_READ = 500;

export interface ChangeBatchContext {
  readonly source: Client;
  readonly policy: Policy;
  readonly store: Store;
  readonly key: MasterKey;
  readonly scanner: PiiScanner;
  readonly plans: readonly TablePlan[];
  readonly count: (table: string) => CdcTableCount;
}

/**
 * Changes gathered from the slot and applied to the store a bounded batch at a time. A batch may
 * end inside a transaction: the position stored with it is the end of the last whole transaction
 * before it, so a crash replays the unfinished transaction from its start (applying a change
 * twice gives the same rows) and the slot is never confirmed past what the store holds.
 */
export class ChangeBatch {
  private changes: Change[] = [];
  private ended: bigint;
  private held: bigint;
  private readonly writers = new Map<string, TableWriter>();
  /** Each table's held links (rows quarantined as they arrive), kept and released as rows come. */
  private readonly links = new Map<string, HeldLinkWriter>();
  /** One pseudonymizer per domain, to look up a batch's erased keys before it is transformed. */
  private readonly pseudonymizers: PseudonymizerCache = new Map();
  /**
   * Domains whose keys other tables hold (a user's, a device's): a key of one deleted at the source,
   * or dropped with its erased owner, is erased with what links to it and kept as a tombstone.
   */
  private readonly follow: ReadonlySet<string>;

  private constructor(
    private readonly ctx: ChangeBatchContext,
    position: bigint,
  ) {
    this.ended = position;
    this.held = position;
    this.follow = linkDomains(ctx.policy);
  }

  static async open(ctx: ChangeBatchContext, position: bigint): Promise<ChangeBatch> {
    const batch = new ChangeBatch(ctx, position);
    for (const p of ctx.plans) {
      batch.writers.set(p.policy.name, await ctx.store.openWriter(p.store, 'upsert'));
      batch.links.set(
        p.policy.name,
        await HeldLinkWriter.open(ctx.store, p.policy.name, heldColumns(ctx.policy, p)),
      );
    }
    return batch;
  }

  /** Changes waiting to be applied. */
  get size(): number {
    return this.changes.length;
  }

  /** The position the store holds. */
  get position(): bigint {
    return this.held;
  }

  add(change: Change): void {
    this.changes.push(change);
  }

  /** A transaction ended at `endLsn`: the next flush may record it as held. */
  transactionEnded(endLsn: bigint): void {
    if (endLsn > this.ended) this.ended = endLsn;
  }

  /** Applies what is waiting, with the position of the last whole transaction, in one store transaction. */
  async flush(): Promise<number> {
    if (this.changes.length === 0 && this.ended <= this.held) return 0;
    const folded = fold(this.changes);
    const applied = this.changes.length;
    this.changes = [];
    await this.readUnsent(folded);
    const { store } = this.ctx;
    // Every table's batch goes through the pipeline before the transaction opens: a refusal
    // leaves the store (and the slot) exactly where they were.
    const outputs = new Map<string, BatchWrite>();
    const checked = new Map<string, { plan: TablePlan; rows: Value[][]; erased: Map<string, Set<string>> }>();
    for (const [table, list] of folded) {
      const plan = (list[0] as Change).plan;
      const rows = list.map((c) => c.raw);
      // The erased keys among this batch only, read from the store now: a parent erased by the
      // previous batch (a deleted user) already stops its rows here.
      const erased = await erasedAmong(store, this.ctx.key, plan, rows, this.pseudonymizers);
      checked.set(table, { plan, rows, erased });
      const transform = rowTransformer(plan, this.ctx.key, this.ctx.scanner, erased);
      const held = this.links.get(table)?.columns;
      const out = batchPipeline(plan, transform, {
        tombstoneDeletes: true,
        follow: this.follow,
        ...(held ? { held } : {}),
      })({
        rows,
        deleted: (i) => list[i]?.kind === 'delete',
      });
      if (!out.ok) throw new FvError(out.refusal.code, out.refusal.message);
      outputs.set(table, out);
    }
    await store.atomically(async () => {
      for (const [table, out] of outputs) await this.apply(table, out);
      if (this.ended > this.held) await store.setMeta(META_LSN, formatLsn(this.ended));
    });
    this.held = this.ended;
    // A `forget` beside the stream between the check and the write: its person's rows go again.
    for (const { plan, rows, erased } of checked.values()) {
      const late = await eraseLateArrivals({
        policy: this.ctx.policy,
        store,
        key: this.ctx.key,
        plan,
        rows,
        before: erased,
        cache: this.pseudonymizers,
      });
      for (const [t, n] of Object.entries(late)) this.ctx.count(t).erased += n;
    }
    return applied;
  }

  /**
   * Large values an update did not carry are read back from the source by key, through the
   * policy's column list (as the reader role's GRANTs allow). The row read is the current one:
   * any later change to it is further on in the slot, so the store converges to the source. A
   * row that no longer exists is left out: its delete (or key change) is further on too.
   */
  private async readUnsent(folded: Map<string, Change[]>): Promise<void> {
    for (const [table, list] of folded) {
      const need = list.filter((c) => c.kind === 'upsert' && c.unsent.length > 0);
      if (need.length === 0) continue;
      const plan = (need[0] as Change).plan;
      const pk = plan.policy.primaryKey;
      const keyAt = pk.map((k) => plan.read.findIndex((c) => c.name === k));
      const current = new Map<string, Array<string | null>>();
      for (let at = 0; at < need.length; at += KEYS_PER_READ) {
        const chunk = need.slice(at, at + KEYS_PER_READ);
        const tuples = chunk.map((_, i) => `(${pk.map((__, j) => `$${i * pk.length + j + 1}`).join(', ')})`);
        const r = await this.ctx.source.query<Array<string | null>>({
          text: `SELECT ${plan.read.map((c) => quoteIdent(c.name)).join(', ')} FROM ${quoteIdent(this.ctx.policy.schema)}.${quoteIdent(table)} WHERE (${pk.map(quoteIdent).join(', ')}) IN (${tuples.join(', ')})`,
          values: chunk.flatMap((c) => c.keyText),
          rowMode: 'array',
          types: RAW_TEXT,
        });
        for (const row of r.rows) current.set(keyAt.map((i) => row[i]).join('\u0000'), row);
      }
      const gone = new Set<Change>();
      for (const c of need) {
        const row = current.get(c.keyText.join('\u0000'));
        if (!row) {
          gone.add(c);
          continue;
        }
        for (const i of c.unsent) {
          const v = row[i];
          c.raw[i] = v === null || v === undefined ? null : convert(plan, i, v);
        }
      }
      if (gone.size > 0)
        folded.set(
          table,
          list.filter((c) => !gone.has(c)),
        );
    }
  }

  /** Writes one table's pipeline output, and keeps the keys it erased erased. */
  private async apply(table: string, out: BatchWrite): Promise<void> {
    const plan = this.ctx.plans.find((p) => p.policy.name === table) as TablePlan;
    const count = this.ctx.count(table);
    for (const q of out.quarantined) count.quarantined += q.rows;
    const links = this.links.get(table) as HeldLinkWriter;
    await links.keep(out.held);
    await (this.writers.get(table) as TableWriter).writeBatch(out.rows, out.deletedKeys, undefined);
    await links.written(out.rows);
    count.upserted += out.rows.length;
    count.deleted += out.deletedKeys.length;
    // A deleted row nothing points to (an event) left no key (the pipeline's `follow`); one dropped
    // with its erased owner did, and it stays erased. A deleted parent takes what points to it (a
    // user's devices, their events) along.
    const gone = [...out.tombstones.values()].flat();
    const domain = keyDomain(plan.policy);
    if (gone.length === 0 || !domain) return;
    if (!this.follow.has(domain)) {
      await tombstone(this.ctx.store, domain, gone);
      return;
    }
    const erased = await eraseLinked({
      policy: this.ctx.policy,
      store: this.ctx.store,
      key: this.ctx.key,
      domain,
      pseudonyms: gone,
    });
    for (const [t, n] of Object.entries(erased)) if (t !== table) this.ctx.count(t).erased += n;
  }
}
