import type { Client } from 'pg';
import { FvError } from '../errors/index.ts';
import { formatProblems, type Policy, type Problem } from '../policy/index.ts';
import { piiScanner } from '../privacy/index.ts';
import {
  ChangeSlot,
  connectSource,
  DEFAULT_PUBLICATION,
  decodePgoutput,
  parseLsn,
  publicationProblems,
  publicationSql,
  replicaIdentityProblems,
  slotReadError,
} from '../source/index.ts';
import { type CdcTableCount, ChangeBatch, changeOf, META_LSN, type Relation } from './change-batch.ts';
import { finishErasure } from './erase-linked.ts';
import { prepareSync, runSync, type SyncOptions } from './run-sync.ts';
import type { SyncResult } from './sync-result.ts';
import type { TablePlan } from './table-plan.ts';

export type { CdcTableCount } from './change-batch.ts';

export interface CdcOptions extends SyncOptions {
  /** Messages read from the slot per round (whole transactions, so a round may hold more; default 20,000). */
  readonly maxChanges?: number;
  /** Changes applied per store transaction, also inside one large source transaction (default 50,000). */
  readonly applyBatch?: number;
  /** The publication (and, through a gate, its schema and slot) change capture reads; default `fleetvault`. */
  readonly publication?: string;
  /** Called after each batch is applied, with the changes applied so far in this run. */
  readonly onApplied?: (changes: number) => void;
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
  /** How the slot was read: through the gate (no REPLICATION) or as a role with REPLICATION. */
  readonly access: 'gate' | 'replication';
  readonly durationMs: number;
}

const META_SLOT = 'cdc_slot';
const META_PENDING = 'cdc_slot_pending';
const PAGE = 5_000;

function refuse(problems: readonly Problem[], policy: Policy, publication: string): void {
  const errors = problems.filter((p) => p.severity === 'error');
  if (errors.length === 0) return;
  const setup = errors.some((p) => p.code === 'FV_CDC_SETUP');
  throw new FvError(
    setup ? 'FV_CDC_SETUP' : 'FV_CDC_PUBLICATION',
    setup
      ? 'change capture would make PostgreSQL refuse updates, or could not follow deletes; nothing was created or read'
      : 'the publication does not carry exactly what the policy reads; nothing was read from the slot',
    [
      ...formatProblems(errors),
      ...(setup
        ? []
        : [
            `to put it back, as the tables' owner: ${publicationSql(policy, publication, 'ALTER')}; (with a gate, run the SQL from \`fleetvault policy grants --mode cdc\` again)`,
          ]),
    ],
  );
}

/** The policy tables by their PostgreSQL identity: a renamed table's changes still find their table. */
async function tablesByOid(source: Client, schema: string, plans: readonly TablePlan[]) {
  const r = await source.query<{ oid: number; relname: string }>(
    'SELECT c.oid::int8 AS oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = ANY ($2)',
    [schema, plans.map((p) => p.policy.name)],
  );
  const byName = new Map(plans.map((p) => [p.policy.name, p]));
  return new Map(r.rows.map((x) => [Number(x.oid), byName.get(x.relname) as TablePlan]));
}

/**
 * Change capture: follows PostgreSQL logical replication (pgoutput through a slot) instead of
 * scanning cursor columns, so inserts, updates and hard deletes reach the store without a cursor.
 * The slot is read through a guard that refuses, inside PostgreSQL, any change carrying more
 * than the policy reads; a login role without REPLICATION reads it through the gate `policy
 * grants --mode cdc` installs. The first run creates the slot (and, for a role that may, the
 * publication), then copies everything once. Every run checks the publication and the tables'
 * replica identity before reading, streams the slot's changes in bounded batches (a batch may
 * end inside a transaction; the position it records is the last whole transaction's), and only
 * after the store holds a round confirms that position to PostgreSQL: a crash at any point
 * replays from the store's position.
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
    // The one session that is not read-only: it manages its slot (fixed statements). Values are
    // decoded in this session, so its settings fix their text form.
    await source.query('SET default_transaction_read_only = off');
    await source.query("SET TimeZone = 'UTC'");
    await source.query("SET DateStyle = 'ISO, YMD'");
    await source.query("SET IntervalStyle = 'iso_8601'");
    await source.query('SET extra_float_digits = 3');
    const { plans } = await prepareSync(source, opts);
    const { store, policy } = opts;
    const publication = opts.publication ?? DEFAULT_PUBLICATION;
    const recorded = (await store.meta(META_SLOT)) || undefined;
    const pending = (await store.meta(META_PENDING)) || undefined;
    const slot = await ChangeSlot.open(source, policy, {
      publication,
      follows: opts.full ? undefined : (recorded ?? pending),
    });
    let initial: SyncResult | undefined;
    if (!recorded || opts.full) {
      initial = await startSlot(source, slot, opts, { recorded, pending });
      if (!initial.ok) return result(opts, slot, started, { initial });
    } else {
      const confirmed = await slot.confirmed();
      const held = (await store.meta(META_LSN)) || '0/0';
      if (confirmed === undefined || parseLsn(confirmed) > parseLsn(held)) {
        throw new FvError(
          'FV_CDC_SLOT_LOST',
          confirmed === undefined
            ? `replication slot ${slot.name} no longer exists in the source; changes since the last run cannot be read. Run \`fleetvault sync --mode cdc --full\` to start over`
            : `replication slot ${slot.name} was confirmed past what this store holds (${confirmed} > ${held}: another reader, or a new slot of the same name); changes in between are lost to this store. Run \`fleetvault sync --mode cdc --full\` to start over`,
        );
      }
      refuse(await replicaIdentityProblems(source, policy), policy, slot.publication);
      refuse(
        await publicationProblems(source, policy, publication, await slot.gatePolicy()),
        policy,
        publication,
      );
    }
    return await follow(source, slot, plans, opts, started, initial);
  } finally {
    await source.end().catch(() => {});
  }
}

/**
 * The first run (or `--full`): checks, the publication when this role may make it, the slot,
 * then a full copy. A failed first run removes the slot and the publication it created, so
 * nothing it made holds WAL or pins columns in production.
 */
async function startSlot(
  source: Client,
  slot: ChangeSlot,
  opts: CdcOptions,
  was: { recorded: string | undefined; pending: string | undefined },
): Promise<SyncResult> {
  const { store, policy } = opts;
  // Nothing is created or dropped before the tables' replica identity is known to be safe to publish.
  refuse(await replicaIdentityProblems(source, policy), policy, slot.publication);
  // A slot left by a first run that died before recording it, or replaced by `--full`, would only
  // hold WAL back on the source: it goes. Any other slot of this name belongs to someone else.
  const ours = [was.pending, opts.full ? was.recorded : undefined];
  const exists = (await slot.confirmed()) !== undefined;
  if (exists && !ours.includes(slot.name) && !opts.full) {
    throw new FvError(
      'FV_CDC_SETUP',
      `replication slot ${slot.name} already exists and this store does not follow it (another store may); run with --full to take it over (that store then stops with FV_CDC_SLOT_LOST), or give this store another --publication`,
    );
  }
  await store.setMeta(META_PENDING, slot.name);
  let createdPublication = false;
  let createdSlot = false;
  try {
    createdPublication = await slot.createPublication(policy);
    refuse(
      await publicationProblems(source, policy, slot.publication, await slot.gatePolicy()),
      policy,
      slot.publication,
    );
    if (exists) await slot.drop();
    for (const name of ours) {
      if (name && name !== slot.name && slot.access === 'replication') {
        await source.query(
          'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()',
          [name],
        );
      }
    }
    await store.setMeta(META_SLOT, '');
    const lsn = await slot.create();
    createdSlot = true;
    // Everything after the slot's start is replayed; applying a change twice gives the same rows.
    const initial = await runSync({ ...opts, full: true });
    if (initial.ok) {
      await store.atomically(async () => {
        await store.setMeta(META_SLOT, slot.name);
        await store.setMeta(META_PENDING, '');
        await store.setMeta(META_LSN, lsn);
      });
      return initial;
    }
    await undo();
    return initial;
  } catch (error) {
    await undo().catch(() => {});
    throw error;
  }
  async function undo() {
    if (createdSlot) await slot.drop();
    if (createdPublication) await slot.dropPublication();
    await store.setMeta(META_PENDING, '');
  }
}

/** Reads the slot round by round until it is drained, applying each round in bounded batches. */
async function follow(
  source: Client,
  slot: ChangeSlot,
  plans: readonly TablePlan[],
  opts: CdcOptions,
  started: number,
  initial: SyncResult | undefined,
): Promise<CdcResult> {
  const { store, policy } = opts;
  const maxChanges = opts.maxChanges ?? 20_000;
  const applyBatch = opts.applyBatch ?? 50_000;
  const byOid = await tablesByOid(source, policy.schema, plans);
  const counts: Record<string, CdcTableCount> = {};
  const count = (t: string) => {
    counts[t] ??= { upserted: 0, deleted: 0, erased: 0, quarantined: 0 };
    return counts[t];
  };
  // An erasure a stopped run left (ClickHouse has no transaction to undo it) is finished first.
  const finished = await store.atomically(() => finishErasure({ policy, store, key: opts.key }));
  for (const [t, n] of Object.entries(finished)) count(t).erased += n;
  const batch = await ChangeBatch.open(
    { source, policy, store, key: opts.key, scanner: piiScanner(policy.customDetectors), plans, count },
    parseLsn((await store.meta(META_LSN)) || '0/0'),
  );
  let transactions = 0;
  let changes = 0;
  for (;;) {
    opts.signal?.throwIfAborted();
    // Transactions the store already holds (a crash after its commit, before the slot heard) are skipped.
    const held = batch.position;
    const relations = new Map<number, Relation | { readonly plan?: undefined; readonly name: string }>();
    let skipping = false;
    let messages = 0;
    await source.query('BEGIN');
    try {
      await source.query(`DECLARE fv_changes NO SCROLL CURSOR FOR ${slot.peekQuery(maxChanges)}`);
      for (;;) {
        const page = await source.query<{ d: Buffer }>(`FETCH ${PAGE} FROM fv_changes`);
        for (const r of page.rows) {
          messages++;
          const m = decodePgoutput(r.d);
          if (m.tag === 'relation') {
            const plan = byOid.get(m.relid);
            if (plan) {
              const names = m.columns.map((c) => c.name);
              const lacking = plan.read.filter((c) => !names.includes(c.name)).map((c) => c.name);
              if (lacking.length > 0) {
                throw new FvError(
                  'FV_CDC_PUBLICATION',
                  `changes to ${plan.policy.name} in the slot were published without ${lacking.join(', ')} (the publication was narrowed); run \`fleetvault sync --mode cdc --full\` once it carries the policy's columns again`,
                );
              }
              relations.set(m.relid, { plan, columns: names });
            } else relations.set(m.relid, { name: `${m.schema}.${m.table}` });
          } else if (m.tag === 'begin') {
            skipping = m.finalLsn < held;
          } else if (m.tag === 'commit') {
            if (!skipping) {
              batch.transactionEnded(m.endLsn);
              transactions++;
            }
          } else if (m.tag === 'truncate') {
            const names = m.relids.map((id) => relations.get(id)?.plan?.policy.name).filter(Boolean);
            if (names.length > 0 && !skipping) {
              throw new FvError(
                'FV_CDC_CHANGE',
                `table ${names.join(', ')} was truncated in the source; run \`fleetvault sync --mode cdc --full\``,
              );
            }
          } else if (m.tag === 'insert' || m.tag === 'update' || m.tag === 'delete') {
            if (skipping) continue;
            const rel = relations.get(m.relid);
            if (!rel?.plan) {
              throw new FvError(
                'FV_CDC_CHANGE',
                `the slot holds changes to ${rel?.name ?? `relation ${m.relid}`}, which is no longer a policy table (dropped and created again?); run \`fleetvault sync --mode cdc --full\``,
              );
            }
            // An update that changed the key carries the old key: that row goes first.
            if (m.tag === 'update' && m.old)
              batch.add(changeOf(rel, { tag: 'delete', relid: m.relid, old: m.old }));
            batch.add(changeOf(rel, m));
          }
        }
        if (batch.size >= applyBatch) {
          changes += await batch.flush();
          opts.onApplied?.(changes);
        }
        if (page.rows.length < PAGE) break;
      }
      // Even a round with nothing for the policy's tables moves the store's position.
      changes += await batch.flush();
      await source.query('COMMIT');
    } catch (error) {
      await source.query('ROLLBACK').catch(() => {});
      throw slotReadError(error, slot.publication);
    }
    // Durable in the store: only now may PostgreSQL forget these changes (a round of skipped,
    // already-applied transactions confirms the store's own position).
    if (messages > 0) await slot.advance(batch.position);
    if (messages < maxChanges) break;
  }
  return result(opts, slot, started, { initial, transactions, changes, tables: counts });
}

async function result(
  opts: CdcOptions,
  slot: ChangeSlot,
  started: number,
  r: {
    initial?: SyncResult | undefined;
    transactions?: number;
    changes?: number;
    tables?: Record<string, CdcTableCount>;
  },
): Promise<CdcResult> {
  return {
    store: opts.store.location,
    ...(r.initial ? { initial: r.initial } : {}),
    transactions: r.transactions ?? 0,
    changes: r.changes ?? 0,
    tables: r.tables ?? {},
    lsn: r.initial && !r.initial.ok ? null : (await opts.store.meta(META_LSN)) || null,
    access: slot.access,
    durationMs: Date.now() - started,
  };
}
