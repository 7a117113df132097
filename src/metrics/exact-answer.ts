import { FvError } from '../errors/index.ts';
import type { MetricQuery } from './metrics-reader.ts';

/** One metric question written out whole, as an exact-answer approval names it. */
export interface ExactQuestion {
  readonly metric: string;
  readonly grain: string;
  readonly by: readonly string[];
  readonly from: string;
  readonly to: string;
  readonly filters: Readonly<Record<string, readonly string[]>>;
}

/**
 * Who decides whether a principal may see an exact answer (approvals/ `Approvals.useExact`): it
 * returns when approval `id` lets `requester` see exactly `question`, and throws (audited) otherwise.
 */
export interface ExactGrants {
  useExact(id: string, requester: string, question: ExactQuestion): void;
}

/**
 * A query as an exact-answer approval names it: its range given in full (an open range would
 * move as the store grows, and the approval would cover answers nobody reviewed).
 *
 * @example
 * exactQuestion({ metric: 'activations', grain: 'week', from: '2026-11-02', to: '2026-11-29' });
 */
export function exactQuestion(q: MetricQuery): ExactQuestion {
  if (q.from === undefined || q.to === undefined)
    throw new FvError(
      'FV_METRIC_QUERY',
      'an exact answer names its whole range: give both the start and the end day (YYYY-MM-DD)',
    );
  return {
    metric: q.metric,
    grain: q.grain,
    by: [...(q.by ?? [])],
    from: q.from,
    to: q.to,
    filters: Object.fromEntries(Object.entries(q.filters ?? {}).map(([d, vs]) => [d, [...vs]])),
  };
}
