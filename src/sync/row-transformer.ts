import type { Value } from '../policy/index.ts';
import {
  hmacPseudonymizer,
  type MasterKey,
  type PiiScanner,
  type Pseudonymizer,
  pseudonymToUuid,
  uuidToPseudonym,
} from '../privacy/index.ts';
import { selfReference, type TablePlan } from './table-plan.ts';

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
  /**
   * Set by `batch` when a generalizing transform turned every non-null value of a column in the
   * batch into NULL (an `ip_prefix` on a column of street addresses): the policy does not fit
   * the data, and the caller stops instead of writing a column of NULLs.
   */
  readonly unfit?: { readonly column: string; readonly transform: string };
  /** Generalized columns whose non-null source value became NULL in this row. */
  readonly nulled?: readonly number[];
  /** The row's own pseudonymized key, when it was dropped because its owner was erased. */
  readonly tombstone?: { readonly domain: string; readonly pseudonym: string };
}

const SCAN_CACHE = 50_000;
const CACHE_WINDOW = 10_000;
const CACHE_BYPASS = 200_000;
/** Share of a batch's values in a column that a weak detector must match to count (see `batch`). */
export const WEAK_SHARE = 0.1;
/** Values per column and batch a weak detector looks at before deciding to read them all. */
const WEAK_SAMPLE = 256;

/** One row at a time, or a whole batch with weak evidence decided per column. */
export interface RowTransformer {
  (row: Value[]): TransformedRow;
  /**
   * Transforms a batch of rows; where a weak detector (person names) matched at least one in ten
   * of a column's non-null values in the batch, its hits become detections like any other.
   */
  batch(rows: readonly Value[][]): TransformedRow[];
}

/**
 * Applies a table's policy to one source row: pseudonymize, generalize, keep, and scan every kept
 * text value for PII. Built once per table; the row loop runs prepared functions only.
 */
export function rowTransformer(
  plan: TablePlan,
  key: MasterKey,
  scanner: PiiScanner,
  tombstones: ReadonlyMap<string, ReadonlySet<string>> = new Map(),
): RowTransformer {
  /** Pseudonymized columns with erased values: the row is dropped, or the value cleared (`clear`). */
  const forgotten: Array<{ index: number; set: ReadonlySet<bigint>; clear: boolean }> = [];
  const readIndex = new Map(plan.read.map((c, i) => [c.name, i]));
  const pseudonymizers = new Map<string, Pseudonymizer>();
  const fns: ColumnFn[] = [];
  const generalized: Array<{ index: number; column: string; transform: string }> = [];
  const scanned: Array<{
    column: string;
    index: number;
    scanner: PiiScanner;
    cache: Map<string, string | null>;
    /** Lookups and cache hits in the current window; values left to scan without the cache. */
    lookups: number;
    hits: number;
    bypass: number;
  }> = [];
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
        const clear = selfReference(plan.policy, col.name);
        forgotten.push({ index: j, set: new Set([...set].map(uuidToPseudonym)), clear });
      }
    } else if (rule?.action === 'generalize' && rule.transform) {
      const t = rule.transform;
      generalized.push({ index: j, column: col.name, transform: t.name });
      fns.push((v) => t.apply(v, sourceKind));
    } else {
      fns.push((v) => v);
      // Text is scanned; so are numbers whose column name gives them a meaning (a `phone`
      // column of bare digits, an integer `client_ip`).
      const s = scanner.forColumn(col.name);
      const numeric = col.kind === 'integer' || col.kind === 'bigint' || col.kind === 'decimal';
      if (col.kind === 'text' || (numeric && s !== scanner))
        scanned.push({
          column: col.name,
          index: j,
          scanner: s,
          cache: new Map(),
          lookups: 0,
          hits: 0,
          bypass: 0,
        });
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

  const verdict = (s: (typeof scanned)[number], v: string): string | null => s.scanner.detect(v) ?? null;
  // Cached per column: a strong detector's name, or null. Event
  // columns repeat values and the cache pays; a column of unique values (digests, ids, messages)
  // would only churn it, so a column whose cache hits under one lookup in ten skips it for a while.
  const cached = (s: (typeof scanned)[number], v: string): string | null => {
    if (s.bypass > 0) {
      s.bypass--;
      return verdict(s, v);
    }
    let hit = s.cache.get(v);
    if (hit === undefined) {
      hit = verdict(s, v);
      if (s.cache.size >= SCAN_CACHE) s.cache.clear();
      s.cache.set(v, hit);
    } else s.hits++;
    if (++s.lookups === CACHE_WINDOW) {
      if (s.hits < CACHE_WINDOW / 10) {
        s.bypass = CACHE_BYPASS;
        s.cache.clear();
      }
      s.lookups = 0;
      s.hits = 0;
    }
    return hit;
  };
  const scan = (values: Value[]): Omit<Detection, 'rowKey'> | undefined => {
    for (const s of scanned) {
      const raw = values[s.index];
      if (raw === null || raw === undefined) continue;
      const hit = cached(s, typeof raw === 'string' ? raw : String(raw));
      if (hit !== null) return { column: s.column, detector: hit };
    }
    return undefined;
  };
  const keyText = (rowKey: Value[]) =>
    rowKey.map((k, i) => (keyIsPseudonym[i] ? pseudonymToUuid(k as bigint) : String(k))).join('/');

  const one = (row: Value[]): TransformedRow => {
    const values = new Array<Value>(fns.length);
    for (let j = 0; j < fns.length; j++)
      values[j] = (fns[j] as ColumnFn)(row[sourceIdx[j] as number] ?? null);
    let nulled: number[] | undefined;
    for (const g of generalized) {
      if (values[g.index] === null && (row[sourceIdx[g.index] as number] ?? null) !== null) {
        nulled ??= [];
        nulled.push(g.index);
      }
    }
    const rowKey = new Array<Value>(keyIdx.length);
    for (let k = 0; k < keyIdx.length; k++) rowKey[k] = values[keyIdx[k] as number] ?? null;
    // A person erased with `forget` is not copied back while production still holds them.
    let erased = false;
    for (const f of forgotten) {
      const v = values[f.index];
      if (typeof v !== 'bigint' || !f.set.has(v)) continue;
      if (f.clear) values[f.index] = null;
      else {
        erased = true;
        break;
      }
    }
    const hit = scanned.length > 0 ? scan(values) : undefined;
    const position = new Array<Value>(posIdx.length);
    for (let k = 0; k < posIdx.length; k++) position[k] = row[posIdx[k] as number] ?? null;
    const out: {
      values: Value[];
      key: Value[];
      deleted: boolean;
      position: Value[];
      tombstone?: { domain: string; pseudonym: string };
      detection?: Detection;
      nulled?: number[];
    } = {
      values,
      key: rowKey,
      deleted: erased || (softIdx >= 0 && row[softIdx] !== null),
      position,
    };
    if (erased && ownKey && typeof rowKey[0] === 'bigint')
      out.tombstone = { domain: ownKey, pseudonym: pseudonymToUuid(rowKey[0]) };
    if (hit) out.detection = { ...hit, rowKey: keyText(rowKey) };
    if (nulled) out.nulled = nulled;
    return out;
  };
  const batch = (rows: readonly Value[][]): TransformedRow[] => {
    let out = rows.map(one);
    for (const g of generalized) {
      const given = rows.filter((r) => (r[sourceIdx[g.index] as number] ?? null) !== null).length;
      const lost = out.filter((t) => t.nulled?.includes(g.index)).length;
      if (given > 0 && lost === given) {
        const unfit = { column: g.column, transform: g.transform };
        out = out.map((t) => (t.nulled?.includes(g.index) && !t.unfit ? { ...t, unfit } : t));
      }
    }
    // Weak evidence (person names), per column: a sample of the batch first; only a column whose
    // sample comes near one in ten is read whole, and then one in ten decides.
    for (const s of scanned) {
      const present: number[] = [];
      for (let i = 0; i < out.length; i++)
        if ((out[i] as TransformedRow).values[s.index] !== null) present.push(i);
      if (present.length === 0) continue;
      const text = (i: number) => String((out[i] as TransformedRow).values[s.index]);
      const step = Math.max(1, Math.floor(present.length / WEAK_SAMPLE));
      let sampled = 0;
      let sampleHits = 0;
      for (let k = 0; k < present.length; k += step) {
        sampled++;
        if (s.scanner.detectWeak(text(present[k] as number)) !== undefined) sampleHits++;
      }
      if (sampleHits === 0 || sampleHits < (sampled * WEAK_SHARE) / 2) continue;
      const found: Array<{ row: number; detector: string }> = [];
      for (const i of present) {
        const d = s.scanner.detectWeak(text(i));
        if (d !== undefined) found.push({ row: i, detector: d });
      }
      if (found.length < Math.max(1, present.length * WEAK_SHARE)) continue;
      for (const f of found) {
        const t = out[f.row] as TransformedRow;
        if (t.detection || t.deleted) continue;
        out[f.row] = { ...t, detection: { column: s.column, detector: f.detector, rowKey: keyText(t.key) } };
      }
    }
    return out;
  };
  return Object.assign(one, { batch });
}
