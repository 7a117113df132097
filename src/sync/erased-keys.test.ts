import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../engines/index.ts';
import { pseudonymToUuid } from '../privacy/index.ts';
import type { Store } from '../store/index.ts';
import { tombstone } from './erase-linked.ts';
import { ErasedKeys } from './erased-keys.ts';

const uuid = (n: number) => pseudonymToUuid(BigInt(n));

describe('ErasedKeys', () => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });
  const opened = async () => {
    store = await openStore(join(mkdtempSync(join(tmpdir(), 'fv-erased-')), 'store.duckdb'));
    return store;
  };

  it('holds a small domain and asks the store about a large one, with the same answers', async () => {
    const s = await opened();
    await s.addTombstones('user', [uuid(1), uuid(2)]);
    await s.addTombstones('device', [uuid(10), uuid(11), uuid(12)]);
    const keys = await ErasedKeys.read(s, 2);
    expect(keys.lookedUp('user')).toBe(false);
    expect([...(keys.held('user') ?? [])].sort()).toEqual([uuid(1), uuid(2)]);
    expect(keys.lookedUp('device')).toBe(true);
    expect(keys.held('device')).toBeUndefined();
    expect(keys.held('event')).toBeUndefined();
    expect([...(await keys.among('user', [1n, 3n]))]).toEqual([uuid(1)]);
    expect([...(await keys.among('device', [3n, 11n, 11n]))]).toEqual([uuid(11)]);
    expect((await keys.among('event', [1n])).size).toBe(0);
  });

  it('adds only what is not erased yet, and tells apart what others erased while it ran', async () => {
    const s = await opened();
    await s.addTombstones('user', [uuid(1)]);
    await s.addTombstones('device', [uuid(10), uuid(11), uuid(14)]);
    const keys = await ErasedKeys.read(s, 2);
    // The caller erases what `fresh` answered and records it; a `forget` beside it erases others.
    const bury = async (domain: string, list: string[]) => {
      const fresh = await keys.fresh(domain, list);
      keys.record(domain, fresh, await tombstone(s, domain, fresh));
      return fresh;
    };
    expect(await bury('user', [uuid(1), uuid(2)])).toEqual([uuid(2)]);
    expect(await bury('device', [uuid(10), uuid(12)])).toEqual([uuid(12)]);
    expect(await keys.since()).toEqual(new Map());
    await s.addTombstones('user', [uuid(3)]);
    await s.addTombstones('device', [uuid(13)]);
    await s.addTombstones('event', [uuid(20)]);
    const late = await keys.since();
    expect(late.get('user')).toEqual([uuid(3)]);
    expect(late.get('event')).toEqual([uuid(20)]);
    // A looked-up domain answers the last minute's, its own aside (erasing again is harmless).
    expect(late.get('device')).toContain(uuid(13));
    expect(late.get('device')).not.toContain(uuid(12));
  });

  it('holds no more of what it erases than its limit: past it, the domain is looked up', async () => {
    const s = await opened();
    await s.addTombstones('event', [uuid(1)]);
    const keys = await ErasedKeys.read(s, 3);
    expect(keys.lookedUp('event')).toBe(false);
    // As a sync does: each batch's fresh pseudonyms are erased in the store before the next.
    const erase = async (list: string[]) => {
      const fresh = await keys.fresh('event', list);
      keys.record('event', fresh, await tombstone(s, 'event', fresh));
      return fresh;
    };
    expect(await erase([uuid(1), uuid(2), uuid(2)])).toEqual([uuid(2)]);
    expect(keys.lookedUp('event')).toBe(false);
    expect(await erase([uuid(3), uuid(4)])).toEqual([uuid(3), uuid(4)]);
    expect(keys.lookedUp('event')).toBe(true);
    expect(keys.held('event')).toBeUndefined();
    // Still only the new ones, from the store now.
    expect(await erase([uuid(2), uuid(4), uuid(5), uuid(6)])).toEqual([uuid(5), uuid(6)]);
    expect(await erase([uuid(5), uuid(7)])).toEqual([uuid(7)]);
    expect([...(await keys.among('event', [1n, 7n, 8n]))].sort()).toEqual([uuid(1), uuid(7)]);
    // Its own six are no news at the end; one erased beside it is, with its own past the limit.
    expect(await keys.since()).toEqual(new Map());
    await s.addTombstones('event', [uuid(8)]);
    expect((await keys.since()).get('event')).toContain(uuid(8));
  });

  it('counts a domain with no tombstones at its start against what it erased itself', async () => {
    const s = await opened();
    const keys = await ErasedKeys.read(s, 100);
    const fresh = await keys.fresh('event', [uuid(1), uuid(2)]);
    keys.record('event', fresh, await tombstone(s, 'event', fresh));
    expect(await keys.since()).toEqual(new Map());
    await s.addTombstones('event', [uuid(3)]);
    expect((await keys.since()).get('event')).toEqual([uuid(3)]);
  });

  it('counts as its own only the tombstones it wrote: what a forget beside it wrote first is news', async () => {
    const s = await opened();
    const keys = await ErasedKeys.read(s, 2);
    // Past the limit, so only counts tell its own from others'.
    const fresh = await keys.fresh('event', [uuid(1), uuid(2), uuid(3)]);
    // A forget beside the run tombstones uuid(3) first, and uuid(9) the run never erases.
    await s.addTombstones('event', [uuid(3), uuid(9)]);
    keys.record('event', fresh, await tombstone(s, 'event', fresh));
    expect(keys.lookedUp('event')).toBe(true);
    expect((await keys.since()).get('event')).toContain(uuid(9));
  });

  it('keeps each tombstone once, however often an erasure runs again', async () => {
    const s = await opened();
    await tombstone(s, 'user', [uuid(1), uuid(1), uuid(2), 'junk']);
    await tombstone(s, 'user', [uuid(2), uuid(3)]);
    await tombstone(s, 'device', [uuid(2)]);
    const counts = await s.tombstoneCounts();
    expect(counts.get('user')?.count).toBe(3);
    expect(counts.get('device')?.count).toBe(1);
  });
});
