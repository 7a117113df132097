import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/index.ts';
import { isFvError } from '../errors/index.ts';
import { actorOf } from './route-config.ts';

/** Adds facts (what was asked, counts) to the request's audit record; never result data. */
export type Note = (facts: Readonly<Record<string, unknown>>) => void;

/** The route handler `audited` wraps: it notes what it was asked, then answers. */
export type AuditedHandler<R extends FastifyRequest, T> = (
  req: R,
  note: Note,
  reply: FastifyReply,
) => Promise<T>;

/**
 * One audit record per request, written the same way on every audited route: `ok` with the
 * noted facts when the handler answers, `refused` with the facts and the error's code when it
 * throws (the error then goes on to the error handler).
 *
 * @example
 * const audited = auditedBy(deps.audit);
 * app.post('/api/v1/sql', opts, audited('sql.query', async (req, note) => { note({ sql }); … }));
 */
export function auditedBy(audit: AuditLog) {
  return <R extends FastifyRequest, T>(action: string, handler: AuditedHandler<R, T>) =>
    async (req: R, reply: FastifyReply): Promise<T> => {
      const facts: Record<string, unknown> = {};
      const note: Note = (more) => Object.assign(facts, more);
      const actor = actorOf(req.principal);
      const detail = () => (Object.keys(facts).length > 0 ? { detail: facts } : {});
      try {
        const result = await handler(req, note, reply);
        audit.append({ actor, action, outcome: 'ok', ...detail() });
        return result;
      } catch (error) {
        note({ code: isFvError(error) ? error.code : 'FV_INTERNAL' });
        audit.append({ actor, action, outcome: 'refused', ...detail() });
        throw error;
      }
    };
}

export type Audited = ReturnType<typeof auditedBy>;
