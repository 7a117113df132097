// End to end: running fleetvault as a service. The shipped systemd unit's command serves and syncs
// on a schedule; its /metrics passes `promtool check metrics` and a real Prometheus scrapes it
// (per-table sync series, stable labels, counts that add up); every scheduled sync and probe run
// is one JSON log line; the shipped cron job syncs, logs, adds up and never runs twice at once.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Canaries, canaryValues } from '../src/sim/index.ts';
import { BIN, exited, runCli } from './helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/pg.ts';
import { freePort } from './services/free-port.ts';
import { startPrometheus } from './services/prometheus.ts';

const ROOT = join(import.meta.dirname, '..');
const TABLES = [
  'users',
  'devices',
  'device_shares',
  'app_sessions',
  'integrations',
  'connection_events',
  'scale_measurements',
];

interface TableCounts {
  table: string;
  rowsRead: number;
  rowsWritten: number;
  rowsDeleted: number;
  rowsBlocked: number;
  quarantined: Array<{ rows: number }>;
}

function addsUp(t: TableCounts): boolean {
  const q = t.quarantined.reduce((n, x) => n + x.rows, 0);
  return t.rowsRead === t.rowsWritten + t.rowsDeleted + q + t.rowsBlocked;
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}) {
  return spawnSync(cmd, args, {
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
}

describe('operations', () => {
  let db: TestDatabase;
  let dir: string;
  let home: string;
  let etc: string;
  let canaries: string[];

  beforeAll(async () => {
    db = await createTestDatabase('fv_ops');
    dir = mkdtempSync(join(tmpdir(), 'fv-ops-'));
    home = join(dir, 'var-lib');
    etc = join(dir, 'etc');
    mkdirSync(home, { mode: 0o700 });
    mkdirSync(etc, { mode: 0o700 });
    const sim = await runCli([
      'simulate',
      '--source',
      db.url,
      '--users',
      '2000',
      '--days',
      '3',
      '--canaries',
      join(dir, 'canaries.json'),
    ]);
    expect(sim.code, sim.stderr).toBe(0);
    canaries = canaryValues(JSON.parse(readFileSync(join(dir, 'canaries.json'), 'utf8')) as Canaries);
    for (const f of ['fleetvault.policy.yaml', 'fleetvault.metrics.yaml'])
      copyFileSync(join(ROOT, 'examples', 'demo', f), join(etc, f));
    expect((await runCli(['init', '--key-file', join(etc, 'master.key')])).code).toBe(0);
    writeFileSync(join(etc, 'env'), `FLEETVAULT_SOURCE=${db.url}\n`, { mode: 0o600 });
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('cron: the shipped job syncs, logs one JSON result per run whose counts add up, and skips while one runs', async () => {
    const line = readFileSync(join(ROOT, 'examples', 'cron', 'fleetvault.cron'), 'utf8')
      .split('\n')
      .find((l) => /^[*\d]/.test(l)) as string;
    const [schedule, user, command] = [
      line.split(/\s+/).slice(0, 5),
      line.split(/\s+/)[5],
      line.split(/\s+/).slice(6),
    ];
    expect(schedule).toEqual(['*/15', '*', '*', '*', '*']);
    expect(user).toBe('fleetvault');
    expect(command.at(-1)).toMatch(/examples\/cron\/fleetvault-sync\.sh$/);
    const script = join(ROOT, 'examples', 'cron', 'fleetvault-sync.sh');
    const env = { FV_HOME: home, FV_ETC: etc, FLEETVAULT: BIN, FV_STORE: join(home, 'cron.duckdb') };
    const log = join(home, 'sync.jsonl');

    expect(run(script, [], { env }).status).toBe(0);
    await db.query(
      'UPDATE users SET deleted_at = now(), updated_at = now() WHERE id = 7 AND deleted_at IS NULL',
    );
    await db.query('UPDATE users SET country = $1, updated_at = now() WHERE id = 8', ['IS']);
    expect(run(script, [], { env }).status).toBe(0);
    const runs = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ok: boolean; tables: TableCounts[] });
    expect(runs).toHaveLength(2);
    for (const r of runs) {
      expect(r.ok).toBe(true);
      expect(r.tables.map((t) => t.table).sort()).toEqual([...TABLES].sort());
      for (const t of r.tables) expect(addsUp(t), JSON.stringify(t)).toBe(true);
    }
    // The soft-deleted user is read, counted as deleted, and not written.
    const users = runs[1]?.tables.find((t) => t.table === 'users') as TableCounts;
    expect(users).toMatchObject({ rowsRead: 2, rowsWritten: 1, rowsDeleted: 1 });
    expect(runs[1]?.tables.find((t) => t.table === 'connection_events')?.rowsRead).toBe(0);

    // A run still going holds the lock: the next one is skipped with exit 75, nothing logged.
    const holder = spawn('flock', [join(home, 'sync.lock'), 'sleep', '10'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 500));
    try {
      expect(run(script, [], { env }).status).toBe(75);
    } finally {
      holder.kill();
    }
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(2);
    const text = readFileSync(log, 'utf8');
    for (const c of canaries) expect(text.includes(c), c).toBe(false);
  });

  it('systemd: the unit verifies; its command serves, syncs on schedule, logs JSON, and a real Prometheus scrapes per-table series', async () => {
    const port = await freePort();
    const unitText = readFileSync(join(ROOT, 'examples', 'systemd', 'fleetvault.service'), 'utf8')
      .replaceAll('/var/lib/fleetvault', home)
      .replaceAll('/etc/fleetvault', etc)
      .replaceAll('/usr/local/bin/fleetvault', BIN)
      .replace('127.0.0.1:8787', `127.0.0.1:${port}`)
      .replace('--sync-every 15m', '--sync-every 10s')
      .replace('--probe-every 5m', '--probe-every 2s');
    const unit = join(dir, 'fleetvault.service');
    writeFileSync(unit, unitText);
    const verify = run('systemd-analyze', ['verify', unit]);
    expect(verify.status, verify.stderr).toBe(0);
    const exec = /^ExecStart=(.+)$/m.exec(unitText)?.[1]?.split(' ') as string[];
    const env = Object.fromEntries(
      readFileSync(join(etc, 'env'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const token = await runCli([
      'tokens',
      'create',
      '--role',
      'viewer',
      '--name',
      'prometheus',
      '--expires',
      'never',
      '--state-dir',
      join(home, 'state'),
      '--json',
    ]);
    expect(token.code, token.stderr).toBe(0);
    const bearer = (JSON.parse(token.stdout) as { token: string }).token;

    const serve = spawn(process.execPath, exec, {
      cwd: home,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    serve.stdout.on('data', (d) => {
      stdout += d;
    });
    serve.stderr.on('data', (d) => {
      stderr += d;
    });
    const prometheus = await startPrometheus({ host: `127.0.0.1:${port}`, token: bearer });
    try {
      const deadline = Date.now() + 120_000;
      while (!stdout.includes('fleetvault dashboard on')) {
        if (serve.exitCode !== null || Date.now() > deadline)
          throw new Error(`serve did not start: ${stderr}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      // A scheduled sync after the first: wait for the second sync log line.
      await db.query(
        'UPDATE users SET deleted_at = now(), updated_at = now() WHERE id = 9 AND deleted_at IS NULL',
      );
      while ((stdout.match(/"event":"sync"/g) ?? []).length < 2) {
        if (serve.exitCode !== null || Date.now() > deadline) throw new Error(`no second sync: ${stderr}`);
        await new Promise((r) => setTimeout(r, 500));
      }

      const exposition = await (
        await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${bearer}` } })
      ).text();
      const check = run('promtool', ['check', 'metrics'], { input: exposition });
      expect(check.status, check.stdout + check.stderr).toBe(0);
      expect((check.stdout + check.stderr).trim()).toBe('');
      expect(exposition).not.toMatch(/week="/);
      for (const c of canaries) expect(exposition.includes(c), c).toBe(false);
      const rules = run('promtool', [
        'check',
        'rules',
        join(ROOT, 'examples', 'systemd', 'fleetvault.rules.yml'),
      ]);
      expect(rules.status, rules.stdout + rules.stderr).toBe(0);

      // The real scrape: per-table series, up, and outcomes that add up to the rows read.
      let read: Awaited<ReturnType<typeof prometheus.query>> = [];
      while (read.length < TABLES.length) {
        if (Date.now() > deadline) throw new Error('prometheus never scraped the sync series');
        await new Promise((r) => setTimeout(r, 1000));
        read = await prometheus.query('fleetvault_sync_rows_read_total');
      }
      expect(read.map((s) => s.metric.table).sort()).toEqual([...TABLES].sort());
      expect((await prometheus.query('up{job="fleetvault"}'))[0]?.value[1]).toBe('1');
      const diff = await prometheus.query(
        'fleetvault_sync_rows_read_total - on(table) sum by (table) (fleetvault_sync_rows_total)',
      );
      expect(diff).toHaveLength(TABLES.length);
      for (const s of diff) expect(s.value[1], s.metric.table).toBe('0');
      const success = await prometheus.query('fleetvault_sync_table_last_success_timestamp_seconds');
      expect(success.map((s) => s.metric.table).sort()).toEqual([...TABLES].sort());
      const deleted = await prometheus.query('fleetvault_sync_rows_total{table="users",outcome="deleted"}');
      expect(Number(deleted[0]?.value[1])).toBeGreaterThanOrEqual(1);
      expect(
        Number(
          (await prometheus.query('fleetvault_sync_runs_total{mode="cursor",result="ok"}'))[0]?.value[1],
        ),
      ).toBeGreaterThanOrEqual(2);
      expect(await prometheus.query('fleetvault_metric_latest_week_value')).not.toHaveLength(0);
      // No label grows with time: nothing carries a week.
      expect(await prometheus.query('{__name__=~"fleetvault_.+", week!=""}')).toHaveLength(0);

      // One JSON line per scheduled sync and per probe run, on stdout.
      const events = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { event: string; level: string; ok: boolean; tables?: unknown[] });
      const syncs = events.filter((e) => e.event === 'sync');
      expect(syncs.length).toBeGreaterThanOrEqual(2);
      for (const s of syncs) {
        expect(s).toMatchObject({ level: 'info', ok: true });
        for (const t of s.tables as Array<{
          read: number;
          written: number;
          deleted: number;
          quarantined: number;
          blocked: number;
        }>)
          expect(t.read).toBe(t.written + t.deleted + t.quarantined + t.blocked);
      }
      expect(events.some((e) => e.event === 'probe' && e.ok === true)).toBe(true);
      for (const c of canaries) expect(stdout.includes(c) || stderr.includes(c), c).toBe(false);
    } finally {
      serve.kill('SIGTERM');
      await exited(serve);
      await prometheus.stop();
    }
  }, 240_000);
});
