export { buildServer } from './build-server.ts';
export {
  type ListenAddress,
  parseListen,
  requireSafeListen,
  resolveListen,
} from './listen-address.ts';
export { listenError, requirePortFree } from './port-check.ts';
export type { Access, RouteInfo } from './route-config.ts';
export type { ServerDeps } from './server-deps.ts';
export { type MetricsSource, StoreHandle } from './store-handle.ts';
export { TLS_CIPHERS, tlsServerOptions } from './tls-options.ts';
