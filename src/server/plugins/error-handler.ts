import type { FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { httpStatusFor, isFvError } from '../../errors/index.ts';

/** Every refusal has this one shape: a stable code, a message naming what (never a value), the request id. */
export function fail(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).send({ error: { code, message, requestId: reply.request.id } });
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
    if (isFvError(error)) return fail(reply, httpStatusFor(error.code), error.code, error.message);
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500)
      return fail(reply, e.statusCode, 'FV_BAD_REQUEST', 'bad request');
    req.log.error({ err: error }, 'unexpected error');
    return fail(reply, 500, 'FV_INTERNAL', 'internal error');
  });
});
