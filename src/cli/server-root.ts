import { join } from 'node:path';
import { Approvals } from '../approvals/index.ts';
import { AuditLog } from '../audit/index.ts';
import { TokenStore, UserStore } from '../identity/index.ts';
import {
  buildServer,
  type ListenAddress,
  listenError,
  type MetricsSource,
  type ServerDeps,
} from '../server/index.ts';
import { AUDIT_FILE, ensurePrivateDir, TOKENS_FILE, USERS_FILE, webDir } from './defaults.ts';

/** What a state folder holds for a serving process: tokens, accounts, the audit log, the signed state. */
export interface ServerState {
  readonly dir: string;
  readonly tokens: TokenStore;
  readonly users: UserStore;
  readonly audit: AuditLog;
  readonly approvals: Approvals;
}

/** The audit log of a state folder. */
export function auditLogIn(dir: string): AuditLog {
  return new AuditLog(join(dir, AUDIT_FILE));
}

/** Opens the state folder (made 0700 when missing) the way every command that serves or enrolls does. */
export function openServerState(dir: string): ServerState {
  ensurePrivateDir(dir);
  const audit = auditLogIn(dir);
  return {
    dir,
    tokens: new TokenStore(join(dir, TOKENS_FILE)),
    users: new UserStore(join(dir, USERS_FILE)),
    audit,
    approvals: new Approvals(dir, audit),
  };
}

type Extra = Omit<ServerDeps, 'metrics' | 'tokens' | 'users' | 'audit' | 'approvals' | 'status' | 'webDir'>;

/**
 * The composition root of `serve` and `demo`: the server over a store's metrics and a state
 * folder, with the built dashboard, listening at `addr`. A port that cannot be bound closes the
 * metrics and is one catalogued error.
 */
export async function startServer(
  state: ServerState,
  metrics: MetricsSource & { close(): void },
  addr: ListenAddress,
  extra: Extra = {},
) {
  const app = await buildServer({
    metrics,
    tokens: state.tokens,
    users: state.users,
    audit: state.audit,
    approvals: state.approvals,
    status: () => metrics.storeStatus(),
    webDir: webDir(),
    ...extra,
  });
  try {
    await app.listen({ host: addr.host, port: addr.port });
  } catch (error) {
    metrics.close();
    throw listenError(error, addr) ?? error;
  }
  return { app, port: (app.server.address() as { port: number }).port };
}
