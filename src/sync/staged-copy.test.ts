import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FvError } from '../errors/index.ts';
import { resolveTransform, type Transform, type Value, type ValueKind } from '../policy/index.ts';
import { hmacPseudonymizer, PseudonymHasher, pseudonymThread, pseudonymToUuid } from '../privacy/index.ts';
import { keyFromBytes } from '../privacy/key-file.ts';
import {
  batchPseudonyms,
  csvBatches,
  generalizeSql,
  openStaging,
  pseudonymFunction,
  type SlotPseudonyms,
  STAGED_BATCH,
  STAGED_BYTES,
  stagedRowWidth,
  stagingFailure,
  transformFunction,
} from './staged-copy.ts';

const t = (spec: unknown) => resolveTransform(spec) as Transform;
let instance: DuckDBInstance;
let db: Awaited<ReturnType<DuckDBInstance['connect']>>;

beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:', { temp_directory: '' });
  db = await instance.connect();
});
afterAll(() => {
  db.closeSync();
  instance.closeSync();
});

/** The SQL of a transform over staged values, as the staged path would compute it. */
async function viaSql(tr: Transform, kind: ValueKind, values: Value[]): Promise<Value[]> {
  const type =
    kind === 'text' || kind === 'decimal'
      ? 'VARCHAR'
      : kind === 'float'
        ? 'DOUBLE'
        : kind === 'date' || kind === 'integer'
          ? 'INTEGER'
          : 'BIGINT';
  const lit = (v: Value) =>
    v === null
      ? 'NULL'
      : kind === 'text' || kind === 'decimal'
        ? `'${String(v).replaceAll("'", "''")}'`
        : kind === 'float'
          ? `'${String(v)}'::DOUBLE`
          : String(v);
  const list = values.map((v, i) => `(${i}, (${lit(v)})::${type})`).join(', ');
  const expr = generalizeSql(tr, 'x', kind) as string;
  const r = await db.runAndReadAll(`SELECT ${expr} FROM (VALUES ${list}) v(i, x) ORDER BY i`);
  return r.getRows().map((row) => {
    const v = row[0];
    if (v === null || v === undefined) return null;
    return typeof v === 'bigint' || typeof v === 'string' || typeof v === 'number' ? v : String(v);
  });
}

/** The row path's result in the same form (times as micros, dates as days, years as numbers). */
function viaJs(tr: Transform, kind: ValueKind, values: Value[]): Value[] {
  return values.map((v) => tr.apply(v, kind));
}

const same = (a: Value, b: Value) =>
  typeof a === 'bigint' || typeof b === 'bigint' ? String(a) === String(b) : a === b;

describe('staged path: generalizations in SQL equal the JavaScript transforms', () => {
  // Micros of years 1 to 9999 (the range the row path's Date arithmetic covers), pre-1970 included.
  const micros = fc.oneof(
    fc.bigInt({ min: -62_135_596_800_000_000n, max: 253_402_300_799_999_999n }),
    fc.bigInt({ min: -3n * 86_400_000_000n, max: 3n * 86_400_000_000n }),
  );
  const days = fc.oneof(fc.integer({ min: -719_162, max: 2_932_896 }), fc.integer({ min: -10, max: 10 }));

  for (const spec of ['hour', 'day', 'week', 'month', 'year'] as const) {
    for (const kind of ['timestamp', 'timestamptz', 'date'] as const) {
      const tr = t(spec);
      if (!tr.accepts(kind)) continue;
      it(`${spec} on ${kind} (property)`, async () => {
        const gen = kind === 'date' ? days : micros;
        const values = fc.sample(fc.option(gen as fc.Arbitrary<Value>, { freq: 20 }), 2_000) as Value[];
        const sql = await viaSql(tr, kind, values);
        const js = viaJs(tr, kind, values);
        values.forEach((v, i) => {
          if (!same(sql[i] as Value, js[i] as Value)) expect([v, sql[i]]).toEqual([v, js[i]]);
        });
      });
    }
  }

  it('bucket on integers, bigints, floats and decimals (property)', async () => {
    const tr = t({ bucket: [-90, -80.5, 0, 1e6] });
    for (const [kind, gen] of [
      ['integer', fc.integer()],
      ['bigint', fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n })],
      ['float', fc.oneof(fc.double({ noNaN: false }), fc.constantFrom(-90, -80.5, 0, 1e6, -80.50000001))],
      // PostgreSQL's text of a numeric, long decimals and its special values included.
      [
        'decimal',
        fc.oneof(
          fc
            .tuple(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.integer({ min: 0, max: 40 }))
            .map(([u, s]) => {
              const t = (u < 0n ? -u : u).toString().padStart(s + 1, '0');
              return `${u < 0n ? '-' : ''}${s === 0 ? t : `${t.slice(0, t.length - s)}.${t.slice(t.length - s)}`}`;
            }),
          fc.constantFrom(
            'NaN',
            'Infinity',
            '-Infinity',
            '-90',
            '-80.50',
            '-80.5000000000000000000001',
            '1000000.00',
          ),
        ),
      ],
    ] as const) {
      const values = fc.sample(fc.option(gen as fc.Arbitrary<Value>, { freq: 20 }), 2_000) as Value[];
      const sql = await viaSql(tr, kind, values);
      const js = viaJs(tr, kind, values);
      values.forEach((v, i) => {
        if (sql[i] !== js[i]) expect([v, sql[i]]).toEqual([v, js[i]]);
      });
    }
  });

  it('ip_prefix (IPv4 in SQL, the rest through the scalar function) equals the transform, NULL for what is no IP', async () => {
    const octet = fc.oneof(
      fc.integer({ min: 0, max: 255 }).map(String),
      fc.constantFrom('00', '01', '256', '1e2', ''),
    );
    const ips = fc.oneof(
      fc.tuple(octet, octet, octet, octet).map((p) => p.join('.')),
      fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 40 })).map(([ip, m]) => `${ip}/${m}`),
      fc.ipV4(),
      fc.ipV6(),
      fc.string({ maxLength: 20 }),
      fc.constantFrom(
        '10.0.0.1/32',
        '::1',
        'fe80::1%eth0',
        '1.2.3',
        '01.2.3.4',
        '1.2.3.4.',
        ' 1.2.3.4',
        '１.2.3.4',
        '1.2.3.4/',
      ),
    );
    for (const bits of [24, 16, 13, 8, 1, 0]) {
      const tr = t({ ip_prefix: bits });
      db.registerScalarFunction(transformFunction(`fv_ip_prefix_${bits}`, tr));
      const values = fc.sample(fc.option(ips, { freq: 10 }), 2_000) as Value[];
      const sql = await viaSql(tr, 'text', values);
      expect(sql).toEqual(viaJs(tr, 'text', values));
    }
  });

  it('ip_prefix: dotted IPv4 never reaches the scalar function', async () => {
    const fresh = await DuckDBInstance.create(':memory:');
    const c = await fresh.connect();
    try {
      const tr = t('ip_prefix');
      c.registerScalarFunction(transformFunction('fv_ip_prefix_24', { ...tr, apply: () => 'js' }));
      const expr = generalizeSql(tr, 'x', 'text') as string;
      const r = await c.runAndReadAll(
        `SELECT ${expr} FROM (VALUES ('10.1.2.3'), ('255.255.255.255/32'), ('0.0.0.0'), ('::1'), ('01.2.3.4')) v(x)`,
      );
      expect(r.getRows().map(([v]) => v)).toEqual([
        '10.1.2.0/24',
        '255.255.255.0/24',
        '0.0.0.0/24',
        'js',
        'js',
      ]);
    } finally {
      c.closeSync();
      fresh.closeSync();
    }
  });
});

describe('staged path: pseudonyms', () => {
  it.each([
    ['on its thread', true],
    ['in place', false],
  ])(
    'the pseudonym hasher (%s) and the scalar function write the row path pseudonym, byte for byte (property)',
    async (_, threaded) => {
      const key = keyFromBytes(Buffer.alloc(32, 9));
      const slots: SlotPseudonyms = [[], []];
      db.registerScalarFunction(pseudonymFunction('fv_p_test', slots, 0));
      const p = hmacPseudonymizer(key, 'user');
      // Inlined (up to 12 bytes) and pointed-to strings, multi-byte characters across the 12-byte
      // boundary, the empty string and NULL.
      const values = [
        ...fc.sample(
          fc.oneof(
            fc.string({ maxLength: 80 }),
            fc.string({ unit: 'binary', maxLength: 14 }),
            fc.string({ unit: 'grapheme', maxLength: 30 }),
            fc.bigInt().map(String),
          ),
          { numRuns: 3_000, seed: 16 },
        ),
        '',
        'é'.repeat(6),
        `${'é'.repeat(6)}x`,
        `x${'é'.repeat(6)}`,
        '😀😀😀',
        '😀😀😀a',
        'a'.repeat(12),
        'a'.repeat(13),
        'a'.repeat(200),
        null,
      ];
      await db.run('CREATE OR REPLACE TABLE pv (i INTEGER, x VARCHAR)');
      const a = await db.createAppender('pv');
      values.forEach((v, i) => {
        a.appendInteger(i);
        if (v === null) a.appendNull();
        else a.appendVarchar(v);
        a.endRow();
      });
      a.flushSync();
      a.closeSync();
      // Hashed as a staged batch is (slot 1), read back in an order other than the rows'.
      const hasher = new PseudonymHasher({ thread: threaded });
      expect(hasher.threaded).toBe(threaded);
      try {
        slots[1] = await batchPseudonyms(
          db,
          'pv',
          [{ name: 'x', key: key.derive('pseudonym:user') }],
          hasher,
          values.length,
        );
      } finally {
        await hasher.close();
      }
      const r = await db.runAndReadAll(
        'SELECT i, CAST(fv_p_test(rowid, 1) AS VARCHAR) FROM pv WHERE i % 3 <> 1 ORDER BY i DESC',
      );
      const rows = r.getRows();
      expect(rows.length).toBe(values.filter((_, i) => i % 3 !== 1).length);
      for (const [i, got] of rows) {
        const v = values[Number(i)] as string | null;
        expect(got, JSON.stringify(v)).toBe(v === null ? null : pseudonymToUuid(p.pseudonym(v)));
      }
    },
  );
});

describe('staged path: where pseudonyms are computed', () => {
  it('FLEETVAULT_PSEUDONYM_THREAD is 1 or 0, or a usage error naming it', () => {
    expect(pseudonymThread({ FLEETVAULT_PSEUDONYM_THREAD: '1' })).toBe(true);
    expect(pseudonymThread({ FLEETVAULT_PSEUDONYM_THREAD: '0' })).toBe(false);
    expect(typeof pseudonymThread({})).toBe('boolean');
    for (const bad of ['yes', 'true', '2'])
      expect(() => pseudonymThread({ FLEETVAULT_PSEUDONYM_THREAD: bad })).toThrow(
        expect.objectContaining({
          code: 'FV_USAGE',
          message: expect.stringContaining('FLEETVAULT_PSEUDONYM_THREAD'),
        }),
      );
  });
});

describe('staged path: cutting the CSV into batches', () => {
  it('cuts at row ends only, quoted newlines and quotes included, wherever the chunks split (property)', async () => {
    const field = fc.oneof(
      fc.constantFrom('', '1', 'abc', '""', '"a,b"', '"x""y"', '"line\nbreak"', '"\n"', '"""\n"""'),
      fc.stringMatching(/^[a-z0-9]{0,6}$/),
    );
    const csv = fc.array(fc.array(field, { minLength: 1, maxLength: 4 }), { maxLength: 40 });
    const cutsAt = fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 60 });
    await fc.assert(
      fc.asyncProperty(csv, cutsAt, fc.integer({ min: 1, max: 7 }), async (rows, cuts, size) => {
        const lines = rows.map((r) => `${r.join(',')}\n`);
        const text = Buffer.from(lines.join(''));
        const chunks: Buffer[] = [];
        let at = 0;
        for (const c of [...cuts, text.length]) {
          if (at >= text.length) break;
          chunks.push(text.subarray(at, at + c));
          at += c;
        }
        const stream = Object.assign(
          (async function* () {
            yield* chunks;
          })(),
          { destroyed: false, destroy() {} },
        );
        const batches: string[] = [];
        for await (const b of csvBatches(stream, 't', undefined, {
          rows: size,
          bytes: Infinity,
          rowWidth: 0,
        }))
          batches.push(Buffer.concat(b.parts).toString());
        const expected: string[] = [];
        for (let i = 0; i < lines.length; i += size) expected.push(lines.slice(i, i + size).join(''));
        expect(batches).toEqual(expected);
      }),
      { numRuns: 500, seed: 16 },
    );
  });
});

describe('staged path: bounding a batch by bytes', () => {
  const streamOf = (chunks: Buffer[]) =>
    Object.assign(
      (async function* () {
        yield* chunks;
      })(),
      { destroyed: false, destroy() {} },
    );

  it('ends a batch at the first row end where CSV bytes plus a fixed width per row reach the bound (property)', async () => {
    const line = fc.oneof(fc.stringMatching(/^[a-z0-9,]{0,40}$/), fc.constantFrom('"a\nb",1', '"x""y"'));
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 80 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 40 }),
        async (rows, cuts, size, bytes, rowWidth) => {
          const lines = rows.map((r) => `${r}\n`);
          const text = Buffer.from(lines.join(''));
          const chunks: Buffer[] = [];
          for (let at = 0, k = 0; at < text.length; at += cuts[k++] ?? text.length)
            chunks.push(text.subarray(at, at + (cuts[k] ?? text.length)));
          const got: Array<{ text: string; rows: number }> = [];
          for await (const b of csvBatches(streamOf(chunks), 't', undefined, { rows: size, bytes, rowWidth }))
            got.push({ text: Buffer.concat(b.parts).toString(), rows: b.rows });
          // The reference: whole rows, cut as soon as the row count or the estimate reaches its bound.
          const expected: Array<{ text: string; rows: number }> = [];
          let cur: string[] = [];
          let n = 0;
          for (const l of lines) {
            cur.push(l);
            n += Buffer.byteLength(l);
            if (cur.length === size || n + cur.length * rowWidth >= bytes) {
              expected.push({ text: cur.join(''), rows: cur.length });
              cur = [];
              n = 0;
            }
          }
          if (cur.length > 0) expected.push({ text: cur.join(''), rows: cur.length });
          expect(got).toEqual(expected);
          // So every batch but its last row stays under both bounds.
          let at = 0;
          for (const b of got) {
            const before = lines.slice(at, at + b.rows - 1);
            const estimate = Buffer.byteLength(before.join('')) + before.length * rowWidth;
            if (b.rows > 1) expect(estimate).toBeLessThan(bytes);
            expect(b.rows).toBeLessThanOrEqual(size);
            at += b.rows;
          }
        },
      ),
      { numRuns: 500, seed: 16 },
    );
  });

  it('cuts wide rows into shorter batches and leaves narrow ones at the row count', async () => {
    const wide = stagedRowWidth([
      { kind: 'bigint' },
      ...Array.from({ length: 10 }, () => ({ kind: 'text' as const })),
      { kind: 'timestamptz' },
      { kind: 'boolean' },
      { kind: 'float' },
      { kind: 'integer' },
    ]);
    expect(wide).toBe(8 + 10 * 16 + 8 + 1 + 8 + 4);
    const batchRows = async (row: string, width: number) => {
      const text = Buffer.from(`${row}\n`.repeat(STAGED_BATCH + 10));
      const chunks = Array.from({ length: Math.ceil(text.length / 65_536) }, (_, i) =>
        text.subarray(i * 65_536, (i + 1) * 65_536),
      );
      const sizes: number[] = [];
      for await (const b of csvBatches(streamOf(chunks), 't', undefined, {
        rows: STAGED_BATCH,
        bytes: STAGED_BYTES,
        rowWidth: width,
      }))
        sizes.push(b.rows);
      return sizes;
    };
    // A 299-byte row (300 with its newline) and 189 fixed bytes: 489 bytes a row in staging.
    const w = await batchRows('x'.repeat(299), wide);
    expect(w[0]).toBe(Math.ceil(STAGED_BYTES / (300 + wide)));
    expect(w.reduce((a, b) => a + b, 0)).toBe(STAGED_BATCH + 10);
    // A 59-byte row of 8 narrow columns: the row count ends the batch, well under the bound.
    const narrow = stagedRowWidth(Array.from({ length: 8 }, () => ({ kind: 'bigint' as const })));
    expect(await batchRows('1'.repeat(59), narrow)).toEqual([STAGED_BATCH, 10]);
  });
});

describe('staged path: the staging database', () => {
  it('reads its pipe and nothing else, never spills, and cannot be reconfigured', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fv-staging-test-'));
    const fifo = join(dir, 'batch.csv');
    const other = join(dir, 'other.csv');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    writeFileSync(other, '1,2\n');
    const { instance, db } = await openStaging(fifo);
    // The loading connection, opened afterwards as the staged copy opens it, is held the same.
    const loader = await instance.connect();
    try {
      for (const stage of [db, loader]) {
        const setting = async (name: string) =>
          (await stage.runAndReadAll(`SELECT current_setting('${name}')`)).getRows()[0]?.[0];
        expect(await setting('temp_directory')).toBe('');
        expect(await setting('enable_external_access')).toBe(false);
        expect(await setting('lock_configuration')).toBe(true);
        expect(await setting('preserve_insertion_order')).toBe(true);
        await expect(stage.run(`SELECT * FROM read_csv('${other}')`)).rejects.toThrow();
        await expect(stage.run(`COPY (SELECT 1) TO '${join(dir, 'out.csv')}'`)).rejects.toThrow();
        await expect(stage.run(`SET temp_directory = '${dir}'`)).rejects.toThrow();
        await expect(stage.run('SET enable_external_access = true')).rejects.toThrow();
        await expect(stage.run(`ATTACH '${join(dir, 'x.duckdb')}' AS x`)).rejects.toThrow();
      }
    } finally {
      loader.closeSync();
      db.closeSync();
      instance.closeSync();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('running out of its memory is one clear error naming the table, not an unexpected one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fv-staging-test-'));
    const fifo = join(dir, 'batch.csv');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const { instance, db } = await openStaging(fifo);
    try {
      const planted = 'canary-7f3a';
      const error = await db
        .run(`CREATE TABLE big AS SELECT '${planted}' || repeat('x', 200) || range AS v FROM range(2000000)`)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(String(error)).toContain('Out of Memory Error');
      const mapped = stagingFailure('connection_events', error);
      expect(mapped).toBeInstanceOf(FvError);
      expect((mapped as FvError).code).toBe('FV_STAGING_FAILED');
      expect((mapped as FvError).message).toContain('connection_events');
      expect((mapped as FvError).message).toContain('Out of Memory Error');
      expect((mapped as FvError).message).not.toContain(planted);
      // Ours, and anything that is not DuckDB's, pass unchanged.
      const own = new FvError('FV_SOURCE_QUERY', 'x');
      expect(stagingFailure('t', own)).toBe(own);
      const other = new Error('socket hang up');
      expect(stagingFailure('t', other)).toBe(other);
    } finally {
      db.closeSync();
      instance.closeSync();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
