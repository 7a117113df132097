#!/usr/bin/env node
// `npm start`: check the dashboard port first (before minutes of work), build only what changed,
// then run `fleetvault demo` with the arguments given after `npm start --`.
import { createServer } from 'node:net';
import { build } from './build.mjs';

const args = process.argv.slice(2);
const log = (line) => process.stdout.write(`${line}\n`);

function listenArg() {
  const i = args.indexOf('--listen');
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith('--listen='));
  return eq ? eq.slice('--listen='.length) : '127.0.0.1:8787';
}

/**
 * The same check `fleetvault demo` makes (src/server/port-check.ts) with the same code and
 * sentence; made here too so a busy port fails before a build, not after it.
 */
function portFree(text) {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text ?? '');
  if (!m || Number(m[3]) === 0) return Promise.resolve(true); // the CLI reports a bad --listen
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (e) => {
      if (e.code !== 'EADDRINUSE') return resolve(true); // other failures: the CLI names them
      process.stderr.write(
        `error FV_PORT_IN_USE: ${host}:${port} is already in use by another program; nothing was started\n` +
          '  how to solve: Stop the program that listens there (often an earlier `npm start` or `fleetvault serve` still running), or choose a free port: `npm start -- --listen 127.0.0.1:8788` (`--listen` for `fleetvault demo` and `serve`).\n',
      );
      resolve(false);
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

if (!args.includes('--no-serve') && !(await portFree(listenArg()))) {
  process.exitCode = 1;
} else {
  try {
    const built = await build({ log });
    if (built.length === 0) log('  build up to date (sources unchanged since the last build)');
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  const { main } = await import('../dist/src/cli/main.js');
  process.exitCode = await main([process.argv[0], 'fleetvault', 'demo', ...args]);
}
