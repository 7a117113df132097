import { describe, expect, it } from 'vitest';
import { API_FILTER, CLI_FILTER, parseFilters } from './metric-filter.ts';

const refused = (texts: string[], syntax = API_FILTER) => {
  try {
    parseFilters(texts, syntax);
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error(`${JSON.stringify(texts)} was accepted`);
};

describe('metric filters, as the API and the CLI read them', () => {
  it('reads each form where it belongs', () => {
    expect(parseFilters(['devices.region:eu-west,eu-north', 'outcome:fail'], API_FILTER)).toEqual({
      'devices.region': ['eu-west', 'eu-north'],
      outcome: ['fail'],
    });
    expect(parseFilters(['devices.region=eu-west, eu-north'], CLI_FILTER)).toEqual({
      'devices.region': ['eu-west', 'eu-north'],
    });
    // A value may hold the other separator: only the first separator splits.
    expect(parseFilters(['firmware:1.2=rc'], API_FILTER)).toEqual({ firmware: ['1.2=rc'] });
    expect(parseFilters([], API_FILTER)).toEqual({});
  });

  it("refuses the CLI's form on the API and the API's on the CLI, naming the parameter and its form", () => {
    const api = refused(['devices.region=ap-south']);
    expect(api.code).toBe('FV_METRIC_QUERY');
    expect(api.message).toContain('filter must be written dimension:value[,value…]');
    expect(api.message).toContain('it has "=" where ":" belongs');
    expect(api.message, 'the text is not echoed').not.toContain('ap-south');
    const cli = refused(['devices.region:eu-west'], CLI_FILTER);
    expect(cli.code).toBe('FV_METRIC_QUERY');
    expect(cli.message).toContain('--filter must be written dimension=value[,value…]');
    expect(cli.message).toContain('--filter devices.region=eu-west,eu-north');
  });

  it('refuses, never drops: no separator, no dimension, an empty value, a dimension twice', () => {
    expect(refused(['devices.region']).message).toContain('it has no ":"');
    expect(refused([':eu-west']).message).toContain('the dimension before it is missing');
    expect(refused(['devices.region:']).message).toContain('a value is empty');
    expect(refused(['devices.region:a,,b']).message).toContain('a value is empty');
    expect(refused(['devices.region=eu:west']).message).toContain('the dimension holds');
    const twice = refused(['outcome:fail', 'outcome:ok']);
    expect(twice.message).toContain('filter number 2 must be written');
    expect(twice.message).toContain('outcome is filtered twice');
  });

  it('keeps a dimension named like an object property as data', () => {
    const f = parseFilters(['__proto__:x', 'constructor:y'], API_FILTER);
    expect(Object.keys(f)).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(f)).toBe(Object.prototype);
  });
});
