import type { FvCode } from '../errors/index.ts';

/** One thing wrong with a policy, with where it is. Loading returns all of them at once. */
export interface Problem {
  readonly code: FvCode;
  readonly severity: 'error' | 'warning';
  /** Dotted path inside the file, e.g. `tables.users.columns.email.class`. */
  readonly path: string;
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
}

/** Renders problems one per line, `file:line:col  severity  path: message`. */
export function formatProblems(problems: readonly Problem[]): string[] {
  return problems.map(
    (p) => `${p.file}:${p.line}:${p.col}  ${p.severity}  ${p.path}: ${p.message}  [${p.code}]`,
  );
}

export function hasErrors(problems: readonly Problem[]): boolean {
  return problems.some((p) => p.severity === 'error');
}
