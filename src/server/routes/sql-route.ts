import type { FastifyInstance } from 'fastify';
import { SqlAnswer, SqlBody } from '../api-schemas/index.ts';
import { actorOf } from '../route-config.ts';
import type { ServerContext } from '../server-deps.ts';
import { SqlGate } from '../sql-gate.ts';

/** One guarded read-only SELECT for analysts, a few at a time, under a deadline and a row cap. */
export async function sqlRoute(app: FastifyInstance, { deps, audited }: ServerContext): Promise<void> {
  const gate = new SqlGate(deps.sqlConcurrency ?? { perPrincipal: 1, total: 2 });
  app.post<{ Body: SqlBody }>(
    '/api/v1/sql',
    {
      config: { access: 'analyst' },
      schema: {
        summary: 'one guarded read-only SELECT over the analytics tables',
        body: SqlBody,
        response: { 200: SqlAnswer },
      },
    },
    audited('sql.query', async (req, note) => {
      note({ sql: req.body.sql });
      const result = await gate.run(actorOf(req.principal), () =>
        deps.metrics.sql(req.body.sql, { maxRows: 1000, timeoutMs: deps.sqlTimeoutMs ?? 5000 }),
      );
      note({ rows: result.rows.length });
      return result;
    }),
  );
}
