import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../engines/index.ts';
import { parsePolicy, type Value } from '../policy/index.ts';
import { hmacPseudonymizer, keyFromBytes, piiScanner, pseudonymToUuid } from '../privacy/index.ts';
import type { SourceTable } from '../source/index.ts';
import type { Store, StoreTableSpec } from '../store/index.ts';
import { batchPipeline } from './batch-pipeline.ts';
import { eraseLinked } from './erase-linked.ts';
import { heldColumns } from './held-links.ts';
import { rowTransformer } from './row-transformer.ts';
import { planTable } from './table-plan.ts';

const policyText = (onDetect: string) => `version: 1
reviewed: true
on_detect: ${onDetect}
tables:
  users:
    primary_key: id
    columns:
      id:          { class: identifier, domain: user }
      referred_by: { class: identifier, domain: user }
  devices:
    primary_key: id
    columns:
      id:      { class: identifier, domain: device }
      user_id: { class: identifier, domain: user }
      home_id: { class: identifier, domain: home }
      name:    { class: attribute }
  events:
    primary_key: id
    columns:
      id:        { class: identifier, domain: event }
      device_id: { class: identifier, domain: device }
`;

const source = (name: string, columns: string[]): SourceTable => ({
  schema: 'public',
  name,
  primaryKey: ['id'],
  columns: columns.map((c) => ({
    name: c,
    type: c === 'name' ? 'text' : 'bigint',
    kind: c === 'name' ? 'text' : 'bigint',
    readable: true,
  })),
});

const KEY = keyFromBytes(Buffer.alloc(32, 9));
const p = (domain: string, id: string | number) =>
  pseudonymToUuid(hmacPseudonymizer(KEY, domain, 0).pseudonym(String(id)));

const plans = (onDetect: string) => {
  const policy = parsePolicy(policyText(onDetect), 'p.yaml').policy!;
  const plan = (t: string, cols: string[]) => planTable(policy.tables.get(t)!, source(t, cols), policy);
  return {
    policy,
    users: plan('users', ['id', 'referred_by']),
    devices: plan('devices', ['id', 'user_id', 'home_id', 'name']),
    events: plan('events', ['id', 'device_id']),
  };
};

describe('held links', () => {
  it('are kept for tables whose keys others hold, by their links to other domains only', () => {
    const { policy, users, devices, events } = plans('block');
    // users: its only other pseudonym is of its own domain; events: nothing holds its keys.
    expect(heldColumns(policy, users)).toBeUndefined();
    expect(heldColumns(policy, events)).toBeUndefined();
    expect(heldColumns(policy, devices)).toEqual({
      keyColumn: 'id',
      keyIndex: 0,
      links: [
        { column: 'user_id', index: 1 },
        { column: 'home_id', index: 2 },
      ],
    });
  });

  const rows: Value[][] = [
    ['1', '10', '100', 'kitchen'],
    ['2', '20', null, 'ask held.owner@example.com'],
    ['3', '30', '300', 'hall'],
  ];

  it('come out for the quarantined rows, and for every row of a refused batch', () => {
    for (const onDetect of ['quarantine', 'block']) {
      const { policy, devices } = plans(onDetect);
      const held = heldColumns(policy, devices);
      const run = batchPipeline(devices, rowTransformer(devices, KEY, piiScanner()), held ? { held } : {});
      const out = run({ rows, deleted: (i) => i === 2 });
      if (onDetect === 'quarantine') {
        expect(out.ok).toBe(true);
        // The quarantined device's owner; its home is NULL. Nothing of its text.
        expect(out.held).toEqual([
          { key: p('device', 2), column: 'user_id', link: p('user', 20) },
          { key: p('device', 2), column: 'home_id', link: null },
        ]);
      } else {
        expect(out.ok).toBe(false);
        // Refused: none of the batch is written, so every row not deleted keeps its links.
        expect(out.held).toEqual([
          { key: p('device', 1), column: 'user_id', link: p('user', 10) },
          { key: p('device', 1), column: 'home_id', link: p('home', 100) },
          { key: p('device', 2), column: 'user_id', link: p('user', 20) },
          { key: p('device', 2), column: 'home_id', link: null },
        ]);
      }
      expect(JSON.stringify(out.held)).not.toContain('held.owner');
      // Without the option (a table nothing follows), nothing is held.
      expect(batchPipeline(devices, rowTransformer(devices, KEY, piiScanner()))({ rows }).held).toEqual([]);
    }
  });

  describe('followed by an erasure', () => {
    let store: Store | undefined;
    afterEach(async () => {
      await store?.close();
      store = undefined;
    });
    const spec = (plan: { store: StoreTableSpec }) => plan.store;

    it('reach a held-back device’s events, and win over the older stored row of their key', async () => {
      const { policy, devices, events } = plans('quarantine');
      const s = await openStore(join(mkdtempSync(join(tmpdir(), 'fv-held-')), 'store.duckdb'));
      store = s;
      const uuid = (x: string) => BigInt(`0x${x.replaceAll('-', '')}`);
      // Device 1 held back as it arrived (owner 10); device 2 stored with owner 20, its move to
      // owner 10 held back; devices 3 (owner 10) and 4 (owner 20) stored. An event each.
      await s.holdLinks('devices', 'id', [
        { key: p('device', 1), column: 'user_id', link: p('user', 10) },
        { key: p('device', 2), column: 'user_id', link: p('user', 10) },
        // Device 5, stored with owner 20, moved to no owner: held back too.
        { key: p('device', 5), column: 'user_id', link: null },
      ]);
      const d = await s.openWriter(spec(devices), 'append');
      await d.writeBatch(
        [
          [uuid(p('device', 2)), uuid(p('user', 20)), null, 'hall'],
          [uuid(p('device', 3)), uuid(p('user', 10)), null, 'den'],
          [uuid(p('device', 4)), uuid(p('user', 20)), null, 'attic'],
          [uuid(p('device', 5)), uuid(p('user', 20)), null, 'porch'],
        ],
        [],
        undefined,
      );
      await d.finish(undefined);
      const e = await s.openWriter(spec(events), 'append');
      await e.writeBatch(
        [1, 2, 3, 4, 5].map((dev) => [uuid(p('event', dev)), uuid(p('device', dev))]),
        [],
        undefined,
      );
      await e.finish(undefined);
      const erase = (user: number) =>
        s.atomically(() =>
          eraseLinked({ policy, store: s, key: KEY, domain: 'user', pseudonyms: [p('user', user)] }),
        );
      const eventsOf = async (...devs: number[]) =>
        (
          await s.linked(
            'events',
            'device_id',
            devs.map((x) => p('device', x)),
            'id',
          )
        ).length;
      // The old owner: only device 4 is theirs; the stale rows of devices 2 and 5 go, their events stay.
      expect(await erase(20)).toMatchObject({ devices: 3, events: 1 });
      expect(await eventsOf(1, 2, 3, 4, 5)).toBe(4);
      expect([...(await s.tombstonesIn('device'))]).toEqual([p('device', 4)]);
      // The new owner: the held-back devices 1 and 2 and the stored device 3, with their events.
      expect(await erase(10)).toMatchObject({ devices: 1, events: 3 });
      expect(await eventsOf(1, 2, 3, 4, 5)).toBe(1);
      expect(await eventsOf(5)).toBe(1);
      expect([...(await s.tombstonesIn('device'))].sort()).toEqual(
        [1, 2, 3, 4].map((x) => p('device', x)).sort(),
      );
      // Device 5's held state (no owner) is all that is left of it, until it is written again.
      expect([...(await s.heldAmong('devices', 'user_id', [p('device', 5)]))]).toEqual([p('device', 5)]);
    });
  });
});
