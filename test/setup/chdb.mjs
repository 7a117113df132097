#!/usr/bin/env node
// chdb (ClickHouse 26.x embedded in a Node addon) for the tests that run the store's SQL on a
// current ClickHouse: ~550 MB, so not a dependency of fleetvault. It is installed with npm into a
// cache folder of its own when absent (FV_CHDB_DIR, else ~/.cache/fleetvault/chdb-<version>),
// once per machine; the tests load it from there. Run by the tests' global setup (every
// `vitest run`, so `npm test`) and by hand: `node test/setup/chdb.mjs`. If it cannot be
// installed, the run stops here with the reason: no test is skipped for want of it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CHDB_VERSION = '3.4.0';

/** The folder chdb is installed in: its node_modules holds chdb and its native library. */
export function chdbDir() {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return process.env.FV_CHDB_DIR || join(cache, 'fleetvault', `chdb-${CHDB_VERSION}`);
}

function installed(dir) {
  const pkg = join(dir, 'node_modules', 'chdb', 'package.json');
  if (!existsSync(pkg)) return false;
  if (JSON.parse(readFileSync(pkg, 'utf8')).version !== CHDB_VERSION) return false;
  // The native library is an optional dependency: npm leaves it out on a platform it does not fit.
  return existsSync(
    join(dir, 'node_modules', '@chdb', `lib-${process.platform}-${process.arch}-gnu`, 'libchdb.so'),
  );
}

/** Installs chdb into `chdbDir()` unless it is there; resolves to the folder, or throws why not. */
export function ensureChdb() {
  const dir = chdbDir();
  if (installed(dir)) return dir;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'fleetvault-chdb', private: true })}\n`);
  const r = spawnSync(
    'npm',
    ['install', '--no-audit', '--no-fund', '--no-save', '--loglevel=error', `chdb@${CHDB_VERSION}`],
    { cwd: dir, encoding: 'utf8' },
  );
  if (r.status !== 0 || !installed(dir)) {
    throw new Error(
      `chdb ${CHDB_VERSION} could not be installed into ${dir} (npm exit ${r.status}): ${(r.stderr || r.stdout || '').trim().slice(-600)}; the ClickHouse 26 tests need it (Linux x64 or arm64 with glibc)`,
    );
  }
  return dir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(`chdb ${CHDB_VERSION} in ${ensureChdb()}\n`);
  } catch (error) {
    process.stderr.write(`npm test: ${error.message}\n`);
    process.exit(1);
  }
}
