import type { ProbeRoute } from './probe-deployment.ts';

/**
 * fleetvault's own API routes, for probing a deployment from outside (a running server probes
 * itself with its live route table instead). A test keeps this list equal to the server's.
 */
export const KNOWN_ROUTES: readonly ProbeRoute[] = [
  { method: 'GET', url: '/healthz', access: 'public', kind: 'health' },
  { method: 'POST', url: '/api/v1/login', access: 'public', kind: 'api' },
  { method: 'POST', url: '/api/v1/logout', access: 'viewer', kind: 'api' },
  { method: 'GET', url: '/api/v1/session', access: 'viewer', kind: 'api' },
  { method: 'GET', url: '/api/v1/metrics', access: 'viewer', kind: 'api' },
  { method: 'GET', url: '/api/v1/metrics/:name', access: 'viewer', kind: 'api' },
  { method: 'GET', url: '/api/v1/regressions', access: 'viewer', kind: 'api' },
  { method: 'POST', url: '/api/v1/sql', access: 'analyst', kind: 'api' },
  { method: 'GET', url: '/api/v1/status', access: 'viewer', kind: 'api' },
  { method: 'GET', url: '/api/v1/audit', access: 'admin', kind: 'api' },
  { method: 'GET', url: '/api/v1/audit/verify', access: 'admin', kind: 'api' },
  { method: 'GET', url: '/api/v1/tokens', access: 'admin', kind: 'api' },
  { method: 'POST', url: '/api/v1/tokens', access: 'admin', kind: 'api' },
  { method: 'DELETE', url: '/api/v1/tokens/:id', access: 'admin', kind: 'api' },
  { method: 'GET', url: '/api/v1/users', access: 'admin', kind: 'api' },
  { method: 'POST', url: '/api/v1/users', access: 'admin', kind: 'api' },
  { method: 'GET', url: '/api/v1/approvals', access: 'admin', kind: 'api' },
  { method: 'GET', url: '/api/v1/approvals/:id', access: 'admin', kind: 'api' },
  { method: 'POST', url: '/api/v1/approvals', access: 'admin', kind: 'api' },
  { method: 'POST', url: '/api/v1/approvals/:id/approve', access: 'admin', kind: 'api' },
  { method: 'POST', url: '/api/v1/approvals/:id/reject', access: 'admin', kind: 'api' },
  { method: 'GET', url: '/api/v1/openapi.json', access: 'viewer', kind: 'api' },
  { method: 'GET', url: '/metrics', access: 'viewer', kind: 'api' },
  { method: 'GET', url: '/api/v1/privacy/budget', access: 'viewer', kind: 'api' },
  { method: 'POST', url: '/api/v1/privacy/exact', access: 'admin', kind: 'api' },
];
