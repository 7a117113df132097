import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog } from '../audit/index.ts';
import { FvError } from '../errors/index.ts';
import { MetricsReader, readMetricsFile } from '../metrics/index.ts';
import {
  buildServer,
  parseListen,
  ROLES,
  type Role,
  requireSafeListen,
  TokenStore,
  UserStore,
} from '../server/index.ts';
import type { Action } from './commands.ts';
import { DEFAULT_METRICS, DEFAULT_STORE, ensurePrivateDir, packageRoot, STATE_DIR } from './defaults.ts';

function stateFiles(opts: Record<string, unknown>) {
  const dir = String(opts.stateDir ?? STATE_DIR);
  ensurePrivateDir(dir);
  return {
    tokens: new TokenStore(join(dir, 'tokens.json')),
    users: new UserStore(join(dir, 'users.json')),
    audit: new AuditLog(join(dir, 'audit.jsonl')),
    dir,
  };
}

function readTls(file: unknown, what: string): Buffer {
  try {
    return readFileSync(String(file));
  } catch {
    throw new FvError('FV_USAGE', `cannot read the TLS ${what} file ${String(file)}`);
  }
}

export const serveAction: Action = async (out, opts) => {
  const addr = parseListen(String(opts.listen ?? '127.0.0.1:8787'));
  const tls = opts.tlsCert !== undefined || opts.tlsKey !== undefined;
  if (tls && (opts.tlsCert === undefined || opts.tlsKey === undefined)) {
    throw new FvError('FV_USAGE', 'TLS needs both --tls-cert and --tls-key');
  }
  requireSafeListen(addr, tls);
  const { tokens, users, audit } = stateFiles(opts);
  const metrics = await MetricsReader.open(
    String(opts.store ?? DEFAULT_STORE),
    readMetricsFile(String(opts.metrics ?? DEFAULT_METRICS)),
  );
  const app = await buildServer({
    metrics,
    tokens,
    users,
    audit,
    status: () => metrics.storeStatus(),
    logger: opts.log === true,
    webDir: join(packageRoot(), 'dist', 'web'),
    ...(tls
      ? { https: { cert: readTls(opts.tlsCert, 'certificate'), key: readTls(opts.tlsKey, 'key') } }
      : {}),
  });
  await app.listen({ host: addr.host, port: addr.port });
  const url = `${tls ? 'https' : 'http'}://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
  audit.append({
    actor: 'cli',
    action: 'server.start',
    outcome: 'ok',
    detail: { listen: `${addr.host}:${addr.port}`, tls },
  });
  out.line(`fleetvault dashboard on ${url}/ (API ${url}/api/v1, health ${url}/healthz)`);
  if (tokens.list().length === 0)
    out.line('No API tokens yet: create one with `fleetvault tokens create --role admin`.');
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await app.close();
  metrics.close();
  audit.append({ actor: 'cli', action: 'server.stop', outcome: 'ok' });
  return 0;
};

function parseDays(v: unknown): number | null {
  if (v === undefined || v === 'never') return v === 'never' ? null : 30;
  const m = /^(\d{1,4})d$/.exec(String(v));
  if (!m || Number(m[1]) < 1)
    throw new FvError('FV_USAGE', '--expires is a number of days such as 30d, or never');
  return Number(m[1]);
}

export const tokensCreateAction: Action = async (out, opts) => {
  const role = String(opts.role ?? 'viewer');
  if (!ROLES.includes(role as Role)) throw new FvError('FV_USAGE', `--role is one of ${ROLES.join(', ')}`);
  const { tokens, audit } = stateFiles(opts);
  const { token, record } = tokens.create({
    role: role as Role,
    name: String(opts.name ?? role),
    days: parseDays(opts.expires),
  });
  audit.append({
    actor: 'cli',
    action: 'token.create',
    outcome: 'ok',
    detail: { id: record.id, role: record.role, expiresAt: record.expiresAt },
  });
  if (out.json) out.data({ token, id: record.id, role: record.role, expiresAt: record.expiresAt });
  out.line(
    `Token ${record.id} (${record.role}, expires ${record.expiresAt ?? 'never'}). Shown once; store it now:`,
  );
  out.line(token);
  return 0;
};

export const tokensListAction: Action = async (out, opts) => {
  const { tokens } = stateFiles(opts);
  const list = tokens.list().map(({ hash: _hash, ...t }) => t);
  if (out.json) out.data({ tokens: list });
  for (const t of list) {
    const state = t.revokedAt
      ? 'revoked'
      : t.expiresAt && Date.parse(t.expiresAt) <= Date.now()
        ? 'expired'
        : 'active';
    out.line(
      `${t.id}  ${t.role.padEnd(7)}  ${state.padEnd(7)}  ${t.name}  expires ${t.expiresAt ?? 'never'}`,
    );
  }
  return 0;
};

export const tokensRevokeAction: Action = async (out, opts, args) => {
  const { tokens, audit } = stateFiles(opts);
  const r = tokens.revoke(String(args[0] ?? ''));
  audit.append({ actor: 'cli', action: 'token.revoke', outcome: 'ok', detail: { id: r.id } });
  out.line(`Token ${r.id} revoked.`);
  return 0;
};

export const auditVerifyAction: Action = async (out, opts) => {
  const { dir } = stateFiles(opts);
  const file = String(opts.auditLog ?? join(dir, 'audit.jsonl'));
  const verdict = AuditLog.verify(file);
  if (out.json) out.data(verdict);
  if (verdict.ok) out.line(`${file}: chain intact, ${verdict.records} records`);
  else out.line(`${file}: chain broken at line ${verdict.firstBad?.line}: ${verdict.firstBad?.reason}`);
  return verdict.ok ? 0 : 1;
};

export const usersAddAction: Action = async (out, opts) => {
  const role = String(opts.role ?? 'viewer');
  if (!ROLES.includes(role as Role)) throw new FvError('FV_USAGE', `--role is one of ${ROLES.join(', ')}`);
  const { users, audit } = stateFiles(opts);
  const { record, password } = await users.add(String(opts.name ?? ''), role as Role);
  audit.append({
    actor: 'cli',
    action: 'user.add',
    outcome: 'ok',
    detail: { id: record.id, role: record.role },
  });
  if (out.json) out.data({ name: record.name, role: record.role, password });
  out.line(
    `User ${record.name} (${record.role}) created. Initial password, shown once (store it now): ${password}`,
  );
  return 0;
};

export const usersListAction: Action = async (out, opts) => {
  const { users } = stateFiles(opts);
  const list = users.list().map(({ passwordHash: _h, ...u }) => u);
  if (out.json) out.data({ users: list });
  for (const u of list)
    out.line(`${u.id}  ${u.role.padEnd(7)}  ${u.name}${u.disabledAt ? '  (disabled)' : ''}`);
  return 0;
};
