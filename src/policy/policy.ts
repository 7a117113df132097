import type { ColumnAction, ColumnClass, OnDetect } from './classes.ts';
import type { DifferentialPrivacy } from './privacy-model.ts';
import type { Transform } from './transforms/index.ts';

/** Where an entry stands in its file, so every report can point at it. */
export interface Position {
  readonly line: number;
  readonly col: number;
}

export interface ColumnRule {
  readonly name: string;
  readonly class: ColumnClass;
  readonly action: ColumnAction;
  /** Pseudonym domain: the same domain gives the same pseudonym for the same value. */
  readonly domain?: string;
  readonly transform?: Transform;
  /** A sensitive column admitted only for aggregate answers. */
  readonly aggregateOnly: boolean;
  readonly pos: Position;
}

export interface TablePolicy {
  readonly name: string;
  readonly primaryKey: readonly string[];
  /** Monotonic column for incremental sync; absent means every sync rescans the table. */
  readonly cursor?: string;
  /** A column that, when not null, marks the row deleted in production. */
  readonly softDelete?: string;
  /** Rows whose `column` is older than `days` are deleted from the store at every sync. */
  readonly retention?: { readonly column: string; readonly days: number };
  readonly onDetect: OnDetect;
  readonly columns: ReadonlyMap<string, ColumnRule>;
  readonly pos: Position;
}

export interface CustomDetector {
  readonly name: string;
  readonly pattern: RegExp;
}

/** The data contract: every source column classified, and how each one travels. */
/** k when the policy sets none: every answer covers at least this many privacy units. */
export const DEFAULT_K = 10;

export interface Policy {
  readonly file: string;
  readonly version: 1;
  readonly reviewed: boolean;
  /** No answer shows a group of fewer than k privacy units. */
  readonly k: number;
  /** The pseudonym domain whose distinct count is k (people): `user` unless the policy says. */
  readonly privacyUnit?: string;
  readonly schema: string;
  readonly onDetect: OnDetect;
  readonly customDetectors: readonly CustomDetector[];
  /** Differential privacy instead of k-anonymity for every answer (privacy-model.ts); absent: k. */
  readonly privacy?: DifferentialPrivacy;
  readonly tables: ReadonlyMap<string, TablePolicy>;
}

/**
 * Every identifier column of the policy with its pseudonym domain ('' when it has none), by table:
 * what a metrics file is checked against (no dimension may be one; a metric's unit must be one of
 * the privacy unit's domain). Recorded in the store at each sync.
 */
export function identifierColumns(policy: Policy): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const t of policy.tables.values()) {
    const cols: Record<string, string> = {};
    for (const c of t.columns.values()) if (c.class === 'identifier') cols[c.name] = c.domain ?? '';
    out[t.name] = cols;
  }
  return out;
}
