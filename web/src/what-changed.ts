import type { Regression, RegressionComparison, RegressionReport } from './api.ts';
import { el, formatValue } from './format.ts';

const SHOWN = 5;

const bare = (dim: string) => dim.replace(/^.*\./, '');
const label = (metric: string) => metric.replaceAll('_', ' ');
const pct = (x: number) => (Number.isFinite(x) ? `+${Math.round(x * 100)}%` : 'new');
const qText = (q: number) => (q < 0.001 ? 'q < 0.001' : `q = ${q.toFixed(3)}`);

function against(r: Regression, c: RegressionComparison): string {
  if (c.against === 'baseline') return 'its own earlier weeks';
  const varying = bare(r.by[r.by.length - 1] ?? '');
  const parent = r.dims.slice(0, -1).filter((d) => d !== null);
  return parent.length ? `other ${varying} of ${parent.join(' · ')}` : `the other ${varying}s`;
}

/** The group's own breakdown in Explore, narrowed to its parent (the product of a firmware). */
function exploreLink(r: Regression): string {
  const q = new URLSearchParams({ metric: r.metric, grain: 'week', by: r.by.join(',') });
  const [first] = r.dims;
  if (r.by.length > 1 && first) q.set('filter', `${r.by[0]}:${first}`);
  return `#/explore?${q}`;
}

const nameOf = (r: Regression) => r.dims.map((d) => d ?? '(none)').join(' · ');
const pairs = (r: Regression) =>
  r.by.flatMap((b, i) => (r.dims[i] === null ? [] : [`${bare(b)}=${r.dims[i]}`]));

/**
 * Leads and what follows from them: a weaker regression of the same metric that shares a group
 * value with a stronger one (cam-outdoor-3 in a region, after cam-outdoor-3 · 3.2.0) is listed
 * under it, so the first lines name different stories. The API keeps every one on its own.
 */
function leads(list: readonly Regression[]): Array<{ lead: Regression; related: Regression[] }> {
  const out: Array<{ lead: Regression; related: Regression[]; pairs: Set<string> }> = [];
  for (const r of list) {
    const mine = pairs(r);
    const home = out.find((o) => o.lead.metric === r.metric && mine.some((p) => o.pairs.has(p)));
    if (home) home.related.push(r);
    else out.push({ lead: r, related: [], pairs: new Set(mine) });
  }
  return out;
}

function item({ lead: r, related }: { lead: Regression; related: Regression[] }): HTMLElement {
  const name = nameOf(r);
  return el(
    'li',
    { class: 'regression', 'data-testid': 'regression' },
    el(
      'div',
      { class: 'regression-head' },
      el('a', { class: 'regression-name', href: exploreLink(r), title: 'Open in Explore' }, name),
      ` ${label(r.metric)} ${r.output === 'value' ? '' : `(${r.output}) `}`,
      el('strong', {}, formatValue(r.value, r.format)),
      el(
        'span',
        { class: 'regression-meta' },
        ` ${r.users.toLocaleString('en-US')} users · ${r.by.map(bare).join(' × ')}`,
      ),
    ),
    el(
      'ul',
      { class: 'regression-tests' },
      ...r.comparisons.map((c) =>
        el(
          'li',
          {},
          `vs ${against(r, c)}: expected ${formatValue(c.expected, r.format)}, ${pct(c.rise)}, z = ${c.z.toFixed(1)}, ${qText(c.q)}`,
        ),
      ),
      related.length
        ? el(
            'li',
            { class: 'regression-related' },
            'Also significant, sharing a group with it: ',
            ...related.flatMap((x, i) => [
              i ? ', ' : '',
              el('a', { href: exploreLink(x) }, nameOf(x)),
              ` ${formatValue(x.value, x.format)}`,
            ]),
          )
        : null,
    ),
  );
}

/** The overview's lead: the regressions the server detected, and how, in plain numbers. */
export function whatChanged(report: RegressionReport): HTMLElement {
  const rules = report.rules;
  const summary = `Tests: two-proportion z-test (failure rates), log-normal median test (times); Benjamini–Hochberg false discovery rate ${rules.fdr * 100}% over ${report.tests} tests; each side at least ${Math.max(report.k, rules.minUsers)} users (k = ${report.k}); rises of at least ${rules.minRise * 100}%.`;
  const list = leads(report.regressions);
  const more = list.slice(SHOWN);
  return el(
    'section',
    { class: 'what-changed', 'aria-labelledby': 'what-changed' },
    el(
      'h2',
      { id: 'what-changed' },
      report.period ? `What changed — week of ${report.period}` : 'What changed',
    ),
    list.length
      ? el('ol', { class: 'regressions' }, ...list.slice(0, SHOWN).map(item))
      : el(
          'p',
          { class: 'ok', 'data-testid': 'no-regressions' },
          `No significant regression in ${report.groups.tested} groups.`,
        ),
    more.length
      ? el(
          'details',
          {},
          el('summary', {}, `${more.length} more`),
          el('ol', { class: 'regressions' }, ...more.map(item)),
        )
      : null,
    el('p', { class: 'note method-summary' }, summary),
    el(
      'details',
      { class: 'method' },
      el('summary', {}, 'How this is detected'),
      ...report.method.map((m) => el('p', { class: 'note' }, m)),
      el(
        'p',
        { class: 'note' },
        `This week: ${report.groups.tested} groups tested, ${report.groups.suppressed} suppressed by the k gate (never read), ${report.groups.tooSmall} too small to test.`,
      ),
    ),
  );
}
