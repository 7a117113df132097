import { afterEach, beforeEach } from 'vitest';

// Library code never writes to the console: anything personal would slip into output unnoticed.
const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;
const calls: string[] = [];
const originals = new Map<string, (...args: unknown[]) => void>();

beforeEach(() => {
  calls.length = 0;
  for (const m of methods) {
    // biome-ignore lint/suspicious/noConsole: this setup is what enforces the rule in tests.
    originals.set(m, console[m]);
    console[m] = (...args: unknown[]) => {
      calls.push(`${m}: ${args.map(String).join(' ').slice(0, 200)}`);
    };
  }
});

afterEach(() => {
  for (const m of methods) console[m] = originals.get(m) as (typeof console)[typeof m];
  if (calls.length > 0) throw new Error(`unexpected console output:\n${calls.join('\n')}`);
});
