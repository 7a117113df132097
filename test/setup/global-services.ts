// Vitest global setup: the services every end-to-end file shares, started once per run and
// removed at the end. Today that is one PostgreSQL cluster of the tests' own, and chdb installed
// into its cache folder when absent (test/setup/chdb.mjs); ClickHouse clusters and Mosquitto
// brokers are started by the files that need them (they stop and kill them).
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPgCluster } from '../services/pg-cluster.ts';

export default async function setup(): Promise<() => void> {
  // Each CLI records the signed states it has seen per user (approvals/seen-state.ts): the tests'
  // record lives in a folder of their own, never in the home folder of whoever runs them.
  process.env.XDG_STATE_HOME ??= mkdtempSync(join(tmpdir(), 'fv-test-seen-'));
  // ClickHouse 26 (chdb) for test/chdb.e2e and the store contract: installed once, never skipped.
  const chdb = spawnSync(process.execPath, [join(import.meta.dirname, 'chdb.mjs')], { encoding: 'utf8' });
  if (chdb.status !== 0) throw new Error(chdb.stderr.trim() || `test/setup/chdb.mjs exited ${chdb.status}`);
  process.env.FV_CHDB_DIR = (/^chdb \S+ in (.+)$/m.exec(chdb.stdout)?.[1] ?? '').trim();
  // FV_TEST_PG_PORT points the tests at a server someone runs on purpose (for example to debug);
  // without it the tests never touch a server the machine happens to run.
  if (process.env.FV_TEST_PG_PORT) return () => {};
  const pg = await startPgCluster();
  process.env.FV_TEST_PG_HOST = pg.host;
  process.env.FV_TEST_PG_PORT = String(pg.port);
  return () => pg.stop();
}
