import type { Policy, Value } from '../policy/index.ts';
import { hmacPseudonymizer, type MasterKey, type Pseudonymizer } from '../privacy/index.ts';
import type { Store } from '../store/index.ts';
import { eraseLinked } from './erase-linked.ts';
import type { TablePlan } from './table-plan.ts';

/** Pseudonymizers kept between batches (a cache of recent values per domain). */
export type PseudonymizerCache = Map<string, Pseudonymizer>;

/** Pseudonyms kept per domain while looking up erased keys (bounded; event ids never repeat). */
const PSEUDONYM_CACHE = 50_000;

/**
 * The erased pseudonyms (UUID text) among a batch's identifiers (raw source values), by domain,
 * read from the store for this batch only: memory follows the batch, not every erasure ever made,
 * and a person erased since the stream started is seen. What change capture and device ingest
 * check each batch against before it is transformed.
 */
export async function erasedAmong(
  store: Store,
  key: MasterKey,
  plan: TablePlan,
  rows: readonly Value[][],
  cache: PseudonymizerCache = new Map(),
  /** Only these domains (all of the table's when absent). */
  domains?: ReadonlySet<string>,
): Promise<Map<string, Set<string>>> {
  const candidates = new Map<string, Set<bigint>>();
  for (const [i, c] of plan.read.entries()) {
    const rule = plan.policy.columns.get(c.name);
    if (rule?.action !== 'pseudonymize') continue;
    const domain = rule.domain ?? c.name;
    if (domains && !domains.has(domain)) continue;
    let p = cache.get(domain);
    if (!p) {
      p = hmacPseudonymizer(key, domain, PSEUDONYM_CACHE);
      cache.set(domain, p);
    }
    const set = candidates.get(domain) ?? new Set<bigint>();
    candidates.set(domain, set);
    for (const r of rows) {
      const v = r[i];
      if (v !== null && v !== undefined) set.add(p.pseudonym(String(v)));
    }
  }
  const out = new Map<string, Set<string>>();
  for (const [domain, set] of candidates) {
    const found = await store.tombstonesAmong(domain, [...set]);
    if (found.size > 0) out.set(domain, found);
  }
  return out;
}

/**
 * After a batch is written: the people erased between its check (`before`, from `erasedAmong`)
 * and its write, by a `forget` beside the stream (ClickHouse has no writer lock), are erased
 * again with everything linked to them, so the batch's rows of theirs do not stay. Resolves to
 * rows erased per table.
 */
export async function eraseLateArrivals(opts: {
  policy: Policy;
  store: Store;
  key: MasterKey;
  plan: TablePlan;
  rows: readonly Value[][];
  before: ReadonlyMap<string, ReadonlySet<string>>;
  cache?: PseudonymizerCache;
}): Promise<Record<string, number>> {
  const erased: Record<string, number> = {};
  const now = await erasedAmong(opts.store, opts.key, opts.plan, opts.rows, opts.cache);
  for (const [domain, set] of now) {
    const known = opts.before.get(domain);
    const late = [...set].filter((p) => !known?.has(p));
    if (late.length === 0) continue;
    const r = await opts.store.atomically(() =>
      eraseLinked({ policy: opts.policy, store: opts.store, key: opts.key, domain, pseudonyms: late }),
    );
    for (const [t, n] of Object.entries(r)) erased[t] = (erased[t] ?? 0) + n;
  }
  return erased;
}
