import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readAhead } from './read-ahead.ts';

function source(items: number[], log: string[], failAt = -1) {
  return (async function* () {
    try {
      for (const [i, x] of items.entries()) {
        if (i === failAt) throw new Error('read failed');
        log.push(`read ${x}`);
        await new Promise((r) => setImmediate(r));
        yield x;
      }
    } finally {
      log.push('closed');
    }
  })();
}

describe('readAhead', () => {
  it('yields every item in order, reading at most one ahead (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer(), { maxLength: 20 }), async (items) => {
        const log: string[] = [];
        const seen: number[] = [];
        for await (const x of readAhead(source(items, log))) {
          seen.push(x);
          const reads = log.filter((l) => l.startsWith('read')).length;
          expect(reads).toBeLessThanOrEqual(seen.length + 1);
          await new Promise((r) => setImmediate(r));
        }
        expect(seen).toEqual(items);
        expect(log.at(-1)).toBe('closed');
      }),
      { numRuns: 50 },
    );
  });

  it('closes the source when the caller stops early, and passes a read failure on', async () => {
    const log: string[] = [];
    for await (const x of readAhead(source([1, 2, 3, 4], log))) if (x === 2) break;
    expect(log.at(-1)).toBe('closed');
    expect(log).not.toContain('read 4');
    const failing = async () => {
      for await (const _ of readAhead(source([1, 2, 3], [], 2))) await new Promise((r) => setTimeout(r, 5));
    };
    await expect(failing()).rejects.toThrow('read failed');
  });
});
