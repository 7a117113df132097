// End to end: analyst SQL cannot hurt metric serving. The worst statement we know runs in its own
// process while viewers keep getting metric answers; it is killed at its memory cap; one principal
// cannot run two at once.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Approvals } from '../src/approvals/index.ts';
import { AuditLog } from '../src/audit/index.ts';
import { openMetricsReader } from '../src/engines/index.ts';
import { TokenStore, UserStore } from '../src/identity/index.ts';
import type { MetricsReader } from '../src/metrics/index.ts';
import { buildServer } from '../src/server/index.ts';
import { SMALL_METRICS, smallStore, WORST_SQL as WORST } from './helpers/small-store.ts';

type App = Awaited<ReturnType<typeof buildServer>>;

describe('analyst SQL beside metric serving', () => {
  let reader: MetricsReader;
  let app: App;
  const auth: Record<string, string> = {};

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fv-sandbox-'));
    reader = await openMetricsReader(await smallStore(), SMALL_METRICS);
    const tokens = new TokenStore(join(dir, 'tokens.json'));
    for (const [name, role] of [
      ['viewer', 'viewer'],
      ['ana', 'analyst'],
      ['bob', 'analyst'],
    ] as const)
      auth[name] = `Bearer ${tokens.create({ role, name, days: 1 }).token}`;
    const audit = new AuditLog(join(dir, 'audit.jsonl'));
    app = await buildServer({
      metrics: reader,
      tokens,
      users: new UserStore(join(dir, 'users.json')),
      audit,
      approvals: new Approvals(dir, audit),
      status: () => reader.storeStatus(),
      // The test asks for metrics as fast as it can; the per-address limit is not under test here.
      rateLimit: 100_000,
      // The memory cap stops the worst statement; a generous deadline keeps the others' answers
      // independent of how busy this machine is.
      sqlTimeoutMs: 120_000,
    });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    reader?.close();
  });

  const sql = (who: string, text: string) =>
    app.inject({
      method: 'POST',
      url: '/api/v1/sql',
      headers: { authorization: auth[who] as string },
      payload: { sql: text },
    });
  const metric = async (i: number) => {
    // Let timers run between requests (an answer from the cache resolves without ever yielding).
    await new Promise((r) => setTimeout(r, 10));
    const from = new Date(Date.UTC(2026, 8, 1 + (i % 40))).toISOString().slice(0, 10);
    return app.inject({
      method: 'GET',
      // A different answer each time (for the first 40), so the metrics connection computes it.
      url: `/api/v1/metrics/connection_attempts?grain=day&from=${from}&to=2026-10-11`,
      headers: { authorization: auth.viewer as string },
    });
  };

  it('metric requests are answered while the worst statement runs, which is then killed', async () => {
    const before = process.memoryUsage().rss;
    let settled = false;
    const worst = sql('ana', WORST).finally(() => {
      settled = true;
    });
    let answeredMeanwhile = 0;
    for (let i = 0; !settled; i++) {
      const r = await metric(i);
      expect(r.statusCode, r.body).toBe(200);
      if (!settled) answeredMeanwhile++;
    }
    const r = await worst;
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toMatchObject({
      code: 'FV_SQL_LIMIT',
      message: expect.stringMatching(/more than 512 MB/),
    });
    expect(answeredMeanwhile).toBeGreaterThan(0);
    // The list it built (gigabytes, if let run) never lived in this process.
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
  });

  it('one statement at a time per principal; others still get theirs', async () => {
    const first = sql('ana', WORST);
    // Give the first request time to pass the gate (it holds it until its child ends).
    await new Promise((r) => setImmediate(r));
    const second = await sql('ana', 'SELECT 1 AS one');
    expect(second.statusCode).toBe(429);
    expect(second.json().error.code).toBe('FV_SQL_BUSY');
    const other = await sql('bob', 'SELECT count(*) AS n FROM devices');
    expect(other.statusCode, other.body).toBe(200);
    expect(other.json().rows).toEqual([[212]]);
    expect((await first).statusCode).toBe(400);
    expect((await sql('ana', 'SELECT 1 AS one')).statusCode).toBe(200);
  });
});
