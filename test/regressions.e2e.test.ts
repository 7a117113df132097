// End to end: "what changed" after a scheduled sync. `serve --sync-every` syncs a real source into
// DuckDB, the detection runs through the metrics engine's k gate, and a real HTTP receiver gets the
// alert: first for the bad firmware, then, after production changes, only for the new regression.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from './helpers/cli.ts';
import { DEMO_METRICS, DEMO_POLICY, type SyncedStore, syncedStore } from './helpers/synced-store.ts';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver.ts';

interface Alert {
  alert: string;
  period: string | null;
  regressions: Array<{ metric: string; by: string[]; dims: string[]; users: number }>;
  method: string[];
}

describe('regression alerts after a sync', () => {
  let s: SyncedStore;
  let receiver: WebhookReceiver<unknown>;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    s = await syncedStore({ users: 2000, days: 21 });
    receiver = await startWebhookReceiver();
  });

  afterAll(async () => {
    child?.kill('SIGTERM');
    await receiver?.close();
    await s?.db.drop();
  });

  const regressionAlerts = () =>
    receiver.bodies.map((b) => JSON.parse(b) as Alert).filter((a) => a.alert === 'fleetvault.regression');

  async function until<T>(what: string, get: () => T | undefined, seconds = 90): Promise<T> {
    for (let i = 0; i < seconds * 4; i++) {
      const v = get();
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  it('alerts on the bad firmware, then only on a regression that is new after the next sync', async () => {
    const state = mkdtempSync(join(tmpdir(), 'fv-regress-'));
    let out = '';
    child = spawn(
      process.execPath,
      [
        BIN,
        'serve',
        '--store',
        s.store,
        '--metrics',
        DEMO_METRICS,
        '--state-dir',
        state,
        '--listen',
        '127.0.0.1:0',
        '--sync-every',
        '10s',
        '--source',
        s.db.url,
        '--policy',
        DEMO_POLICY,
        '--key-file',
        s.keyFile,
        '--alert-webhook',
        receiver.url,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (d) => {
      out += d;
    });
    child.stderr?.on('data', (d) => {
      out += d;
    });

    const first = await until('the first regression alert', () => regressionAlerts()[0]);
    expect(first.regressions.map((r) => r.dims)).toContainEqual(['cam-outdoor-3', '3.2.0']);
    expect(first.method.join(' ')).toContain('Benjamini–Hochberg');
    for (const r of first.regressions) expect(r.users).toBeGreaterThanOrEqual(10);

    // Production changes: every plug-mini starts failing in the latest week.
    await s.db.query(
      `INSERT INTO connection_events (id, device_id, ts, outcome, error_code, rssi, duration_ms, client_ip, app_version)
       SELECT m.mx + row_number() OVER (), d.id, m.last - interval '1 hour', 'fail', m.code, -60, 200, '10.0.0.1', '4.12.0'
       FROM generate_series(1, 10) g
       CROSS JOIN (SELECT v.id FROM devices v JOIN users u ON u.id = v.user_id
                   WHERE u.deleted_at IS NULL AND v.product_model = 'plug-mini') d
       CROSS JOIN (SELECT max(id) AS mx, max(ts) AS last,
                          (SELECT error_code FROM connection_events WHERE outcome = 'fail' AND error_code IS NOT NULL LIMIT 1) AS code
                   FROM connection_events) m`,
    );
    const second = await until('the alert for the new regression', () => regressionAlerts()[1], 120);
    const named = second.regressions.map((r) => r.dims.join(' / '));
    expect(named.some((n) => n.startsWith('plug-mini'))).toBe(true);
    // Already reported: not alerted again.
    expect(named).not.toContain('cam-outdoor-3 / 3.2.0');
    // The webhook can hear of it before the line reaches this process's pipe.
    await until(
      'the alert on the server output',
      () => (out.includes('ALERT what changed: connection_failure_rate of plug-mini') ? true : undefined),
      10,
    );
    expect(out).toContain('ALERT what changed: connection_failure_rate of plug-mini');
    // Nothing personal in what left the server.
    for (const c of s.canaries) expect(receiver.bodies.join('\n').includes(c), c).toBe(false);
  });
});
