import type { MetricAnswer, MetricDefinition, MetricQuery, SuppressedCell } from '../metrics/index.ts';
import { benjaminiHochberg, normalUpperTail } from './statistics.ts';

/** One breakdown to scan: a metric and the dimensions of its groups (the last one varies among siblings). */
export interface RegressionScan {
  readonly metric: string;
  readonly by: readonly string[];
}

/**
 * What the overview scans by default; a scan whose metric or dimensions the metrics file lacks
 * is skipped. Breakdowns that hold their own outcome (failure rate by error code) are left out.
 */
export const DEFAULT_SCANS: readonly RegressionScan[] = [
  { metric: 'connection_failure_rate', by: ['devices.product_model', 'devices.firmware_version'] },
  { metric: 'connection_failure_rate', by: ['devices.product_model', 'devices.region'] },
  { metric: 'connection_failure_rate', by: ['devices.region'] },
  { metric: 'time_to_first_connection', by: ['product_model', 'firmware_version'] },
  { metric: 'time_to_first_connection', by: ['region'] },
];

/** The fixed rules of the detection; the same for every metric, stated on the dashboard. */
export const REGRESSION_RULES = {
  grain: 'week',
  /** Benjamini–Hochberg false discovery rate over every test of one run. */
  fdr: 0.01,
  /** Users on each side of a comparison, at least (and never fewer than k). */
  minUsers: 30,
  /** Under the null, at least this many users' worth of failures expected on each side (rates). */
  minExpected: 5,
  /** The smallest relative rise reported, so a huge group's trivial shift is not news. */
  minRise: 0.2,
  /** The smallest absolute rise of a rate (0.5 percentage points). */
  minRateRise: 0.005,
} as const;

export const REGRESSION_METHOD = [
  'Each week, every group (k-anonymous answers of the metrics engine only; suppressed cells are never used) is compared with its own baseline (its earlier weeks pooled) and with its siblings (the groups that differ only in the last dimension, as a difference in differences when both have a baseline).',
  'Failure rates: one-sided two-proportion z-test with unpooled standard errors, counting users rather than attempts (a user’s attempts are correlated, so this is conservative); a pooled baseline counts only its largest week’s users.',
  'Time to first connection: one-sided z-test on the log median, its spread estimated from p50 and p90 assuming a log-normal time (σ = ln(p90/p50) / 1.2816, SE = 1.2533 σ / √users).',
  `Significant at a Benjamini–Hochberg false discovery rate of ${REGRESSION_RULES.fdr * 100}% over all tests of the run; each side needs at least max(k, ${REGRESSION_RULES.minUsers}) users (and ${REGRESSION_RULES.minExpected} expected failures for a rate), and a rise of at least ${REGRESSION_RULES.minRise * 100}% (${REGRESSION_RULES.minRateRise * 100} points for a rate).`,
] as const;

export interface RegressionComparison {
  readonly against: 'baseline' | 'siblings';
  /** The value the group was expected to have: its baseline, or its baseline moved as its siblings moved. */
  readonly expected: number;
  /** The users behind the reference side (the smallest side other than the group's own week). */
  readonly referenceUsers: number;
  /** value / expected − 1. */
  readonly rise: number;
  readonly z: number;
  readonly p: number;
  /** Benjamini–Hochberg adjusted p-value over the whole run. */
  readonly q: number;
}

export interface Regression {
  readonly metric: string;
  readonly description: string;
  readonly format: MetricDefinition['format'];
  /** The output compared: `value` for a rate, `p50` for a time. */
  readonly output: string;
  readonly by: readonly string[];
  readonly dims: readonly (string | null)[];
  readonly period: string;
  readonly value: number;
  readonly users: number;
  /** The significant comparisons, strongest first. */
  readonly comparisons: readonly RegressionComparison[];
}

export interface RegressionReport {
  readonly grain: 'week';
  /** The latest week scanned (may be incomplete), or null when there was nothing to scan. */
  readonly period: string | null;
  readonly k: number;
  readonly rules: typeof REGRESSION_RULES;
  readonly method: readonly string[];
  readonly scans: readonly RegressionScan[];
  /** Groups seen in the latest week: compared, suppressed by the k gate, or too small to test. */
  readonly groups: { readonly tested: number; readonly suppressed: number; readonly tooSmall: number };
  readonly tests: number;
  readonly regressions: readonly Regression[];
}

/** The read side the detection needs: the k-gated answers of the metrics engine, nothing else. */
export interface RegressionSource {
  readonly k: number;
  list(): MetricDefinition[];
  query(q: MetricQuery): Promise<MetricAnswer>;
}

/**
 * Detects regressions through the metrics engine: one weekly k-anonymous answer per scan.
 *
 * @example
 * const report = await detectRegressions(reader);
 * report.regressions[0]?.dims; // ['cam-outdoor-3', '3.2.0']
 */
export async function detectRegressions(
  source: RegressionSource,
  scans: readonly RegressionScan[] = DEFAULT_SCANS,
): Promise<RegressionReport> {
  const defs = new Map(source.list().map((m) => [m.name, m]));
  const usable = scans.filter((s) => {
    const def = defs.get(s.metric);
    return def !== undefined && modelOf(def) !== undefined && s.by.every((d) => def.dimensions.includes(d));
  });
  const answers: MetricAnswer[] = [];
  for (const s of usable) answers.push(await source.query({ metric: s.metric, grain: 'week', by: s.by }));
  return findRegressions(answers, source.k, usable);
}

interface Point {
  /** On the test's additive scale: a share, or a log median. */
  readonly est: number;
  /** Per-user standard deviation on that scale. */
  readonly sd: number;
  readonly users: number;
}

interface Model {
  readonly output: string;
  read(cell: SuppressedCell): Point | undefined;
  /** The standard deviation at a pooled estimate (a share's is a function of it). */
  sdAt?(est: number): number;
  back(est: number): number;
  isRate: boolean;
}

const Z90 = 1.2816;
/** √(π/2): the sample median's standard error over the standard deviation's, for a normal (log) time. */
const MEDIAN_SE = 1.2533;

function modelOf(def: MetricDefinition): Model | undefined {
  if (def.format === 'ratio') {
    return {
      output: 'value',
      isRate: true,
      read: (c) => {
        const p = c.values.value;
        const users = c.sides?.denominator ?? c.units;
        if (p === null || p === undefined || users === null || users === undefined) return undefined;
        return { est: p, sd: Math.sqrt(p * (1 - p)), users };
      },
      sdAt: (p) => Math.sqrt(Math.max(0, p * (1 - p))),
      back: (p) => p,
    };
  }
  if (def.format === 'seconds' && def.outputs.includes('p50') && def.outputs.includes('p90')) {
    return {
      output: 'p50',
      isRate: false,
      read: (c) => {
        const m = c.values.p50;
        const p90 = c.values.p90;
        if (!m || !p90 || m <= 0 || p90 <= m || c.units === null) return undefined;
        return { est: Math.log(m), sd: (MEDIAN_SE * Math.log(p90 / m)) / Z90, users: c.units };
      },
      back: (x) => Math.exp(x),
    };
  }
  return undefined;
}

/** Weighted by users; `users` is what the caller can defend as distinct (see the method). */
function pool(points: readonly Point[], users: number, model: Model): Point | undefined {
  const n = points.reduce((s, p) => s + p.users, 0);
  if (points.length === 0 || n === 0) return undefined;
  const est = points.reduce((s, p) => s + p.est * p.users, 0) / n;
  const sd = model.sdAt ? model.sdAt(est) : points.reduce((s, p) => s + p.sd * p.users, 0) / n;
  return { est, sd, users };
}

const variance = (p: Point) => (p.sd * p.sd) / p.users;

interface Candidate {
  readonly regression: Omit<Regression, 'comparisons'>;
  readonly against: RegressionComparison['against'];
  readonly expected: number;
  readonly referenceUsers: number;
  readonly rise: number;
  readonly z: number;
  readonly p: number;
  readonly bigEnough: boolean;
}

/**
 * The pure part: regressions in weekly answers that already went through the k gate. Only cells
 * with `suppressed: 'none'` are read.
 */
export function findRegressions(
  answers: readonly MetricAnswer[],
  k: number,
  scans: readonly RegressionScan[] = answers.map((a) => ({ metric: a.metric, by: a.by })),
): RegressionReport {
  const minUsers = Math.max(k, REGRESSION_RULES.minUsers);
  const candidates: Candidate[] = [];
  const groups = { tested: 0, suppressed: 0, tooSmall: 0 };
  let latest: string | null = null;
  for (const answer of answers) {
    const model = modelOf({ format: answer.format, outputs: answer.outputs } as MetricDefinition);
    if (!model || answer.by.length === 0) continue;
    const periods = [...new Set(answer.totals.map((t) => t.period))].sort();
    const current = periods[periods.length - 1];
    if (current === undefined) continue;
    if (latest === null || current > latest) latest = current;
    const key = (dims: readonly (string | null)[]) => JSON.stringify(dims);
    const parent = (dims: readonly (string | null)[]) => key(dims.slice(0, -1));
    const visible = answer.groups.filter((c) => c.suppressed === 'none');
    const points = new Map<SuppressedCell, Point>();
    for (const c of visible) {
      const p = model.read(c);
      if (p) points.set(c, p);
    }
    const pointsOf = (cells: readonly SuppressedCell[]) =>
      cells.flatMap((c) => (points.has(c) ? [points.get(c) as Point] : []));
    /** Earlier weeks pooled; as distinct users, only the largest week's (a lower bound). */
    const baseline = (cells: readonly SuppressedCell[]) => {
      const byPeriod = new Map<string, Point[]>();
      for (const c of cells) {
        const p = points.get(c);
        if (p && c.period < current) byPeriod.set(c.period, [...(byPeriod.get(c.period) ?? []), p]);
      }
      const all = [...byPeriod.values()].flat();
      const users = Math.max(0, ...[...byPeriod.values()].map((ps) => ps.reduce((s, p) => s + p.users, 0)));
      return pool(all, users, model);
    };
    for (const cell of answer.groups.filter((c) => c.period === current)) {
      if (cell.suppressed !== 'none') {
        groups.suppressed++;
        continue;
      }
      const g1 = points.get(cell);
      if (!g1 || g1.users < minUsers) {
        groups.tooSmall++;
        continue;
      }
      groups.tested++;
      const own = visible.filter((c) => key(c.dims) === key(cell.dims));
      const sibs = visible.filter(
        (c) => parent(c.dims) === parent(cell.dims) && key(c.dims) !== key(cell.dims),
      );
      const sibNow = sibs.filter((c) => c.period === current);
      const s1 = pool(
        pointsOf(sibNow),
        pointsOf(sibNow).reduce((s, p) => s + p.users, 0),
        model,
      );
      const g0 = baseline(own);
      const s0 = baseline(sibs);
      const regression = {
        metric: answer.metric,
        description: answer.description,
        format: answer.format,
        output: model.output,
        by: answer.by,
        dims: cell.dims,
        period: current,
        value: cell.values[model.output] ?? model.back(g1.est),
        users: g1.users,
      };
      const test = (
        against: Candidate['against'],
        d: number,
        parts: readonly Point[],
        expectedEst: number,
      ) => {
        const se = Math.sqrt(parts.reduce((s, p) => s + variance(p), 0));
        const referenceUsers = Math.min(...parts.slice(1).map((p) => p.users));
        if (!(se > 0) || referenceUsers < minUsers) return;
        const expected = Math.max(0, model.back(expectedEst));
        const value = regression.value;
        if (model.isRate) {
          const least = Math.min(...parts.map((p) => p.users)) * Math.max(expected, 1e-9);
          if (least < REGRESSION_RULES.minExpected) return;
        }
        const rise = expected > 0 ? value / expected - 1 : Number.POSITIVE_INFINITY;
        const bigEnough =
          rise >= REGRESSION_RULES.minRise &&
          (!model.isRate || value - expected >= REGRESSION_RULES.minRateRise);
        const z = d / se;
        candidates.push({
          regression,
          against,
          expected,
          referenceUsers,
          rise,
          z,
          p: normalUpperTail(z),
          bigEnough,
        });
      };
      if (g0) test('baseline', g1.est - g0.est, [g1, g0], g0.est);
      if (g0 && s0 && s1) {
        test('siblings', g1.est - g0.est - (s1.est - s0.est), [g1, g0, s1, s0], g0.est + s1.est - s0.est);
      } else if (s1) {
        test('siblings', g1.est - s1.est, [g1, s1], s1.est);
      }
    }
  }
  const q = benjaminiHochberg(candidates.map((c) => c.p));
  const found = new Map<
    string,
    { regression: Candidate['regression']; comparisons: RegressionComparison[] }
  >();
  candidates.forEach((c, i) => {
    const qi = q[i] ?? 1;
    if (qi > REGRESSION_RULES.fdr || !c.bigEnough) return;
    const id = JSON.stringify([c.regression.metric, c.regression.by, c.regression.dims]);
    const entry = found.get(id) ?? { regression: c.regression, comparisons: [] };
    entry.comparisons.push({
      against: c.against,
      expected: c.expected,
      referenceUsers: c.referenceUsers,
      rise: c.rise,
      z: c.z,
      p: c.p,
      q: qi,
    });
    found.set(id, entry);
  });
  const regressions = [...found.values()]
    .map(({ regression, comparisons }) => ({
      ...regression,
      comparisons: comparisons.sort((a, b) => b.z - a.z),
    }))
    .sort((a, b) => (b.comparisons[0]?.z ?? 0) - (a.comparisons[0]?.z ?? 0));
  return {
    grain: 'week',
    period: latest,
    k,
    rules: REGRESSION_RULES,
    method: REGRESSION_METHOD,
    scans,
    groups,
    tests: candidates.length,
    regressions,
  };
}

/** A stable identity for a regression across runs (the week is left out: it persists). */
export function regressionId(r: Pick<Regression, 'metric' | 'by' | 'dims'>): string {
  return JSON.stringify([r.metric, r.by, r.dims]);
}
