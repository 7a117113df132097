import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { FvError } from '../errors/index.ts';
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

class Problems {
  readonly list: string[] = [];
  add(path: string, message: string): void {
    this.list.push(`${path}: ${message}`);
  }
}

function where(p: Problems, path: string, v: unknown): Where | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v) || Object.keys(v).some((k) => !REF.test(k))) {
    p.add(path, 'where maps column names to a value or a list of values');
    return undefined;
  }
  return v as Where;
}

function aggregate(p: Problems, path: string, v: unknown): Aggregate | undefined {
  if (!isObject(v)) {
    p.add(path, 'an aggregate is { count: rows }, { count_distinct: col }, { sum: col } or { avg: col }');
    return undefined;
  }
  const w = where(p, `${path}.where`, v.where);
  const extra = w ? { where: w } : {};
  if (v.count === 'rows') return { count: 'rows', ...extra };
  for (const k of ['count_distinct', 'sum', 'avg'] as const) {
    if (typeof v[k] === 'string' && REF.test(v[k] as string)) return { [k]: v[k], ...extra } as Aggregate;
  }
  p.add(path, 'an aggregate is { count: rows }, { count_distinct: col }, { sum: col } or { avg: col }');
  return undefined;
}

function measure(p: Problems, path: string, v: unknown): Measure | undefined {
  if (isObject(v) && Array.isArray(v.ratio)) {
    const [a, b] = v.ratio;
    const na = aggregate(p, `${path}.ratio[0]`, a);
    const nb = aggregate(p, `${path}.ratio[1]`, b);
    if (v.ratio.length !== 2) p.add(`${path}.ratio`, 'a ratio has a numerator and a denominator');
    return na && nb ? { ratio: [na, nb] } : undefined;
  }
  if (isObject(v) && Array.isArray(v.percentiles)) {
    const ps = v.percentiles as unknown[];
    if (ps.length === 0 || !ps.every((x) => typeof x === 'number' && x > 0 && x < 1)) {
      p.add(`${path}.percentiles`, 'percentiles is a list of numbers between 0 and 1, e.g. [0.5, 0.9]');
      return undefined;
    }
    if (typeof v.of === 'string' && REF.test(v.of)) return { percentiles: ps as number[], of: v.of };
    if (isObject(v.of) && isObject(v.of.first_after)) {
      const f = v.of.first_after;
      const on = f.on;
      if (typeof f.table === 'string' && typeof f.time === 'string' && Array.isArray(on) && on.length === 2) {
        const w = where(p, `${path}.of.first_after.where`, f.where);
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
      `${path}.of`,
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

/** Parses a metrics file; every problem is collected and reported at once. */
export function parseMetrics(text: string, file: string): MetricsFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = e ? lines.linePos(e.pos[0]) : { line: 1, col: 1 };
    throw new FvError('FV_METRICS_INVALID', `metrics file ${file}:${pos.line}:${pos.col} is not valid YAML`);
  }
  const root = doc.toJSON() as unknown;
  const at = (path: (string | number)[]): string => {
    const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
    const pos = lines.linePos(node?.range?.[0] ?? 0);
    return `${pos.line}:${pos.col}`;
  };
  const p = new Problems();
  if (!isObject(root) || root.version !== 1) p.add('version', 'version must be 1');
  const r = isObject(root) ? root : {};
  const privacyUnit = typeof r.privacy_unit === 'string' ? r.privacy_unit : '';
  if (!NAME.test(privacyUnit))
    p.add('privacy_unit', 'privacy_unit names the pseudonym domain that k counts, e.g. user');
  const metrics = new Map<string, MetricDefinition>();
  if (!isObject(r.metrics) || Object.keys(r.metrics).length === 0)
    p.add('metrics', 'metrics maps names to definitions');
  for (const [name, raw] of Object.entries(isObject(r.metrics) ? r.metrics : {})) {
    const path = `metrics.${name}`;
    if (!NAME.test(name) || !isObject(raw)) {
      p.add(path, 'a metric is a map with from, unit, time, measure and dimensions');
      continue;
    }
    for (const k of Object.keys(raw)) if (!METRIC_KEYS.includes(k)) p.add(`${path}.${k}`, 'unknown key');
    const joins: Join[] = [];
    if (raw.join !== undefined) {
      if (!isObject(raw.join))
        p.add(`${path}.join`, 'join maps a table to { on: [base_column, table_column] }');
      for (const [table, j] of Object.entries(isObject(raw.join) ? raw.join : {})) {
        const on = isObject(j) ? j.on : undefined;
        if (!NAME.test(table) || !Array.isArray(on) || on.length !== 2) {
          p.add(`${path}.join.${table}`, 'a join is { on: [base_column, table_column] }');
        } else joins.push({ table, on: [String(on[0]), String(on[1])] });
      }
    }
    const m = measure(p, `${path}.measure`, raw.measure);
    const dims = Array.isArray(raw.dimensions) ? raw.dimensions.map(String) : [];
    for (const d of dims) if (!REF.test(d)) p.add(`${path}.dimensions`, `"${d}" is not a column reference`);
    for (const k of ['from', 'time', 'unit'] as const) {
      if (typeof raw[k] !== 'string' || !REF.test(raw[k] as string))
        p.add(`${path}.${k}`, `${k} is a column or table name`);
    }
    if (!m) continue;
    if ('percentiles' in m)
      m.percentiles.forEach((x, i) => {
        if (x < PERCENTILE_RANGE[0] || x > PERCENTILE_RANGE[1])
          p.add(
            `${path}.measure.percentiles[${i}] (${at(['metrics', name, 'measure', 'percentiles', i])})`,
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
  if (p.list.length > 0) throw new FvError('FV_METRICS_INVALID', `metrics file ${file} has problems`, p.list);
  return { file, privacyUnit, privacyUnitAt: at(['privacy_unit']), metrics };
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
