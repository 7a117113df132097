import { FvError } from '../errors/index.ts';
import { suppress } from './k-anonymity.ts';
import type { Grain, MetricDefinition } from './metric-definition.ts';
import type { MetricRow, MetricsEngine } from './metrics-engine.ts';

export interface FilteredQuery {
  readonly def: MetricDefinition;
  readonly grain: Grain;
  readonly by: readonly string[];
  readonly filters: ReadonlyArray<readonly [string, readonly string[]]>;
  readonly range: { readonly from: number; readonly to: number };
  readonly k: number;
  /** The sides of the value (population.ts): `value`, or `numerator` and `denominator`. */
  readonly sides: readonly string[];
}

/** A cell of an answer: [period, dims] for a group, [period] for a period's total. */
export function cellKey(row: MetricRow, by: number): string {
  const total = Number(row[row.length - 1]) === 1;
  return JSON.stringify([String(row[0]).slice(0, 10), ...(total ? [] : [row.slice(1, 1 + by)])]);
}

function refuse(filters: FilteredQuery['filters'], k: number, what: string): never {
  throw new FvError(
    'FV_METRIC_FILTER_UNSAFE',
    `the filter on ${filters.map(([d]) => d).join(', ')} is refused because ${what} (k = ${k})`,
  );
}

/**
 * Refuses a filtered answer that could be subtracted from another answer to reveal fewer than k
 * people. `answered` holds the cells (cellKey) the filtered answer has. Two rules, each on every
 * side of the value:
 *
 * 1. What the filter leaves out. Each filter either keeps a row (lists its value) or leaves it
 *    out (any other value, NULL included), which cuts every group of the answer and every
 *    period's total into pieces, one per combination. Every piece but the one the answer shows
 *    (kept by all filters) comes from no privacy unit or from at least k. The difference between
 *    this answer and the same question with any of its filters dropped is a union of such pieces
 *    (for one filter: exactly the rows it leaves out), so it is empty or at least k people too.
 * 2. What the filter keeps. The answer grouped by its dimensions and the filtered ones, without the
 *    filters, must show every combination of listed values (for each period and group) that this
 *    answer adds up. Otherwise this answer reveals a group that one hides, either for being under
 *    k (filtering on it and on a large value, then subtracting the large one) or to protect such
 *    a group (its period total minus its visible groups minus this answer is the hidden group).
 *    With every such combination shown, filtering on fewer or other listed values differs from
 *    this answer by combinations of at least k units each.
 *
 * @example
 * await checkFilter(engine, { def, grain: 'week', by: [], filters: [['error_code', ['E_TLS']]], range, k: 10, sides: ['value'] }, answered);
 */
export async function checkFilter(
  engine: MetricsEngine,
  q: FilteredQuery,
  answered: ReadonlySet<string>,
): Promise<void> {
  const { def, grain, by, filters, range, k } = q;
  const n = q.sides.length;
  const small = (units: readonly unknown[]) => units.map(Number).some((u) => u > 0 && u < k);

  const pieces = await engine.metricRows(def, grain, by, filters, range, { pieces: true });
  for (const r of pieces) {
    const total = Number(r[r.length - 1]) === 1;
    // The flags follow the dimensions; a total's dimensions are NULL (DuckDB) or blank (ClickHouse).
    const flags = r.slice(1 + by.length, 1 + by.length + filters.length);
    const kept = flags.every((f) => Number(f) === 1);
    const cell = cellKey([...r.slice(0, 1 + by.length), total ? 1 : 0], by.length);
    if (!kept && answered.has(cell) && small(r.slice(r.length - 1 - n, r.length - 1)))
      refuse(filters, k, 'the rows it leaves out in a group or period come from fewer than k users');
  }

  const extra = filters.map(([d]) => d).filter((d) => !by.includes(d));
  const fineBy = [...by, ...extra];
  const rows = await engine.metricRows(def, grain, fineBy, [], range, { unitsOnly: true });
  const parse = (r: MetricRow) => ({
    period: String(r[0]).slice(0, 10),
    dims:
      Number(r[r.length - 1]) === 1
        ? []
        : fineBy.map((_, i) => (r[1 + i] === null ? null : String(r[1 + i]))),
    values: {},
    units: r.slice(r.length - 1 - n, r.length - 1).map(Number),
  });
  const cells = rows.filter((r) => Number(r[r.length - 1]) !== 1).map(parse);
  const totals = new Map(
    rows.filter((r) => Number(r[r.length - 1]) === 1).map((r) => [String(r[0]).slice(0, 10), parse(r).units]),
  );
  const listed = filters.map(([d, values]) => ({ at: fineBy.indexOf(d), values: new Set(values) }));
  for (const c of suppress(cells, totals, k, q.sides)) {
    const kept = listed.every((l) => c.dims[l.at] !== null && l.values.has(c.dims[l.at] as string));
    if (kept && c.suppressed !== 'none')
      refuse(
        filters,
        k,
        `a combination of the values it lists, in a group or period, is suppressed when the answer is grouped by ${fineBy.join(', ')}`,
      );
  }
}
