import type { FastifyInstance } from 'fastify';
import { AuditLog } from '../../audit/index.ts';
import { AuditQuery, AuditRecords, AuditVerdict } from '../api-schemas/index.ts';
import { actorOf } from '../route-config.ts';
import type { ServerContext } from '../server-deps.ts';

/** The newest audit records and the chain's verdict: admins only. */
export async function auditRoutes(app: FastifyInstance, { deps }: ServerContext): Promise<void> {
  app.get<{ Querystring: AuditQuery }>(
    '/api/v1/audit',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'the newest audit records',
        querystring: AuditQuery,
        response: { 200: AuditRecords },
      },
    },
    async (req) => {
      // Written before reading, so the answer shows this read too.
      deps.audit.append({ actor: actorOf(req.principal), action: 'audit.read', outcome: 'ok' });
      return { records: deps.audit.recent(req.query.limit ?? 100) };
    },
  );

  app.get(
    '/api/v1/audit/verify',
    {
      config: { access: 'admin' },
      schema: { summary: 'whether the audit chain is intact', response: { 200: AuditVerdict } },
    },
    async () => {
      const doc = deps.approvals.current();
      return AuditLog.verifyAnchored(
        deps.audit.path,
        doc ? [{ what: `version ${doc.version} of the signed security state`, ...doc.audit }] : [],
      );
    },
  );
}
