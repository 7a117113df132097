import type { Policy } from '../policy/index.ts';
import type { Store } from '../store/index.ts';

/**
 * Erases rows by pseudonym and everything linked to them, following the policy's domains: a
 * user's devices, then those devices' events and shares. Every pseudonym reached is kept as a
 * tombstone so that a later sync does not copy it back. Resolves to rows erased per table.
 */
export async function eraseLinked(opts: {
  policy: Policy;
  store: Store;
  domain: string;
  pseudonyms: readonly string[];
}): Promise<Record<string, number>> {
  const deleted: Record<string, number> = {};
  const seen = new Map<string, Set<string>>();
  const queue: Array<[string, readonly string[]]> = [[opts.domain, opts.pseudonyms]];
  while (queue.length > 0) {
    const [domain, values] = queue.shift() as [string, readonly string[]];
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
  return deleted;
}
