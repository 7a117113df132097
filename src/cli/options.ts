import { FvError } from '../errors/index.ts';

/** What commander hands an action: each option as given or defaulted, not yet typed. */
export type RawOptions = Readonly<Record<string, string | boolean | undefined>>;

/** An integer option of at least 0 (`--name` in the message), or the fallback when not given. */
export function intOpt(value: string | boolean | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new FvError('FV_USAGE', `--${name} must be a non-negative integer`);
  return n;
}

/** `--mode` / `--sync-mode`: cursor (the default) or cdc. */
export function syncMode(value: string | boolean | undefined, name: string): 'cursor' | 'cdc' {
  const mode = String(value ?? 'cursor');
  if (mode !== 'cursor' && mode !== 'cdc') throw new FvError('FV_USAGE', `--${name} is cursor or cdc`);
  return mode;
}

/** A text option, or the fallback when not given. */
export function textOpt(value: string | boolean | undefined, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

/** A text option that may be absent. */
export function optionalText(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
