/**
 * An exact answer under differential privacy: one admin asks for one specific query, a second admin
 * approves it with their own key, and only the asker may then fetch that query's k-anonymous
 * answer until the signed expiry. Both signatures cover the query, the asker and the expiry, so a
 * hand edit of any of them voids the approval.
 */

/** One metric question, written out whole: a range must be given (no "latest weeks"). */
export interface ExactQuery {
  readonly metric: string;
  readonly grain: string;
  readonly by: readonly string[];
  /** First and last day, YYYY-MM-DD, as asked. */
  readonly from: string;
  readonly to: string;
  readonly filters: Readonly<Record<string, readonly string[]>>;
}

/** What an exact-answer proposal holds: the query and the expiry both admins sign. */
export interface ExactGrant {
  readonly query: ExactQuery;
  readonly expiresAt: string;
}

/** How long an approved exact answer may be fetched when the proposer names no time (hours). */
export const EXACT_EXPIRY_HOURS = 24;

/**
 * The query in one canonical form: the dimensions in the order asked (they order the answer),
 * filters by dimension, each filter's values sorted (their order changes nothing).
 */
export function exactQueryText(q: ExactQuery): string {
  const filters = Object.entries(q.filters)
    .map(([d, vs]) => [d, [...vs].sort()] as const)
    .sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify([q.metric, q.grain, [...q.by], q.from, q.to, filters]);
}

/** What the asking and the approving admin sign. */
export function exactText(stateId: string, id: string, requester: string, g: ExactGrant): string {
  return ['fleetvault-exact-answer-v1', stateId, id, requester, g.expiresAt, exactQueryText(g.query)].join(
    '\n',
  );
}

/** The query as a reviewer reads it. */
export function describeExact(q: ExactQuery): string {
  const by = q.by.length > 0 ? ` by ${q.by.join(', ')}` : '';
  const filters = Object.entries(q.filters)
    .map(([d, vs]) => ` where ${d} in (${vs.join(', ')})`)
    .join('');
  return `${q.metric} per ${q.grain}${by}${filters}, ${q.from} to ${q.to}`;
}
