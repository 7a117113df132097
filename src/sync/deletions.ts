import type { Client } from 'pg';
import type { Policy, TablePolicy } from '../policy/index.ts';
import { hmacPseudonymizer, type MasterKey, pseudonymToUuid, uuidToPseudonym } from '../privacy/index.ts';
import { readTable } from '../source/index.ts';
import type { Store } from '../store/index.ts';
import { eraseLinked, finishErasure } from './erase-linked.ts';
import { keyDomain, type TablePlan } from './table-plan.ts';

/**
 * Tables whose rows others point to: a single pseudonymized primary key whose domain appears in
 * another table (users, to which devices and sessions point; devices, to which events point).
 * Deleting such a row in production must take the rows that point to it out of the store too.
 */
export function parentTables<T extends { readonly policy: TablePolicy }>(plans: readonly T[]): T[] {
  return plans.filter((plan) => {
    const domain = keyDomain(plan.policy);
    return (
      domain !== undefined &&
      plans.some(
        (other) =>
          other !== plan &&
          [...other.policy.columns.values()].some((c) => c.action === 'pseudonymize' && c.domain === domain),
      )
    );
  });
}

/**
 * Brings deletions in production to the store before any table is copied: for every parent
 * table, the keys soft-deleted in the source and the stored keys the source no longer holds
 * (hard deletes) are erased with everything linked to them, and kept as tombstones so that no
 * later sync, incremental or full, copies their rows back. Resolves to rows erased per table.
 */
export async function propagateDeletions(opts: {
  source: Client;
  policy: Policy;
  store: Store;
  key: MasterKey;
  plans: readonly TablePlan[];
  batchSize: number;
  /** A full sync: an unreadable record of an unfinished erasure is dropped (FV_ERASURE_CORRUPT). */
  full?: boolean;
  signal?: AbortSignal;
}): Promise<Record<string, number>> {
  // An erasure a stopped run left (ClickHouse has no transaction to undo it) is finished first.
  const erased: Record<string, number> = await opts.store.atomically(() =>
    finishErasure({
      policy: opts.policy,
      store: opts.store,
      key: opts.key,
      discardUnreadable: opts.full === true,
    }),
  );
  for (const plan of parentTables(opts.plans)) {
    const t = plan.policy;
    const pkName = t.primaryKey[0] as string;
    const domain = keyDomain(t) as string;
    const pseudonymizer = hmacPseudonymizer(opts.key, domain, 0);
    const soft = t.softDelete ? plan.read.find((c) => c.name === t.softDelete) : undefined;
    const gone: string[] = [];
    // The source's live keys go to the store batch by batch (a parent table of 30M devices would
    // otherwise be held whole); a table not stored yet has nothing missing to find.
    const live = async function* (): AsyncGenerator<bigint[]> {
      for await (const batch of readTable(opts.source, {
        schema: opts.policy.schema,
        table: t.name,
        columns: [{ name: pkName, kind: 'text' }, ...(soft ? [soft] : [])],
        orderBy: [],
        batchSize: opts.batchSize,
        ...(opts.signal ? { signal: opts.signal } : {}),
      })) {
        const keys: bigint[] = [];
        for (const [id, deletedAt] of batch) {
          if (id === null || id === undefined) continue;
          const p = pseudonymizer.pseudonym(String(id));
          if (soft && deletedAt !== null) gone.push(pseudonymToUuid(p));
          else keys.push(p);
        }
        yield keys;
      }
    };
    const keys = live();
    if ((await opts.store.tableState(t.name)) !== undefined)
      gone.push(...(await opts.store.missingKeys(t.name, pkName, keys)));
    // Whatever the store did not read still holds soft-deleted keys.
    for await (const _ of keys);
    const known = await opts.store.tombstonesAmong(domain, gone.map(uuidToPseudonym));
    const fresh = gone.filter((p) => !known.has(p));
    if (fresh.length === 0) continue;
    // One store transaction, as forget: the owners' tombstones come first, so a run stopped half
    // way would skip them the next time and leave what links to them.
    const r = await opts.store.atomically(() =>
      eraseLinked({ policy: opts.policy, store: opts.store, key: opts.key, domain, pseudonyms: fresh }),
    );
    for (const [table, n] of Object.entries(r)) erased[table] = (erased[table] ?? 0) + n;
  }
  return erased;
}
