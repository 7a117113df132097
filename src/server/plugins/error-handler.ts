import type { FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { isFvError } from '../../errors/index.ts';

/** Every refusal has this one shape: a stable code, a message naming what (never a value), the request id. */
export function fail(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).send({ error: { code, message, requestId: reply.request.id } });
}

const STATUS: Partial<Record<string, number>> = {
  FV_SQL_REFUSED: 400,
  FV_SQL_FAILED: 400,
  FV_SQL_LIMIT: 400,
  FV_SQL_BUSY: 429,
  FV_METRIC_FILTER_UNSAFE: 400,
  FV_METRIC_UNKNOWN: 404,
  FV_METRIC_QUERY: 400,
  FV_PRIVACY_BUDGET_SPENT: 429,
  FV_PRIVACY_UNSUPPORTED: 400,
  FV_TOKEN_UNKNOWN: 404,
  FV_USAGE: 400,
  FV_APPROVAL_REQUIRED: 403,
  FV_APPROVAL_INVALID: 409,
  FV_APPROVAL_UNKNOWN: 404,
  FV_STATE_WEAKER: 409,
  FV_STATE_TAMPERED: 409,
  FV_STATE_ROLLBACK: 409,
  FV_STATE_MISMATCH: 409,
  FV_AUDIT_TRUNCATED: 409,
};

/** The HTTP status of a typed error: the one place the server maps a code to a status. */
export function statusOf(code: string): number {
  return STATUS[code] ?? 400;
}

/**
 * Errors become HTTP only here: validation → 400 `FV_BAD_REQUEST` naming the field, a typed
 * `FvError` → its status and code, anything unknown → a bare 500 with details in the server log.
 */
export const errorHandler = fp(async (app: FastifyInstance) => {
  app.setNotFoundHandler((_req, reply) => fail(reply, 404, 'FV_NOT_FOUND', 'no such route'));
  app.setErrorHandler((error, req, reply) => {
    const e = error as {
      validation?: unknown;
      validationContext?: string;
      statusCode?: number;
      message: string;
    };
    if (e.validation)
      return fail(
        reply,
        400,
        'FV_BAD_REQUEST',
        `${e.validationContext ?? 'request'} ${e.message.replace(/^(querystring|params|body)\//, '')}`,
      );
    if (isFvError(error)) return fail(reply, statusOf(error.code), error.code, error.message);
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500)
      return fail(reply, e.statusCode, 'FV_BAD_REQUEST', 'bad request');
    req.log.error({ err: error }, 'unexpected error');
    return fail(reply, 500, 'FV_INTERNAL', 'internal error');
  });
});
