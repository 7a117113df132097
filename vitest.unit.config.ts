import { defineConfig } from 'vitest/config';

// `npm run test:unit`: the tests beside the code, which need no service. The script builds first
// (nothing to do when dist/ is current): the analyst SQL sandbox runs its worker from dist/.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'bench/**/*.test.ts'],
    setupFiles: ['test/setup/fail-on-console.ts'],
    // A loaded 2-core machine stretches the store-backed unit tests past vitest's 5 s default.
    testTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    // The DuckDB compiler-equivalence property test runs a spread sample of its comparisons here
    // (all 384 per seed in `npm test`), so this quick run stays quick.
    env: { FV_PROPERTY_RUNS: '24' },
  },
});
