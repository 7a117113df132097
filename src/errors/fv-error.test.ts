import { describe, expect, it } from 'vitest';
import { asFvError, FvError } from './fv-error.ts';

describe('asFvError', () => {
  it('keeps an FvError as it is', () => {
    const e = new FvError('FV_USAGE', 'bad option');
    expect(asFvError(e)).toBe(e);
  });

  it('turns anything else into FV_INTERNAL naming its kind, never its message', () => {
    const driver = Object.assign(new TypeError('value alice@example.com is bad'), { code: 'ECONNRESET' });
    const e = asFvError(driver);
    expect(e.code).toBe('FV_INTERNAL');
    expect(e.message).toBe('unexpected TypeError (ECONNRESET)');
    expect(e.exitCode).toBe(1);
    expect(asFvError('a thrown string with alice@example.com').message).toBe('unexpected failure');
    expect(asFvError({ name: 'x y@z', code: '42 P01; alice' }).message).toBe('unexpected failure');
  });
});
