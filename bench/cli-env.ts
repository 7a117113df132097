import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The CLI's program file, from the compiled benchmark (dist/bench) or from its source (bench). */
const BIN = ['../../bin/fleetvault.js', '../bin/fleetvault.js']
  .map((p) => fileURLToPath(new URL(p, import.meta.url)))
  .find((p) => existsSync(p)) as string;

/**
 * The environment `fleetvault` gives Node when run as a program (bin/fleetvault.js's shell line:
 * glibc's allocator settings for long copies), over this process's own, so a stage run in a
 * process of its own copies, and its memory is measured, as the CLI's would be. Read from that
 * line, the one place the settings are made; a value this process has already is kept, as there.
 */
export function cliEnv(): NodeJS.ProcessEnv {
  const line = readFileSync(BIN, 'utf8').split('\n')[1] ?? '';
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const m of line.matchAll(/(\w+)="\$\{\1:-([^}]*)\}"/g)) env[m[1] as string] ??= m[2];
  return env;
}
