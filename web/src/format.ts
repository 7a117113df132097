import type { Answer } from './api.ts';

/** Times are shown in hours everywhere (tables, chart axes, tooltips, exports). */
export const hours = (seconds: number): number => seconds / 3600;

export function formatValue(v: number | null, format: Answer['format']): string {
  if (v === null) return 'suppressed';
  if (format === 'ratio') return `${(v * 100).toFixed(1)}%`;
  if (format === 'seconds') {
    const h = hours(v);
    return `${h.toFixed(h < 10 ? 2 : 1)} h`;
  }
  if (format === 'count') return Math.round(v).toLocaleString('en-US');
  return v.toFixed(2);
}

/** The number a chart plots for a value: a share in percent, a time in hours. */
export function plotted(v: number, format: Answer['format']): number {
  return format === 'ratio' ? v * 100 : format === 'seconds' ? hours(v) : v;
}

export function fromPlotted(v: number, format: Answer['format']): number {
  return format === 'ratio' ? v / 100 : format === 'seconds' ? v * 3600 : v;
}

export function unitLabel(answer: Pick<Answer, 'format' | 'description'>): string {
  return answer.format === 'ratio'
    ? 'share (%)'
    : answer.format === 'seconds'
      ? 'hours'
      : answer.format === 'count'
        ? `${answer.description.toLowerCase()} (count)`
        : 'value';
}

export const GRAIN_WORD: Readonly<Record<string, string>> = {
  day: 'daily',
  week: 'weekly',
  month: 'monthly',
};

export function periodLabel(grain: string): string {
  return grain === 'day' ? 'day (UTC)' : `${grain} starting (UTC)`;
}

/** Builds DOM without innerHTML, so no value can ever become markup. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Array<Node | string | null | undefined>
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}
