import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parsePolicy } from './load-policy.ts';

const demo = readFileSync(new URL('../../examples/demo/fleetvault.policy.yaml', import.meta.url), 'utf8');
const withPrivacy = (section: string) => demo.replace(/^tables:/m, `${section}\ntables:`);

describe('the privacy section of a policy', () => {
  it('is k-anonymity when absent', () => {
    expect(parsePolicy(demo, 'p.yaml').policy?.privacy).toBeUndefined();
  });

  it('reads differential privacy with its defaults', () => {
    const { policy, problems } = parsePolicy(
      withPrivacy(
        'privacy: { model: differential_privacy, epsilon: 2, max_groups: 3, clamp: { connection_events.duration_ms: [0, 60000] } }',
      ),
      'p.yaml',
    );
    expect(problems).toEqual([]);
    expect(policy?.privacy).toEqual({
      model: 'differential_privacy',
      epsilon: 2,
      delta: 1e-6,
      window: 'day',
      epsilonPerAnswer: 0.2,
      maxRows: 1,
      maxGroups: 3,
      clamp: { 'connection_events.duration_ms': [0, 60000] },
    });
  });

  it('names every problem at the section', () => {
    const { problems } = parsePolicy(
      withPrivacy(
        'privacy: { model: differential_privacy, epsilon: 0, window: month, max_rows: 0, clamp: { x.y: [5, 1] }, typo: 1 }',
      ),
      'p.yaml',
    );
    expect(problems.map((p) => [p.code, p.path])).toEqual([
      ['FV_POLICY_PRIVACY', 'privacy.typo'],
      ['FV_POLICY_PRIVACY', 'privacy.epsilon'],
      ['FV_POLICY_PRIVACY', 'privacy.window'],
      ['FV_POLICY_PRIVACY', 'privacy.clamp.x.y'],
      ['FV_POLICY_PRIVACY', 'privacy.max_rows'],
    ]);
    expect(problems.every((p) => p.line > 1)).toBe(true);
  });
});
