import { defineConfig } from 'vitest/config';

// `npm run test:unit`: the tests beside the code, which need no service and no build.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    setupFiles: ['test/setup/fail-on-console.ts'],
    pool: 'forks',
    maxWorkers: 2,
  },
});
