#!/usr/bin/env node
// Builds the CLI/server (tsc) and the dashboard (vite), each only when its inputs changed since
// the last build. The inputs' content is hashed into dist/.build-stamp.json after a successful
// build, so an unchanged checkout (or a second `npm start`) builds nothing; `--force` rebuilds.
// Plain JavaScript on purpose: it runs before anything is compiled.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const STAMP = join(ROOT, 'dist', '.build-stamp.json');

/** Each part: what it is built from, what proves it was built, and how to build it. */
const PARTS = [
  {
    name: 'server',
    label: 'the CLI and server (TypeScript)',
    inputs: ['src', 'bench', 'test/helpers', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'],
    output: 'dist/src/cli/main.js',
    // `tsc -b`: the project `npm run typecheck` (tsconfig.check.json) references, so whichever runs
    // first compiles and checks src/ once; the other finds it up to date. A typecheck therefore
    // writes dist/ too, without this script's stamp: the stamp holds the compiler's own state file
    // as well, so sources changed, typechecked (dist/ emitted) and changed back are built again
    // rather than found "unchanged" beside a dist/ of the version in between.
    state: 'dist/.tsbuildinfo',
    command: [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'tsconfig.build.json'],
  },
  {
    name: 'web',
    label: 'the dashboard (Vite)',
    inputs: ['web', 'vite.config.web.ts', 'tsconfig.web.json', 'package.json', 'package-lock.json'],
    output: 'dist/web/index.html',
    command: [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'vite.config.web.ts'],
  },
];

function walk(path, out) {
  if (!existsSync(path)) return;
  const entries = readdirSync(path, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    const p = join(path, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && !e.name.startsWith('.')) walk(p, out);
    } else if (e.isFile()) out.push(p);
  }
}

/** A hash of every input file's path and content (content, not mtime: a checkout changes mtimes). */
export function inputHash(inputs) {
  const h = createHash('sha256');
  for (const input of inputs) {
    const files = [];
    const abs = join(ROOT, input);
    if (!existsSync(abs)) continue;
    if (readdirSafe(abs)) walk(abs, files);
    else files.push(abs);
    for (const f of files) {
      h.update(relative(ROOT, f));
      h.update('\0');
      h.update(readFileSync(f));
      h.update('\0');
    }
  }
  return h.digest('hex');
}

/** A part's stamp: its inputs' hash, and for a part with one, its compiler's state file's. */
function stamped(hash, part) {
  if (!part.state) return hash;
  const state = join(ROOT, part.state);
  const of = existsSync(state) ? createHash('sha256').update(readFileSync(state)).digest('hex') : 'none';
  return `${hash}:${of}`;
}

function readdirSafe(p) {
  try {
    readdirSync(p);
    return true;
  } catch {
    return false;
  }
}

function readStamp() {
  try {
    return JSON.parse(readFileSync(STAMP, 'utf8'));
  } catch {
    return {};
  }
}

/** Runs one build step, with a ticking line on a terminal and a line every 10 s otherwise. */
function run(label, command, log) {
  const started = Date.now();
  const tty = process.stderr.isTTY === true;
  log(`  building ${label} …`);
  const timer = setInterval(() => {
    const s = Math.round((Date.now() - started) / 1000);
    if (tty) process.stderr.write(`\r    ${s} s`);
    else if (s % 10 === 0) log(`    still building ${label} (${s} s)`);
  }, 1000);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, command, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(timer);
      if (tty) process.stderr.write('\r\x1b[2K');
      if (code === 0) {
        log(`  built ${label} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        resolve();
      } else reject(new Error(`building ${label} failed (exit ${code}); the compiler's messages are above`));
    });
  });
}

/**
 * Builds what changed. Resolves to the names of the parts built (empty: everything up to date).
 * @param {{ force?: boolean, log?: (line: string) => void }} opts
 */
export async function build(opts = {}) {
  const log = opts.log ?? ((line) => process.stdout.write(`${line}\n`));
  const stamp = readStamp();
  const built = [];
  for (const part of PARTS) {
    const hash = inputHash(part.inputs);
    const fresh = stamp[part.name] === stamped(hash, part) && existsSync(join(ROOT, part.output));
    if (fresh && !opts.force) continue;
    await run(part.label, opts.force && part.name === 'server' ? [...part.command, '--force'] : part.command, log);
    stamp[part.name] = stamped(hash, part);
    mkdirSync(dirname(STAMP), { recursive: true });
    writeFileSync(STAMP, `${JSON.stringify(stamp, null, 2)}\n`);
    built.push(part.name);
  }
  return built;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const force = process.argv.includes('--force');
  const quiet = process.argv.includes('--quiet');
  try {
    const built = await build({ force, log: quiet ? () => {} : undefined });
    if (built.length === 0 && !quiet) process.stdout.write('  build up to date (sources unchanged since the last build)\n');
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  }
}
