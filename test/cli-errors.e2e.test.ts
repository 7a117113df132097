// End to end: the CLI error table. Every mistake a user can make in configuration (a URL, a
// password, a file, a folder, a port) ends in one catalog code, a message and a "how to solve"
// sentence; never a bare driver code or an "unexpected" error, never the password given.
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOG, type FvCode } from '../src/errors/index.ts';
import { type CliRun, runCli } from './helpers/cli.ts';
import { createTestDatabase, PG_HOST, PG_PORT, type TestDatabase } from './helpers/pg.ts';
import { PASSWORD_ROLE } from './services/pg-cluster.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEMO_POLICY = join(ROOT, 'examples', 'demo', 'fleetvault.policy.yaml');
const WRONG_PASSWORD = 'Wr0ng-Passw0rd-canary';

function runNode(script: string, args: string[], cwd: string): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the CLI error table', () => {
  let db: TestDatabase;
  let dir: string;
  let busy: Server;
  let busyPort: number;

  beforeAll(async () => {
    db = await createTestDatabase('fv_errors');
    await db.query(`DROP ROLE IF EXISTS ${PASSWORD_ROLE}`);
    await db.query(`CREATE ROLE ${PASSWORD_ROLE} LOGIN PASSWORD 'the-right-password'`);
    db.roles.push(PASSWORD_ROLE);
    dir = mkdtempSync(join(tmpdir(), 'fv-errors-'));
    copyFileSync(DEMO_POLICY, join(dir, 'policy.yaml'));
    writeFileSync(join(dir, 'broken.yaml'), 'version: 1\ntables: [\n');
    writeFileSync(
      join(dir, 'unreviewed.yaml'),
      readFileSync(DEMO_POLICY, 'utf8').replace(/^reviewed: true$/m, 'reviewed: false'),
    );
    execFileSync(process.execPath, [
      join(ROOT, 'bin', 'fleetvault.js'),
      'init',
      '--key-file',
      join(dir, 'k'),
    ]);
    copyFileSync(join(dir, 'k'), join(dir, 'open.key'));
    chmodSync(join(dir, 'open.key'), 0o644);
    writeFileSync(join(dir, 'a-file'), 'not a folder\n');
    writeFileSync(join(dir, 'cert.pem'), 'not a certificate\n');
    busy = createServer();
    await new Promise<void>((r) => busy.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    busyPort = (busy.address() as { port: number }).port;
  });

  afterAll(async () => {
    busy?.close();
    await db?.drop();
  });

  /** `serve` with the demo metrics, syncing every `interval`. */
  const serveSyncing = (interval: string) => [
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--metrics',
    join(ROOT, 'examples', 'demo', 'fleetvault.metrics.yaml'),
    '--sync-every',
    interval,
  ];

  const sync = (source: string, more: string[] = []) => [
    'sync',
    '--source',
    source,
    '--policy',
    join(dir, 'policy.yaml'),
    '--store',
    join(dir, 'store.duckdb'),
    '--key-file',
    join(dir, 'k'),
    '--state-dir',
    join(dir, 'state'),
    ...more,
  ];

  /** [what the user did, the arguments (or a runner), the code expected] */
  const cases: Array<[string, () => string[], FvCode]> = [
    [
      'a wrong password',
      () => sync(`postgres://${PASSWORD_ROLE}:${WRONG_PASSWORD}@${PG_HOST}:${PG_PORT}/${db.name}`),
      'FV_SOURCE_AUTH',
    ],
    [
      'a role that does not exist',
      () => sync(`postgres://fv_no_such_role@${PG_HOST}:${PG_PORT}/${db.name}`),
      'FV_SOURCE_AUTH',
    ],
    [
      'a missing database',
      () => sync(`postgres://postgres@${PG_HOST}:${PG_PORT}/fv_no_such_db`),
      'FV_SOURCE_DATABASE',
    ],
    ['an unknown host', () => sync('postgres://postgres@no-such-host.invalid:5432/prod'), 'FV_SOURCE_HOST'],
    ['a mysql:// URL', () => sync('mysql://root@127.0.0.1:3306/prod'), 'FV_SOURCE_URL'],
    ['a server that is not up', () => sync('postgres://postgres@127.0.0.1:1/prod'), 'FV_SOURCE_UNREACHABLE'],
    ['no source at all', () => ['sync', ...sync('').slice(3)], 'FV_USAGE'],
    [
      'a missing policy file',
      () => ['sync', '--source', 'postgres://postgres@127.0.0.1:1/prod', '--policy', join(dir, 'nope.yaml')],
      'FV_POLICY_MISSING',
    ],
    [
      'a policy that is not YAML',
      () => sync(db.url).map((a) => (a.endsWith('policy.yaml') ? join(dir, 'broken.yaml') : a)),
      'FV_POLICY_MALFORMED',
    ],
    [
      'an unreviewed policy',
      () => sync(db.url).map((a) => (a.endsWith('policy.yaml') ? join(dir, 'unreviewed.yaml') : a)),
      'FV_POLICY_UNREVIEWED',
    ],
    [
      'a missing key file',
      () => sync(db.url).map((a) => (a === join(dir, 'k') ? join(dir, 'no.key') : a)),
      'FV_KEY_FILE_MISSING',
    ],
    [
      'a key file others can read',
      () => sync(db.url).map((a) => (a === join(dir, 'k') ? join(dir, 'open.key') : a)),
      'FV_KEY_FILE_INSECURE',
    ],
    ['init over an existing key', () => ['init', '--key-file', join(dir, 'k')], 'FV_INIT_EXISTS'],
    [
      'a missing metrics file',
      () => ['metrics', 'list', '--metrics', join(dir, 'nope.yaml')],
      'FV_METRICS_MISSING',
    ],
    [
      'sql on a store never synced',
      () => ['sql', '--store', join(dir, 'none.duckdb'), 'SELECT 1'],
      'FV_STORE_MISSING',
    ],
    [
      'a metric on a store never synced',
      () => [
        'metrics',
        'query',
        'activations',
        '--store',
        join(dir, 'none.duckdb'),
        '--metrics',
        join(ROOT, 'examples', 'demo', 'fleetvault.metrics.yaml'),
      ],
      'FV_STORE_MISSING',
    ],
    [
      "a metric filter written with ':' (the API's form) on the CLI",
      () => [
        'metrics',
        'query',
        'activations',
        '--filter',
        'region:eu-west',
        '--store',
        join(dir, 'none.duckdb'),
        '--metrics',
        join(ROOT, 'examples', 'demo', 'fleetvault.metrics.yaml'),
      ],
      'FV_METRIC_QUERY',
    ],
    [
      'a ClickHouse password in the URL',
      () => ['sql', '--store', `clickhouse://fv:${WRONG_PASSWORD}@127.0.0.1:1/fv`, 'SELECT 1'],
      'FV_SECRET_IN_URL',
    ],
    [
      'a state folder under a file',
      () => ['tokens', 'list', '--state-dir', join(dir, 'a-file', 'state')],
      'FV_STATE_DIR',
    ],
    ['a busy port for serve', () => ['serve', '--listen', `127.0.0.1:${busyPort}`], 'FV_PORT_IN_USE'],
    [
      'a busy port for the demo',
      () => ['demo', '--dir', join(dir, 'demo'), '--listen', `127.0.0.1:${busyPort}`],
      'FV_PORT_IN_USE',
    ],
    ['plain HTTP beyond loopback', () => ['serve', '--listen', '0.0.0.0:8787'], 'FV_LISTEN_INSECURE'],
    [
      'an address this machine does not have',
      () => [
        'serve',
        '--listen',
        '192.0.2.1:8787',
        '--tls-cert',
        join(dir, 'cert.pem'),
        '--tls-key',
        join(dir, 'cert.pem'),
      ],
      'FV_LISTEN_UNAVAILABLE',
    ],
    ['a sync interval that is not one', () => serveSyncing('often'), 'FV_USAGE'],
  ];

  it.each(cases)('%s: one catalog code and what to do', async (_what, args, code) => {
    const r = await runCli(args(), { cwd: dir, env: { FLEETVAULT_SOURCE: '' } });
    expect(r.code, r.stdout + r.stderr).toBe(ERROR_CATALOG[code].exit);
    expect(r.stderr).toContain(`error ${code}: `);
    expect(r.stderr).toContain(`how to solve: ${ERROR_CATALOG[code].solve}`);
    expect(r.stderr).not.toContain('unexpected');
    expect(r.stdout + r.stderr).not.toContain(WRONG_PASSWORD);
  });

  it('a bad FLEETVAULT_SYNC_RELEASE_MB stops sync before it reads the source or creates the store, and serve --sync-every before it listens', async () => {
    const store = join(dir, 'release.duckdb');
    const args = sync('postgres://postgres@127.0.0.1:1/prod').map((a) =>
      a === join(dir, 'store.duckdb') ? store : a,
    );
    const r = await runCli(args, { cwd: dir, env: { FLEETVAULT_SYNC_RELEASE_MB: 'lots' } });
    expect(r.code, r.stdout + r.stderr).toBe(ERROR_CATALOG.FV_USAGE.exit);
    expect(r.stderr).toContain('error FV_USAGE: FLEETVAULT_SYNC_RELEASE_MB must be a number');
    expect(existsSync(store)).toBe(false);
    const serve = await runCli(serveSyncing('1h'), { cwd: dir, env: { FLEETVAULT_SYNC_RELEASE_MB: '-1' } });
    expect(serve.code, serve.stdout + serve.stderr).toBe(ERROR_CATALOG.FV_USAGE.exit);
    expect(serve.stderr).toContain('error FV_USAGE: FLEETVAULT_SYNC_RELEASE_MB must be a number');
  });

  it('npm start fails on a busy port before it builds anything', async () => {
    const r = await runNode(join(ROOT, 'scripts', 'start.mjs'), ['--listen', `127.0.0.1:${busyPort}`], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error FV_PORT_IN_USE: ');
    expect(r.stderr).toContain(`how to solve: ${ERROR_CATALOG.FV_PORT_IN_USE.solve}`);
    expect(r.stdout).not.toContain('build');
  });

  it('a build after a typecheck compiled other sources into dist/ builds again, not "unchanged"', async () => {
    // A copy of the project's build inputs (node_modules linked): a source changed, typechecked
    // (`tsc -b` emits into dist/ without the build's stamp), then changed back.
    const copy = mkdtempSync(join(tmpdir(), 'fv-build-'));
    for (const part of ['src', 'bench', 'test/helpers', 'web', 'scripts'])
      cpSync(join(ROOT, part), join(copy, part), { recursive: true });
    for (const file of [
      'tsconfig.json',
      'tsconfig.build.json',
      'tsconfig.web.json',
      'vite.config.web.ts',
      'package.json',
      'package-lock.json',
    ])
      copyFileSync(join(ROOT, file), join(copy, file));
    symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
    const build = () => runNode(join(copy, 'scripts', 'build.mjs'), [], copy);
    const source = join(copy, 'src', 'sync', 'erased-keys.ts');
    const emitted = join(copy, 'dist', 'src', 'sync', 'erased-keys.js');
    const original = readFileSync(source, 'utf8');
    try {
      expect((await build()).code).toBe(0);
      writeFileSync(source, `${original}\nexport const FV_BUILD_PROBE = 1;\n`);
      const tsc = await runNode(
        join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
        ['-b', 'tsconfig.build.json'],
        copy,
      );
      expect(tsc.code, tsc.stdout).toBe(0);
      expect(readFileSync(emitted, 'utf8')).toContain('FV_BUILD_PROBE');
      writeFileSync(source, original);
      const again = await build();
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain('building');
      expect(readFileSync(emitted, 'utf8')).not.toContain('FV_BUILD_PROBE');
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  }, 300_000);

  it('a second build builds nothing: the sources are hashed, not timed', async () => {
    await runNode(join(ROOT, 'scripts', 'build.mjs'), [], ROOT);
    const again = await runNode(join(ROOT, 'scripts', 'build.mjs'), [], ROOT);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('build up to date');
    expect(again.stdout).not.toContain('building');
  });
});
