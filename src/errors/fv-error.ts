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
