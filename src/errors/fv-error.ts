import { ERROR_CATALOG, type FvCode } from './catalog.ts';

/**
 * The one error class fleetvault throws on purpose. Its message names tables, columns, files and
 * rules, never a value read from a source.
 *
 * @example
 * throw new FvError('FV_KEY_FILE_INSECURE', 'key file .fleetvault/master.key has mode 0644');
 */
export class FvError extends Error {
  override readonly name = 'FvError';
  readonly code: FvCode;
  /** Extra lines for humans (a list of problems, a GRANT to run). Never values from a source. */
  readonly details: readonly string[];

  constructor(code: FvCode, message: string, details: readonly string[] = []) {
    super(message);
    this.code = code;
    this.details = details;
  }

  get exitCode(): 1 | 2 {
    return ERROR_CATALOG[this.code].exit;
  }

  get solve(): string {
    return ERROR_CATALOG[this.code].solve;
  }
}

export function isFvError(error: unknown): error is FvError {
  return error instanceof FvError;
}

const NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/**
 * The error a user sees for anything thrown: an `FvError` as it is, anything else as
 * `FV_INTERNAL` naming only its kind (class name and code, e.g. `TypeError`, `ECONNRESET`); its
 * message, which may carry a value read from a source, is never shown.
 */
export function asFvError(error: unknown): FvError {
  if (isFvError(error)) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as { name?: unknown; code?: unknown };
  const name = typeof e.name === 'string' && NAME.test(e.name) ? e.name : 'failure';
  const code = typeof e.code === 'string' && NAME.test(e.code) ? ` (${e.code})` : '';
  return new FvError('FV_INTERNAL', `unexpected ${name}${code}`);
}
