import type { MetricQuery } from '../metrics/index.ts';
import type { MetricQuerystring } from './api-schemas/index.ts';

/**
 * A metric query from the API's parameters (`by=a,b`, `filter=dim:v1,v2`, repeatable), read the
 * same way for an answer and for an exact-answer request.
 */
export function metricQueryOf(metric: string, q: Omit<MetricQuerystring, 'exact'>): MetricQuery {
  const filters: Record<string, string[]> = {};
  for (const f of ([] as string[]).concat(q.filter ?? [])) {
    const [dim, values] = f.split(':');
    if (dim && values) filters[dim] = values.split(',');
  }
  return {
    metric,
    grain: q.grain ?? 'week',
    by: q.by ? q.by.split(',').filter(Boolean) : [],
    ...(q.from ? { from: q.from } : {}),
    ...(q.to ? { to: q.to } : {}),
    filters,
  };
}
