import { describe, expect, it } from 'vitest';
import { parsePolicy, type Value } from '../policy/index.ts';
import { keyFromBytes, piiScanner } from '../privacy/index.ts';
import type { SourceTable } from '../source/index.ts';
import { rowTransformer } from './row-transformer.ts';
import { planTable } from './table-plan.ts';

const POLICY = `version: 1
reviewed: true
tables:
  notes:
    primary_key: id
    columns:
      id:   { class: identifier, domain: note }
      body: { class: attribute }
      addr: { class: personal, transform: ip_prefix }
`;

const SOURCE: SourceTable = {
  schema: 'public',
  name: 'notes',
  primaryKey: ['id'],
  columns: [
    { name: 'id', type: 'bigint', kind: 'bigint', readable: true },
    { name: 'body', type: 'text', kind: 'text', readable: true },
    { name: 'addr', type: 'text', kind: 'text', readable: true },
  ],
};

function transformer() {
  const policy = parsePolicy(POLICY, 'p.yaml').policy!;
  const plan = planTable(policy.tables.get('notes')!, SOURCE, policy);
  return rowTransformer(plan, keyFromBytes(Buffer.alloc(32, 7)), piiScanner());
}

const rows = (bodies: string[], addr: (i: number) => string | null = () => '10.1.2.3'): Value[][] =>
  bodies.map((b, i) => [String(i + 1), b, addr(i)]);

describe('rowTransformer.batch', () => {
  it('one title naming a person is not evidence; a column where one value in ten names a person is', () => {
    const t = transformer();
    const titles = Array.from({ length: 40 }, (_, i) => `Greatest hits volume ${i}`);
    titles[7] = 'Billie Jean';
    titles[8] = 'Hello Mary Lou';
    expect(t.batch(rows(titles)).filter((r) => r.detection)).toHaveLength(0);
    const report = Array.from({ length: 40 }, (_, i) =>
      i % 5 === 0 ? `Mary Smith ordered ${i}` : `order ${i}`,
    );
    const out = t.batch(rows(report));
    expect(out.filter((r) => r.detection?.detector === 'person_name')).toHaveLength(8);
    expect(out.find((r) => r.detection)?.detection?.column).toBe('body');
  });

  it('a strong hit is a detection in any batch, whatever the batch', () => {
    const out = transformer().batch(rows(['ok', 'write to jane.doe@example.com', 'ok']));
    expect(out.map((r) => r.detection?.detector)).toEqual([undefined, 'email', undefined]);
  });

  it('a transform that turns every non-null value of a batch into NULL marks the batch unfit', () => {
    const t = transformer();
    const streets = t.batch(rows(['a', 'b', 'c'], (i) => (i === 1 ? null : `${i} Main Street`)));
    expect(streets.filter((r) => r.unfit)).toHaveLength(2);
    expect(streets[0]?.unfit).toEqual({ column: 'addr', transform: 'ip_prefix' });
    // One value that does not fit among many that do: written as NULL, the batch is fine.
    const mixed = t.batch(rows(['a', 'b', 'c'], (i) => (i === 1 ? 'not an address' : '10.0.0.1')));
    expect(mixed.some((r) => r.unfit)).toBe(false);
    expect(mixed[1]?.values[2]).toBeNull();
  });

  it('scans numbers whose column name gives them a meaning', () => {
    const policy = parsePolicy(
      'version: 1\nreviewed: true\ntables:\n  people:\n    primary_key: id\n    columns:\n      id: { class: identifier, domain: p }\n      phone: { class: measure }\n      visits: { class: measure }\n',
      'p.yaml',
    ).policy!;
    const source: SourceTable = {
      schema: 'public',
      name: 'people',
      primaryKey: ['id'],
      columns: [
        { name: 'id', type: 'bigint', kind: 'bigint', readable: true },
        { name: 'phone', type: 'bigint', kind: 'bigint', readable: true },
        { name: 'visits', type: 'bigint', kind: 'bigint', readable: true },
      ],
    };
    const t = rowTransformer(
      planTable(policy.tables.get('people')!, source, policy),
      keyFromBytes(Buffer.alloc(32, 7)),
      piiScanner(),
    );
    const [r] = t.batch([['1', 14155550132n, 14155550132n]]);
    expect(r?.detection).toMatchObject({ column: 'phone', detector: 'phone' });
  });
});
