import { FvError } from '../errors/index.ts';
import type { Policy, TablePolicy, Value, ValueKind } from '../policy/index.ts';
import { readColumns } from '../policy/index.ts';
import type { SourceTable } from '../source/index.ts';
import type { StoreColumn, StoreTableSpec } from '../store/index.ts';
import type { ColumnReport } from './sync-result.ts';

/** Everything a sync needs to know about one table, worked out before anything is read. */
export interface TablePlan {
  readonly policy: TablePolicy;
  readonly read: ReadonlyArray<{ readonly name: string; readonly kind: ValueKind }>;
  readonly orderBy: readonly string[];
  readonly store: StoreTableSpec;
  readonly report: ColumnReport;
}

export function planTable(table: TablePolicy, source: SourceTable, policy?: Policy): TablePlan {
  const kinds = new Map(source.columns.map((c) => [c.name, c]));
  const kindOf = (name: string) => kinds.get(name)?.kind ?? 'text';
  // Identifiers travel as their exact text form: that is what the pseudonym is computed over, and
  // PostgreSQL coerces a quoted literal back to the column's type when resuming.
  const readKind = (name: string) =>
    table.columns.get(name)?.action === 'pseudonymize' ? 'text' : kindOf(name);
  const read = readColumns(table).map((name) => ({ name, kind: readKind(name) }));
  const columns: StoreColumn[] = [];
  const report = { copied: [], pseudonymized: [], generalized: [], dropped: [], neverRead: [] } as {
    [K in keyof ColumnReport]: string[];
  };
  for (const rule of table.columns.values()) {
    const kind = kindOf(rule.name);
    const sourceType = kinds.get(rule.name)?.type ?? 'unknown';
    if (rule.action === 'keep') {
      columns.push({ name: rule.name, kind, sourceType });
      report.copied.push(rule.name);
    } else if (rule.action === 'pseudonymize') {
      columns.push({ name: rule.name, kind: 'uuid', sourceType });
      report.pseudonymized.push(rule.name);
    } else if (rule.action === 'generalize' && rule.transform) {
      columns.push({ name: rule.name, kind: rule.transform.outputKind(kind), sourceType });
      report.generalized.push(rule.name);
    } else if (rule.action === 'drop') {
      report.dropped.push(rule.name);
    } else {
      report.neverRead.push(rule.name);
    }
  }
  // Routed by its own key: the store's default, no column to name.
  const routedBy = policy ? shardColumn(policy, table) : undefined;
  const shardBy = table.primaryKey.length === 1 && routedBy === table.primaryKey[0] ? undefined : routedBy;
  const orderBy = table.cursor ? [...new Set([table.cursor, ...table.primaryKey])] : [...table.primaryKey];
  return {
    policy: table,
    read,
    orderBy,
    store: {
      name: table.name,
      columns,
      key: [...table.primaryKey],
      ...(shardBy ? { shardBy } : {}),
    },
    report,
  };
}

/** The domain of a table's own key when that key is one pseudonymized column. */
export function keyDomain(table: TablePolicy): string | undefined {
  const pk = table.primaryKey.length === 1 ? table.columns.get(table.primaryKey[0] as string) : undefined;
  return pk?.action === 'pseudonymize' ? pk.domain : undefined;
}

/**
 * Whether `column` is a reference within the table's own key domain (a user's `referred_by`): an
 * erased person's pseudonym there is cleared (NULL) and the row kept, where any other column of an
 * erased person's drops the row.
 */
export function selfReference(table: TablePolicy, column: string): boolean {
  const domain = keyDomain(table);
  const rule = table.columns.get(column);
  return (
    domain !== undefined &&
    column !== table.primaryKey[0] &&
    rule?.action === 'pseudonymize' &&
    (rule.domain ?? column) === domain
  );
}

/**
 * How far a pseudonym domain is from an owner nobody else owns: 0 for a domain no table is keyed by
 * or whose table points to no other domain (users), 1 for what such an owner owns (devices), …
 */
function domainDepths(policy: Policy): Map<string, number> {
  const byDomain = new Map<string, TablePolicy>();
  for (const t of policy.tables.values()) {
    const d = keyDomain(t);
    if (d && !byDomain.has(d)) byDomain.set(d, t);
  }
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const of = (domain: string): number => {
    const known = depth.get(domain);
    if (known !== undefined) return known;
    const table = byDomain.get(domain);
    if (!table || visiting.has(domain)) return 0;
    visiting.add(domain);
    const parents = [...table.columns.values()]
      .filter((c) => c.action === 'pseudonymize' && c.domain && c.domain !== domain)
      .map((c) => of(c.domain as string));
    visiting.delete(domain);
    const d = parents.length ? 1 + Math.min(...parents) : 0;
    depth.set(domain, d);
    return d;
  };
  for (const t of policy.tables.values())
    for (const c of t.columns.values()) if (c.action === 'pseudonymize' && c.domain) of(c.domain);
  return depth;
}

/**
 * The column whose pseudonym places a table's rows on a shard, so that a row and the row it points
 * to live together and the join between them needs no shipping (compile-clickhouse): the table's
 * own key when other tables point to its rows (users.id, devices.id), else the column pointing to
 * the most specific table it belongs to (connection_events.device_id rather than a user_id beside
 * it). Without either, the pseudonym nearest the owner at the top of the policy's domains.
 * Undefined when the table has no pseudonym.
 */
export function shardColumn(policy: Policy, table: TablePolicy): string | undefined {
  const depths = domainDepths(policy);
  const own = keyDomain(table);
  /** Domains other tables point to (a pseudonym column that is not their own key). */
  const pointedTo = new Set<string>();
  /** Domains some other table is keyed by. */
  const keyedElsewhere = new Set<string>();
  for (const t of policy.tables.values()) {
    if (t === table) continue;
    const key = keyDomain(t);
    if (key) keyedElsewhere.add(key);
    for (const c of t.columns.values())
      if (c.action === 'pseudonymize' && c.domain && c.domain !== key) pointedTo.add(c.domain);
  }
  let parent: { name: string; depth: number } | undefined;
  let nearest: { name: string; depth: number } | undefined;
  for (const c of table.columns.values()) {
    if (c.action !== 'pseudonymize' || !c.domain) continue;
    const d = depths.get(c.domain) ?? 0;
    if (!nearest || d < nearest.depth) nearest = { name: c.name, depth: d };
    const isKey = own !== undefined && c.name === table.primaryKey[0];
    const joinable = isKey ? pointedTo.has(c.domain) : keyedElsewhere.has(c.domain);
    if (joinable && (!parent || d > parent.depth)) parent = { name: c.name, depth: d };
  }
  return (parent ?? nearest)?.name;
}

/**
 * Orders tables so that a table comes after the tables its pseudonymized columns point to
 * (users before devices before events): rows dropped for an erased owner then erase their own
 * dependants within the same run. Otherwise keeps the policy's order.
 */
export function parentsFirst<T extends { readonly policy: TablePolicy }>(plans: readonly T[]): T[] {
  const byDomain = new Map<string, T>();
  for (const p of plans) {
    const d = keyDomain(p.policy);
    if (d && !byDomain.has(d)) byDomain.set(d, p);
  }
  const out: T[] = [];
  const state = new Map<T, 'visiting' | 'done'>();
  const visit = (p: T) => {
    if (state.has(p)) return; // done, or a cycle: keep the order reached so far
    state.set(p, 'visiting');
    const own = keyDomain(p.policy);
    for (const c of p.policy.columns.values()) {
      const parent =
        c.action === 'pseudonymize' && c.domain !== own ? byDomain.get(c.domain ?? '') : undefined;
      if (parent && parent !== p) visit(parent);
    }
    state.set(p, 'done');
    out.push(p);
  };
  for (const p of plans) visit(p);
  return out;
}

/** Compares the plan with the schema the store table was built with; any change needs --full. */
export function schemaChanges(plan: TablePlan, built: readonly StoreColumn[]): string[] {
  const out: string[] = [];
  const before = new Map(built.map((c) => [c.name, c]));
  const now = new Map(plan.store.columns.map((c) => [c.name, c]));
  const t = plan.policy.name;
  for (const c of plan.store.columns) {
    const old = before.get(c.name);
    if (!old) out.push(`column ${t}.${c.name} is new in the store`);
    else if (old.sourceType !== c.sourceType) {
      out.push(`column ${t}.${c.name} changed type in the source from ${old.sourceType} to ${c.sourceType}`);
    } else if (old.kind !== c.kind)
      out.push(`column ${t}.${c.name} is now stored as ${c.kind} (was ${old.kind})`);
  }
  for (const c of built) if (!now.has(c.name)) out.push(`column ${t}.${c.name} is no longer stored`);
  return out;
}

/** A checkpoint is the position after the last committed row: its order-by values. */
export function encodePosition(values: readonly Value[]): string {
  return JSON.stringify(values.map((v) => (v === null ? null : String(v))));
}

export function decodePosition(plan: TablePlan, text: string): Value[] {
  const raw = JSON.parse(text) as Array<string | null>;
  const kind = new Map(plan.read.map((c) => [c.name, c.kind]));
  if (!Array.isArray(raw) || raw.length !== plan.orderBy.length) {
    throw new FvError(
      'FV_CHECKPOINT_CORRUPT',
      `checkpoint of ${plan.policy.name} does not match its order columns`,
    );
  }
  return raw.map((v, i) => {
    if (v === null) return null;
    const k = kind.get(plan.orderBy[i] as string);
    if (k === 'bigint' || k === 'timestamp' || k === 'timestamptz') return BigInt(v);
    if (k === 'integer' || k === 'float' || k === 'date') return Number(v);
    if (k === 'boolean') return v === 'true';
    return v;
  });
}

export function requireReviewed(policy: Policy): void {
  if (!policy.reviewed) {
    throw new FvError(
      'FV_POLICY_UNREVIEWED',
      `policy ${policy.file} is marked reviewed: false; sync refuses an unreviewed policy`,
    );
  }
}
