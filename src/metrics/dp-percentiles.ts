import { ALPHA, noisyQuantiles, type RandomSource, releaseGroup } from '../privacy/dp/index.ts';
import type { DpCell, DpPlan } from './dp-answer.ts';
import type { MetricDefinition } from './metric-definition.ts';
import type { MetricRow } from './metrics-engine.ts';

/** One group's (or a period total's) histogram as the bounded rows give it. */
interface Histogram {
  readonly period: string;
  readonly dims: (string | null)[];
  readonly total: boolean;
  readonly counts: number[];
  units: number;
}

/**
 * Percentiles under differential privacy, from the histogram rows of a percentile metric compiled
 * with `bounds` (period, dimensions, bucket, count, is_total; a NULL bucket carries a group's
 * distinct units). ε is split evenly over group selection (when grouped), the groups' histograms
 * and the period totals' histograms; every percentile of a cell comes from one noised histogram
 * (noisyQuantiles), so asking p50 and p90 costs what asking one does. A unit adds at most maxRows
 * values to each of at most maxGroups groups per period, and as many to its period's total: that
 * many times the periods is each histogram's sensitivity.
 *
 * @example
 * noisePercentiles(rows, def, edges, 1, plan, cryptoRandom);
 */
export function noisePercentiles(
  rows: readonly MetricRow[],
  def: MetricDefinition,
  edges: readonly number[],
  byLength: number,
  plan: DpPlan,
  rng: RandomSource,
): { groups: DpCell[]; totals: DpCell[] } {
  const m = def.measure;
  if (!('percentiles' in m)) throw new RangeError(`metric ${def.name} is not a percentile`);
  const buckets = edges.length - 1;
  const eps = plan.epsilon / (byLength > 0 ? 3 : 1);
  const sensitivity = plan.periods * plan.bounds.maxGroups * plan.bounds.maxRows;
  const cells = new Map<string, Histogram>();
  for (const r of rows) {
    const total = Number(r[r.length - 1]) === 1;
    const period = String(r[0]).slice(0, 10);
    const dims = total
      ? []
      : Array.from({ length: byLength }, (_, i) => (r[1 + i] === null ? null : String(r[1 + i])));
    const key = JSON.stringify([period, total, dims]);
    let h = cells.get(key);
    if (!h) {
      h = { period, dims, total, counts: Array.from({ length: buckets }, () => 0), units: 0 };
      cells.set(key, h);
    }
    const bucket = r[1 + byLength];
    const n = Number(r[2 + byLength]);
    if (bucket === null || bucket === undefined) h.units = n;
    else h.counts[Number(bucket)] = n;
  }
  const outputs = def.outputs;
  const groups: DpCell[] = [];
  const totals: DpCell[] = [];
  for (const h of [...cells.values()].sort((a, b) => a.period.localeCompare(b.period))) {
    if (
      !h.total &&
      !releaseGroup(rng, h.units, {
        epsilon: eps,
        delta: plan.delta,
        maxGroups: plan.periods * plan.bounds.maxGroups,
      })
    )
      // Left out, not listed as withheld: a listed group would say that it exists.
      continue;
    const qs = noisyQuantiles(rng, h.counts, edges, m.percentiles, sensitivity, eps, ALPHA);
    const cell: DpCell = {
      period: h.period,
      dims: h.dims,
      values: Object.fromEntries(outputs.map((o, i) => [o, qs[i]?.value ?? null])),
      intervals: Object.fromEntries(
        outputs.map((o, i) => {
          const x = qs[i];
          return [o, x && x.value !== null ? ([x.low, x.high] as const) : null];
        }),
      ),
      units: null,
      suppressed: 'none',
    };
    (h.total ? totals : groups).push(cell);
  }
  if (byLength === 0) groups.push(...totals);
  return { groups, totals };
}
