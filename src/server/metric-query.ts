import { API_FILTER, type MetricQuery, parseFilters } from '../metrics/index.ts';
import type { MetricQuerystring } from './api-schemas/index.ts';

/**
 * A metric query from the API's parameters (`by=a,b`, `filter=dim:v1,v2`, repeatable), read the
 * same way for an answer and for an exact-answer request.
 */
export function metricQueryOf(metric: string, q: Omit<MetricQuerystring, 'exact'>): MetricQuery {
  // A malformed filter is refused (FV_METRIC_QUERY), never dropped: dropped, it would answer (and,
  // under differential privacy, charge for) the unfiltered question.
  const filters = parseFilters(([] as string[]).concat(q.filter ?? []), API_FILTER);
  return {
    metric,
    grain: q.grain ?? 'week',
    by: q.by ? q.by.split(',').filter(Boolean) : [],
    ...(q.from ? { from: q.from } : {}),
    ...(q.to ? { to: q.to } : {}),
    filters,
  };
}
