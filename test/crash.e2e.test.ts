// End to end (slow): kill -9 the sync at random moments; the re-run must give exactly the store an
// uninterrupted run gives: no row lost, none duplicated. On ClickHouse, where a resumed run writes
// its last batch again as second versions, every metric must answer as the uninterrupted DuckDB
// run does, and after the run no key may have a second live version left (read without FINAL).
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseStore, unsettledMeta } from '../src/engines/clickhouse/index.ts';
import { openMetricsReader } from '../src/engines/index.ts';
import { readMetricsFile } from '../src/metrics/index.ts';
import { DEMO_TABLES } from '../src/sim/index.ts';
import { BIN, runCli } from './helpers/cli.ts';
import { startClickHouseCluster } from './helpers/clickhouse-cluster.ts';
import { createTestDatabase, type TestDatabase } from './helpers/pg.ts';
import { queryStore } from './helpers/store-dump.ts';

const POLICY = join(process.cwd(), 'examples/demo/fleetvault.policy.yaml');
const METRICS = readMetricsFile(join(process.cwd(), 'examples/demo/fleetvault.metrics.yaml'));
const TRIALS = 5;

async function snapshot(store: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of DEMO_TABLES) {
    const [[n, distinct]] = (await queryStore(store, `SELECT count(*), count(DISTINCT id) FROM ${t}`)) as [
      [number, number],
    ];
    expect(Number(n), `${t} has duplicate ids`).toBe(Number(distinct));
    out[t] = JSON.stringify(await queryStore(store, `SELECT * FROM ${t} ORDER BY ALL`));
  }
  return out;
}

function syncArgs(db: TestDatabase, store: string, key: string): string[] {
  return [
    'sync',
    '--source',
    db.url,
    '--policy',
    POLICY,
    '--store',
    store,
    '--key-file',
    key,
    '--batch-size',
    '1500',
  ];
}

/**
 * Starts a sync and kills it with SIGKILL `extraMs` after its `line`-th progress line (one per table
 * as it starts, then more while it runs), so the kill lands while the sync is working whatever the
 * machine's speed or load; resolves whether it was killed mid-run. A fixed delay from the spawn
 * alone could outlast a whole sync on a quiet machine and kill nothing.
 */
function killDuring(
  args: string[],
  line: number,
  extraMs: number,
  env: NodeJS.ProcessEnv = {},
): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...env },
    });
    let seen = 0;
    let timer: NodeJS.Timeout | undefined;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      seen += chunk.split('\n').filter((l) => l.includes(' rows')).length;
      if (seen >= line && timer === undefined) timer = setTimeout(() => child.kill('SIGKILL'), extraMs);
    });
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      resolve(signal === 'SIGKILL');
    });
  });
}

/** A random progress line among the first `tables - 1` (so at least one table is still to come). */
function randomLine(): number {
  return 1 + Math.floor(Math.random() * (DEMO_TABLES.length - 1));
}

describe('crash safety', () => {
  let db: TestDatabase;
  let dir: string;
  let key: string;
  let reference: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'fv-crash-'));
    key = join(dir, 'master.key');
    expect(
      (await runCli(['simulate', '--source', db.url, '--users', '2500', '--days', '10', '--seed', '3'])).code,
    ).toBe(0);
    expect((await runCli(['init', '--key-file', key])).code).toBe(0);
    const store = join(dir, 'reference.duckdb');
    const r = await runCli(syncArgs(db, store, key));
    expect(r.code, r.stderr).toBe(0);
    reference = await snapshot(store);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it(`kill -9 at ${TRIALS} random moments, then re-run: identical to an uninterrupted run`, async () => {
    let killedMidRun = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const store = join(dir, `trial-${trial}.duckdb`);
      // Every other trial the store is reopened after each batch (its memory given back), so the
      // kills land around reopens too.
      const env = trial % 2 === 1 ? { FLEETVAULT_SYNC_RELEASE_MB: '0' } : {};
      // Kill twice per trial, each time after a random table started: the second kill hits a run resuming from checkpoints.
      for (let kill = 0; kill < 2; kill++) {
        if (await killDuring(syncArgs(db, store, key), randomLine(), Math.random() * 150, env))
          killedMidRun++;
      }
      const r = await runCli(syncArgs(db, store, key));
      expect(r.code, r.stderr).toBe(0);
      expect(await snapshot(store)).toEqual(reference);
      copyFileSync(store, join(dir, 'last.duckdb'));
    }
    expect(killedMidRun).toBeGreaterThan(0);
  }, 360_000); // five kill-and-rerun rounds: minutes on a loaded 2-core machine

  it('kill -9 a sync into two-shard ClickHouse, then re-run: every metric as uninterrupted, no second version left', async () => {
    const cluster = await startClickHouseCluster();
    try {
      let killedMidRun = 0;
      for (let kill = 0; kill < 2; kill++) {
        if (await killDuring(syncArgs(db, cluster.url, key), randomLine(), Math.random() * 400))
          killedMidRun++;
      }
      const r = await runCli(syncArgs(db, cluster.url, key));
      expect(r.code, r.stderr).toBe(0);
      expect(killedMidRun).toBeGreaterThan(0);
      const ch = await ClickHouseStore.open(cluster.url);
      try {
        for (const t of DEMO_TABLES) {
          expect(await ch.meta(unsettledMeta(t)), `${t} settled`).toBe('0');
          const n = async (final: string) =>
            (
              await ch.nodes[0]?.rows(
                `SELECT count() FROM ${t}__fv_all${final} WHERE _fv_deleted = 0`,
                'test',
              )
            )?.[0]?.[0];
          expect(await n(''), `${t}: rows read without FINAL`).toBe(await n(' FINAL'));
        }
      } finally {
        await ch.close();
      }
      const [fast, expected] = await Promise.all([
        openMetricsReader(cluster.url, METRICS),
        openMetricsReader(join(dir, 'reference.duckdb'), METRICS),
      ]);
      try {
        for (const metric of METRICS.metrics.keys()) {
          for (const grain of ['week', 'month'] as const) {
            const def = METRICS.metrics.get(metric);
            for (const by of [[], (def?.dimensions ?? []).slice(0, 1)]) {
              const q = { metric, grain, by, from: '2026-10-05', to: '2026-10-31' };
              const [a, b] = await Promise.all([fast.query(q), expected.query(q)]);
              const rows = (x: typeof a) =>
                JSON.stringify([...x.groups, ...x.totals], (_, v) =>
                  typeof v === 'number' ? Number(v.toPrecision(10)) : v,
                );
              expect(rows(a), `${metric} ${grain} ${by.join()}`).toBe(rows(b));
            }
          }
        }
      } finally {
        fast.close();
        expected.close();
      }
    } finally {
      await cluster.stop();
    }
  }, 600_000);
});
