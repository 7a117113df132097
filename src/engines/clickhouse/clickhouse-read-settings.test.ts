import { describe, expect, it } from 'vitest';
import { FvError } from '../../errors/index.ts';
import {
  limitHit,
  limitMessage,
  METRIC_READ_LIMITS,
  metricReadSettings,
  readonlyLevel,
} from './clickhouse-read-settings.ts';

describe('metricReadSettings: the limits every metric read on ClickHouse carries', () => {
  it('reads only, caps memory and rows, and throws rather than cut an answer short', () => {
    expect(metricReadSettings({})).toEqual({
      readonly: '1',
      max_memory_usage: String(METRIC_READ_LIMITS.memoryBytes),
      max_result_rows: '1000000',
      result_overflow_mode: 'throw',
    });
  });

  it('takes FLEETVAULT_CLICKHOUSE_QUERY_MEMORY, and ignores nonsense', () => {
    expect(metricReadSettings({ FLEETVAULT_CLICKHOUSE_QUERY_MEMORY: '67108864' }).max_memory_usage).toBe(
      '67108864',
    );
    expect(limitMessage('memory', { FLEETVAULT_CLICKHOUSE_QUERY_MEMORY: '67108864' })).toContain('64 MiB');
    for (const bad of ['-1', '1.5', 'lots'])
      expect(metricReadSettings({ FLEETVAULT_CLICKHOUSE_QUERY_MEMORY: bad }).max_memory_usage).toBe(
        String(METRIC_READ_LIMITS.memoryBytes),
      );
  });

  it('accepts a user that can write (it reads with readonly = 1) or a readonly = 2 one, and refuses readonly = 1', () => {
    expect(readonlyLevel('0', 'fv')).toBe(0);
    expect(readonlyLevel(undefined, 'fv')).toBe(0);
    expect(readonlyLevel('2', 'fv_reader')).toBe(2);
    // readonly = 1 refuses every per-query setting, so no limit could be set: refused.
    expect(() => readonlyLevel('1', 'ro')).toThrow(/readonly = 1.*give its profile readonly = 2/);
  });

  it('tells a limit from any other failure', () => {
    const said = (code: number) =>
      new FvError('FV_STORE_WRITE', `ClickHouse at h: compute x: Something (code ${code})`);
    expect(limitHit(said(241))).toBe('memory');
    expect(limitHit(said(396))).toBe('rows');
    expect(limitHit(said(159))).toBe('time');
    expect(limitHit(said(62))).toBeUndefined();
    expect(
      limitHit(new Error('Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded')),
    ).toBe('memory');
  });
});
