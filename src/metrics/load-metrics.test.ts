import { describe, expect, it } from 'vitest';
import { FvError, isFvError } from '../errors/index.ts';
import { loadMetrics, PERCENTILE_RANGE, parseMetrics } from './load-metrics.ts';

const GOOD = `version: 1
privacy_unit: user
metrics:
  trips:
    from: trips
    unit: user_id
    time: started_at
    measure: { count: rows }
    dimensions: [city]
`;

describe('loadMetrics', () => {
  it('returns the file and no problems for a good file', () => {
    const { metrics, problems } = loadMetrics(GOOD, 'm.yaml');
    expect(problems).toEqual([]);
    expect([...(metrics?.metrics.keys() ?? [])]).toEqual(['trips']);
  });

  it('returns every problem with file, line, column, path and code, the way the policy loader does', () => {
    const text = GOOD.replace('    unit: user_id\n', '    unit: user_id\n    colour: red\n').replace(
      'measure: { count: rows }',
      'measure: { median: x }',
    );
    const { metrics, problems } = loadMetrics(text, 'm.yaml');
    expect(metrics).toBeUndefined();
    expect(problems).toEqual([
      {
        code: 'FV_METRICS_SHAPE',
        severity: 'error',
        path: 'metrics.trips.colour',
        file: 'm.yaml',
        line: 7,
        col: 13,
        message: 'unknown key',
      },
      expect.objectContaining({ code: 'FV_METRICS_SHAPE', path: 'metrics.trips.measure', line: 9, col: 14 }),
    ]);
  });

  it('places a YAML syntax error at its position, with its own code', () => {
    const { problems } = loadMetrics('version: 1\nmetrics: [\n', 'm.yaml');
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]).toMatchObject({ code: 'FV_METRICS_SYNTAX', file: 'm.yaml', path: '' });
    expect(problems[0]?.line).toBeGreaterThan(1);
  });

  it('parseMetrics refuses with FV_METRICS_INVALID listing the positioned problems', () => {
    let caught: unknown;
    try {
      parseMetrics('version: 2\nprivacy_unit: user\nmetrics: {}\n', 'm.yaml');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(FvError);
    expect((caught as FvError).code).toBe('FV_METRICS_INVALID');
    expect((caught as FvError).details).toEqual([
      'm.yaml:1:10  error  version: version must be 1  [FV_METRICS_SHAPE]',
      'm.yaml:3:10  error  metrics: metrics maps names to definitions  [FV_METRICS_SHAPE]',
    ]);
  });
});

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
      /^m\.yaml:9:\d+ {2}error {2}metrics\.duration\.measure\.percentiles\[1\]: a percentile is between 0.05 and 0.95/,
    );
    expect(found[1]).toMatch(
      /^m\.yaml:9:\d+ {2}error {2}metrics\.duration\.measure\.percentiles\[2\]: a percentile is between 0.05 and 0.95/,
    );
  });
});
