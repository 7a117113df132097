import { readFileSync } from 'node:fs';
import { type Document, LineCounter, parseDocument } from 'yaml';
import { FvError } from '../errors/index.ts';
import { formatProblems, type Problem } from '../policy/index.ts';
import type { Aggregate, Join, Measure, MetricDefinition, MetricsFile, Where } from './metric-definition.ts';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const REF = /^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$/;
const METRIC_KEYS = ['description', 'from', 'join', 'unit', 'time', 'measure', 'dimensions', 'format'];

type Raw = Record<string, unknown>;

/**
 * Percentiles served: p5 to p95. Beyond them, in a group of k people, the answer is one person's own
 * value (the 0.99 of 20 people is the largest); k protects counts, not an extreme order statistic.
 */
export const PERCENTILE_RANGE = [0.05, 0.95] as const;

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Where a value sits in the file: keys and list indexes from the root. */
type Path = readonly (string | number)[];

/** What loading a metrics file found: the file when it parsed, and every problem with its position. */
export interface MetricsLoadResult {
  readonly metrics?: MetricsFile;
  readonly problems: readonly Problem[];
}

function dotted(path: Path): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

/** Collects problems, each placed at the deepest node of its path that the file has. */
class Problems {
  readonly list: Problem[] = [];
  constructor(
    private readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  at(path: Path): { line: number; col: number } {
    for (let n = path.length; n >= 0; n--) {
      const node = this.doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node?.range) return this.lines.linePos(node.range[0]);
    }
    return { line: 1, col: 1 };
  }

  add(path: Path, message: string, code: Problem['code'] = 'FV_METRICS_SHAPE'): void {
    const { line, col } = this.at(path);
    this.list.push({ code, severity: 'error', path: dotted(path), file: this.file, line, col, message });
  }
}

function where(p: Problems, path: Path, v: unknown): Where | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v) || Object.keys(v).some((k) => !REF.test(k))) {
    p.add(path, 'where maps column names to a value or a list of values');
    return undefined;
  }
  return v as Where;
}

function aggregate(p: Problems, path: Path, v: unknown): Aggregate | undefined {
  if (!isObject(v)) {
    p.add(path, 'an aggregate is { count: rows }, { count_distinct: col }, { sum: col } or { avg: col }');
    return undefined;
  }
  const w = where(p, [...path, 'where'], v.where);
  const extra = w ? { where: w } : {};
  if (v.count === 'rows') return { count: 'rows', ...extra };
  for (const k of ['count_distinct', 'sum', 'avg'] as const) {
    if (typeof v[k] === 'string' && REF.test(v[k] as string)) return { [k]: v[k], ...extra } as Aggregate;
  }
  p.add(path, 'an aggregate is { count: rows }, { count_distinct: col }, { sum: col } or { avg: col }');
  return undefined;
}

function measure(p: Problems, path: Path, v: unknown): Measure | undefined {
  if (isObject(v) && Array.isArray(v.ratio)) {
    const [a, b] = v.ratio;
    const na = aggregate(p, [...path, 'ratio', 0], a);
    const nb = aggregate(p, [...path, 'ratio', 1], b);
    if (v.ratio.length !== 2) p.add([...path, 'ratio'], 'a ratio has a numerator and a denominator');
    return na && nb ? { ratio: [na, nb] } : undefined;
  }
  if (isObject(v) && Array.isArray(v.percentiles)) {
    const ps = v.percentiles as unknown[];
    if (ps.length === 0 || !ps.every((x) => typeof x === 'number' && x > 0 && x < 1)) {
      p.add([...path, 'percentiles'], 'percentiles is a list of numbers between 0 and 1, e.g. [0.5, 0.9]');
      return undefined;
    }
    if (typeof v.of === 'string' && REF.test(v.of)) return { percentiles: ps as number[], of: v.of };
    if (isObject(v.of) && isObject(v.of.first_after)) {
      const f = v.of.first_after;
      const on = f.on;
      if (typeof f.table === 'string' && typeof f.time === 'string' && Array.isArray(on) && on.length === 2) {
        const w = where(p, [...path, 'of', 'first_after', 'where'], f.where);
        return {
          percentiles: ps as number[],
          of: {
            first_after: {
              table: f.table,
              on: [String(on[0]), String(on[1])],
              time: f.time,
              ...(w ? { where: w } : {}),
            },
          },
        };
      }
    }
    p.add(
      [...path, 'of'],
      'percentiles are of a column, or of { first_after: { table, on: [a, b], time, where } }',
    );
    return undefined;
  }
  return aggregate(p, path, v);
}

function outputsOf(m: Measure): string[] {
  return 'percentiles' in m ? m.percentiles.map((x) => `p${Math.round(x * 100)}`) : ['value'];
}

function defaultFormat(m: Measure): MetricDefinition['format'] {
  if ('ratio' in m) return 'ratio';
  if ('percentiles' in m) return typeof m.of === 'string' ? 'number' : 'seconds';
  if ('count' in m || 'count_distinct' in m) return 'count';
  return 'number';
}

/**
 * Parses a metrics document and returns the file with every problem found, each with its file
 * position, the way `parsePolicy` does. Never throws for bad content.
 *
 * @example
 * const { metrics, problems } = loadMetrics(text, 'fleetvault.metrics.yaml');
 */
export function loadMetrics(text: string, file: string): MetricsLoadResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const p = new Problems(file, doc, lines);
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const { line, col } = lines.linePos(e.pos[0]);
      const message = e.message.split('\n')[0] ?? 'YAML syntax error';
      p.list.push({ code: 'FV_METRICS_SYNTAX', severity: 'error', path: '', file, line, col, message });
    }
    return { problems: p.list };
  }
  const root = doc.toJSON() as unknown;
  const at = (path: Path): string => {
    const pos = p.at(path);
    return `${pos.line}:${pos.col}`;
  };
  if (!isObject(root) || root.version !== 1) p.add(['version'], 'version must be 1');
  const r = isObject(root) ? root : {};
  const privacyUnit = typeof r.privacy_unit === 'string' ? r.privacy_unit : '';
  if (!NAME.test(privacyUnit))
    p.add(['privacy_unit'], 'privacy_unit names the pseudonym domain that k counts, e.g. user');
  const metrics = new Map<string, MetricDefinition>();
  if (!isObject(r.metrics) || Object.keys(r.metrics).length === 0)
    p.add(['metrics'], 'metrics maps names to definitions');
  for (const [name, raw] of Object.entries(isObject(r.metrics) ? r.metrics : {})) {
    const path = ['metrics', name];
    if (!NAME.test(name) || !isObject(raw)) {
      p.add(path, 'a metric is a map with from, unit, time, measure and dimensions');
      continue;
    }
    for (const k of Object.keys(raw)) if (!METRIC_KEYS.includes(k)) p.add([...path, k], 'unknown key');
    const joins: Join[] = [];
    if (raw.join !== undefined) {
      if (!isObject(raw.join))
        p.add([...path, 'join'], 'join maps a table to { on: [base_column, table_column] }');
      for (const [table, j] of Object.entries(isObject(raw.join) ? raw.join : {})) {
        const on = isObject(j) ? j.on : undefined;
        if (!NAME.test(table) || !Array.isArray(on) || on.length !== 2) {
          p.add([...path, 'join', table], 'a join is { on: [base_column, table_column] }');
        } else joins.push({ table, on: [String(on[0]), String(on[1])] });
      }
    }
    const m = measure(p, [...path, 'measure'], raw.measure);
    const dims = Array.isArray(raw.dimensions) ? raw.dimensions.map(String) : [];
    dims.forEach((d, i) => {
      if (!REF.test(d)) p.add([...path, 'dimensions', i], `"${d}" is not a column reference`);
    });
    for (const k of ['from', 'time', 'unit'] as const) {
      if (typeof raw[k] !== 'string' || !REF.test(raw[k] as string))
        p.add([...path, k], `${k} is a column or table name`);
    }
    if (!m) continue;
    if ('percentiles' in m)
      m.percentiles.forEach((x, i) => {
        if (x < PERCENTILE_RANGE[0] || x > PERCENTILE_RANGE[1])
          p.add(
            [...path, 'measure', 'percentiles', i],
            `a percentile is between ${PERCENTILE_RANGE[0]} and ${PERCENTILE_RANGE[1]}; a more extreme one is the value of one or two people in a small group`,
          );
      });
    const format = ['count', 'ratio', 'seconds', 'number'].includes(String(raw.format))
      ? (raw.format as MetricDefinition['format'])
      : defaultFormat(m);
    metrics.set(name, {
      name,
      description: typeof raw.description === 'string' ? raw.description : name,
      unit: String(raw.unit),
      from: String(raw.from),
      joins,
      time: String(raw.time),
      measure: m,
      dimensions: dims,
      outputs: outputsOf(m),
      format,
      at: {
        unit: at(['metrics', name, 'unit']),
        dimensions: dims.map((_, i) => at(['metrics', name, 'dimensions', i])),
      },
    });
  }
  if (p.list.length > 0) return { problems: p.list };
  return { metrics: { file, privacyUnit, privacyUnitAt: at(['privacy_unit']), metrics }, problems: [] };
}

/** Parses a metrics file, or throws `FV_METRICS_INVALID` listing every positioned problem. */
export function parseMetrics(text: string, file: string): MetricsFile {
  const { metrics, problems } = loadMetrics(text, file);
  if (!metrics)
    throw new FvError('FV_METRICS_INVALID', `metrics file ${file} has problems`, formatProblems(problems));
  return metrics;
}

export function readMetricsFile(file: string): MetricsFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new FvError('FV_METRICS_MISSING', `metrics file ${file} does not exist or cannot be read`);
  }
  return parseMetrics(text, file);
}
