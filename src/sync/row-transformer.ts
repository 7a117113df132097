import type { Value } from '../policy/index.ts';
import {
  hmacPseudonymizer,
  type MasterKey,
  type PiiScanner,
  type Pseudonymizer,
  pseudonymToUuid,
} from '../privacy/index.ts';
import type { TablePlan } from './table-plan.ts';

type ColumnFn = (v: Value) => Value;

/** A PII hit: the column and detector that fired, and the row's key in its stored form. */
export interface Detection {
  readonly column: string;
  readonly detector: string;
  readonly rowKey: string;
}

export interface TransformedRow {
  readonly values: Value[];
  readonly key: Value[];
  readonly deleted: boolean;
  readonly position: Value[];
  readonly detection?: Detection;
  /** The row's own pseudonymized key, when it was dropped because its owner was erased. */
  readonly tombstone?: { readonly domain: string; readonly pseudonym: string };
}

const SCAN_CACHE = 50_000;

/**
 * Applies a table's policy to one source row: pseudonymize, generalize, keep, and scan every kept
 * text value for PII. Built once per table; the row loop runs prepared functions only.
 */
export function rowTransformer(
  plan: TablePlan,
  key: MasterKey,
  scanner: PiiScanner,
  tombstones: ReadonlyMap<string, ReadonlySet<string>> = new Map(),
): (row: Value[]) => TransformedRow {
  const forgotten: Array<{ index: number; set: ReadonlySet<bigint> }> = [];
  const readIndex = new Map(plan.read.map((c, i) => [c.name, i]));
  const pseudonymizers = new Map<string, Pseudonymizer>();
  const fns: ColumnFn[] = [];
  const scanned: Array<{ column: string; index: number; cache: Map<string, string | null> }> = [];
  plan.store.columns.forEach((col, j) => {
    const rule = plan.policy.columns.get(col.name);
    const sourceKind = plan.read[readIndex.get(col.name) as number]?.kind ?? 'text';
    if (rule?.action === 'pseudonymize') {
      const domain = rule.domain ?? col.name;
      // A single-column primary key never repeats within a table: caching it would only churn memory.
      const unique = plan.store.key.length === 1 && plan.store.key[0] === col.name;
      const id = `${domain}${unique ? ':unique' : ''}`;
      let p = pseudonymizers.get(id);
      if (!p) {
        p = hmacPseudonymizer(key, domain, unique ? 0 : undefined);
        pseudonymizers.set(id, p);
      }
      const ps = p;
      fns.push((v) => (v === null ? null : ps.pseudonym(String(v))));
      const set = tombstones.get(domain);
      if (set && set.size > 0) {
        forgotten.push({ index: j, set: new Set([...set].map((u) => BigInt(`0x${u.replaceAll('-', '')}`))) });
      }
    } else if (rule?.action === 'generalize' && rule.transform) {
      const t = rule.transform;
      fns.push((v) => t.apply(v, sourceKind));
    } else {
      fns.push((v) => v);
      if (col.kind === 'text') scanned.push({ column: col.name, index: j, cache: new Map() });
    }
  });
  const sourceIdx = plan.store.columns.map((c) => readIndex.get(c.name) as number);
  const keyIdx = plan.store.key.map((k) => plan.store.columns.findIndex((c) => c.name === k));
  const keyIsPseudonym = keyIdx.map(
    (i) => plan.policy.columns.get(plan.store.columns[i]?.name ?? '')?.action === 'pseudonymize',
  );
  // A dropped row whose key is itself a pseudonym takes that pseudonym with it: a device of an
  // erased user is erased too, and so are the device's events when their table is copied.
  const ownKey =
    keyIdx.length === 1 && keyIsPseudonym[0]
      ? plan.policy.columns.get(plan.store.key[0] as string)?.domain
      : undefined;
  const posIdx = plan.orderBy.map((c) => readIndex.get(c) as number);
  const softIdx =
    plan.policy.softDelete === undefined ? -1 : (readIndex.get(plan.policy.softDelete) as number);

  const scan = (values: Value[]): Omit<Detection, 'rowKey'> | undefined => {
    for (const s of scanned) {
      const v = values[s.index];
      if (typeof v !== 'string') continue;
      let hit = s.cache.get(v);
      if (hit === undefined) {
        hit = scanner.detect(v) ?? null;
        if (s.cache.size >= SCAN_CACHE) s.cache.clear();
        s.cache.set(v, hit);
      }
      if (hit !== null) return { column: s.column, detector: hit };
    }
    return undefined;
  };

  return (row) => {
    const values = new Array<Value>(fns.length);
    for (let j = 0; j < fns.length; j++)
      values[j] = (fns[j] as ColumnFn)(row[sourceIdx[j] as number] ?? null);
    const rowKey = keyIdx.map((i) => values[i] ?? null);
    // A person erased with `forget` is not copied back while production still holds them.
    const erased = forgotten.some((f) => {
      const v = values[f.index];
      return typeof v === 'bigint' && f.set.has(v);
    });
    const hit = scan(values);
    const out: TransformedRow = {
      values,
      key: rowKey,
      deleted: erased || (softIdx >= 0 && row[softIdx] !== null),
      position: posIdx.map((i) => row[i] ?? null),
      ...(erased && ownKey && typeof rowKey[0] === 'bigint'
        ? { tombstone: { domain: ownKey, pseudonym: pseudonymToUuid(rowKey[0]) } }
        : {}),
      ...(hit
        ? {
            detection: {
              ...hit,
              rowKey: rowKey
                .map((k, i) => (keyIsPseudonym[i] ? pseudonymToUuid(k as bigint) : String(k)))
                .join('/'),
            },
          }
        : {}),
    };
    return out;
  };
}
