import type { FastifyInstance, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { accessOf, kindOf, type RouteInfo } from '../route-config.ts';

/**
 * `app.fvRoutes`: every route with its method, access and kind (HEAD aside). Read when asked,
 * not at registration: a plugin's own onRoute hook (the static files') may still set its config.
 */
export const routeTable = fp(async (app: FastifyInstance) => {
  const registered: RouteOptions[] = [];
  app.addHook('onRoute', (r) => {
    registered.push(r);
  });
  app.decorate('fvRoutes', {
    getter: (): RouteInfo[] =>
      registered.flatMap((r) =>
        ([] as string[])
          .concat(r.method)
          .filter((m) => m !== 'HEAD')
          .map((method) => ({ method, url: r.url, access: accessOf(r.config), kind: kindOf(r.config) })),
      ),
  });
});
