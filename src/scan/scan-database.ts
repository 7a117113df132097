import { BUILTIN_DETECTORS, detectorMatches } from '../privacy/index.ts';
import { classByName } from '../source/index.ts';
import type { ScanTarget } from './scan-target.ts';

export interface ColumnFinding {
  readonly table: string;
  readonly column: string;
  readonly type: string;
  /** `values`: sampled values matched a detector; `name`: the column's name alone says so. */
  readonly evidence: 'values' | 'name';
  /** The detector (email, phone, …, names-like) or, for name evidence, the class it suggests. */
  readonly kind: string;
  readonly hits: number;
  readonly sampled: number;
  /** Share of sampled values that matched (1 for name evidence is not claimed: 0.5). */
  readonly confidence: number;
}

export interface ScanReport {
  readonly target: 'postgres' | 'duckdb';
  readonly fleetvaultStore: boolean;
  readonly tables: number;
  readonly columns: number;
  readonly findings: readonly ColumnFinding[];
}

// Free text that reads like a person's name or a name-based label ("Emma S.", "Emma's room").
const NAMES_LIKE = /^\p{Lu}[\p{Ll}'’]+(?:[ -][\p{L}\d'’.]+){0,3}$/u;
// A network prefix (a /24 or wider IPv4 network, a /64 or wider IPv6 one) points at no one.
const NETWORK = /^(?:\d{1,3}\.){3}\d{1,3}\/(\d{1,2})$|^[0-9a-fA-F:]+\/(\d{1,3})$/;

function isNetworkPrefix(v: string): boolean {
  const m = NETWORK.exec(v);
  if (!m) return false;
  return m[1] !== undefined ? Number(m[1]) <= 24 : Number(m[2]) <= 64;
}

const DETECTORS = [
  ...BUILTIN_DETECTORS,
  {
    name: 'names-like',
    finds: 'name-like labels',
    gate: () => true,
    test: (t: string) => NAMES_LIKE.test(t),
  },
];
const MIN_SHARE: Readonly<Record<string, number>> = { 'names-like': 0.5 };

/**
 * Profiles every column of a database with the same detectors the sync uses, plus column names,
 * and reports which columns hold emails, tokens, IPs, MACs, names-like text… with counts and
 * confidence, never values. In a fleetvault store only values count as evidence.
 *
 * @example
 * const report = await scanDatabase(await duckDbTarget('other-team-copy.duckdb'));
 */
export async function scanDatabase(target: ScanTarget, opts: { sample?: number } = {}): Promise<ScanReport> {
  const n = opts.sample ?? 500;
  const tables = await target.tables();
  const findings: ColumnFinding[] = [];
  let columns = 0;
  for (const t of tables) {
    for (const c of t.columns) {
      columns++;
      let best: ColumnFinding | undefined;
      if (c.text) {
        const values = (await target.sample(t.name, c.name, n)).filter((v) => !isNetworkPrefix(v.trim()));
        for (const d of DETECTORS) {
          const hits = values.filter((v) => detectorMatches(d, v)).length;
          const share = values.length ? hits / values.length : 0;
          if (hits >= 2 && share >= (MIN_SHARE[d.name] ?? 0.02) && share > (best?.confidence ?? 0)) {
            best = {
              table: t.name,
              column: c.name,
              type: c.type,
              evidence: 'values',
              kind: d.name,
              hits,
              sampled: values.length,
              confidence: share,
            };
          }
        }
      }
      const byName = target.fleetvaultStore ? undefined : classByName(c.name);
      if (!best && byName) {
        best = {
          table: t.name,
          column: c.name,
          type: c.type,
          evidence: 'name',
          kind: byName,
          hits: 0,
          sampled: 0,
          confidence: 0.5,
        };
      }
      if (best) findings.push(best);
    }
  }
  return {
    target: target.kind,
    fleetvaultStore: target.fleetvaultStore,
    tables: tables.length,
    columns,
    findings,
  };
}
