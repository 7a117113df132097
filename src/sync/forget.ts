import type { Policy } from '../policy/index.ts';
import { hmacPseudonymizer, type MasterKey, pseudonymToUuid } from '../privacy/index.ts';
import type { Store } from '../store/index.ts';

export interface ForgetResult {
  /** The person's pseudonym in the starting domain (never the raw id). */
  readonly pseudonym: string;
  /** Rows erased per table. */
  readonly deleted: Readonly<Record<string, number>>;
}

/**
 * Erases one person from the store now: every row whose pseudonymized column of the person's
 * domain matches, and, following the policy's domains, every row linked to those rows (a user's
 * devices, then those devices' events and shares). The erased pseudonyms are kept as tombstones so
 * that a later sync does not copy the person back while production still holds them.
 *
 * @example
 * await forget({ policy, store, key, domain: 'user', id: '12345' });
 */
export async function forget(opts: {
  policy: Policy;
  store: Store;
  key: MasterKey;
  domain: string;
  id: string;
}): Promise<ForgetResult> {
  const start = pseudonymToUuid(hmacPseudonymizer(opts.key, opts.domain, 0).pseudonym(opts.id));
  const deleted: Record<string, number> = {};
  const seen = new Map<string, Set<string>>();
  const queue: Array<[string, string[]]> = [[opts.domain, [start]]];
  while (queue.length > 0) {
    const [domain, values] = queue.shift() as [string, string[]];
    const known = seen.get(domain) ?? new Set<string>();
    const fresh = values.filter((v) => !known.has(v));
    if (fresh.length === 0) continue;
    for (const v of fresh) known.add(v);
    seen.set(domain, known);
    await opts.store.addTombstones(domain, fresh);
    for (const table of opts.policy.tables.values()) {
      const pk = table.primaryKey.length === 1 ? table.columns.get(table.primaryKey[0] as string) : undefined;
      const pkDomain = pk?.action === 'pseudonymize' ? pk.domain : undefined;
      for (const col of table.columns.values()) {
        if (col.action !== 'pseudonymize' || col.domain !== domain) continue;
        const follow = pkDomain && pkDomain !== domain ? pk?.name : undefined;
        const r = await opts.store.erase(table.name, col.name, fresh, follow);
        deleted[table.name] = (deleted[table.name] ?? 0) + r.deleted;
        if (follow && pkDomain && r.returned.length > 0) queue.push([pkDomain, r.returned]);
      }
    }
  }
  return { pseudonym: start, deleted };
}
