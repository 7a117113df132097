export { buildServer } from './build-server.ts';
export {
  isLoopback,
  type ListenAddress,
  parseListen,
  requireSafeListen,
  resolveListen,
} from './listen-address.ts';
export { listenError, requirePortFree } from './port-check.ts';
export { principalCredentials, principalsAboveViewer } from './principals.ts';
export type { Access, RouteInfo } from './route-config.ts';
export type { ServerDeps } from './server-deps.ts';
export { type Session, SessionStore } from './session-store.ts';
export { type MetricsSource, StoreHandle } from './store-handle.ts';
export { TLS_CIPHERS, tlsServerOptions } from './tls-options.ts';
export {
  type AuthResult,
  credentialDigest,
  type Principal,
  ROLES,
  type Role,
  roleAllows,
  type TokenRecord,
  TokenStore,
} from './token-store.ts';
export { type UserRecord, UserStore } from './user-store.ts';
