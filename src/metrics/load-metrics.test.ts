import { describe, expect, it } from 'vitest';
import { isFvError } from '../errors/index.ts';
import { PERCENTILE_RANGE, parseMetrics } from './load-metrics.ts';

const file = (percentiles: string) => `version: 1
privacy_unit: user
metrics:
  duration:
    from: trips
    unit: user_id
    time: started_at
    measure:
      percentiles: ${percentiles}
      of: duration_ms
    dimensions: [region]
`;

const problems = (text: string): string[] => {
  try {
    parseMetrics(text, 'm.yaml');
  } catch (error) {
    if (isFvError(error) && error.code === 'FV_METRICS_INVALID') return [...error.details];
    throw error;
  }
  return [];
};

describe('metrics file percentiles', () => {
  it('accepts percentiles within the range, its ends included', () => {
    expect(problems(file(`[${PERCENTILE_RANGE[0]}, 0.5, ${PERCENTILE_RANGE[1]}]`))).toEqual([]);
  });

  it('refuses a percentile that singles out one person, at its line and column', () => {
    const found = problems(file('[0.5, 0.99, 0.01]'));
    expect(found).toHaveLength(2);
    expect(found[0]).toMatch(
      /^metrics\.duration\.measure\.percentiles\[1\] \(9:\d+\): a percentile is between 0.05 and 0.95/,
    );
    expect(found[1]).toMatch(
      /^metrics\.duration\.measure\.percentiles\[2\] \(9:\d+\): a percentile is between 0.05 and 0.95/,
    );
  });
});
