/** The dashboard's only door to the server: same-origin JSON with the session cookie and CSRF token. */
export interface Group {
  period: string;
  dims: (string | null)[];
  values: Record<string, number | null>;
  /** The users behind the value (a ratio: its smaller side); null when suppressed. */
  units: number | null;
  /** A ratio's users per side (`numerator`, `denominator`). */
  sides?: Record<string, number | null>;
  suppressed: 'none' | 'below_k' | 'complement' | 'not_released';
  /** Under differential privacy: each value's 95 % interval (null when not released). */
  intervals?: Record<string, [number, number] | null>;
}

/** What a differentially private answer cost the one who asked, and what is left. */
export interface PrivacyInfo {
  model: 'differential_privacy';
  epsilon: number;
  delta: number;
  confidence: number;
  budget?: {
    spent: number;
    remaining: number;
    epsilon: number;
    window: string;
    renewsAt: string;
    cached: boolean;
  };
}

export interface Answer {
  metric: string;
  description: string;
  format: 'count' | 'ratio' | 'seconds' | 'number';
  grain: string;
  by: string[];
  from: string;
  to: string;
  k: number;
  outputs: string[];
  groups: Group[];
  totals: Group[];
  privacy?: PrivacyInfo;
}

export interface MetricInfo {
  name: string;
  description: string;
  outputs: string[];
  format: Answer['format'];
  dimensions: string[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let csrf: string | null = null;

export function setCsrf(token: string | null): void {
  csrf = token;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const data = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
  if (!res.ok)
    throw new ApiError(
      res.status,
      data.error?.code ?? 'FV_HTTP',
      data.error?.message ?? `HTTP ${res.status}`,
    );
  return data as T;
}

export function metricQuery(
  name: string,
  q: { grain: string; by?: string[]; from?: string; to?: string; filters?: Record<string, string[]> },
): Promise<Answer> {
  const p = new URLSearchParams({ grain: q.grain });
  if (q.by?.length) p.set('by', q.by.join(','));
  if (q.from) p.set('from', q.from);
  if (q.to) p.set('to', q.to);
  for (const [dim, values] of Object.entries(q.filters ?? {}))
    if (values.length) p.append('filter', `${dim}:${values.join(',')}`);
  return api<Answer>('GET', `/api/v1/metrics/${encodeURIComponent(name)}?${p}`);
}

export interface RegressionComparison {
  against: 'baseline' | 'siblings';
  expected: number;
  referenceUsers: number;
  rise: number;
  z: number;
  p: number;
  q: number;
}

export interface Regression {
  metric: string;
  description: string;
  format: Answer['format'];
  output: string;
  by: string[];
  dims: (string | null)[];
  period: string;
  value: number;
  users: number;
  comparisons: RegressionComparison[];
}

export interface RegressionReport {
  grain: 'week';
  period: string | null;
  k: number;
  rules: { fdr: number; minUsers: number; minExpected: number; minRise: number; minRateRise: number };
  method: string[];
  groups: { tested: number; suppressed: number; tooSmall: number };
  tests: number;
  regressions: Regression[];
}
