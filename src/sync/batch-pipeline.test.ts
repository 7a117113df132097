import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePolicy, type Value } from '../policy/index.ts';
import { hmacPseudonymizer, keyFromBytes, piiScanner, pseudonymToUuid } from '../privacy/index.ts';
import type { SourceTable } from '../source/index.ts';
import { batchPipeline, SAMPLE_KEYS } from './batch-pipeline.ts';
import { rowTransformer } from './row-transformer.ts';
import { planTable } from './table-plan.ts';

const policyText = (onDetect: string) => `version: 1
reviewed: true
on_detect: ${onDetect}
tables:
  notes:
    primary_key: id
    cursor: id
    soft_delete: gone_at
    columns:
      id:      { class: identifier, domain: note }
      body:    { class: attribute }
      addr:    { class: personal, transform: ip_prefix }
      gone_at: { class: time }
`;

const SOURCE: SourceTable = {
  schema: 'public',
  name: 'notes',
  primaryKey: ['id'],
  columns: [
    { name: 'id', type: 'bigint', kind: 'bigint', readable: true },
    { name: 'body', type: 'text', kind: 'text', readable: true },
    { name: 'addr', type: 'text', kind: 'text', readable: true },
    { name: 'gone_at', type: 'timestamptz', kind: 'timestamptz', readable: true },
  ],
};

const KEY = keyFromBytes(Buffer.alloc(32, 7));
const CANARY = 'pipeline.canary@example.com';

function pipeline(onDetect: 'block' | 'quarantine', tombstoneDeletes = false) {
  const policy = parsePolicy(policyText(onDetect), 'p.yaml').policy!;
  const plan = planTable(policy.tables.get('notes')!, SOURCE, policy);
  return batchPipeline(plan, rowTransformer(plan, KEY, piiScanner()), { tombstoneDeletes });
}

/** A raw row: a unique id, a body that is harmless or carries the canary, maybe soft-deleted. */
const rowArb = fc.record({
  pii: fc.boolean(),
  gone: fc.boolean(),
  text: fc.constantFrom('firmware 4.1', 'ok', 'retry later', 'E_TIMEOUT', ''),
});
const batchArb = fc.array(rowArb, { minLength: 0, maxLength: 60 });
const toRows = (spec: Array<{ pii: boolean; gone: boolean; text: string }>): Value[][] =>
  spec.map((r, i) => [
    String(1000 + i),
    r.pii ? `${r.text} ${CANARY}` : r.text,
    '10.1.2.3',
    r.gone ? 5n : null,
  ]);

describe('batchPipeline', () => {
  it('under block: refuses exactly the batches with a kept PII value, naming column and detector, never the value', () => {
    const run = pipeline('block');
    fc.assert(
      fc.property(batchArb, (spec) => {
        const out = run({ rows: toRows(spec) });
        const hit = spec.some((r) => r.pii && !r.gone);
        expect(out.ok).toBe(!hit);
        if (!out.ok) {
          expect(out.refusal.code).toBe('FV_PII_DETECTED');
          expect(out.refusal.message).toContain('notes.body: detector email');
          expect(out.refusal.message).not.toContain(CANARY);
          expect(out.refusal.message).not.toMatch(/\b10\d\d\b/);
        }
      }),
    );
  });

  it('under quarantine: every row is written, deleted or quarantined, with a few pseudonymized sample keys', () => {
    const run = pipeline('quarantine');
    fc.assert(
      fc.property(batchArb, (spec) => {
        const out = run({ rows: toRows(spec) });
        if (!out.ok) throw new Error('quarantine never refuses for PII');
        const held = out.quarantined.reduce((n, q) => n + q.rows, 0);
        expect(out.rows.length + out.deletedKeys.length + held).toBe(spec.length);
        expect(out.deletedKeys.length).toBe(spec.filter((r) => r.gone).length);
        expect(held).toBe(spec.filter((r) => r.pii && !r.gone).length);
        for (const q of out.quarantined) {
          expect(q.sampleKeys.length).toBeLessThanOrEqual(SAMPLE_KEYS);
          for (const k of q.sampleKeys) expect(k).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
        }
        // Nothing written carries the canary or a raw id; ids are 128-bit pseudonyms.
        for (const row of out.rows) {
          expect(row.some((v) => typeof v === 'string' && v.includes(CANARY))).toBe(false);
          expect(typeof row[0]).toBe('bigint');
        }
        if (spec.length > 0) expect(out.position).toEqual([String(1000 + spec.length - 1)]);
      }),
    );
  });

  it('the same batch gives the same output, whichever caller runs it', () => {
    fc.assert(
      fc.property(batchArb, (spec) => {
        const a = pipeline('quarantine')({ rows: toRows(spec) });
        const b = pipeline('quarantine')({ rows: toRows(spec) });
        expect(a).toEqual(b);
      }),
      { numRuns: 30 },
    );
  });

  it("change capture's deletes become tombstones of the table's own key, each once", () => {
    const run = pipeline('block', true);
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 40 }), (deletes) => {
        const rows = toRows(deletes.map(() => ({ pii: false, gone: false, text: 'ok' })));
        const twice = [...rows, ...rows];
        const out = run({ rows: twice, deleted: (i) => deletes[i % rows.length] === true });
        if (!out.ok) throw new Error('nothing to refuse');
        const n = deletes.filter(Boolean).length;
        expect(out.deletedKeys).toHaveLength(2 * n);
        expect(out.tombstones.get('note') ?? []).toHaveLength(n);
        expect(out.rows).toHaveLength(2 * (deletes.length - n));
      }),
    );
  });

  it('a row dropped with an erased owner tombstones its key; one deleted at the source only in a domain others follow', () => {
    const policy = parsePolicy(policyText('block'), 'p.yaml').policy!;
    const plan = planTable(policy.tables.get('notes')!, SOURCE, policy);
    const erased = pseudonymToUuid(hmacPseudonymizer(KEY, 'note', 0).pseudonym('1001'));
    const rows = toRows([0, 1, 2].map(() => ({ pii: false, gone: false, text: 'ok' })));
    for (const follow of [undefined, new Set(['note']), new Set<string>()]) {
      const transform = rowTransformer(plan, KEY, piiScanner(), new Map([['note', new Set([erased])]]));
      const out = batchPipeline(plan, transform, follow ? { follow } : {})({ rows });
      if (!out.ok) throw new Error('nothing to refuse');
      expect(out.deletedKeys).toHaveLength(1);
      expect(out.rows).toHaveLength(2);
      // Always: production may move the row to a live owner later.
      expect(out.tombstones.get('note') ?? []).toEqual([erased]);
      // Change capture's hard deletes only where others follow the key.
      const deleted = pseudonymToUuid(hmacPseudonymizer(KEY, 'note', 0).pseudonym('1002'));
      const cdc = batchPipeline(plan, rowTransformer(plan, KEY, piiScanner()), {
        tombstoneDeletes: true,
        ...(follow ? { follow } : {}),
      })({ rows, deleted: (i) => i === 2 });
      if (!cdc.ok) throw new Error('nothing to refuse');
      expect(cdc.deletedKeys).toHaveLength(1);
      expect(cdc.tombstones.get('note') ?? []).toEqual(follow?.size === 0 ? [] : [deleted]);
    }
  });

  it('a refused batch still tombstones every row of an erased owner in it, before and after the refusing row', () => {
    const policy = parsePolicy(policyText('block'), 'p.yaml').policy!;
    const plan = planTable(policy.tables.get('notes')!, SOURCE, policy);
    const erased = ['1000', '1002'].map((id) =>
      pseudonymToUuid(hmacPseudonymizer(KEY, 'note', 0).pseudonym(id)),
    );
    const rows = toRows([
      { pii: false, gone: false, text: 'ok' },
      { pii: true, gone: false, text: 'ok' },
      { pii: false, gone: false, text: 'ok' },
    ]);
    const transform = rowTransformer(plan, KEY, piiScanner(), new Map([['note', new Set(erased)]]));
    const out = batchPipeline(plan, transform)({ rows });
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(out.refusal.code).toBe('FV_PII_DETECTED');
    expect(out.tombstones.get('note')).toEqual(erased);
  });

  it('a deleted row is never refused: its value is not kept', () => {
    const out = pipeline('block')({ rows: toRows([{ pii: true, gone: true, text: 'ok' }]) });
    expect(out.ok).toBe(true);
  });

  it('refuses a batch whose generalization turned a whole column into NULL', () => {
    const run = pipeline('quarantine');
    const rows: Value[][] = [
      ['1', 'ok', '12 Main Street', null],
      ['2', 'ok', 'Flat 3', null],
    ];
    const out = run({ rows });
    expect(out.ok).toBe(false);
    if (!out.ok) {
      expect(out.refusal.code).toBe('FV_TRANSFORM_UNFIT');
      expect(out.refusal.message).not.toContain('Main');
    }
  });
});
