import type { MetricAnswer, MetricDefinition } from '../metrics/index.ts';
import type { Output } from './output.ts';

const GRAIN_WORD: Readonly<Record<string, string>> = { day: 'daily', week: 'weekly', month: 'monthly' };

/** A value as people read it: counts with separators, shares as percentages, durations in units. */
export function formatValue(v: number | null, format: MetricDefinition['format']): string {
  if (v === null) return '-';
  if (format === 'ratio') return `${(v * 100).toFixed(1)}%`;
  if (format === 'seconds') {
    if (v < 120) return `${v.toFixed(0)} s`;
    if (v < 7200) return `${(v / 60).toFixed(1)} min`;
    return `${(v / 3600).toFixed(1)} h`;
  }
  if (format === 'count') return Math.round(v).toLocaleString('en-US');
  return v.toFixed(2);
}

/** Renders an answer as a table; suppressed groups say so, never zero. */
export function printAnswer(
  out: Output,
  a: MetricAnswer,
  opts: { title?: string; limit?: number } = {},
): void {
  out.line(opts.title ?? `${a.metric}: ${a.description}`);
  out.line(
    `  ${GRAIN_WORD[a.grain] ?? a.grain}, ${a.from} to ${a.to} (exclusive), k = ${a.k}${a.by.length ? `, by ${a.by.join(', ')}` : ''}`,
  );
  const header = ['period', ...a.by, ...a.outputs, a.format === 'ratio' ? 'users (num / den)' : 'users'];
  const n = (x: number | null | undefined) => (x ?? 0).toLocaleString('en-US');
  const rows = (a.by.length ? a.groups : a.totals).map((g) => [
    g.period,
    ...g.dims.map((d) => d ?? '(none)'),
    ...a.outputs.map((o) =>
      g.suppressed !== 'none' ? 'suppressed' : formatValue(g.values[o] ?? null, a.format),
    ),
    g.units === null
      ? g.suppressed === 'complement'
        ? '(complement)'
        : `< ${a.k}`
      : g.sides
        ? `${n(g.sides.numerator)} / ${n(g.sides.denominator)}`
        : n(g.units),
  ]);
  const shown = opts.limit ? rows.slice(0, opts.limit) : rows;
  const widths = header.map((h, i) => Math.max(h.length, ...shown.map((r) => String(r[i]).length)));
  const fmt = (r: readonly string[]) =>
    `  ${r.map((c, i) => (i >= 1 + a.by.length ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ')}`;
  out.line(fmt(header));
  for (const r of shown) out.line(fmt(r));
  if (shown.length < rows.length) out.line(`  … ${rows.length - shown.length} more rows (--json for all)`);
  const suppressed = a.groups.filter((g) => g.suppressed !== 'none').length;
  if (suppressed)
    out.line(
      `  ${suppressed} group(s) suppressed: fewer than ${a.k} users, or needed to protect one that is`,
    );
}

/** An answer as CSV: raw values (a suppressed value is empty and says why), one row per group. */
export function answerCsv(out: Output, a: MetricAnswer): void {
  const rows = (a.by.length ? a.groups : a.totals).map((g) => [
    g.period,
    ...g.dims,
    ...a.outputs.map((o) => (g.suppressed !== 'none' ? null : (g.values[o] ?? null))),
    g.units,
    g.suppressed,
  ]);
  out.table(['period', ...a.by, ...a.outputs, 'users', 'suppressed'], rows);
}
