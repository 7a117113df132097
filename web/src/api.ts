import type { Answer } from '../../src/server/api-schemas/index.ts';

/** The dashboard's only door to the server: same-origin JSON with the session cookie and CSRF token. */
// The answers' types come from the server's route schemas (type-only: nothing reaches the bundle).
export type {
  Answer,
  AuditRecords,
  AuditVerdict,
  Catalogue,
  Finding,
  Group,
  MetricInfo,
  PrivacyBudgetAnswer,
  PrivacyInfo,
  ProposalList,
  ProposalView,
  Regression,
  RegressionComparison,
  RegressionReport,
  SessionAnswer,
  SessionUser,
  SqlAnswer,
  StateChain,
  StatusAnswer,
  TokenCreated,
  TokenList,
  UserCreated,
  UserList,
} from '../../src/server/api-schemas/index.ts';

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
