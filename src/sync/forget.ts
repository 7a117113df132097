import { FvError } from '../errors/index.ts';
import type { Policy } from '../policy/index.ts';
import { hmacPseudonymizer, type MasterKey, pseudonymToUuid } from '../privacy/index.ts';
import type { Store } from '../store/index.ts';
import { eraseLinked } from './erase-linked.ts';

export interface ForgetResult {
  /** The person's pseudonym in the starting domain (never the raw id). */
  readonly pseudonym: string;
  /** Rows erased per table. */
  readonly deleted: Readonly<Record<string, number>>;
}

/**
 * Erases one person from the store now: every row whose pseudonymized column of the person's
 * domain matches, and every row linked to those rows. The erased pseudonyms are kept as
 * tombstones so that a later sync does not copy the person back while production still holds them.
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
  // A domain no column is pseudonymized in would erase nothing and still say it was done.
  const domains = new Set(
    [...opts.policy.tables.values()].flatMap((t) =>
      [...t.columns.values()].filter((c) => c.action === 'pseudonymize').map((c) => c.domain),
    ),
  );
  if (!domains.has(opts.domain))
    throw new FvError(
      'FV_USAGE',
      `forget --domain ${opts.domain}: no column of the policy is pseudonymized in that domain (its domains: ${[...domains].sort().join(', ')})`,
    );
  const start = pseudonymToUuid(hmacPseudonymizer(opts.key, opts.domain, 0).pseudonym(opts.id));
  // One store transaction: stopped between two steps (the devices erased, their events not yet),
  // a run again would find no devices left to follow, and their events would stay.
  const deleted = await opts.store.atomically(() => eraseLinked({ ...opts, pseudonyms: [start] }));
  await opts.store.refreshDerived();
  return { pseudonym: start, deleted };
}
