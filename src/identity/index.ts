export { JsonFile } from './json-file.ts';
export { principalCredentials, principalsAboveViewer } from './principals.ts';
export { type Session, SessionStore } from './session-store.ts';
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
