import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DifferentialPrivacy } from '../policy/index.ts';
import { PrivacyBudget, type SpendEvent } from './privacy-budget.ts';

const DP: DifferentialPrivacy = {
  model: 'differential_privacy',
  epsilon: 1,
  delta: 1e-6,
  window: 'day',
  epsilonPerAnswer: 0.25,
  maxRows: 1,
  maxGroups: 1,
  clamp: {},
};

function setup() {
  const path = join(mkdtempSync(join(tmpdir(), 'fv-budget-')), 'privacy-budget.json');
  const clock = { t: Date.parse('2026-12-05T10:00:00Z') };
  const spends: SpendEvent[] = [];
  const open = () =>
    new PrivacyBudget(
      path,
      (e) => spends.push(e),
      () => clock.t,
    );
  let computed = 0;
  const compute = () => Promise.resolve({ noised: ++computed });
  return { path, clock, spends, open, compute, computed: () => computed };
}

const q = (metric: string, by: string[] = []) => ({ metric, by });

describe('the privacy budget per principal and window', () => {
  it('spends ε per answer until the window is spent, then refuses with when it renews', async () => {
    const { open, compute } = setup();
    const b = open();
    for (let i = 0; i < 4; i++) {
      const { receipt } = await b.answer('token:a', DP, q(`m${i}`), compute);
      expect(receipt).toMatchObject({ spent: 0.25, remaining: 1 - 0.25 * (i + 1), cached: false });
    }
    const refused = b.answer('token:a', DP, q('m4'), compute);
    await expect(refused).rejects.toMatchObject({ code: 'FV_PRIVACY_BUDGET_SPENT' });
    await expect(refused).rejects.toThrow(/renews at 2026-12-06T00:00:00.000Z/);
    // Another principal has a budget of its own.
    expect((await b.answer('user:b', DP, q('m4'), compute)).receipt.remaining).toBe(0.75);
  });

  it('answers a repeated question with the same noised answer and spends nothing', async () => {
    const { open, compute, computed } = setup();
    const b = open();
    const first = await b.answer('token:a', DP, q('m', ['region']), compute);
    const again = await b.answer('token:a', DP, q('m', ['region']), compute);
    expect(again.answer).toEqual(first.answer);
    expect(again.receipt).toMatchObject({ spent: 0, remaining: 0.75, cached: true });
    expect(computed()).toBe(1);
    // Another question (or another principal) is another answer.
    await b.answer('token:a', DP, q('m', ['product']), compute);
    expect(computed()).toBe(2);
  });

  it('renews with the window: a new day, a new budget and fresh noise', async () => {
    const { open, compute, clock } = setup();
    const b = open();
    for (let i = 0; i < 4; i++) await b.answer('token:a', DP, q(`m${i}`), compute);
    await expect(b.answer('token:a', DP, q('m0x'), compute)).rejects.toMatchObject({
      code: 'FV_PRIVACY_BUDGET_SPENT',
    });
    clock.t += 14 * 3_600_000;
    const renewed = await b.answer('token:a', DP, q('m0'), compute);
    expect(renewed.receipt).toMatchObject({ cached: false, remaining: 0.75 });
    expect(b.remaining('token:a', { ...DP, window: 'week' }).renewsAt).toBe('2026-12-07T00:00:00.000Z');
  });

  it('survives a restart: spends and given answers are read back from a 0600 file', async () => {
    const { open, compute, path, computed } = setup();
    const first = await open().answer('token:a', DP, q('m'), compute);
    await open().answer('token:a', DP, q('n'), compute);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const restarted = open();
    const again = await restarted.answer('token:a', DP, q('m'), compute);
    expect(again.answer).toEqual(first.answer);
    expect(again.receipt.remaining).toBe(0.5);
    expect(computed()).toBe(2);
  });

  it('records who spent what on which question, once per spend', async () => {
    const { open, compute, spends } = setup();
    const b = open();
    await b.answer('token:a', DP, q('activations'), compute);
    await b.answer('token:a', DP, q('activations'), compute);
    expect(spends).toHaveLength(1);
    expect(spends[0]).toMatchObject({
      principal: 'token:a',
      metric: 'activations',
      epsilon: 0.25,
      remaining: 0.75,
      window: '2026-12-05',
    });
    expect(spends[0]?.query).toMatch(/^[0-9a-f]{32}$/);
  });

  it('spends nothing when the answer cannot be computed', async () => {
    const { open } = setup();
    const b = open();
    await expect(
      b.answer('token:a', DP, q('m'), () => Promise.reject(new Error('engine down'))),
    ).rejects.toThrow();
    expect(b.remaining('token:a', DP).remaining).toBe(1);
  });
});
