import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { accessOf, kindOf, type RouteInfo } from '../route-config.ts';

/** `app.fvRoutes`: every route with its method, access and kind, as registered (HEAD aside). */
export const routeTable = fp(async (app: FastifyInstance) => {
  const routes: RouteInfo[] = [];
  app.decorate('fvRoutes', routes);
  app.addHook('onRoute', (r) => {
    for (const method of ([] as string[]).concat(r.method).filter((m) => m !== 'HEAD')) {
      routes.push({ method, url: r.url, access: accessOf(r.config), kind: kindOf(r.config) });
    }
  });
});
