// The synced contract: the same production synced through the same policy into an engine's store
// and into DuckDB (the reference) answers every metric alike, and stays alike through changes,
// deletions, forget, retention, killed syncs and change capture. An engine's e2e file runs it on a
// production it synced (test/helpers/synced-store.ts: syncedProduction) and adds only what is its
// own (test/clickhouse-engine.e2e.test.ts). DuckDB is the reference: its own runs of these paths
// are sync.e2e, crash.e2e, cdc.e2e and forget.e2e.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Engine, engineFor, openMetricsReader, openStore } from '../../src/engines/index.ts';
import { type Grain, type MetricsFile, parseMetrics, readMetricsFile } from '../../src/metrics/index.ts';
import { readPolicyFile } from '../../src/policy/index.ts';
import { loadKeyFile } from '../../src/privacy/index.ts';
import { forget } from '../../src/sync/forget.ts';
import { BIN, exited } from '../helpers/cli.ts';
import { FILTERED_METRICS_YAML } from '../helpers/metric-twins.ts';
import {
  expectSameAnswer,
  expectSameOutcome,
  expectSameStores,
  storeCounts,
} from '../helpers/same-answers.ts';
import { stoppingAt } from '../helpers/stopping-store.ts';
import {
  DEMO_METRICS,
  DEMO_POLICY,
  demoForgetArgs,
  demoSyncArgs,
  type SyncedProduction,
} from '../helpers/synced-store.ts';

/** The engine's side of the synced contract. */
export interface SyncedContractTarget {
  /** The production, synced into DuckDB and into this engine's store before the suite runs. */
  production(): SyncedProduction;
  /** A new, empty store of this engine named `name`. */
  fresh(name: string): Promise<string>;
  /** Fails unless no stored version of any row of the person under `pseudonym` is left, anywhere. */
  expectForgotten(pseudonym: string): Promise<void>;
}

/** The synced contract on `engine` against DuckDB; the tests run in order and change the source. */
export function runSyncedContract(engine: Engine, label: string, target: SyncedContractTarget): void {
  describe(`synced contract on ${label}`, () => {
    let p: SyncedProduction;
    let file: MetricsFile;
    /** Measures with `where` of every kind (test/helpers/metric-twins.ts). */
    let filtered: MetricsFile;
    const outcomes = { answered: 0, refused: 0 };
    const counts = (store: string) => storeCounts(store, file);

    beforeAll(() => {
      p = target.production();
      file = readMetricsFile(DEMO_METRICS);
      filtered = parseMetrics(FILTERED_METRICS_YAML, 'filtered.metrics.yaml');
    });

    /**
     * Every metric (shipped, and the filtered measures) by each of its dimensions (and none) at
     * `grains`, answered by both stores; then filtered on one value and on all values but one,
     * answered or refused alike.
     */
    async function compareAll(grains: readonly Grain[], from: string, to: string): Promise<number> {
      let compared = 0;
      for (const f of [file, filtered]) {
        const duck = await openMetricsReader(p.store, f);
        const other = await openMetricsReader(p.location, f);
        try {
          for (const def of f.metrics.values()) {
            for (const grain of grains) {
              for (const by of [[], ...def.dimensions.map((d) => [d])]) {
                const q = { metric: def.name, grain, by, from, to };
                expectSameAnswer(
                  await other.query(q),
                  await duck.query(q),
                  `${def.name} ${grain} ${by.join(',')}`,
                );
                compared++;
              }
            }
            const d = def.dimensions[0];
            if (!d) continue;
            const any = await duck.query({ metric: def.name, grain: 'month', by: [d], from, to });
            const values = [
              ...new Set(any.groups.map((g) => g.dims[0]).filter((v): v is string => v !== null)),
            ];
            const common = any.groups.find((g) => g.suppressed === 'none')?.dims[0];
            const base = {
              metric: def.name,
              grain: 'week' as const,
              by: def.dimensions.slice(1, 2),
              from,
              to,
            };
            // The most common value, then every value but one.
            for (const list of [common ? [common] : [], values.slice(1)]) {
              if (list.length === 0) continue;
              const q = { ...base, filters: { [d]: list } };
              outcomes[await expectSameOutcome(other, duck, q, `${def.name} filtered on ${list.length}`)]++;
            }
          }
        } finally {
          duck.close();
          other.close();
        }
      }
      return compared;
    }

    it('answers every metric exactly as DuckDB does, at every grain, by every dimension and with a filter', async () => {
      expect(engineFor(p.location)).toBe(engine);
      const n = await compareAll(['day', 'week', 'month'], '2026-10-01', '2026-11-30');
      expect(n).toBeGreaterThan(60);
      // Filtered answers: some given, some refused as differencing risks, always alike.
      expect(outcomes.answered).toBeGreaterThan(0);
      expect(outcomes.refused).toBeGreaterThan(0);
      // A range that starts inside the data: rows before it must not count, whatever they join to.
      expect(await compareAll(['day'], '2026-10-20', '2026-10-26')).toBeGreaterThan(15);
      expect(await counts(p.location)).toEqual(await counts(p.store));
    }, 900_000);

    it('applies changes, deletions, forget and retention to both stores alike', async () => {
      const { db } = p;
      await db.query("UPDATE devices SET firmware_version = '9.9.9', updated_at = now() WHERE id % 17 = 0");
      await db.query(
        "INSERT INTO connection_events (id, device_id, ts, outcome, error_code, rssi, duration_ms, client_ip, app_version) SELECT m.mx + row_number() OVER (), d.id, TIMESTAMPTZ '2026-11-15 12:00:00.123456+00', 'fail', 'E42', -60, 200, '10.0.0.1', '4.12.0' FROM (SELECT id FROM devices ORDER BY id LIMIT 300) d CROSS JOIN (SELECT max(id) AS mx FROM connection_events) m",
      );
      const [soft, hard, forgotten] = (
        await db.query(
          'SELECT u.id FROM users u WHERE u.deleted_at IS NULL AND EXISTS (SELECT 1 FROM devices d WHERE d.user_id = u.id) ORDER BY u.id LIMIT 3',
        )
      ).rows.map((r) => String(r.id)) as [string, string, string];
      p.erasedUsers.push(soft, hard, forgotten);
      await db.query('UPDATE users SET deleted_at = now(), updated_at = now() WHERE id = $1', [soft]);
      await db.query('DELETE FROM users WHERE id = $1', [hard]);
      const erased: Array<Record<string, number>> = [];
      let pseudonym = '';
      for (const store of [p.store, p.location]) {
        const r = await p.sync(store);
        expect(r.code, r.stderr).toBe(0);
        const f = await p.cli(demoForgetArgs(p, store, forgotten, '--json'));
        expect(f.code, f.stderr).toBe(0);
        const result = JSON.parse(f.stdout.split('\n')[0] as string);
        erased.push(result.deleted);
        pseudonym = result.pseudonym;
      }
      expect(erased[1]).toEqual(erased[0]);
      expect(Object.values(erased[0] ?? {}).reduce((a, b) => a + b, 0)).toBeGreaterThan(1);
      expect(await counts(p.location)).toEqual(await counts(p.store));
      await compareAll(['week'], '2026-10-01', '2026-11-30');
      // Forgotten means gone from everywhere the engine keeps rows, every version of a row included.
      await target.expectForgotten(pseudonym);

      // Retention cuts the events table the same way in both.
      const days = Math.ceil((Date.now() - Date.UTC(2026, 10, 1)) / 86_400_000);
      const policy = join(p.dir, 'retention.policy.yaml');
      writeFileSync(
        policy,
        readFileSync(DEMO_POLICY, 'utf8').replace(
          '    cursor: id                                            # append-only\n    columns:\n      id:          { class: identifier, domain: event }',
          `    cursor: id\n    retention: { column: ts, days: ${days} }\n    columns:\n      id:          { class: identifier, domain: event }`,
        ),
      );
      const expired: number[] = [];
      for (const store of [p.store, p.location]) {
        const r = await p.cli([
          'sync',
          '--source',
          db.url,
          '--policy',
          policy,
          '--store',
          store,
          '--key-file',
          p.keyFile,
          '--json',
        ]);
        expect(r.code, r.stderr).toBe(0);
        expired.push(
          JSON.parse(r.stdout).tables.find((t: { table: string }) => t.table === 'connection_events')
            .rowsExpired,
        );
      }
      expect(expired[0]).toBeGreaterThan(0);
      expect(expired[1]).toBe(expired[0]);
      expect(await counts(p.location)).toEqual(await counts(p.store));
    });

    it('a forget stopped between two tables leaves no linked row behind once a sync and a forget run again', async () => {
      const { db } = p;
      // The two users with the most devices that have events (earlier tests erased others).
      const [id, next] = (
        await db.query(
          `SELECT u.id FROM users u JOIN devices d ON d.user_id = u.id JOIN connection_events e ON e.device_id = d.id
           WHERE u.deleted_at IS NULL GROUP BY u.id ORDER BY count(DISTINCT d.id) DESC, u.id LIMIT 2`,
        )
      ).rows.map((r) => String(r.id)) as [string, string];
      p.erasedUsers.push(id, next);
      const { policy } = readPolicyFile(DEMO_POLICY);
      if (!policy) throw new Error('the demo policy does not load');
      const key = loadKeyFile(p.keyFile);
      for (const location of [p.store, p.location]) {
        const store = await openStore(location);
        try {
          // The real store, stopping when the erasure reaches the events: the devices are erased
          // by then, unless the store undoes them (DuckDB's transaction).
          await expect(
            forget({ policy, store: stoppingAt(store, 'connection_events'), key, domain: 'user', id }),
          ).rejects.toThrow('stopped here');
          // Another erasure beside it, which read the unfinished records before the first wrote
          // its own: it must leave that record for the next run, not replace or clear it.
          const blind = new Proxy(store, {
            get(target, prop) {
              if (prop === 'metaEntries') return async () => new Map<string, string>();
              const v = Reflect.get(target, prop, target);
              return typeof v === 'function' ? v.bind(target) : v;
            },
          });
          await forget({ policy, store: blind, key, domain: 'user', id: next });
        } finally {
          await store.close();
        }
      }
      // A sync first (it finishes what a stopped erasure left), then the forget run again.
      let pseudonym = '';
      for (const location of [p.store, p.location]) {
        const r = await p.sync(location);
        expect(r.code, r.stderr).toBe(0);
        const f = await p.cli(demoForgetArgs(p, location, id, '--json'));
        expect(f.code, f.stderr).toBe(0);
        pseudonym = JSON.parse(f.stdout.split('\n')[0] as string).pseudonym;
      }
      expect(await counts(p.location)).toEqual(await counts(p.store));
      await target.expectForgotten(pseudonym);
      await compareAll(['week'], '2026-10-01', '2026-11-30');
    }, 600_000);

    it('a sync killed at random moments and run again ends with the same store', async () => {
      const url = await target.fresh('fv_crash');
      for (let round = 0; round < 3; round++) {
        const child = spawn(process.execPath, [BIN, ...demoSyncArgs(p, url, '--batch-size', '2000')], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let said = '';
        child.stderr.on('data', (d) => {
          said += d;
        });
        await new Promise((r) => setTimeout(r, 800 + Math.random() * 2500));
        child.kill('SIGKILL');
        // A run that resumes most of the rows can end before its kill: then it must have ended well.
        const code = await exited(child);
        expect(code === null || code === 0, said).toBe(true);
      }
      const r = await p.sync(url);
      expect(r.code, r.stderr).toBe(0);
      // An uninterrupted sync of the same production into a fresh DuckDB file is the reference.
      const reference = join(p.dir, 'reference.duckdb');
      expect((await p.sync(reference)).code).toBe(0);
      await expectSameStores(url, reference, file, 'week', [
        'connection_attempts',
        'active_devices',
        'time_to_first_connection',
      ]);
    });

    it('follows change capture as DuckDB does, a kill -9 included', async () => {
      const url = await target.fresh('fv_cdc');
      const duck = join(p.dir, 'cdc.duckdb');
      const cdc = (store: string, ...extra: string[]) => p.sync(store, '--mode', 'cdc', ...extra);
      for (const store of [duck, url]) {
        const r = await cdc(store);
        expect(r.code, r.stderr).toBe(0);
      }
      // Inserts, updates, leaf hard deletes (no cursor sees them) and a hard-deleted user.
      await p.db.query(
        "INSERT INTO connection_events (id, device_id, ts, outcome, error_code, rssi, duration_ms, client_ip, app_version) SELECT (SELECT max(id) FROM connection_events) + g, (SELECT min(d.id) FROM devices d JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL) + (g % 7), TIMESTAMPTZ '2026-11-20 08:00:00+00' + g * INTERVAL '1 second', 'success', NULL, -50, 120, '10.9.9.9', '4.12.1' FROM generate_series(1, 40000) g",
      );
      await p.db.query("UPDATE connection_events SET outcome = 'fail', error_code = 'E7' WHERE id % 89 = 0");
      await p.db.query('DELETE FROM connection_events WHERE id % 101 = 0');
      await p.db.query(
        'DELETE FROM users WHERE id = (SELECT u.id FROM users u WHERE u.deleted_at IS NULL AND EXISTS (SELECT 1 FROM devices d WHERE d.user_id = u.id) ORDER BY u.id DESC LIMIT 1)',
      );
      const child = spawn(process.execPath, [BIN, ...demoSyncArgs(p, url, '--mode', 'cdc')], {
        stdio: 'ignore',
      });
      const t = setTimeout(() => child.kill('SIGKILL'), 500 + Math.random() * 2000);
      await new Promise((r) => child.once('exit', r));
      clearTimeout(t);
      for (const store of [url, duck]) {
        const r = await cdc(store, '--json');
        expect(r.code, r.stderr).toBe(0);
      }
      await expectSameStores(url, duck, file, 'day', [
        'connection_attempts',
        'connection_failure_rate',
        'active_devices',
      ]);
    });
  });
}
