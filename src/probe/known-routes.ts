import type { ProbeRoute } from './probe-deployment.ts';

/**
 * fleetvault's own API routes, for probing a deployment from outside (a running server probes
 * itself with its live route table instead). A test keeps this list equal to the server's.
 */
export const KNOWN_ROUTES: readonly ProbeRoute[] = [
  { method: 'GET', url: '/healthz', access: 'public' },
  { method: 'POST', url: '/api/v1/login', access: 'public' },
  { method: 'POST', url: '/api/v1/logout', access: 'viewer' },
  { method: 'GET', url: '/api/v1/session', access: 'viewer' },
  { method: 'GET', url: '/api/v1/metrics', access: 'viewer' },
  { method: 'GET', url: '/api/v1/metrics/:name', access: 'viewer' },
  { method: 'GET', url: '/api/v1/regressions', access: 'viewer' },
  { method: 'POST', url: '/api/v1/sql', access: 'analyst' },
  { method: 'GET', url: '/api/v1/status', access: 'viewer' },
  { method: 'GET', url: '/api/v1/audit', access: 'admin' },
  { method: 'GET', url: '/api/v1/audit/verify', access: 'admin' },
  { method: 'GET', url: '/api/v1/tokens', access: 'admin' },
  { method: 'POST', url: '/api/v1/tokens', access: 'admin' },
  { method: 'DELETE', url: '/api/v1/tokens/:id', access: 'admin' },
  { method: 'GET', url: '/api/v1/users', access: 'admin' },
  { method: 'POST', url: '/api/v1/users', access: 'admin' },
  { method: 'GET', url: '/api/v1/approvals', access: 'admin' },
  { method: 'GET', url: '/api/v1/approvals/:id', access: 'admin' },
  { method: 'POST', url: '/api/v1/approvals', access: 'admin' },
  { method: 'POST', url: '/api/v1/approvals/:id/approve', access: 'admin' },
  { method: 'POST', url: '/api/v1/approvals/:id/reject', access: 'admin' },
  { method: 'GET', url: '/api/v1/openapi.json', access: 'viewer' },
  { method: 'GET', url: '/metrics', access: 'viewer' },
  { method: 'GET', url: '/api/v1/privacy/budget', access: 'viewer' },
];
