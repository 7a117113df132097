import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AuditLog } from '../audit/index.ts';
import type { MetricAnswer } from '../metrics/index.ts';
import { StoreHandle } from '../server/index.ts';
import type { Output } from './output.ts';
import { startSyncSchedule } from './scheduled-sync.ts';

afterEach(() => {
  vi.useRealTimers();
});

/** A reader that answers at once; the handle over it, and what happened, in order. */
async function handle(events: string[]): Promise<StoreHandle> {
  const reader = {
    k: 5,
    list: () => [],
    query: async () => {
      events.push('answered');
      return { groups: [], totals: [] } as unknown as MetricAnswer;
    },
    budgetOf: async () => null,
    exactQuestion: async () => {
      throw new Error('not asked');
    },
    exact: async () => {
      throw new Error('not asked');
    },
    sql: async () => {
      throw new Error('not asked');
    },
    storeStatus: async () => ({}),
    close: () => {},
  };
  return StoreHandle.create(async () => reader);
}

const audit = { append: () => {} } as unknown as AuditLog;
const out = { log: () => {}, warn: () => {} } as unknown as Output;

describe('serve --sync-every', () => {
  it('skips a tick while the last sync runs: syncs longer than the interval never queue up, and a request waits for one sync at most', async () => {
    vi.useFakeTimers();
    const events: string[] = [];
    const metrics = await handle(events);
    let running = 0;
    let overlapped = false;
    let syncs = 0;
    // Each sync takes 3.5 intervals.
    const syncOnce = async () => {
      overlapped ||= running > 0;
      running++;
      syncs++;
      events.push(`sync ${syncs}`);
      await new Promise((r) => setTimeout(r, 350));
      running--;
    };
    const timer = startSyncSchedule(metrics, syncOnce, 100, { audit, out }, undefined);
    try {
      // A request while the first sync runs, then one after many ticks.
      await vi.advanceTimersByTimeAsync(150);
      await Promise.all([metrics.query({} as never), vi.advanceTimersByTimeAsync(400)]);
      expect(events.slice(0, 2)).toEqual(['sync 1', 'answered']);
      await vi.advanceTimersByTimeAsync(1500);
      const before = events.length;
      let answered = false;
      const asked = metrics.query({} as never).then(() => {
        answered = true;
      });
      while (!answered) await vi.advanceTimersByTimeAsync(100);
      await asked;
      expect(overlapped).toBe(false);
      // Answered right after the sync it came during at most, before the next one starts.
      expect(events.slice(before).filter((e) => e.startsWith('sync')).length).toBeLessThanOrEqual(1);
      // About 2,000 ms of ticks every 100 ms, syncs of 350 ms: a sync per 4 ticks, none queued.
      expect(syncs).toBeLessThanOrEqual(7);
    } finally {
      clearInterval(timer);
      await vi.advanceTimersByTimeAsync(1000);
      metrics.close();
    }
  });
});
