import type { Value } from '../policy/index.ts';
import { type MasterKey, pseudonymToUuid, uuidToPseudonym } from '../privacy/index.ts';
import type { Store } from '../store/index.ts';
import { erasedAmong, type PseudonymizerCache } from './erased-among.ts';
import type { TablePlan } from './table-plan.ts';

/**
 * Tombstones a domain may hold for a sync to keep them in memory (about 40 bytes each in the
 * staging database, more as JavaScript strings); a domain holding more is looked up batch by batch.
 */
export const ERASED_IN_MEMORY = 100_000;

/**
 * Tombstones taken within this much before a run's last known one count as new at its end: erased_at
 * is the time the server received the insert (ClickHouse, in whole seconds, by the server that took
 * it); DuckDB lets one process write at a time. Erasing those again writes nothing new.
 */
const SINCE_SLACK_MS = 2_000;

/**
 * The erased pseudonyms (UUID text) a sync run checks its rows against, by domain. A domain with
 * few tombstones is read once and held; one with more than `limit` is asked of the store for each
 * batch's own pseudonyms (`among`), so memory follows the batch, not every erasure ever made.
 */
export class ErasedKeys {
  readonly #store: Store;
  readonly #held = new Map<string, Set<string>>();
  readonly #looked = new Set<string>();
  /**
   * What this run erased itself, by domain (not news at its end), while a domain's count stays
   * within the limit; past it only the count is kept (`#ownCount`), so a run that drops millions
   * of rows with their erased owners (every event of every device of a deleted user) holds no
   * more of them than of a domain it looks up.
   */
  readonly #own = new Map<string, Set<string>>();
  readonly #ownCount = new Map<string, number>();
  readonly #start: Map<string, { count: number; latest: number }>;
  readonly #limit: number;

  private constructor(store: Store, start: Map<string, { count: number; latest: number }>, limit: number) {
    this.#store = store;
    this.#start = start;
    this.#limit = limit;
  }

  /** Reads the store's tombstones: small domains whole, large ones only counted. */
  static async read(store: Store, limit = ERASED_IN_MEMORY): Promise<ErasedKeys> {
    const counts = await store.tombstoneCounts();
    const keys = new ErasedKeys(store, counts, limit);
    for (const [domain, { count }] of counts) {
      if (count > limit) keys.#looked.add(domain);
      else keys.#held.set(domain, await store.tombstonesIn(domain));
    }
    return keys;
  }

  /** Whether `domain`'s tombstones are asked of the store batch by batch. */
  lookedUp(domain: string): boolean {
    return this.#looked.has(domain);
  }

  /** `domain`'s tombstones when held in memory and there are any. */
  held(domain: string): ReadonlySet<string> | undefined {
    const set = this.#held.get(domain);
    return set && set.size > 0 ? set : undefined;
  }

  /** The domains of `plan`'s pseudonymized columns asked of the store batch by batch. */
  lookedUpIn(plan: TablePlan): Set<string> {
    const out = new Set<string>();
    for (const c of plan.read) {
      const rule = plan.policy.columns.get(c.name);
      const domain = rule?.action === 'pseudonymize' ? (rule.domain ?? c.name) : undefined;
      if (domain !== undefined && this.#looked.has(domain)) out.add(domain);
    }
    return out;
  }

  /**
   * What a batch of `plan`'s raw rows is checked against, by domain: the held sets, and for a
   * looked-up domain the erased among the batch's own pseudonyms (the row path).
   */
  async forRows(
    plan: TablePlan,
    key: MasterKey,
    rows: readonly Value[][],
    cache: PseudonymizerCache,
  ): Promise<Map<string, ReadonlySet<string>>> {
    const out = new Map<string, ReadonlySet<string>>(this.#held);
    const looked = this.lookedUpIn(plan);
    if (looked.size > 0)
      for (const [d, set] of await erasedAmong(this.#store, key, plan, rows, cache, looked)) out.set(d, set);
    return out;
  }

  /** The erased among `candidates` (pseudonyms) of `domain`, as UUID text. */
  async among(domain: string, candidates: readonly bigint[]): Promise<Set<string>> {
    if (this.#looked.has(domain)) return this.#store.tombstonesAmong(domain, candidates);
    const set = this.#held.get(domain);
    const out = new Set<string>();
    if (!set) return out;
    for (const c of candidates) {
      const u = pseudonymToUuid(c);
      if (set.has(u)) out.add(u);
    }
    return out;
  }

  /**
   * Of `pseudonyms` this run would erase (rows dropped with an erased owner), those not known
   * erased yet: the caller erases them, then tells `record` what it tombstoned.
   */
  async fresh(domain: string, pseudonyms: readonly string[]): Promise<string[]> {
    const own = this.#own.get(domain);
    const list = [...new Set(pseudonyms)].filter((p) => !own?.has(p));
    if (this.#looked.has(domain)) {
      const known = await this.#store.tombstonesAmong(domain, list.map(uuidToPseudonym));
      return list.filter((p) => !known.has(p));
    }
    const held = this.#held.get(domain);
    return held ? list.filter((p) => !held.has(p)) : list;
  }

  /**
   * What this run tombstoned in `domain`: `erased`, of which it wrote `written` itself (the rest a
   * `forget` beside it had written first). A held domain holds them all, and is looked up in the
   * store from when it grows past the limit (the store holds all of it by then); the run's own are
   * counted, and kept while the count is within the limit.
   */
  record(domain: string, erased: readonly string[], written: readonly string[]): void {
    if (!this.#looked.has(domain)) {
      const set = this.#held.get(domain) ?? new Set<string>();
      for (const p of erased) set.add(p);
      if (set.size > this.#limit) {
        this.#held.delete(domain);
        this.#looked.add(domain);
      } else this.#held.set(domain, set);
    }
    const count = (this.#ownCount.get(domain) ?? 0) + written.length;
    this.#ownCount.set(domain, count);
    if (count > this.#limit) this.#own.set(domain, new Set());
    else {
      const own = this.#own.get(domain) ?? new Set<string>();
      for (const p of written) own.add(p);
      this.#own.set(domain, own);
    }
  }

  /**
   * The pseudonyms erased beside this run since it read the tombstones (a `forget` while it ran),
   * by domain: every domain whose count grew, its tombstones since the run's last known one (two
   * seconds more: erasing again is harmless and writes no tombstone twice), less what this run
   * erased itself and what it held. Past the limit the run knows only how many it erased, so a
   * domain erased into beside it answers its own too (erased again, harmlessly).
   */
  async since(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const [domain, now] of await this.#store.tombstoneCounts()) {
      const before = this.#start.get(domain);
      const own = this.#own.get(domain);
      // Tombstones are kept once each (erase-linked.ts): no more than the run's start and its
      // own means nothing erased beside it.
      if (now.count <= (before?.count ?? 0) + (this.#ownCount.get(domain) ?? 0)) continue;
      const held = this.#looked.has(domain) ? undefined : this.#held.get(domain);
      const added = await this.#store.tombstonesIn(
        domain,
        before ? before.latest - SINCE_SLACK_MS : undefined,
      );
      const late = [...added].filter((p) => !own?.has(p) && !held?.has(p));
      if (late.length > 0) out.set(domain, late);
    }
    return out;
  }
}
