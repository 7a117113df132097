import type { Answer } from './api.ts';

export function formatValue(v: number | null, format: Answer['format']): string {
  if (v === null) return 'suppressed';
  if (format === 'ratio') return `${(v * 100).toFixed(1)}%`;
  if (format === 'seconds')
    return v < 120
      ? `${v.toFixed(0)} s`
      : v < 7200
        ? `${(v / 60).toFixed(1)} min`
        : `${(v / 3600).toFixed(1)} h`;
  if (format === 'count') return Math.round(v).toLocaleString('en-US');
  return v.toFixed(2);
}

export function unitLabel(format: Answer['format']): string {
  return format === 'ratio'
    ? 'share of attempts (%)'
    : format === 'seconds'
      ? 'seconds'
      : format === 'count'
        ? 'count'
        : 'value';
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
