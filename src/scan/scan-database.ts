import { columnEvidence, piiScanner } from '../privacy/index.ts';
import { classByName } from '../source/index.ts';
import type { ScanTarget } from './scan-target.ts';

export interface ColumnFinding {
  readonly table: string;
  readonly column: string;
  readonly type: string;
  /**
   * `values`: sampled values matched a detector (the column's name counted as evidence for bare
   * forms such as 11 digits in `phone`); `name`: the column's name alone says so; `binary`: a
   * binary column, never read (photos, documents: unscannable, so treated as personal).
   */
  readonly evidence: 'values' | 'name' | 'binary';
  /** The detector (email, phone, person_name, …, names-like) or, for name evidence, the class it suggests. */
  readonly kind: string;
  readonly hits: number;
  readonly sampled: number;
  /** Share of sampled values that matched (name and binary evidence: 0.5, not claimed). */
  readonly confidence: number;
}

export interface ScanReport {
  readonly target: 'postgres' | 'duckdb';
  readonly fleetvaultStore: boolean;
  readonly tables: number;
  readonly columns: number;
  readonly findings: readonly ColumnFinding[];
  /** Relations that could not be read, and why (a materialized view never populated). */
  readonly skipped: ReadonlyArray<{ readonly table: string; readonly reason: string }>;
}

/**
 * Profiles every column of a database (tables, views and materialized views) with the sync's
 * own scanner, plus column names, and reports which columns hold emails, tokens, IPs, MACs,
 * people's names… with counts and confidence, never values. In a fleetvault store only values
 * count as evidence. Binary columns are never read.
 *
 * @example
 * const report = await scanDatabase(await duckDbTarget('other-team-copy.duckdb'));
 */
export async function scanDatabase(target: ScanTarget, opts: { sample?: number } = {}): Promise<ScanReport> {
  const n = opts.sample ?? 500;
  const tables = await target.tables();
  const scanner = piiScanner();
  const findings: ColumnFinding[] = [];
  const skipped: Array<{ table: string; reason: string }> = [];
  let columns = 0;
  for (const t of tables) {
    if (t.unreadable) {
      skipped.push({ table: t.name, reason: t.unreadable });
      continue;
    }
    for (const c of t.columns) {
      columns++;
      const base = { table: t.name, column: c.name, type: c.type };
      if (c.binary) {
        findings.push({ ...base, evidence: 'binary', kind: 'binary', hits: 0, sampled: 0, confidence: 0.5 });
        continue;
      }
      const values = c.text || c.numeric ? await target.sample(t.name, c.name, n) : [];
      const e = columnEvidence(c.name, values, scanner);
      if (e) {
        findings.push({
          ...base,
          evidence: 'values',
          kind: e.detector,
          hits: e.hits,
          sampled: e.sampled,
          confidence: e.share,
        });
        continue;
      }
      const byName = target.fleetvaultStore ? undefined : classByName(c.name);
      if (byName)
        findings.push({ ...base, evidence: 'name', kind: byName, hits: 0, sampled: 0, confidence: 0.5 });
    }
  }
  return {
    target: target.kind,
    fleetvaultStore: target.fleetvaultStore,
    tables: tables.length,
    columns,
    findings,
    skipped,
  };
}
