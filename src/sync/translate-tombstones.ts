import type { Client } from 'pg';
import type { Policy } from '../policy/index.ts';
import { hmacPseudonymizer, type MasterKey, pseudonymToUuid } from '../privacy/index.ts';
import { readTable } from '../source/index.ts';
import { keyDomain } from './table-plan.ts';

/**
 * Carries erasures across a key rotation. A tombstone is a pseudonym under the old key and cannot
 * be inverted, so each domain's identifiers are read from the source once (from the table keyed by
 * that domain when there is one), pseudonymized under both keys, and every identifier whose old
 * pseudonym is a tombstone gets its new pseudonym as a tombstone. Tombstones of identifiers the
 * source no longer holds are dropped: nothing can bring them back.
 */
export async function translateTombstones(opts: {
  source: Client;
  policy: Policy;
  oldKey: MasterKey;
  newKey: MasterKey;
  tombstones: ReadonlyMap<string, ReadonlySet<string>>;
}): Promise<{ carried: Map<string, string[]>; dropped: number }> {
  const carried = new Map<string, string[]>();
  let dropped = 0;
  for (const [domain, set] of opts.tombstones) {
    const tables = [...opts.policy.tables.values()];
    const table =
      tables.find((t) => keyDomain(t) === domain) ??
      tables.find((t) =>
        [...t.columns.values()].some((c) => c.action === 'pseudonymize' && c.domain === domain),
      );
    const column = table
      ? [...table.columns.values()].find((c) => c.action === 'pseudonymize' && c.domain === domain)
      : undefined;
    if (!table || !column) {
      dropped += set.size;
      continue;
    }
    const before = hmacPseudonymizer(opts.oldKey, domain, 0);
    const after = hmacPseudonymizer(opts.newKey, domain, 0);
    const found = new Set<string>();
    const out: string[] = [];
    for await (const batch of readTable(opts.source, {
      schema: opts.policy.schema,
      table: table.name,
      columns: [{ name: column.name, kind: 'text' }],
      orderBy: [],
      batchSize: 50_000,
    })) {
      for (const [v] of batch) {
        if (v === null || v === undefined) continue;
        const old = pseudonymToUuid(before.pseudonym(String(v)));
        if (!set.has(old) || found.has(old)) continue;
        found.add(old);
        out.push(pseudonymToUuid(after.pseudonym(String(v))));
      }
    }
    dropped += set.size - found.size;
    if (out.length > 0) carried.set(domain, out);
  }
  return { carried, dropped };
}
