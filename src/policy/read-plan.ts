import type { TablePolicy } from './policy.ts';

/**
 * The columns the source must be asked for: exactly those the store receives in some form
 * (kept, pseudonymized, generalized) plus those needed as key, cursor or soft-delete marker.
 * Secrets and dropped columns are never in it.
 */
export function readColumns(table: TablePolicy): string[] {
  const needed = new Set<string>();
  for (const rule of table.columns.values()) {
    if (rule.action === 'keep' || rule.action === 'pseudonymize' || rule.action === 'generalize')
      needed.add(rule.name);
  }
  for (const col of [...table.primaryKey, table.cursor, table.softDelete]) if (col) needed.add(col);
  return [...table.columns.keys()].filter((c) => needed.has(c));
}

/** The columns the store table holds: every column whose values travel, in policy order. */
export function storedColumns(table: TablePolicy): string[] {
  return [...table.columns.values()]
    .filter((r) => r.action === 'keep' || r.action === 'pseudonymize' || r.action === 'generalize')
    .map((r) => r.name);
}
