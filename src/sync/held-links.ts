import type { Policy, Value } from '../policy/index.ts';
import { pseudonymToUuid } from '../privacy/index.ts';
import type { HeldLink, Store } from '../store/index.ts';
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

/** The links of one transformed row (pseudonyms as UUID text, null for none); none without a key. */
export function heldLinksOf(held: HeldColumns, values: readonly Value[]): HeldLink[] {
  const key = values[held.keyIndex];
  if (typeof key !== 'bigint') return [];
  const out: HeldLink[] = [];
  // A column without a value is held too: the row's newer state (no owner) wins over the stored one.
  for (const l of held.links) {
    const link = values[l.index];
    out.push({
      key: pseudonymToUuid(key),
      column: l.column,
      link: typeof link === 'bigint' ? pseudonymToUuid(link) : null,
    });
  }
  return out;
}

/**
 * A table's held links during one run: keeps the links of rows not written, and releases those of
 * keys written again (the row is the newer truth then). Costs nothing for a table without them.
 */
export class HeldLinkWriter {
  private constructor(
    private readonly store: Store,
    private readonly table: string,
    /** The table's held columns (`heldColumns`), none for a table nothing follows. */
    readonly columns: HeldColumns | undefined,
    /** Whether the table has held links (read once, then kept up to date by `keep`). */
    private holding: boolean,
  ) {}

  static async open(store: Store, table: string, columns: HeldColumns | undefined): Promise<HeldLinkWriter> {
    return new HeldLinkWriter(
      store,
      table,
      columns,
      columns !== undefined && (await store.holdsLinks(table)),
    );
  }

  /** Keeps the links of rows not written (quarantined, or refused with their batch). */
  async keep(links: readonly HeldLink[]): Promise<void> {
    if (!this.columns || links.length === 0) return;
    await this.store.holdLinks(this.table, this.columns.keyColumn, links);
    this.holding = true;
  }

  /** Keeps the links of `rows` (transformed), none of them written: the rest of a refused table. */
  async notWritten(rows: readonly Value[][]): Promise<void> {
    const columns = this.columns;
    if (columns) await this.keep(rows.flatMap((r) => heldLinksOf(columns, r)));
  }

  /** Releases the held links of the keys of `rows` (transformed, in the store's column order), just written. */
  async written(rows: readonly Value[][]): Promise<void> {
    if (!this.columns || !this.holding || rows.length === 0) return;
    const i = this.columns.keyIndex;
    const keys: string[] = [];
    for (const r of rows) {
      const k = r[i];
      if (typeof k === 'bigint') keys.push(pseudonymToUuid(k));
    }
    await this.store.releaseHeld(this.table, keys);
  }

  /** Releases the held links of every key the table holds (after a first copy or a rebuild). */
  async rebuilt(): Promise<void> {
    if (this.columns && this.holding) await this.store.releaseHeld(this.table);
  }
}
