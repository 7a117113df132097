import { FvError } from '../errors/index.ts';
import type { DifferentialPrivacy, PrivacyModel } from '../policy/index.ts';
import { cryptoRandom } from '../privacy/dp/index.ts';
import type { GuardedResult, SandboxLimits } from '../store/index.ts';
import { cellKey, checkFilter } from './differencing.ts';
import { type DpCell, dpQuantities, noiseAnswer } from './dp-answer.ts';
import { noisePercentiles } from './dp-percentiles.ts';
import { type ExactGrants, type ExactQuestion, exactQuestion } from './exact-answer.ts';
import { type Cell, type SuppressedCell, suppress } from './k-anonymity.ts';
import { GRAINS, type Grain, type MetricDefinition, type MetricsFile } from './metric-definition.ts';
import type { MetricsEngine } from './metrics-engine.ts';
import { percentileEdges } from './percentile-domain.ts';
import { populations } from './population.ts';
import type { BudgetReceipt, PrivacyBudget } from './privacy-budget.ts';
import { checkMetricsPrivacy, storedClasses } from './privacy-check.ts';

export interface MetricQuery {
  readonly metric: string;
  readonly grain: Grain;
  readonly by?: readonly string[];
  /** First day, YYYY-MM-DD (UTC); widened to the start of its period. */
  readonly from?: string;
  /** Last day, YYYY-MM-DD (UTC), inclusive; widened to the end of its period. */
  readonly to?: string;
  readonly filters?: Readonly<Record<string, readonly string[]>>;
}

export interface MetricAnswer {
  readonly metric: string;
  readonly description: string;
  readonly format: MetricDefinition['format'];
  readonly grain: Grain;
  readonly by: readonly string[];
  /** The calendar-aligned range actually answered: [from, to). */
  readonly from: string;
  readonly to: string;
  readonly k: number;
  readonly outputs: readonly string[];
  readonly groups: readonly SuppressedCell[];
  /** One per period: all groups together. */
  readonly totals: readonly SuppressedCell[];
  /**
   * Under differential privacy: the ε and δ this answer was computed with and, when asked by a
   * principal with a budget, what it cost and what is left. Each cell then has `intervals`.
   */
  readonly privacy?: {
    readonly model: 'differential_privacy';
    readonly epsilon: number;
    readonly delta: number;
    readonly confidence: 0.95;
    readonly budget?: BudgetReceipt;
  };
  /** An exact (k-anonymous) answer under differential privacy, seen under this approval. */
  readonly exact?: { readonly approval: string };
}

/** Answered under differential privacy: each cell carries its 95 % interval. */
export type { DpCell };

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const CACHE_ENTRIES = 500;
const DAY = 86_400_000;

function parseDay(s: string, name: string): number {
  const t = DATE.test(s) ? Date.parse(`${s}T00:00:00Z`) : Number.NaN;
  // Said the same way to the CLI, the API and the dashboard: no flag or parameter syntax. A day
  // that does not exist (2026-02-30, which Date.parse rolls to March 2; 2026-13-01) is refused too.
  if (Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== s)
    throw new FvError(
      'FV_METRIC_QUERY',
      `the ${name === 'from' ? 'start' : 'end'} date must be a day written YYYY-MM-DD, such as 2026-11-30`,
    );
  return t;
}

/** Start of the calendar period holding `t` (UTC; weeks start on Monday). */
export function periodStart(t: number, grain: Grain): number {
  const d = new Date(t);
  if (grain === 'month') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  return grain === 'week' ? day - ((d.getUTCDay() + 6) % 7) * DAY : day;
}

/** Start of the calendar period after the one starting at `t` (UTC). */
export function nextPeriod(t: number, grain: Grain): number {
  const d = new Date(t);
  if (grain === 'month') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return t + (grain === 'week' ? 7 : 1) * DAY;
}

const iso = (t: number) => new Date(t).toISOString().slice(0, 10);
/** Without --from, an answer covers about this many days back from its last day. */
const DEFAULT_SPAN: Readonly<Record<Grain, number>> = { day: 29, week: 7 * 11, month: 365 };

/**
 * Answers metrics from a store opened read-only, with k-anonymity applied to every answer.
 * Ranges are widened to whole calendar periods, so two queries a day apart see the same bins.
 *
 * @example
 * const reader = await openMetricsReader('.fleetvault/store.duckdb', metricsFile); // engines/
 * const answer = await reader.query({ metric: 'activations', grain: 'week', by: ['product_model'] });
 */
export class MetricsReader {
  private readonly cache = new Map<string, Promise<MetricAnswer>>();

  private constructor(
    private readonly engine: MetricsEngine,
    readonly file: MetricsFile,
    readonly k: number,
    /** How answers are protected, as the store's last sync recorded from the policy. */
    readonly privacy: PrivacyModel,
    private readonly budget: PrivacyBudget | undefined,
  ) {}

  /**
   * Answers `file`'s metrics from an engine's reader (`openMetricsReader` in engines/ opens one
   * for a location), checking the file against the policy the store was synced under; closes the
   * reader when that check fails. Under differential privacy, `budget` accounts each principal's
   * spend (the server passes one; without it answers are noised but not accounted).
   */
  static async over(
    engine: MetricsEngine,
    file: MetricsFile,
    opts: { budget?: PrivacyBudget } = {},
  ): Promise<MetricsReader> {
    try {
      const meta = await engine.meta();
      const k = Number(meta.get('k') ?? 10);
      // The metrics file is checked against the policy the store was synced under (identifier
      // columns and the privacy unit), never trusted to say what k counts.
      const stored = storedClasses(meta);
      // A reader opened for the store's own records (no metrics) has nothing to check.
      if (file.metrics.size === 0) {
        // nothing served from metrics
      } else if (stored) checkMetricsPrivacy(file, stored);
      else if (meta.has('last_sync'))
        throw new FvError(
          'FV_METRICS_PRIVACY',
          'the store does not record which of its columns are identifiers; run `fleetvault sync` once with this version before serving metrics from it',
        );
      const privacy = JSON.parse(meta.get('privacy') ?? '{"model":"k_anonymity"}') as PrivacyModel;
      return new MetricsReader(engine, file, Number.isInteger(k) && k >= 2 ? k : 10, privacy, opts.budget);
    } catch (error) {
      engine.close();
      throw error;
    }
  }

  list(): MetricDefinition[] {
    return [...this.file.metrics.values()];
  }

  /**
   * Answers are cached for as long as the reader is open: it holds the store read-only, so no sync
   * can change the data under it, and reopening after a sync starts with an empty cache.
   */
  async query(query: MetricQuery, opts: { cache?: boolean; principal?: string } = {}): Promise<MetricAnswer> {
    if (this.privacy.model === 'differential_privacy')
      return this.queryDp(query, this.privacy, opts.principal);
    if (opts.cache === false) return this.compute(query);
    const key = JSON.stringify([
      query.metric,
      query.grain,
      query.by ?? [],
      query.from,
      query.to,
      query.filters ?? {},
    ]);
    const hit = this.cache.get(key);
    if (hit) return hit;
    // The promise is cached, so concurrent requests for one answer share one computation.
    const pending = this.compute(query);
    if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, pending);
    pending.catch(() => this.cache.delete(key));
    return pending;
  }

  /**
   * Under differential privacy every answer is freshly noised; the principal's budget pays for it
   * and gives the same answer again for the same question in the same window.
   */
  private async queryDp(query: MetricQuery, dp: DifferentialPrivacy, principal: string | undefined) {
    if (!this.budget) return this.computeDp(query, dp);
    // Fresh noise for nobody's budget would let repeated asking average it away: fail closed.
    if (principal === undefined)
      throw new FvError(
        'FV_PRIVACY_UNSUPPORTED',
        'under differential privacy every answer is asked by a principal, who pays for it',
      );
    const question = {
      metric: query.metric,
      grain: query.grain,
      by: query.by ?? [],
      from: query.from ?? null,
      to: query.to ?? null,
      filters: Object.entries(query.filters ?? {}).sort(([a], [b]) => a.localeCompare(b)),
    };
    const { answer, receipt } = await this.budget.answer(principal, dp, question, () =>
      this.computeDp(query, dp),
    );
    return {
      ...answer,
      privacy: { ...(answer.privacy as NonNullable<MetricAnswer['privacy']>), budget: receipt },
    };
  }

  private async computeDp(query: MetricQuery, dp: DifferentialPrivacy): Promise<MetricAnswer> {
    const { def, by, filters, from, to, heading } = await this.resolve(query);
    let periods = 0;
    for (let t = from; t < to; t = nextPeriod(t, query.grain)) periods++;
    // Each answer may use its share of δ: a window's answers together stay within the policy's δ.
    const delta = dp.delta * (dp.epsilonPerAnswer / dp.epsilon);
    const plan = { epsilon: dp.epsilonPerAnswer, delta, bounds: dp, periods };
    const answer = (groups: DpCell[], totals: DpCell[]): MetricAnswer => ({
      ...heading,
      outputs: 'percentiles' in def.measure ? def.outputs : ['value'],
      groups,
      totals,
      privacy: { model: 'differential_privacy', epsilon: dp.epsilonPerAnswer, delta, confidence: 0.95 },
    });
    if ('percentiles' in def.measure) {
      // Refused before any query: a percentile of a column without clamp bounds.
      const edges = percentileEdges(def, dp);
      const found = await this.engine.metricRows(def, query.grain, by, filters, { from, to }, { bounds: dp });
      // Every period gets a total histogram, empty when nobody had a value then (see below).
      const rows = [...found];
      const withTotal = new Set(
        found.filter((r) => Number(r[r.length - 1]) === 1).map((r) => String(r[0]).slice(0, 10)),
      );
      for (let t = from; t < to; t = nextPeriod(t, query.grain))
        if (!withTotal.has(iso(t))) rows.push([iso(t), ...by.map(() => null), 0, 0, 1]);
      const { groups, totals } = noisePercentiles(rows, def, edges, by.length, plan, cryptoRandom);
      return answer(groups, totals);
    }
    // Refused before any query: sums without clamp bounds.
    const quantities = dpQuantities(def, dp);
    const found = await this.engine.metricRows(def, query.grain, by, filters, { from, to }, { bounds: dp });
    // Every period of the range gets a total, zero when no row fell in it: a period whose total
    // were missing would say that nobody, not even one person, had a row then.
    const width = found[0]?.length ?? 1 + by.length + quantities.length + populations(def.measure).length + 1;
    const rows = [...found];
    const withTotal = new Set(
      found.filter((r) => Number(r[r.length - 1]) === 1).map((r) => String(r[0]).slice(0, 10)),
    );
    for (let t = from; t < to; t = nextPeriod(t, query.grain)) {
      if (!withTotal.has(iso(t)))
        rows.push([
          iso(t),
          ...by.map(() => null),
          ...Array.from({ length: width - by.length - 2 }, () => 0),
          1,
        ]);
    }
    rows.sort((a, b) => String(a[0]).slice(0, 10).localeCompare(String(b[0]).slice(0, 10)));
    const { groups, totals } = noiseAnswer(rows, def, by.length, plan, cryptoRandom);
    return answer(groups, totals);
  }

  /**
   * The question an exact-answer approval would name for `query`, checked against its metric now
   * (so a reviewer never approves one that cannot be answered). Only under differential privacy:
   * under k-anonymity every answer is already exact.
   */
  async exactQuestion(query: MetricQuery): Promise<ExactQuestion> {
    if (this.privacy.model !== 'differential_privacy')
      throw new FvError(
        'FV_USAGE',
        'answers here are k-anonymous, which is already exact: no approval is needed to see them',
      );
    const question = exactQuestion(query);
    await this.resolve(query);
    return question;
  }

  /**
   * The exact answer under differential privacy, for the admin an approval names: `grants` checks
   * (and audits) that approval `id` covers exactly this query for `requester`; the answer is then
   * the k-anonymous one (suppression applies), computed fresh and spending no budget.
   */
  async exact(query: MetricQuery, id: string, requester: string, grants: ExactGrants): Promise<MetricAnswer> {
    const question = await this.exactQuestion(query);
    grants.useExact(id, requester, question);
    return { ...(await this.compute(query)), exact: { approval: id } };
  }

  /** A query checked against its metric, with its range widened to whole periods. */
  private async resolve(query: MetricQuery) {
    const def = this.file.metrics.get(query.metric);
    if (!def) throw new FvError('FV_METRIC_UNKNOWN', `unknown metric "${query.metric}"`);
    if (!GRAINS.includes(query.grain))
      throw new FvError('FV_METRIC_QUERY', `grain must be one of ${GRAINS.join(', ')}`);
    const by = [...(query.by ?? [])];
    const filters = Object.entries(query.filters ?? {});
    for (const [d, values] of filters) {
      if (values.length === 0 || values.length > 100)
        throw new FvError('FV_METRIC_QUERY', `the filter on ${d} lists between 1 and 100 values`);
    }
    for (const d of [...by, ...filters.map(([f]) => f)]) {
      if (!def.dimensions.includes(d)) {
        throw new FvError(
          'FV_METRIC_QUERY',
          `metric ${def.name} has no dimension "${d}"; it has ${def.dimensions.join(', ') || 'none'}`,
        );
      }
    }
    const last = query.to ? parseDay(query.to, 'to') : await this.latest(def);
    const to = nextPeriod(periodStart(last, query.grain), query.grain);
    const from = query.from
      ? periodStart(parseDay(query.from, 'from'), query.grain)
      : periodStart(last - DEFAULT_SPAN[query.grain] * DAY, query.grain);
    if (to <= from)
      throw new FvError('FV_METRIC_QUERY', 'the end date is before the start date; pick a later end date');
    /** What every answer to it starts with: the metric, and the range actually answered. */
    const heading = {
      metric: def.name,
      description: def.description,
      format: def.format,
      grain: query.grain,
      by,
      from: iso(from),
      to: iso(to),
      k: this.k,
    };
    return { def, by, filters, from, to, heading };
  }

  private async compute(query: MetricQuery): Promise<MetricAnswer> {
    const { def, by, filters, from, to, heading } = await this.resolve(query);
    const sides = populations(def.measure).map((p) => p.side);
    const rows = await this.engine.metricRows(def, query.grain, by, filters, { from, to });
    if (filters.length > 0) {
      const answered = new Set(rows.map((r) => cellKey(r, by.length)));
      const range = { from, to };
      await checkFilter(
        this.engine,
        { def, grain: query.grain, by, filters, range, k: this.k, sides },
        answered,
      );
    }
    const cells: Cell[] = [];
    const totalCells: Cell[] = [];
    const first = 1 + by.length + def.outputs.length;
    for (const r of rows) {
      const values: Record<string, number | null> = {};
      def.outputs.forEach((o, i) => {
        const v = r[1 + by.length + i];
        values[o] = v === null || v === undefined ? null : Number(v);
      });
      const isTotal = Number(r[r.length - 1]) === 1;
      const cell = {
        period: String(r[0]).slice(0, 10),
        dims: isTotal ? [] : by.map((_, i) => (r[1 + i] === null ? null : String(r[1 + i]))),
        values,
        units: sides.map((_, s) => Number(r[first + s])),
      };
      (isTotal ? totalCells : cells).push(cell);
    }
    if (by.length === 0) cells.push(...totalCells);
    const totals = new Map(totalCells.map((c) => [c.period, c.units]));
    return {
      ...heading,
      outputs: def.outputs,
      groups: suppress(cells, totals, this.k, sides),
      totals: suppress(totalCells, totals, this.k, sides),
    };
  }

  /** What a principal has left of its privacy budget now; null under k-anonymity or unaccounted. */
  async budgetOf(principal: string): Promise<BudgetReceipt | null> {
    return this.privacy.model === 'differential_privacy' && this.budget
      ? this.budget.remaining(principal, this.privacy)
      : null;
  }

  /** One value the store keeps about itself (its k, its security-state binding). */
  async meta(key: string): Promise<string | undefined> {
    return (await this.engine.meta()).get(key);
  }

  /** The day of the latest row of a metric's base table (today when it is empty). */
  private async latest(def: MetricDefinition): Promise<number> {
    const day = await this.engine.latestDay(def);
    return day ? Date.parse(`${day}T00:00:00Z`) : periodStart(Date.now(), 'day');
  }

  /** What the store holds: rows per table, the last successful sync, and the policy coverage. */
  async storeStatus(): Promise<Record<string, unknown>> {
    const meta = await this.engine.meta();
    const tables = await this.engine.tables();
    const coverage = JSON.parse(meta.get('coverage') ?? '{}') as Record<string, Record<string, string[]>>;
    const totals: Record<string, number> = {};
    for (const report of Object.values(coverage)) {
      for (const [kind, cols] of Object.entries(report)) totals[kind] = (totals[kind] ?? 0) + cols.length;
    }
    const lastSync = meta.get('last_sync') ?? null;
    const freshnessSeconds = lastSync ? Math.round((Date.now() - Date.parse(lastSync)) / 1000) : null;
    // Under differential privacy a table's exact row count is an exact, unaccounted answer (and
    // two of them around a sync tell exactly what it added): the names only.
    const shown =
      this.privacy.model === 'differential_privacy'
        ? tables.map((t) => ({ name: t.name, rows: null }))
        : tables;
    return { lastSync, freshnessSeconds, tables: shown, coverage: totals };
  }

  /** One analyst SELECT over the analytics tables, checked, capped and time-limited. */
  async sql(text: string, limits: SandboxLimits): Promise<GuardedResult> {
    // Exact rows around the budget: under differential privacy only approved answers are exact.
    if (this.privacy.model === 'differential_privacy')
      throw new FvError(
        'FV_PRIVACY_SQL_OFF',
        "under differential privacy the SQL console is off: it would answer exactly, without noise or budget; ask for an exact answer with a second admin's approval (`fleetvault metrics exact`)",
      );
    return this.engine.sql(text, limits);
  }

  close(): void {
    this.engine.close();
  }
}
