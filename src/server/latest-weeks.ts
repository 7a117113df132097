import type { MetricsSource } from './store-handle.ts';

const REFRESH_MS = 60_000;

/** The latest complete answer of a count metric's week. */
export interface LatestWeek {
  readonly value: number;
  readonly weekStart: number;
}

/**
 * The latest weekly total of each count metric, k-safe (absent when suppressed). A weekly number
 * changes slowly and a scheduled sync holds the store for seconds, so a scrape answers from the
 * last computation and refreshes it in the background once a minute: a scrape is never slow, and
 * no series goes stale while a sync runs.
 */
export function latestWeeks(metrics: MetricsSource): () => Promise<Map<string, LatestWeek>> {
  let cached: Map<string, LatestWeek> | undefined;
  let computedAt = 0;
  let refreshing: Promise<void> | undefined;
  const refresh = () => {
    refreshing ??= compute(metrics)
      .then((m) => {
        if (m.size > 0 || !cached) cached = m;
        computedAt = Date.now();
      })
      .catch(() => {}) // the next scrape tries again; the last answer stays
      .finally(() => {
        refreshing = undefined;
      });
    return refreshing;
  };
  return async () => {
    if (!cached) await refresh();
    else if (Date.now() - computedAt > REFRESH_MS) void refresh();
    return cached ?? new Map<string, LatestWeek>();
  };
}

async function compute(metrics: MetricsSource): Promise<Map<string, LatestWeek>> {
  const out = new Map<string, LatestWeek>();
  for (const m of metrics.list().filter((x) => x.format === 'count')) {
    const answer = await metrics.query({ metric: m.name, grain: 'week' });
    const last = answer.totals[answer.totals.length - 1];
    if (last && last.suppressed === 'none' && last.values.value !== null) {
      out.set(m.name, {
        value: Number(last.values.value),
        weekStart: Date.parse(`${last.period}T00:00:00Z`),
      });
    }
  }
  return out;
}
