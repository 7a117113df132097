import { describe, expect, it } from 'vitest';
import { retentionCutoff } from './sync-table.ts';

describe('retentionCutoff', () => {
  it('is the start of the UTC day `days` days ago, the same all day long', () => {
    const morning = retentionCutoff(30, new Date('2026-12-02T00:00:01Z'));
    const night = retentionCutoff(30, new Date('2026-12-02T23:59:59.999Z'));
    expect(morning.toISOString()).toBe('2026-11-02T00:00:00.000Z');
    expect(night).toEqual(morning);
    expect(retentionCutoff(0, new Date('2026-03-01T12:00:00Z')).toISOString()).toBe(
      '2026-03-01T00:00:00.000Z',
    );
    expect(retentionCutoff(1, new Date('2026-03-01T12:00:00Z')).toISOString()).toBe(
      '2026-02-28T00:00:00.000Z',
    );
  });
});
