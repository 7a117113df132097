import { FvError } from '../errors/index.ts';
import {
  ALPHA,
  type NoisyValue,
  noisyInteger,
  noisyRatio,
  noisyReal,
  type RandomSource,
  releaseGroup,
} from '../privacy/dp/index.ts';
import { type ContributionBounds, clampOf } from './contribution-bounds.ts';
import type { SuppressedCell } from './k-anonymity.ts';
import type { Aggregate, MetricDefinition } from './metric-definition.ts';
import type { MetricRow } from './metrics-engine.ts';

/** What one differentially private answer may spend, and how contributions were bounded. */
export interface DpPlan {
  readonly epsilon: number;
  readonly delta: number;
  readonly bounds: ContributionBounds;
  /** Calendar periods in the answer: a unit contributes to each. */
  readonly periods: number;
}

/** One noised quantity of a value: its per-period sensitivity and whether it is real-valued. */
interface Quantity {
  readonly perPeriod: number;
  readonly real: boolean;
}

/** `col` of the base table or `table.col`, as `table.col`. */
const qualified = (def: MetricDefinition, ref: string) => (ref.includes('.') ? ref : `${def.from}.${ref}`);

/**
 * Whether the measure counts distinct values of a column other than the unit: the per-unit step
 * then has up to maxRows rows per unit and group (one per value), each bounded on its own, so a
 * count or sum beside it can take maxRows times as much from one unit.
 */
function keyed(def: MetricDefinition, aggregates: readonly Aggregate[]): boolean {
  const unit = qualified(def, def.unit);
  return aggregates.some((a) => 'count_distinct' in a && qualified(def, a.count_distinct) !== unit);
}

function quantity(def: MetricDefinition, a: Aggregate, b: ContributionBounds, perUnitRows: number): Quantity {
  if ('count_distinct' in a) return { perPeriod: b.maxGroups * (b.maxRows + 1), real: false };
  // A count is rounded from a scaled (not whole) bounded sum: one more step per group.
  const rows = b.maxGroups * perUnitRows * (b.maxRows + 1);
  if ('sum' in a || 'avg' in a) {
    const ref = 'sum' in a ? a.sum : a.avg;
    const c = clampOf(def, ref, b);
    if (!c)
      throw new FvError(
        'FV_PRIVACY_UNSUPPORTED',
        `metric ${def.name} sums ${ref}, which has no clamp bounds in the policy's privacy section`,
      );
    return {
      perPeriod: b.maxGroups * perUnitRows * b.maxRows * Math.max(Math.abs(c[0]), Math.abs(c[1])),
      real: true,
    };
  }
  return { perPeriod: rows, real: false };
}

/**
 * The quantities a metric's value is made of under differential privacy: one (a count, a sum),
 * or a numerator and a denominator (a ratio, an average), each noised apart. Averages inside
 * ratios are refused (no sound composition here yet); percentiles are a noised histogram instead
 * (dp-percentiles.ts).
 */
export function dpQuantities(def: MetricDefinition, b: ContributionBounds): Quantity[] {
  const m = def.measure;
  if ('percentiles' in m)
    throw new FvError(
      'FV_PRIVACY_UNSUPPORTED',
      `metric ${def.name} is a percentile: it is answered from a noised histogram, not from noised quantities`,
    );
  if ('ratio' in m) {
    if (m.ratio.some((a) => 'avg' in a))
      throw new FvError('FV_PRIVACY_UNSUPPORTED', `metric ${def.name} has an average inside a ratio`);
    const rows = keyed(def, m.ratio) ? b.maxRows : 1;
    return [quantity(def, m.ratio[0], b, rows), quantity(def, m.ratio[1], b, rows)];
  }
  if ('avg' in m) return [quantity(def, m, b, 1), { perPeriod: b.maxGroups * (b.maxRows + 1), real: false }];
  return [quantity(def, m, b, 1)];
}

/** A noised cell: values with their 95 % intervals; hidden when its group was not selected. */
export interface DpCell extends SuppressedCell {
  readonly intervals: Readonly<Record<string, readonly [number, number] | null>>;
}

/**
 * Turns the bounded rows of a metric (compileMetric with `bounds`: period, dimensions, num, den?,
 * units per side, is_total) into a differentially private answer. ε is split evenly over the
 * group selection (when grouped) and each quantity of the groups and of the period totals; each
 * share's noise is calibrated to a unit's whole contribution over every period of the answer.
 * Groups are released only through private partition selection on their distinct units.
 *
 * @example
 * noiseAnswer(rows, def, 1, plan, cryptoRandom);
 */
export function noiseAnswer(
  rows: readonly MetricRow[],
  def: MetricDefinition,
  byLength: number,
  plan: DpPlan,
  rng: RandomSource,
): { groups: DpCell[]; totals: DpCell[] } {
  const qs = dpQuantities(def, plan.bounds);
  const shares = (byLength > 0 ? 1 + 2 * qs.length : qs.length) || 1;
  const eps = plan.epsilon / shares;
  const p = plan.periods;
  const alpha = qs.length > 1 ? ALPHA / 2 : ALPHA;
  const groups: DpCell[] = [];
  const totals: DpCell[] = [];
  for (const r of rows) {
    const isTotal = Number(r[r.length - 1]) === 1;
    const period = String(r[0]).slice(0, 10);
    const dims = isTotal
      ? []
      : Array.from({ length: byLength }, (_, i) => (r[1 + i] === null ? null : String(r[1 + i])));
    const first = 1 + byLength;
    const units = r.slice(first + qs.length, r.length - 1).map(Number);
    if (
      !isTotal &&
      !releaseGroup(rng, Math.max(0, ...units), {
        epsilon: eps,
        delta: plan.delta,
        maxGroups: p * plan.bounds.maxGroups,
      })
    )
      // Left out, not listed as withheld: a listed group would say that it exists.
      continue;
    const noised: NoisyValue[] = qs.map((q, i) => {
      const x = Number(r[first + i] ?? 0);
      const sens = p * q.perPeriod;
      return q.real
        ? noisyReal(rng, x, sens, eps, alpha)
        : noisyInteger(rng, Math.round(x), sens, eps, alpha);
    });
    let value: number | null;
    let interval: readonly [number, number];
    if (noised.length === 1) {
      const [n] = noised as [NoisyValue];
      value = n.value;
      interval = [n.value - n.halfWidth, n.value + n.halfWidth];
    } else {
      const ratio = noisyRatio(noised[0] as NoisyValue, noised[1] as NoisyValue);
      value = ratio.value;
      interval = [ratio.low, ratio.high];
    }
    const cell: DpCell = {
      period,
      dims,
      values: { value },
      intervals: { value: value === null ? null : interval },
      units: null,
      suppressed: 'none',
    };
    (isTotal ? totals : groups).push(cell);
  }
  if (byLength === 0) groups.push(...totals);
  return { groups, totals };
}
