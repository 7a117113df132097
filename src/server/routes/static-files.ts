import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { PAGE_HELMET } from '../plugins/security-headers.ts';

/**
 * The built dashboard (dist/web) by @fastify/static: `/` and one route per file in `assets/`,
 * listed at start (no wildcard, so nothing else on disk can be asked for). These are `static`
 * routes: public so the sign-in page loads, the same bytes for everyone, never data; they carry
 * the page CSP. Nothing is served when the dashboard is not built.
 */
export async function staticFiles(app: FastifyInstance, opts: { readonly webDir?: string }): Promise<void> {
  const dir = opts.webDir;
  if (!dir || !existsSync(join(dir, 'index.html'))) return;
  const config = { kind: 'static', helmet: PAGE_HELMET } as const;
  // Every route of this plugin, the library's included, is a static route.
  app.addHook('onRoute', (r) => {
    r.config = { ...r.config, ...config };
  });
  await app.register(fastifyStatic, {
    root: join(dir, 'assets'),
    prefix: '/assets/',
    wildcard: false,
    index: false,
    // Cache-Control is the server's (no-store); validators would only matter to a cache.
    cacheControl: false,
    etag: false,
    lastModified: false,
  });
  app.get('/', { schema: { hide: true } }, (_req, reply) => reply.sendFile('index.html', dir));
}
