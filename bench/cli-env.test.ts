import { afterEach, describe, expect, it } from 'vitest';
import { cliEnv } from './cli-env.ts';

describe('cliEnv', () => {
  const before = process.env.MALLOC_ARENA_MAX;
  afterEach(() => {
    if (before === undefined) delete process.env.MALLOC_ARENA_MAX;
    else process.env.MALLOC_ARENA_MAX = before;
  });

  it("reads the allocator settings from the CLI's shell line, keeping a value this process has", () => {
    delete process.env.MALLOC_ARENA_MAX;
    expect(cliEnv()).toMatchObject({
      MALLOC_ARENA_MAX: '2',
      MALLOC_MMAP_THRESHOLD_: expect.stringMatching(/^\d+$/),
      MALLOC_TRIM_THRESHOLD_: expect.stringMatching(/^\d+$/),
      PATH: process.env.PATH,
    });
    process.env.MALLOC_ARENA_MAX = '6';
    expect(cliEnv().MALLOC_ARENA_MAX).toBe('6');
  });
});
