// End to end on ClickHouse 26 (chdb, test/helpers/chdb-server.ts): the demo production synced
// into it by the CLI, every metric at every grain and by every dimension answered exactly as
// DuckDB answers it, and the analyst SQL guard's checks and limits on the current dialect. The
// store and reader contracts run on it too (chdb-engine.e2e). What needs a second server (shards,
// replicas) runs on Debian's 18.16 only; the differences are in the README ("Current ClickHouse").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMetricsReader } from '../src/engines/index.ts';
import { type MetricsFile, readMetricsFile } from '../src/metrics/index.ts';
import { type ChdbServer, startChdbServer } from './helpers/chdb-server.ts';
import { type CliRun, runCli } from './helpers/cli.ts';
import { CLICKHOUSE_ONLY_REFUSED, expectRefused, expectSqlLimits } from './helpers/clickhouse-sql.ts';
import { expectSameAnswer } from './helpers/same-answers.ts';
import { DEMO_METRICS, demoSyncArgs, type SyncedStore, syncedStore } from './helpers/synced-store.ts';

let chdb: ChdbServer;
let s: SyncedStore;
let file: MetricsFile;
const outputs: CliRun[] = [];
const cli = async (args: string[]) => {
  const r = await runCli(args);
  outputs.push(r);
  return r;
};

describe('ClickHouse 26 (chdb): the store, the metrics and the SQL guard', () => {
  beforeAll(async () => {
    [chdb, s] = await Promise.all([startChdbServer(), syncedStore({ users: 1200, days: 21, seed: 26 })]);
    file = readMetricsFile(DEMO_METRICS);
    const r = await cli(demoSyncArgs(s, chdb.url));
    expect(r.code, r.stderr).toBe(0);
  }, 300_000);

  afterAll(async () => {
    await chdb?.stop();
    await s?.db.drop();
  });

  it('runs on ClickHouse 26', () => {
    expect(chdb.version).toMatch(/^26\./);
  });

  it('answers every metric exactly as DuckDB does, at every grain and by every dimension', async () => {
    const duck = await openMetricsReader(s.store, file);
    const ch = await openMetricsReader(chdb.url, file);
    let compared = 0;
    try {
      expect(await ch.storeStatus()).toMatchObject({ tables: (await duck.storeStatus()).tables });
      for (const def of file.metrics.values()) {
        for (const grain of ['day', 'week', 'month'] as const) {
          for (const by of [[], ...def.dimensions.map((d) => [d])]) {
            const q = { metric: def.name, grain, by, from: '2026-10-01', to: '2026-11-30' };
            expectSameAnswer(await ch.query(q), await duck.query(q), `${def.name} ${grain} ${by.join(',')}`);
            compared++;
          }
        }
      }
    } finally {
      duck.close();
      ch.close();
    }
    expect(compared).toBeGreaterThan(60);
  }, 600_000);

  it('guards analyst SQL on the current dialect: analytics tables only, read-only, capped', async () => {
    const sql = (text: string, ...extra: string[]) => cli(['sql', '--store', chdb.url, ...extra, text]);
    const ok = await sql(
      'SELECT outcome, count(*) AS n FROM connection_events GROUP BY outcome ORDER BY outcome',
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('success');
    const capped = await sql('SELECT id FROM devices', '--max-rows', '5', '--json');
    expect(JSON.parse(capped.stdout).rows).toHaveLength(5);
    await expectRefused(sql, [
      ...CLICKHOUSE_ONLY_REFUSED,
      'INSERT INTO devices SELECT * FROM devices',
      'SELECT 1; SELECT 2',
      'SHOW TABLES',
      'DESCRIBE devices',
    ]);
  });

  it('runs analyst SQL under the server’s limits: memory and rows read stop it clearly', async () => {
    const reader = await openMetricsReader(chdb.url, file);
    try {
      await expectSqlLimits(reader, { deadline: false });
    } finally {
      reader.close();
    }
  });

  it('leaves no canary in any table or output', async () => {
    const tables = (await chdb.query("SELECT name FROM system.tables WHERE database = 'fv'")).split('\n');
    let dump = '';
    for (const t of tables.filter(Boolean)) dump += await chdb.query(`SELECT * FROM fv.\`${t}\``);
    expect(dump.length).toBeGreaterThan(10_000);
    for (const c of s.canaries) {
      expect(dump).not.toContain(c);
      for (const o of outputs) expect(`${o.stdout}${o.stderr}`).not.toContain(c);
    }
  });
});
