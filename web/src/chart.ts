import { Chart, type ChartConfiguration, registerables } from 'chart.js';
import type { Answer, Group } from './api.ts';
import { el, formatValue, fromPlotted, hours, periodLabel, plotted, unitLabel } from './format.ts';

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

const SERIES = 10;

/** The groups an answer shows: the breakdown, or the totals when there is none. */
export function shownGroups(answer: Answer): readonly Group[] {
  return answer.by.length ? answer.groups : answer.totals;
}

const seriesKey = (answer: Answer, g: Group) =>
  g.dims.length ? g.dims.map((d) => d ?? '(none)').join(' / ') : answer.metric;

/**
 * A line chart of one answer: one series per group (the ten with the most users), in the unit
 * its table uses (a share in %, a time in hours); suppressed points are gaps.
 */
export function answerChart(answer: Answer, output = answer.outputs[0] ?? 'value'): HTMLElement {
  const groups = shownGroups(answer);
  const periods = [...new Set(groups.map((g) => g.period))].sort();
  const series = new Map<string, Map<string, number | null>>();
  const weight = new Map<string, number>();
  for (const g of groups) {
    const key = seriesKey(answer, g);
    if (!series.has(key)) series.set(key, new Map());
    series.get(key)?.set(g.period, g.values[output] ?? null);
    weight.set(key, (weight.get(key) ?? 0) + (g.units ?? 0));
  }
  const top = [...series.entries()].sort((a, b) => (weight.get(b[0]) ?? 0) - (weight.get(a[0]) ?? 0));
  // Under differential privacy each point has an error bar: its 95 % interval, drawn as a dashed
  // line below and above each series (finite ends only).
  const bounds = new Map<string, Map<string, readonly [number, number]>>();
  for (const g of groups) {
    const ci = g.intervals?.[output];
    if (!ci || g.suppressed !== 'none') continue;
    const key = seriesKey(answer, g);
    if (!bounds.has(key)) bounds.set(key, new Map());
    bounds.get(key)?.set(g.period, ci);
  }
  const format = answer.format;
  const yText = `${unitLabel(answer)}${answer.outputs.length > 1 ? `, ${output}` : ''}`;
  const config: ChartConfiguration<'line'> = {
    type: 'line',
    data: {
      labels: periods,
      datasets: top.slice(0, SERIES).map(([label, points], i) => ({
        label,
        data: periods.map((p) => {
          const v = points.get(p);
          return v === undefined || v === null ? null : plotted(v, format);
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
        x: { title: { display: true, text: periodLabel(answer.grain) } },
        y: {
          beginAtZero: true,
          title: { display: true, text: yText },
        },
      },
      plugins: {
        legend: { position: 'bottom', labels: { filter: (item) => !/ 95 % (low|high)$/.test(item.text) } },
        tooltip: {
          callbacks: {
            label: (ctx) =>
              `${ctx.dataset.label}: ${formatValue(ctx.parsed.y === null ? null : fromPlotted(ctx.parsed.y, format), format)}`,
          },
        },
      },
    },
  };
  const errorBars = top.slice(0, SERIES).flatMap(([label], i) =>
    [0, 1].map((end) => ({
      label: `${label} 95 % ${end ? 'high' : 'low'}`,
      data: periods.map((p) => {
        const v = bounds.get(label)?.get(p)?.[end];
        return v === undefined || !Number.isFinite(v) ? null : plotted(v, format);
      }),
      borderColor: PALETTE[i % PALETTE.length],
      backgroundColor: PALETTE[i % PALETTE.length],
      borderDash: [4, 4],
      borderWidth: 1,
      pointRadius: 0,
      spanGaps: false,
    })),
  );
  if (bounds.size > 0) config.data.datasets.push(...errorBars);
  const canvas = el('canvas', {
    'data-error-bars': String(bounds.size > 0 ? errorBars.length : 0),
    role: 'img',
    'aria-label': `${answer.description} by ${answer.grain}, in ${unitLabel(answer)}`,
    // The axis titles, readable by tests and assistive tools (a canvas hides its text).
    'data-x-axis': periodLabel(answer.grain),
    'data-y-axis': yText,
  });
  const box = el('div', { class: 'chart' }, canvas);
  queueMicrotask(() => new Chart(canvas, config));
  const hidden = groups.filter((g) => g.suppressed !== 'none').length;
  const notes = [
    top.length > SERIES
      ? `The ${SERIES} series with the most users of ${top.length}; the table has all.`
      : '',
    hidden
      ? `${hidden} point(s) suppressed: fewer than ${answer.k} users, or needed to protect one that is. Gaps are suppressed, not zero.`
      : '',
  ].filter(Boolean);
  return el('div', {}, box, notes.length ? el('p', { class: 'note' }, notes.join(' ')) : null);
}

const outputHeader = (answer: Answer, o: string) =>
  answer.format === 'seconds' ? `${o} (hours)` : answer.format === 'ratio' ? `${o} (%)` : o;

const usersHeader = (answer: Answer) =>
  answer.format === 'ratio' ? 'users (numerator / denominator)' : 'users';

function usersText(answer: Answer, g: Group): string {
  if (answer.privacy) return g.suppressed === 'none' ? 'not shown (noised)' : 'too few (not released)';
  if (g.units === null) return `< ${answer.k} or protecting one`;
  const n = (x: number | null | undefined) => (x ?? 0).toLocaleString('en-US');
  return g.sides ? `${n(g.sides.numerator)} / ${n(g.sides.denominator)}` : n(g.units);
}

/** The error bar of a noised value, as text beside it: its 95 % interval. */
function intervalText(answer: Answer, g: Group, o: string): HTMLElement | null {
  const ci = g.intervals?.[o];
  if (!ci || g.suppressed !== 'none') return null;
  const end = (x: number) => (Number.isFinite(x) ? formatValue(x, answer.format) : x < 0 ? '−∞' : '∞');
  return el('span', { class: 'ci', 'data-testid': 'interval' }, ` (95 %: ${end(ci[0])} – ${end(ci[1])})`);
}

function row(answer: Answer, g: Group): HTMLElement {
  return el(
    'tr',
    g.suppressed !== 'none' ? { class: 'suppressed' } : {},
    el('td', {}, g.period),
    ...g.dims.map((d) => el('td', {}, d ?? '(none)')),
    ...answer.outputs.map((o) =>
      el(
        'td',
        { class: 'num' },
        g.suppressed !== 'none' ? 'suppressed' : formatValue(g.values[o] ?? null, answer.format),
        intervalText(answer, g, o),
      ),
    ),
    el('td', { class: 'num' }, usersText(answer, g)),
  );
}

function table(answer: Answer, groups: readonly Group[], attrs: Record<string, string> = {}): HTMLElement {
  const head = el(
    'tr',
    {},
    el('th', {}, 'period'),
    ...answer.by.map((b) => el('th', {}, b)),
    ...answer.outputs.map((o) => el('th', { class: 'num' }, outputHeader(answer, o))),
    el('th', { class: 'num' }, usersHeader(answer)),
  );
  return el(
    'div',
    { class: 'table-wrap' },
    el('table', attrs, el('thead', {}, head), el('tbody', {}, ...groups.map((g) => row(answer, g)))),
  );
}

/**
 * A day grain as a grid: one row per group, one column per day, so a month of days is a screen,
 * not a wall of rows. A suppressed cell shows a dash and says so to hover and screen readers.
 */
function pivotTable(answer: Answer): HTMLElement {
  const groups = shownGroups(answer);
  const periods = [...new Set(groups.map((g) => g.period))].sort();
  const rows = new Map<string, Map<string, Group>>();
  for (const g of groups) {
    const key = JSON.stringify(g.dims);
    if (!rows.has(key)) rows.set(key, new Map());
    rows.get(key)?.set(g.period, g);
  }
  const output = answer.outputs[0] ?? 'value';
  const head = el(
    'tr',
    {},
    ...(answer.by.length ? answer.by : ['']).map((b) => el('th', { scope: 'col' }, b)),
    ...periods.map((p) => el('th', { class: 'num', scope: 'col', title: p }, p.slice(5))),
  );
  const body = [...rows.entries()].map(([key, cells]) => {
    const dims = JSON.parse(key) as (string | null)[];
    return el(
      'tr',
      {},
      ...(dims.length ? dims : [answer.metric]).map((d) => el('th', { scope: 'row' }, d ?? '(none)')),
      ...periods.map((p) => {
        const g = cells.get(p);
        if (!g) return el('td', { class: 'num' }, '');
        if (g.suppressed !== 'none')
          return el(
            'td',
            { class: 'num suppressed', title: `${p}: suppressed` },
            el('span', { 'aria-label': 'suppressed' }, '–'),
          );
        return el(
          'td',
          { class: 'num', title: `${p}: ${usersText(answer, g)} users` },
          formatValue(g.values[output] ?? null, answer.format),
        );
      }),
    );
  });
  return el(
    'div',
    { class: 'table-wrap' },
    el(
      'table',
      { class: 'pivot', 'data-testid': 'answer-grid' },
      el(
        'caption',
        {},
        `${outputHeader(answer, output)} by day (UTC); – is suppressed (fewer than ${answer.k} users, or protecting one)`,
      ),
      el('thead', {}, head),
      el('tbody', {}, ...body),
    ),
  );
}

/**
 * The same answer as a table (a grid of days for the day grain). Suppressed rows are folded under one line (a day grain hides most
 * groups, and a wall of "suppressed" hides the answer); opened, each still says so.
 */
export function answerTable(answer: Answer): HTMLElement {
  if (answer.grain === 'day') return pivotTable(answer);
  const groups = shownGroups(answer);
  const visible = groups.filter((g) => g.suppressed === 'none');
  const hidden = groups.filter((g) => g.suppressed !== 'none');
  return el(
    'div',
    {},
    visible.length
      ? table(answer, visible, { 'data-testid': 'answer-table' })
      : el('p', { class: 'empty' }, 'Every group in this answer is suppressed.'),
    hidden.length
      ? el(
          'details',
          { class: 'suppressed-rows' },
          el(
            'summary',
            {},
            answer.privacy
              ? `${hidden.length} row(s) not released: too few users to pass the noisy threshold`
              : `${hidden.length} suppressed row(s): fewer than ${answer.k} users, or needed to protect one that is`,
          ),
          table(answer, hidden),
        )
      : null,
  );
}

/** A CSV cell; text that a spreadsheet would run as a formula is quoted as text. */
function csvCell(v: string | number | null): string {
  if (v === null) return '';
  let s = String(v);
  if (/^[=+\-@\t\r]/.test(s) && typeof v === 'string') s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** What the table shows, as CSV: shares as fractions, times in hours, suppressed cells empty. */
export function answerCsv(answer: Answer): string {
  const unit = answer.format === 'seconds' ? '_hours' : answer.format === 'ratio' ? '_share' : '';
  const ratio = answer.format === 'ratio';
  const header = [
    'period',
    ...answer.by,
    ...answer.outputs.map((o) => `${o}${unit}`),
    ...(ratio ? ['users_numerator', 'users_denominator'] : ['users']),
    'suppressed',
  ];
  const lines = shownGroups(answer).map((g) => {
    const value = (o: string) => {
      const v = g.values[o] ?? null;
      return v === null ? null : answer.format === 'seconds' ? hours(v) : v;
    };
    return [
      g.period,
      ...g.dims.map((d) => d ?? '(none)'),
      ...answer.outputs.map(value),
      ...(ratio ? [g.sides?.numerator ?? null, g.sides?.denominator ?? null] : [g.units]),
      g.suppressed,
    ];
  });
  return `${[header, ...lines].map((l) => l.map(csvCell).join(',')).join('\r\n')}\r\n`;
}
