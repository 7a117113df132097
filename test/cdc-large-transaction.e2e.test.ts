// End to end (slow, several minutes): one production transaction of several million changes to a
// policy table. Change capture applies it in bounded batches under a 192 MB JavaScript heap, a
// kill -9 in its middle (some batches committed) leaves the slot and the store's position before
// it and the re-run replays it from its start, and the store then equals production. The peak
// memory of the run is recorded in test-output/cdc-large-transaction.json.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLsn } from '../src/source/index.ts';
import { BIN, runCli } from './helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/pg.ts';
import { queryStore } from './helpers/store-dump.ts';
import { DEMO_POLICY } from './helpers/synced-store.ts';

const CHANGES = Number(process.env.FV_CDC_BIG_CHANGES ?? 3_000_000);
const HEAP_MB = 192;
const LIVE_EVENTS =
  'SELECT count(*)::int AS n FROM connection_events e JOIN devices d ON d.id = e.device_id JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Peak resident memory of a running process, read until it exits (Linux). */
function peakRss(pid: number): () => number {
  let peak = 0;
  const read = () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) * 1024);
    } catch {
      // exited
    }
  };
  const t = setInterval(read, 200);
  return () => {
    clearInterval(t);
    return peak;
  };
}

describe('change capture of one transaction of several million changes', () => {
  let db: TestDatabase;
  let dir: string;
  let store: string;
  let args: string[];

  const storeLsn = async () =>
    String((await queryStore(store, "SELECT value FROM _fv_meta WHERE key = 'cdc_lsn'"))[0]?.[0]);
  const slotLsn = async () =>
    (
      await db.query(
        'SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE database = current_database()',
      )
    ).rows[0].l as string;
  const storedEvents = async () =>
    Number((await queryStore(store, 'SELECT count(*) FROM connection_events'))[0]?.[0]);
  const run = () =>
    spawn(process.execPath, [`--max-old-space-size=${HEAP_MB}`, BIN, ...args], { stdio: 'ignore' });

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'fv-cdc-big-'));
    store = join(dir, 'store.duckdb');
    const key = join(dir, 'k');
    args = [
      'sync',
      '--mode',
      'cdc',
      '--publication',
      `fv_big_${randomBytes(3).toString('hex')}`,
      '--source',
      db.url,
      '--policy',
      DEMO_POLICY,
      '--store',
      store,
      '--key-file',
      key,
      '--state-dir',
      join(dir, 'state'),
    ];
    expect(
      (await runCli(['simulate', '--source', db.url, '--users', '200', '--days', '2', '--seed', '3'])).code,
    ).toBe(0);
    expect((await runCli(['init', '--key-file', key])).code).toBe(0);
    const first = await runCli(args);
    expect(first.code, first.stderr).toBe(0);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it(`applies ${CHANGES.toLocaleString('en-US')} changes of one transaction in bounded memory; a kill -9 in its middle replays it`, async () => {
    const eventsBefore = await storedEvents();
    const before = (await db.query('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l as string;
    // One transaction: millions of inserts on live devices, then updates and deletes among them.
    await db.query(
      `BEGIN;
       CREATE TEMP TABLE live AS SELECT d.id, (row_number() OVER (ORDER BY d.id) - 1)::int AS k FROM devices d JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL LIMIT 40;
       INSERT INTO connection_events (id, device_id, ts, outcome, error_code, rssi, duration_ms, client_ip, app_version)
         SELECT 100000000 + g, l.id, TIMESTAMPTZ '2026-11-20 00:00:00+00' + g * INTERVAL '1 millisecond', 'success', NULL, -50, 120, '10.9.9.9', '4.12.1'
         FROM generate_series(1, ${CHANGES}) g JOIN live l ON l.k = g % 40;
       UPDATE connection_events SET outcome = 'fail', error_code = 'E9' WHERE id > 100000000 AND id % 97 = 0;
       DELETE FROM connection_events WHERE id > 100000000 AND id % 101 = 0;
       COMMIT;`,
    );
    // Killed once some batches of the transaction are committed to the store: PostgreSQL has
    // decoded it (the first page of changes is back, the session waits on fleetvault) and the
    // store's files have changed twice since.
    const child = run();
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    const files = () =>
      [store, `${store}.wal`]
        .map((f) => {
          try {
            const s = statSync(f);
            return `${s.size}:${s.mtimeMs}`;
          } catch {
            return '-';
          }
        })
        .join('|');
    let streaming = false;
    let seen = '';
    let commits = 0;
    let done = false;
    void exited.then(() => {
      done = true;
    });
    while (!done && commits < 2) {
      await sleep(100);
      if (!streaming) {
        streaming =
          (
            await db.query(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'fleetvault' AND state = 'idle in transaction' AND query LIKE 'FETCH%'",
            )
          ).rows[0].n > 0;
        seen = files();
      } else if (files() !== seen) {
        seen = files();
        commits++;
      }
    }
    expect(done, 'the run ended before it was killed').toBe(false);
    child.kill('SIGKILL');
    await exited;
    const partial = (await storedEvents()) - eventsBefore;
    expect(partial, 'some of the transaction was in the store when the run was killed').toBeGreaterThan(0);
    expect(partial).toBeLessThan(CHANGES * 0.98);
    // The transaction is not recorded as held, and the slot is not past the store.
    expect(parseLsn(await storeLsn()) < parseLsn(before)).toBe(true);
    expect(parseLsn(await slotLsn()) <= parseLsn(await storeLsn())).toBe(true);

    // The re-run replays the whole transaction from its start, under the same heap cap.
    const started = Date.now();
    const again = run();
    const peak = peakRss(again.pid as number);
    const code = await new Promise<number | null>((r) => again.once('exit', r));
    const peakBytes = peak();
    const seconds = Math.round((Date.now() - started) / 1000);
    expect(code).toBe(0);
    expect(await storedEvents()).toBe(Number((await db.query(LIVE_EVENTS)).rows[0].n));
    const fails = Number(
      (await db.query(`${LIVE_EVENTS} AND e.outcome = 'fail' AND e.error_code = 'E9'`)).rows[0].n,
    );
    expect(fails).toBeGreaterThan(CHANGES / 120);
    expect(
      Number(
        (await queryStore(store, "SELECT count(*) FROM connection_events WHERE error_code = 'E9'"))[0]?.[0],
      ),
    ).toBe(fails);
    expect(parseLsn(await storeLsn()) > parseLsn(before)).toBe(true);
    expect(await slotLsn()).toBe(await storeLsn());
    mkdirSync('test-output', { recursive: true });
    writeFileSync(
      'test-output/cdc-large-transaction.json',
      `${JSON.stringify({ changes: CHANGES, heapCapMb: HEAP_MB, peakRssMb: Math.round(peakBytes / 2 ** 20), rerunSeconds: seconds, date: new Date().toISOString() }, null, 2)}\n`,
    );
  }, 1_800_000);
});
