import { randomBytes } from 'node:crypto';
import type { Client } from 'pg';
import { FvError } from '../errors/index.ts';
import type { Value } from '../policy/index.ts';
import { piiScanner, pseudonymToUuid } from '../privacy/index.ts';
import {
  connectSource,
  decodePgoutput,
  formatLsn,
  type PgoutputMessage,
  parseLsn,
  pgTextValue,
  quoteIdent,
  type TupleValue,
} from '../source/index.ts';
import type { TableWriter } from '../store/index.ts';
import { eraseLinked } from './erase-linked.ts';
import { rowTransformer } from './row-transformer.ts';
import { prepareSync, runSync, type SyncOptions } from './run-sync.ts';
import type { SyncResult } from './sync-result.ts';
import { keyDomain, type TablePlan } from './table-plan.ts';

export interface CdcOptions extends SyncOptions {
  /** Changes read from the slot per round (whole transactions; default 20,000). */
  readonly maxChanges?: number;
}

export interface CdcTableCount {
  upserted: number;
  deleted: number;
  /** Rows removed because the row they belong to was deleted (a deleted user's devices …). */
  erased: number;
  quarantined: number;
}

export interface CdcResult {
  readonly store: string;
  /** The first run copies everything once (a full sync) after creating the slot. */
  readonly initial?: SyncResult;
  readonly transactions: number;
  readonly changes: number;
  readonly tables: Readonly<Record<string, CdcTableCount>>;
  /** The position the store now holds and the slot has confirmed. */
  readonly lsn: string | null;
  readonly durationMs: number;
}

interface Change {
  readonly plan: TablePlan;
  readonly kind: 'upsert' | 'delete';
  readonly raw: Value[];
}

interface Relation {
  readonly plan: TablePlan | undefined;
  readonly columns: readonly string[];
}

const META_SLOT = 'cdc_slot';
const META_LSN = 'cdc_lsn';
const META_PENDING = 'cdc_slot_pending';

/** The publication's column lists are exactly what the policy reads: secrets never leave PostgreSQL. */
function publicationSql(
  name: string,
  schema: string,
  plans: readonly TablePlan[],
  verb: 'CREATE' | 'ALTER',
): string {
  const tables = plans
    .map(
      (p) =>
        `${quoteIdent(schema)}.${quoteIdent(p.policy.name)} (${p.read.map((c) => quoteIdent(c.name)).join(', ')})`,
    )
    .join(', ');
  return verb === 'CREATE'
    ? `CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${tables}`
    : `ALTER PUBLICATION ${quoteIdent(name)} SET TABLE ${tables}`;
}

async function ensurePublication(
  source: Client,
  name: string,
  schema: string,
  plans: readonly TablePlan[],
): Promise<void> {
  const have = await source.query<{ tablename: string; attnames: string[] }>(
    'SELECT tablename, attnames::text[] AS attnames FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2',
    [name, schema],
  );
  const exists =
    (await source.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [name])).rowCount ?? 0;
  const want = new Map(
    plans.map((p) => [
      p.policy.name,
      p.read
        .map((c) => c.name)
        .sort()
        .join(','),
    ]),
  );
  const same =
    have.rows.length === want.size &&
    have.rows.every((r) => want.get(r.tablename) === [...(r.attnames ?? [])].sort().join(','));
  if (exists && same) return;
  const sql = publicationSql(name, schema, plans, exists ? 'ALTER' : 'CREATE');
  try {
    await source.query(sql);
  } catch (error) {
    if ((error as { code?: string }).code === '42501') {
      throw new FvError(
        'FV_SOURCE_PRIVILEGE',
        'the role may not create the publication change capture reads',
        [`run as the tables' owner: ${sql};`],
      );
    }
    throw error;
  }
}

/**
 * Change capture: follows PostgreSQL logical replication (pgoutput through a slot) instead of
 * scanning cursor columns, so inserts, updates and hard deletes reach the store without a cursor.
 * The first run creates the publication (column lists = what the policy reads) and the slot, then
 * copies everything once. Every later run reads whole transactions from the slot, applies them
 * through the policy in one store transaction together with the position reached, and only then
 * confirms that position to PostgreSQL: a crash at any point replays from the store's position.
 */
export async function runCdc(opts: CdcOptions): Promise<CdcResult> {
  const started = Date.now();
  const source = await connectSource(opts.sourceUrl);
  try {
    const level = (await source.query<{ wal_level: string }>('SHOW wal_level')).rows[0]?.wal_level;
    if (level !== 'logical') {
      throw new FvError(
        'FV_CDC_UNAVAILABLE',
        `the source runs with wal_level = ${level}; change capture needs logical (ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)`,
      );
    }
    // The one session that is not read-only: it manages its publication and slot (fixed statements).
    await source.query('SET default_transaction_read_only = off');
    await source.query("SET TimeZone = 'UTC'");
    await source.query("SET DateStyle = 'ISO, YMD'");
    await source.query("SET IntervalStyle = 'iso_8601'");
    await source.query('SET extra_float_digits = 3');
    const { plans } = await prepareSync(source, opts);
    const store = opts.store;
    let slot = (await store.meta(META_SLOT)) || undefined;
    // A slot (and publication) left by a first run that died before recording it, or replaced by
    // `--full`, would only hold WAL back on the source: it goes.
    const stale = [(await store.meta(META_PENDING)) || undefined, opts.full ? slot : undefined];
    for (const name of stale) {
      if (!name) continue;
      await source.query(
        'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
        [name],
      );
      await source.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(`${name}_pub`)}`).catch(() => {});
    }
    if (opts.full && slot) {
      await store.setMeta(META_SLOT, '');
      slot = undefined;
    }
    const publication = slot ? `${slot}_pub` : undefined;
    let initial: SyncResult | undefined;
    if (!slot) {
      slot = `fleetvault_${randomBytes(6).toString('hex')}`;
      await store.setMeta(META_PENDING, slot);
      await ensurePublication(source, `${slot}_pub`, opts.policy.schema, plans);
      const created = await source.query<{ lsn: string }>(
        "SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')",
        [slot],
      );
      // Everything after the slot's start is replayed; applying a change twice gives the same rows.
      initial = await runSync({ ...opts, full: true });
      if (!initial.ok) {
        await source.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => {});
        return {
          store: store.location,
          initial,
          transactions: 0,
          changes: 0,
          tables: {},
          lsn: null,
          durationMs: Date.now() - started,
        };
      }
      await store.atomically(async () => {
        await store.setMeta(META_SLOT, slot as string);
        await store.setMeta(META_PENDING, '');
        await store.setMeta(META_LSN, created.rows[0]?.lsn as string);
      });
    } else {
      const found = await source.query(
        'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()',
        [slot],
      );
      if (!found.rowCount) {
        throw new FvError(
          'FV_CDC_SLOT_LOST',
          `replication slot ${slot} no longer exists in the source; changes since the last run cannot be read. Run \`fleetvault sync --mode cdc --full\` to start over`,
        );
      }
      await ensurePublication(source, publication as string, opts.policy.schema, plans);
    }
    const pub = `${slot}_pub`;
    const byName = new Map(plans.map((p) => [p.policy.name, p]));
    const scanner = piiScanner(opts.policy.customDetectors);
    const tombstones = await store.tombstones();
    const transforms = new Map(
      plans.map((p) => [p.policy.name, rowTransformer(p, opts.key, scanner, tombstones)]),
    );
    const writers = new Map<string, TableWriter>();
    for (const p of plans) writers.set(p.policy.name, await store.openWriter(p.store, 'upsert'));
    const counts: Record<string, CdcTableCount> = {};
    const count = (t: string) => {
      counts[t] ??= { upserted: 0, deleted: 0, erased: 0, quarantined: 0 };
      return counts[t];
    };
    let stored = parseLsn((await store.meta(META_LSN)) ?? '0/0');
    let transactions = 0;
    let changes = 0;
    for (;;) {
      opts.signal?.throwIfAborted();
      const rows = await source.query<{ data: Buffer }>(
        "SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, $2, 'proto_version', '1', 'publication_names', $3)",
        [slot, opts.maxChanges ?? 20_000, pub],
      );
      if (rows.rows.length === 0) break;
      const relations = new Map<number, Relation>();
      const batch: Change[] = [];
      let current: Change[] = [];
      let end = stored;
      let txns = 0;
      for (const r of rows.rows) {
        const m: PgoutputMessage = decodePgoutput(r.data);
        if (m.tag === 'relation') {
          relations.set(m.relid, {
            plan: m.schema === opts.policy.schema ? byName.get(m.table) : undefined,
            columns: m.columns.map((c) => c.name),
          });
        } else if (m.tag === 'begin') {
          current = [];
        } else if (m.tag === 'commit') {
          // Transactions the store already holds (a crash after its commit, before the slot heard) are skipped.
          if (m.endLsn > stored) {
            batch.push(...current);
            end = m.endLsn;
            txns++;
          }
          current = [];
        } else if (m.tag === 'truncate') {
          const names = m.relids.map((id) => relations.get(id)?.plan?.policy.name).filter(Boolean);
          if (names.length > 0) {
            throw new FvError(
              'FV_CDC_CHANGE',
              `table ${names.join(', ')} was truncated in the source; run \`fleetvault sync --full\``,
            );
          }
        } else if (m.tag === 'insert' || m.tag === 'update' || m.tag === 'delete') {
          const rel = relations.get(m.relid);
          if (!rel?.plan) continue;
          // An update that changed the key carries the old key: that row goes first.
          if (m.tag === 'update' && m.old)
            current.push(toChange(rel, { tag: 'delete', relid: m.relid, old: m.old }));
          current.push(toChange(rel, m));
        }
      }
      if (end > stored) {
        // Even a round with nothing for the policy's tables moves the store's position, so the
        // slot is never confirmed past what the store records.
        await store.atomically(async () => {
          for (const [table, folded] of fold(batch)) {
            const plan = byName.get(table) as TablePlan;
            const transform = transforms.get(table) as ReturnType<typeof rowTransformer>;
            const upserts: Value[][] = [];
            const deletes: Value[][] = [];
            const gone: string[] = [];
            const transformed = transform.batch(folded.map((c) => c.raw));
            for (const [i, c] of folded.entries()) {
              const t = transformed[i] as (typeof transformed)[number];
              if (c.kind === 'delete' || t.deleted) {
                deletes.push(t.key);
                const k = t.key[0];
                if (keyDomain(plan.policy) && typeof k === 'bigint') gone.push(pseudonymToUuid(k));
                continue;
              }
              if (t.unfit) {
                throw new FvError(
                  'FV_TRANSFORM_UNFIT',
                  `${table}.${t.unfit.column}: transform ${t.unfit.transform} turned every value of these changes into NULL (the values do not fit it); nothing of these changes was written`,
                );
              }
              if (t.detection) {
                if (plan.policy.onDetect === 'block') {
                  throw new FvError(
                    'FV_PII_DETECTED',
                    `${table}.${t.detection.column}: detector ${t.detection.detector} matched a kept value in row ${t.detection.rowKey}; nothing of these changes was written`,
                  );
                }
                count(table).quarantined++;
                continue;
              }
              upserts.push(t.values);
            }
            await (writers.get(table) as TableWriter).writeBatch(upserts, deletes, undefined);
            count(table).upserted += upserts.length;
            count(table).deleted += deletes.length;
            // A deleted parent takes what points to it (a user's devices, their events) along.
            if (gone.length > 0) {
              const erased = await eraseLinked({
                policy: opts.policy,
                store,
                domain: keyDomain(plan.policy) as string,
                pseudonyms: gone,
              });
              for (const [t, n] of Object.entries(erased)) if (t !== table) count(t).erased += n;
            }
          }
          await store.setMeta(META_LSN, formatLsn(end));
        });
        changes += batch.length;
        const fresh = await store.tombstones();
        for (const [d, set] of fresh) tombstones.set(d, set);
        for (const p of plans)
          transforms.set(p.policy.name, rowTransformer(p, opts.key, scanner, tombstones));
      }
      // Durable in the store: only now may PostgreSQL forget these changes (a round of skipped,
      // already-applied transactions confirms the store's own position).
      await source.query('SELECT pg_replication_slot_advance($1, $2::pg_lsn)', [slot, formatLsn(end)]);
      transactions += txns;
      stored = end;
      if (rows.rows.length < (opts.maxChanges ?? 20_000)) break;
    }
    return {
      store: store.location,
      ...(initial ? { initial } : {}),
      transactions,
      changes,
      tables: counts,
      lsn: (await store.meta(META_LSN)) ?? null,
      durationMs: Date.now() - started,
    };
  } finally {
    await source.end().catch(() => {});
  }
}

/** A change's values in the plan's read order, from the relation's column order. */
function toChange(
  rel: Relation,
  m: Extract<PgoutputMessage, { tag: 'insert' | 'update' | 'delete' }>,
): Change {
  const plan = rel.plan as TablePlan;
  const row = m.tag === 'delete' ? m.old : m.row;
  const old = m.tag === 'update' ? m.old : undefined;
  const raw = plan.read.map((c) => {
    const i = rel.columns.indexOf(c.name);
    let v: TupleValue | undefined = i >= 0 ? row[i] : null;
    if (v !== null && typeof v === 'object') {
      v = old?.[i];
      if (v === undefined || (v !== null && typeof v === 'object')) {
        throw new FvError(
          'FV_CDC_CHANGE',
          `${plan.policy.name}.${c.name}: an update did not carry this large (TOAST) value; run ALTER TABLE ${plan.policy.name} REPLICA IDENTITY FULL in the source`,
        );
      }
    }
    if (v === null || v === undefined) return null;
    const value = pgTextValue(v, c.kind);
    if (value === undefined) {
      throw new FvError(
        'FV_CDC_CHANGE',
        `${plan.policy.name}.${c.name}: a replicated value is not a valid ${c.kind}`,
      );
    }
    return value;
  });
  return { plan, kind: m.tag === 'delete' ? 'delete' : 'upsert', raw };
}

/** Changes per table, the last change of each key winning (the order within a key is kept). */
function fold(batch: readonly Change[]): Map<string, Change[]> {
  const out = new Map<string, Map<string, Change>>();
  for (const c of batch) {
    const t = c.plan.policy.name;
    const keyIdx = c.plan.policy.primaryKey.map((k) => c.plan.read.findIndex((r) => r.name === k));
    const key = keyIdx.map((i) => String(c.raw[i])).join('\u0000');
    const m = out.get(t) ?? new Map<string, Change>();
    m.delete(key);
    m.set(key, c);
    out.set(t, m);
  }
  return new Map([...out].map(([t, m]) => [t, [...m.values()]]));
}
