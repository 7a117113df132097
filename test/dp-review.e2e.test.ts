import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Approvals } from '../src/approvals/index.ts';
import { duckdb } from '../src/engines/index.ts';
import { TokenStore, UserStore } from '../src/identity/index.ts';
import { buildServer } from '../src/server/index.ts';
import { budgetedReader, dpDeployment } from './helpers/dp-deployment.ts';
import { enrollToken } from './helpers/enroll.ts';
import type { SyncedStore } from './helpers/synced-store.ts';

describe('differential privacy under attack', () => {
  let s: SyncedStore;
  let state: string;
  let lastDay = '';
  const pw: Record<string, string> = {};

  beforeAll(async () => {
    const d = await dpDeployment({ users: 200, days: 10, seed: 7 });
    ({ s, state, lastDay } = d);
    Object.assign(pw, d.pw);
  }, 600_000);

  afterAll(async () => {
    await s?.db.drop();
  });

  /** A server as `serve` builds it, with an analyst (two admins' approval) and an admin token. */
  async function server() {
    const { audit, reader } = await budgetedReader({ s, state });
    const approvals = new Approvals(state, audit);
    const tokens = new TokenStore(join(state, 'tokens.json'));
    const users = new UserStore(join(state, 'users.json'));
    const app = await buildServer({
      metrics: reader,
      tokens,
      users,
      audit,
      approvals,
      status: () => reader.storeStatus(),
      webDir: join(process.cwd(), 'dist', 'web'),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const call = async (token: string, method: string, path: string, body?: unknown) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      // biome-ignore lint/suspicious/noExplicitAny: a JSON body, read field by field below
      return { status: res.status, text, body: JSON.parse(text) as Record<string, any> };
    };
    const idOf = (name: string) => `user:${users.list().find((u) => u.name === name)?.id}`;
    const signer = (name: string) => approvals.keys.unseal(idOf(name), pw[name] ?? '');
    const enroll = (role: 'analyst' | 'admin', name: string) => {
      const grant = approvals.proposePrincipal({ type: 'token', role, name }, signer('alice'), 'review');
      approvals.approve(grant.proposal.id, signer('bob'));
      return enrollToken(approvals, tokens, users, role, name, grant.proposal.id).token;
    };
    return {
      call,
      tokens,
      enroll,
      close: async () => {
        await app.close();
        reader.close();
      },
    };
  }

  it('the SQL console does not hand an analyst or a lone admin the exact counts the noise hides', async () => {
    const srv = await server();
    try {
      const analyst = srv.enroll('analyst', 'review-analyst');
      const admin = srv.enroll('admin', 'review-admin');
      const sql = { sql: 'SELECT count(*) AS n FROM connection_events' };
      for (const token of [analyst, admin]) {
        const r = await srv.call(token, 'POST', '/api/v1/sql', sql);
        expect(r.status, r.text).toBe(403);
        expect(r.body.error.code).toBe('FV_PRIVACY_SQL_OFF');
        expect(r.text).not.toContain('rows');
      }
    } finally {
      await srv.close();
    }
  }, 300_000);

  it('viewer tokens, which one admin makes alone, share one budget: more tokens buy no more ε', async () => {
    const srv = await server();
    try {
      const viewers = [1, 2, 3, 4, 5].map(
        (i) => srv.tokens.create({ role: 'viewer', name: `review-viewer-${i}`, days: 1 }).token,
      );
      const statuses: number[] = [];
      for (const [i, token] of viewers.entries()) {
        const q = `/api/v1/metrics/connection_attempts?grain=day&from=${lastDay}&to=${lastDay}&filter=devices.product_model:m${i}`;
        statuses.push((await srv.call(token, 'GET', q)).status);
      }
      // ε 4 per day at ε 1 an answer: four answers about the same people, not five.
      expect(statuses).toEqual([200, 200, 200, 200, 429]);
      const left = await srv.call(viewers[0] as string, 'GET', '/api/v1/privacy/budget');
      expect(left.body.remaining).toBe(0);
    } finally {
      await srv.close();
    }
  }, 300_000);

  it('the status page gives no exact row counts under differential privacy', async () => {
    const srv = await server();
    try {
      const viewer = srv.tokens.create({ role: 'viewer', name: 'review-status', days: 1 }).token;
      const r = await srv.call(viewer, 'GET', '/api/v1/status');
      expect(r.status, r.text).toBe(200);
      const tables = r.body.tables as { name: string; rows: number | null }[];
      expect(tables.map((t) => t.name)).toContain('connection_events');
      for (const t of tables) expect(t.rows, t.name).toBeNull();
    } finally {
      await srv.close();
    }
  }, 300_000);

  it('a group partition selection withholds is left out: listing it would say that it exists', async () => {
    // The people behind each firmware version on the last day, read from the store itself; fewer
    // than 10 is far below the threshold (47 here), so such a group is released with p < 1e-5.
    const engine = await duckdb.openReader(s.store);
    const truth = await engine.sql(
      `SELECT d.firmware_version, count(DISTINCT d.user_id) AS people FROM connection_events e JOIN devices d ON e.device_id = d.id WHERE CAST(e.ts AS DATE) = DATE '${lastDay}' GROUP BY 1`,
      { maxRows: 1000, timeoutMs: 60_000 },
    );
    engine.close();
    const rare = truth.rows.filter((r) => Number(r[1]) < 10).map((r) => String(r[0]));
    expect(rare.length, JSON.stringify(truth.rows)).toBeGreaterThan(0);
    const srv = await server();
    try {
      const analyst = srv.enroll('analyst', 'review-analyst-groups');
      const r = await srv.call(
        analyst,
        'GET',
        `/api/v1/metrics/connection_attempts?grain=day&by=devices.firmware_version&from=${lastDay}&to=${lastDay}`,
      );
      expect(r.status, r.text).toBe(200);
      const groups = r.body.groups as { dims: string[]; suppressed: string }[];
      expect(groups.filter((g) => g.suppressed !== 'none')).toEqual([]);
      for (const g of groups) expect(rare).not.toContain(g.dims[0]);
    } finally {
      await srv.close();
    }
  }, 300_000);
});
