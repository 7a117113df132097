import type { Policy, Value } from '../policy/index.ts';
import { pseudonymToUuid } from '../privacy/index.ts';
import type { HeldLink } from '../store/index.ts';
import { linkDomains } from './erase-linked.ts';
import { keyDomain, type TablePlan } from './table-plan.ts';

/**
 * Where a table's rows hold what an erasure follows through them: the table's own pseudonymized
 * key (a device's) and its other pseudonymized columns (the device's owner). A row of such a table
 * that the store does not hold (held back by `on_detect: quarantine`, or in a refused batch) keeps
 * these links in the store (`Store.holdLinks`), so that erasing its owner still reaches the rows
 * that point to it (the device's events, copied all the same).
 */
export interface HeldColumns {
  readonly keyColumn: string;
  /** Indexes into the transformed row (the store's column order). */
  readonly keyIndex: number;
  readonly links: ReadonlyArray<{ readonly column: string; readonly index: number }>;
}

/** The held columns of `plan`'s table, when other tables hold its keys and it links to others. */
export function heldColumns(policy: Policy, plan: TablePlan): HeldColumns | undefined {
  const domain = keyDomain(plan.policy);
  if (domain === undefined || !linkDomains(policy).has(domain)) return undefined;
  const keyColumn = plan.store.key[0] as string;
  const index = (name: string) => plan.store.columns.findIndex((c) => c.name === name);
  const links: Array<{ column: string; index: number }> = [];
  for (const c of plan.policy.columns.values())
    if (c.action === 'pseudonymize' && c.name !== keyColumn && c.domain !== domain)
      links.push({ column: c.name, index: index(c.name) });
  return links.length === 0 ? undefined : { keyColumn, keyIndex: index(keyColumn), links };
}

/** The links of one transformed row (pseudonyms as UUID text); none without a key. */
export function heldLinksOf(held: HeldColumns, values: readonly Value[]): HeldLink[] {
  const key = values[held.keyIndex];
  if (typeof key !== 'bigint') return [];
  const out: HeldLink[] = [];
  for (const l of held.links) {
    const link = values[l.index];
    if (typeof link === 'bigint')
      out.push({ key: pseudonymToUuid(key), column: l.column, link: pseudonymToUuid(link) });
  }
  return out;
}
