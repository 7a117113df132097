// The HTTP API's request and answer schemas, one definition each: the server validates and
// serializes with them, @fastify/swagger publishes them, and the dashboard takes its types from
// them (type-only imports, so nothing here reaches the browser bundle). Pure TypeBox: no Node.
export * from './admin.ts';
export * from './approvals.ts';
export * from './audit.ts';
export * from './common.ts';
export * from './metrics.ts';
export * from './privacy.ts';
export * from './session.ts';
export * from './sql.ts';
export * from './status.ts';
