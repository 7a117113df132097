import { describe, expect, it } from 'vitest';
import { routedColumn } from './clickhouse-store.ts';

describe('routedColumn', () => {
  it('reads the routing column of a Distributed table as 18.16 and current servers print it', () => {
    const engine = (key: string) => `Distributed(fv, currentDatabase(), devices__fv_local, ${key})`;
    expect(routedColumn(engine('cityHash64(ifNull(toString(user_id), toString(id)))'))).toBe('user_id');
    expect(routedColumn(engine('cityHash64(toString(id))'))).toBe('id');
    expect(
      routedColumn(
        "Distributed('fv', currentDatabase(), 'e__fv_local', cityHash64(ifNull(toString(device_id), toString(id))))",
      ),
    ).toBe('device_id');
    expect(routedColumn(engine('cityHash64(ifNull(toString(`odd \\`name`), toString(id)))'))).toBe(
      'odd `name',
    );
  });

  it('knows no column for any other routing: a composite key, random', () => {
    expect(
      routedColumn(
        "Distributed(fv, currentDatabase(), t__fv_local, cityHash64(concat(toString(a), '|', toString(b))))",
      ),
    ).toBeUndefined();
    expect(
      routedColumn('Distributed(fv, currentDatabase(), _fv_rollup_1__fv_local, rand())'),
    ).toBeUndefined();
    expect(routedColumn('MergeTree ORDER BY id')).toBeUndefined();
  });
});
