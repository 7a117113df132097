import { describe, expect, it } from 'vitest';
import { retentionCutoff, syncReleaseBytes } from './sync-table.ts';

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

describe('FLEETVAULT_SYNC_RELEASE_MB', () => {
  it('is a number of MiB, 0 or more, or a usage error naming it', () => {
    expect(syncReleaseBytes({})).toBe(400 * 2 ** 20);
    expect(syncReleaseBytes({ FLEETVAULT_SYNC_RELEASE_MB: '' })).toBe(400 * 2 ** 20);
    expect(syncReleaseBytes({ FLEETVAULT_SYNC_RELEASE_MB: '0' })).toBe(0);
    expect(syncReleaseBytes({ FLEETVAULT_SYNC_RELEASE_MB: '256' })).toBe(256 * 2 ** 20);
    expect(syncReleaseBytes({ FLEETVAULT_SYNC_RELEASE_MB: '1.5' })).toBe(1.5 * 2 ** 20);
    for (const bad of ['-1', 'lots', ' ', '1e400', 'NaN', '400MB'])
      expect(() => syncReleaseBytes({ FLEETVAULT_SYNC_RELEASE_MB: bad })).toThrow(
        expect.objectContaining({
          code: 'FV_USAGE',
          message: expect.stringContaining('FLEETVAULT_SYNC_RELEASE_MB'),
        }),
      );
  });
});
