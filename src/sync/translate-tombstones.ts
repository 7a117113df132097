import type { Client } from 'pg';
import type { Policy } from '../policy/index.ts';
import { hmacPseudonymizer, type MasterKey, pseudonymToUuid } from '../privacy/index.ts';
import { readTable } from '../source/index.ts';
import type { Store } from '../store/index.ts';
import { tombstone } from './erase-linked.ts';
import { keyDomain } from './table-plan.ts';

/** Source identifiers read per batch while carrying erasures over. */
const TRANSLATE_BATCH = 50_000;

/**
 * Carries erasures across a key rotation, from the store built under `oldKey` (`from`) into the one
 * being built under `newKey` (`to`). A tombstone is a pseudonym under the old key and cannot be
 * inverted, so each erased domain's identifiers are read from the source once (from the table keyed
 * by that domain when there is one), batch by batch: the old store is asked which of a batch's old
 * pseudonyms are erased, and their new pseudonyms become tombstones in the new store. Memory follows
 * the batch, not the number of erasures. Tombstones of identifiers the source no longer holds are
 * dropped: nothing can bring them back. Resolves to how many were carried and dropped.
 */
export async function translateTombstones(opts: {
  source: Client;
  policy: Policy;
  oldKey: MasterKey;
  newKey: MasterKey;
  from: Store;
  to: Store;
}): Promise<{ carried: number; dropped: number }> {
  let carried = 0;
  let dropped = 0;
  const tables = [...opts.policy.tables.values()];
  for (const [domain, { count }] of await opts.from.tombstoneCounts()) {
    const table =
      tables.find((t) => keyDomain(t) === domain) ??
      tables.find((t) =>
        [...t.columns.values()].some((c) => c.action === 'pseudonymize' && c.domain === domain),
      );
    const column = table
      ? [...table.columns.values()].find((c) => c.action === 'pseudonymize' && c.domain === domain)
      : undefined;
    if (!table || !column) {
      dropped += count;
      continue;
    }
    const before = hmacPseudonymizer(opts.oldKey, domain, 0);
    const after = hmacPseudonymizer(opts.newKey, domain, 0);
    for await (const batch of readTable(opts.source, {
      schema: opts.policy.schema,
      table: table.name,
      columns: [{ name: column.name, kind: 'text' }],
      orderBy: [],
      batchSize: TRANSLATE_BATCH,
    })) {
      const ids = new Map<bigint, string>();
      for (const [v] of batch)
        if (v !== null && v !== undefined) ids.set(before.pseudonym(String(v)), String(v));
      const erased = await opts.from.tombstonesAmong(domain, [...ids.keys()]);
      if (erased.size === 0) continue;
      const fresh: string[] = [];
      for (const [old, id] of ids)
        if (erased.has(pseudonymToUuid(old))) fresh.push(pseudonymToUuid(after.pseudonym(id)));
      // An identifier read twice (a domain found in a column that repeats it) is kept once.
      await tombstone(opts.to, domain, fresh);
    }
    const kept = (await opts.to.tombstoneCounts()).get(domain)?.count ?? 0;
    carried += kept;
    dropped += Math.max(0, count - kept);
  }
  return { carried, dropped };
}
