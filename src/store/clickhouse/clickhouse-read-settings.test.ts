import { describe, expect, it } from 'vitest';
import { FvError } from '../../errors/index.ts';
import { clickHouseReadSettings, limitHit, READ_LIMITS, readonlyLevel } from './clickhouse-read-settings.ts';

describe('clickHouseReadSettings: the limits every ClickHouse read carries', () => {
  it('caps memory and rows on metric reads, and throws rather than cut an answer short', () => {
    expect(clickHouseReadSettings('metric', 2, {}, {})).toEqual({
      max_memory_usage: String(READ_LIMITS.metric.memoryBytes),
      max_result_rows: '1000000',
      result_overflow_mode: 'throw',
    });
  });

  it('caps analyst statements at their row cap + 1, their bytes and time, and breaks there', () => {
    expect(clickHouseReadSettings('analyst', 2, { maxRows: 50, timeoutMs: 1500 }, {})).toEqual({
      max_memory_usage: String(READ_LIMITS.analyst.memoryBytes),
      max_result_rows: '51',
      max_result_bytes: String(64 * 1024 ** 2),
      result_overflow_mode: 'break',
      max_execution_time: 2,
    });
  });

  it('adds readonly = 1 for a user that can write, and nothing a readonly = 2 user may not set', () => {
    expect(clickHouseReadSettings('metric', 0, {}, {}).readonly).toBe('1');
    expect('readonly' in clickHouseReadSettings('analyst', 2, {}, {})).toBe(false);
    expect(readonlyLevel('0', 'fv')).toBe(0);
    expect(readonlyLevel('2', 'fv_reader')).toBe(2);
    // readonly = 1 refuses every per-query setting, so no limit could be set: refused.
    expect(() => readonlyLevel('1', 'ro')).toThrow(/readonly = 1.*give its profile readonly = 2/);
  });

  it('takes FLEETVAULT_CLICKHOUSE_QUERY_MEMORY for both kinds, and ignores nonsense', () => {
    const env = { FLEETVAULT_CLICKHOUSE_QUERY_MEMORY: '67108864' };
    expect(clickHouseReadSettings('metric', 2, {}, env).max_memory_usage).toBe('67108864');
    expect(clickHouseReadSettings('analyst', 2, {}, env).max_memory_usage).toBe('67108864');
    expect(
      clickHouseReadSettings('metric', 2, {}, { FLEETVAULT_CLICKHOUSE_QUERY_MEMORY: '-1' }).max_memory_usage,
    ).toBe(String(READ_LIMITS.metric.memoryBytes));
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
