import { Chart, type ChartConfiguration, registerables } from 'chart.js';
import type { Answer, Group } from './api.ts';
import { el, formatValue, unitLabel } from './format.ts';

Chart.register(...registerables);

const PALETTE = [
  '#2563eb',
  '#dc2626',
  '#059669',
  '#d97706',
  '#7c3aed',
  '#0891b2',
  '#db2777',
  '#65a30d',
  '#475569',
  '#ea580c',
];

/** A line chart of one answer: one series per dimension value; suppressed points are gaps. */
export function answerChart(answer: Answer, output = answer.outputs[0] ?? 'value'): HTMLElement {
  const groups = answer.by.length ? answer.groups : answer.totals;
  const periods = [...new Set(groups.map((g) => g.period))].sort();
  const series = new Map<string, Map<string, number | null>>();
  for (const g of groups) {
    const key = g.dims.length ? g.dims.map((d) => d ?? '(none)').join(' / ') : answer.metric;
    if (!series.has(key)) series.set(key, new Map());
    series.get(key)?.set(g.period, g.values[output] ?? null);
  }
  const ratio = answer.format === 'ratio';
  const config: ChartConfiguration<'line'> = {
    type: 'line',
    data: {
      labels: periods,
      datasets: [...series.entries()].slice(0, 10).map(([label, points], i) => ({
        label,
        data: periods.map((p) => {
          const v = points.get(p);
          return v === undefined || v === null ? null : ratio ? v * 100 : v;
        }),
        borderColor: PALETTE[i % PALETTE.length],
        backgroundColor: PALETTE[i % PALETTE.length],
        spanGaps: false,
        tension: 0.2,
      })),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: 'nearest', intersect: false },
      scales: {
        x: { title: { display: true, text: `${answer.grain} starting (UTC)` } },
        y: { beginAtZero: true, title: { display: true, text: unitLabel(answer.format) } },
      },
      plugins: {
        legend: { position: 'bottom' },
        tooltip: {
          callbacks: {
            label: (ctx) =>
              `${ctx.dataset.label}: ${formatValue(ctx.parsed.y === null ? null : ratio ? ctx.parsed.y / 100 : ctx.parsed.y, answer.format)}`,
          },
        },
      },
    },
  };
  const canvas = el('canvas', { role: 'img', 'aria-label': `${answer.description} by ${answer.grain}` });
  const box = el('div', { class: 'chart' }, canvas);
  queueMicrotask(() => new Chart(canvas, config));
  const hidden = groups.filter((g) => g.suppressed !== 'none').length;
  const note = hidden
    ? el(
        'p',
        { class: 'note' },
        `${hidden} point(s) suppressed: fewer than ${answer.k} users, or needed to protect one that is. Gaps are suppressed, not zero.`,
      )
    : null;
  return el('div', {}, box, note);
}

/** The same answer as a table; suppressed cells say so. */
export function answerTable(answer: Answer): HTMLElement {
  const groups = answer.by.length ? answer.groups : answer.totals;
  const head = el(
    'tr',
    {},
    el('th', {}, 'period'),
    ...answer.by.map((b) => el('th', {}, b)),
    ...answer.outputs.map((o) => el('th', { class: 'num' }, o)),
    el('th', { class: 'num' }, answer.format === 'ratio' ? 'users (numerator / denominator)' : 'users'),
  );
  const users = (g: Group): string => {
    if (g.units === null) return `< ${answer.k} or protecting one`;
    const n = (x: number | null | undefined) => (x ?? 0).toLocaleString('en-US');
    return g.sides ? `${n(g.sides.numerator)} / ${n(g.sides.denominator)}` : n(g.units);
  };
  const rows = groups.map((g) =>
    el(
      'tr',
      g.suppressed !== 'none' ? { class: 'suppressed' } : {},
      el('td', {}, g.period),
      ...g.dims.map((d) => el('td', {}, d ?? '(none)')),
      ...answer.outputs.map((o) =>
        el(
          'td',
          { class: 'num' },
          g.suppressed !== 'none' ? 'suppressed' : formatValue(g.values[o] ?? null, answer.format),
        ),
      ),
      el('td', { class: 'num' }, users(g)),
    ),
  );
  return el('div', { class: 'table-wrap' }, el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows)));
}
