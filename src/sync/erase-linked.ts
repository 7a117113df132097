import { randomBytes } from 'node:crypto';
import { FvError } from '../errors/index.ts';
import type { Policy, TablePolicy } from '../policy/index.ts';
import { type MasterKey, type SealedBox, sealedBox, uuidToPseudonym } from '../privacy/index.ts';
import type { Store } from '../store/index.ts';
import { keyDomain, selfReference } from './table-plan.ts';

/**
 * Store meta keys of erasures begun and not finished, one per erasure (`erasure_pending:<id>`):
 * the pseudonyms (UUID text) of every domain it follows, as JSON `{ domain: [pseudonym, …] }`,
 * sealed with the key (bound to its meta key), so a record written by anything but fleetvault
 * under this key is refused; empty once the erasure finished.
 */
export const META_ERASING = 'erasure_pending:';

/** A table's single pseudonymized primary key, with its domain, if it has one. */
function pkDomainOf(table: TablePolicy): { name: string; domain: string } | undefined {
  const domain = keyDomain(table);
  return domain === undefined ? undefined : { name: table.primaryKey[0] as string, domain };
}

/**
 * Domains an erasure follows: the primary-key domain of a table whose keys another table holds
 * (a user's devices, whose events point to them). Keys nothing else holds (an event's) are
 * tombstoned as their rows go, not followed.
 */
export function linkDomains(policy: Policy): Set<string> {
  const out = new Set<string>();
  for (const t of policy.tables.values()) {
    const pk = pkDomainOf(t);
    if (!pk) continue;
    for (const other of policy.tables.values()) {
      if (other === t) continue;
      if ([...other.columns.values()].some((c) => c.action === 'pseudonymize' && c.domain === pk.domain)) {
        out.add(pk.domain);
        break;
      }
    }
  }
  return out;
}

/**
 * Keeps `pseudonyms` (UUID text) of `domain` as tombstones, each once: those the store already
 * holds are not written again (an erasure run again, a sync's end re-erasing what was erased beside
 * it), so repeating an erasure does not grow the store.
 */
export async function tombstone(
  store: Store,
  domain: string,
  pseudonyms: readonly string[],
): Promise<string[]> {
  const list = [...new Set(pseudonyms.filter((p) => UUID.test(p)))];
  if (list.length === 0) return [];
  const known = await store.tombstonesAmong(domain, list.map(uuidToPseudonym));
  const fresh = known.size === 0 ? list : list.filter((p) => !known.has(p));
  if (fresh.length > 0) await store.addTombstones(domain, fresh);
  return fresh;
}

/** The pseudonymized columns of `domain`, as [table, column]. */
function columnsOf(policy: Policy, domain: string): Array<[TablePolicy, string]> {
  const out: Array<[TablePolicy, string]> = [];
  for (const t of policy.tables.values())
    for (const c of t.columns.values())
      if (c.action === 'pseudonymize' && c.domain === domain) out.push([t, c.name]);
  return out;
}

/**
 * The unfinished erasures' records, by meta key. A record that does not open under this key (or
 * not as JSON of pseudonyms by domain) stops every erasure, unless `discard`: a full sync rebuilds
 * every table from the source, which drops every row linked to a tombstone.
 */
async function pendingErasures(
  store: Store,
  box: SealedBox,
  discard: boolean,
): Promise<Map<string, { sealed: string; record: Map<string, string[]> }>> {
  const out = new Map<string, { sealed: string; record: Map<string, string[]> }>();
  for (const [key, sealed] of await store.metaEntries(META_ERASING)) {
    if (!sealed) continue;
    const opened = box.open(sealed, key);
    let parsed: unknown;
    try {
      parsed = opened === undefined ? undefined : JSON.parse(opened);
    } catch {
      parsed = undefined;
    }
    if (
      typeof parsed !== 'object' ||
      parsed === null ||
      Array.isArray(parsed) ||
      !Object.values(parsed).every((v) => Array.isArray(v) && v.every((p) => typeof p === 'string'))
    ) {
      if (discard) {
        await store.setMetaNow(key, '');
        continue;
      }
      throw new FvError(
        'FV_ERASURE_CORRUPT',
        `store ${store.location}: the record of an unfinished erasure (meta ${key}) does not open under this key`,
      );
    }
    // Only what the store holds as erased: an erasure tombstones everything it follows before its
    // first delete, so a record that still needs finishing names tombstoned people, and a record
    // copied from another store (or naming a live person) erases nobody here.
    const record = new Map<string, string[]>();
    for (const [domain, list] of Object.entries(parsed as Record<string, string[]>)) {
      const ids = list.filter((p) => UUID.test(p)).map(uuidToPseudonym);
      const erased = await store.tombstonesAmong(domain, ids);
      if (erased.size > 0) record.set(domain, [...erased]);
    }
    // Nothing tombstoned yet: a run between its record and its tombstones (nothing deleted), or
    // a record that names nobody erased here. Left as it is, but by a full sync.
    if (record.size > 0) out.set(key, { sealed, record });
    else if (discard) await store.setMetaNow(key, ''); // a full sync starts over
  }
  return out;
}

/**
 * The keys of `table`'s rows whose `column` links to one of `values` (a user's devices): by the
 * stored rows, and by the links of rows held back from the store (`Store.holdLinks`: a device
 * quarantined, or refused with its batch, whose events were copied). A held link is newer than
 * the stored row of its key (writing the row again releases it), so it wins: a device whose move to
 * another owner was held back is followed from its new owner, not from its old one.
 */
async function linkedKeys(
  store: Store,
  table: string,
  column: string,
  values: readonly string[],
  keyColumn: string,
): Promise<string[]> {
  const stored = await store.linked(table, column, values, keyColumn);
  const held = new Set(await store.heldLinks(table, column, values));
  const newer = stored.length > 0 ? await store.heldAmong(table, column, stored) : new Set<string>();
  for (const k of stored) if (!newer.has(k)) held.add(k);
  return [...held];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Erases rows by pseudonym and everything linked to them, following the policy's domains: a
 * user's devices, then those devices' events and shares. Every pseudonym reached is kept as a
 * tombstone (once: one already kept is not written again), so that a later sync does not copy it
 * back, even where production moved its row to a live owner. Resolves to rows erased per table.
 *
 * Safe to stop at any point, on stores without transactions too (ClickHouse): everything the
 * erasure follows is found first, reading only, and recorded in the store (a sealed record of its
 * own under `META_ERASING`) before the first tombstone or delete; the record is emptied once every
 * row is gone. An erasure finishes every record it finds too, so a run stopped between the devices
 * and their events has its events erased by the next `forget`, sync or change capture
 * (`finishErasure`). Rows a writer beside it adds meanwhile (a sync copying a new device of the
 * person) are found by reading the links again after the deletes, until a pass finds none; rows
 * linking to a followed key go by that key, and by their link only once nothing new is found.
 */
export async function eraseLinked(opts: {
  policy: Policy;
  store: Store;
  key: MasterKey;
  domain: string;
  pseudonyms: readonly string[];
  /** Drop unreadable records of unfinished erasures instead of refusing (a full sync). */
  discardUnreadable?: boolean;
  /**
   * Told of each domain's pseudonyms this erasure tombstones (`erased`) and of those it wrote the
   * tombstone of itself (`written`: not already in the store), as it goes (a sync's own count).
   */
  onTombstones?: (domain: string, erased: readonly string[], written: readonly string[]) => void;
}): Promise<Record<string, number>> {
  const { policy, store } = opts;
  const buried = async (domain: string, values: readonly string[]) => {
    const written = await tombstone(store, domain, values);
    opts.onTombstones?.(domain, values, written);
  };
  const box = sealedBox(opts.key, 'erasure');
  const follow = linkDomains(policy);
  const pending = await pendingErasures(store, box, opts.discardUnreadable === true);
  const reached = new Map<string, Set<string>>();
  /** The keys of followed tables that `values` of `domain` link to (a user's devices), read now. */
  const links = async (domain: string, values: readonly string[]) => {
    const out: Array<[string, readonly string[]]> = [];
    for (const [table, column] of columnsOf(policy, domain)) {
      const pk = pkDomainOf(table);
      if (!pk || pk.domain === domain || !follow.has(pk.domain)) continue;
      const linked = await linkedKeys(store, table.name, column, values, pk.name);
      if (linked.length > 0) out.push([pk.domain, linked]);
    }
    return out;
  };
  /** Adds all that `queue` reaches to `reached`; resolves to what was new, by domain. */
  const reach = async (queue: Array<[string, readonly string[]]>) => {
    const added = new Map<string, string[]>();
    while (queue.length > 0) {
      const [domain, values] = queue.shift() as [string, readonly string[]];
      const known = reached.get(domain) ?? new Set<string>();
      const fresh = values.filter((v) => !known.has(v));
      if (fresh.length === 0) continue;
      for (const v of fresh) known.add(v);
      reached.set(domain, known);
      added.set(domain, [...(added.get(domain) ?? []), ...fresh]);
      queue.push(...(await links(domain, fresh)));
    }
    return added;
  };
  // Followed again from every pseudonym of the records too: what one found before it stopped, and
  // anything linked to them since.
  let added = await reach([
    [opts.domain, opts.pseudonyms],
    ...[...pending.values()].flatMap((p) => [...p.record]),
  ]);
  const deleted: Record<string, number> = {};
  // This erasure's own record: a record another run is still working through is never replaced.
  const mine = `${META_ERASING}${randomBytes(9).toString('hex')}`;
  let recorded = false;
  while (added.size > 0) {
    recorded = true;
    const record = JSON.stringify(Object.fromEntries([...reached].map(([d, s]) => [d, [...s]])));
    await store.setMetaNow(mine, box.seal(record, mine));
    for (const [domain, values] of added) await buried(domain, values);
    for (const [domain, values] of added) {
      for (const [table, column] of columnsOf(policy, domain)) {
        const pk = pkDomainOf(table);
        // A row that links to a followed key (a device, by its owner) goes by that key, in its own
        // domain: one written beside this run after its reads stays until followed below.
        if (pk && pk.domain !== domain && follow.has(pk.domain)) continue;
        // A reference within the table's own domain (the user who referred another): the other
        // row stays, without the erased person's pseudonym.
        if (selfReference(table, column)) {
          await store.clear(table.name, column, values);
          continue;
        }
        // Keys nothing else holds (an event's) are not followed, but are tombstoned before their rows
        // go: production may move such a row to a live owner (an event to another device), and it
        // must not come back then.
        if (pk && pk.domain !== domain)
          await buried(pk.domain, await store.linked(table.name, column, values, pk.name));
        deleted[table.name] = (deleted[table.name] ?? 0) + (await store.erase(table.name, column, values));
      }
    }
    // Rows written beside this run since it read (a sync copying a new device of the person):
    // followed from everything reached, until a pass finds none.
    const again: Array<[string, readonly string[]]> = [];
    for (const [domain, values] of reached) again.push(...(await links(domain, [...values])));
    added = await reach(again);
    if (added.size > 0) continue;
    // Found no new row: the link rows go by their link too, with any older version of a row that
    // links elsewhere now (on ClickHouse, a device that moved to another owner kept its old one).
    for (const [domain, values] of reached) {
      for (const [table, column] of columnsOf(policy, domain)) {
        const pk = pkDomainOf(table);
        if (!pk || pk.domain === domain || !follow.has(pk.domain)) continue;
        deleted[table.name] =
          (deleted[table.name] ?? 0) + (await store.erase(table.name, column, [...values]));
      }
    }
  }
  // Every record this run read is finished too: its pseudonyms were in this erasure.
  if (recorded) await store.setMetaNow(mine, '');
  // Another run's record unchanged since it was read (a run still working would have written more).
  for (const [key, p] of pending) if ((await store.meta(key)) === p.sealed) await store.setMetaNow(key, '');
  return deleted;
}

/** Finishes the erasures stopped runs left (see `eraseLinked`); resolves to rows erased per table. */
export function finishErasure(opts: {
  policy: Policy;
  store: Store;
  key: MasterKey;
  discardUnreadable?: boolean;
}): Promise<Record<string, number>> {
  return eraseLinked({ ...opts, domain: '', pseudonyms: [] });
}
