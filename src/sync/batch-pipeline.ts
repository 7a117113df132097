import type { Value } from '../policy/index.ts';
import { pseudonymToUuid, SCAN_LIMIT, TOO_LARGE_TO_SCAN } from '../privacy/index.ts';
import type { HeldLink } from '../store/index.ts';
import { type HeldColumns, heldLinksOf } from './held-links.ts';
import type { RowTransformer } from './row-transformer.ts';
import type { QuarantineCount } from './sync-result.ts';
import { keyDomain, type TablePlan } from './table-plan.ts';

/** Pseudonymized keys kept per quarantine count: enough to follow up, never values. */
export const SAMPLE_KEYS = 5;

/** Why a batch is not written: a stable code and a message naming table, column and rule only. */
export interface BatchRefusal {
  readonly code: 'FV_PII_DETECTED' | 'FV_VALUE_TOO_LARGE' | 'FV_TRANSFORM_UNFIT';
  readonly message: string;
}

/**
 * The refusal of a batch under `block` for a detector's hit in a kept value (the staged path's
 * too): a value too large to scan has its own code, since no detector read it.
 */
export function detectionRefusal(
  table: string,
  column: string,
  detector: string,
  rowKey: string,
): BatchRefusal {
  if (detector === TOO_LARGE_TO_SCAN)
    return {
      code: 'FV_VALUE_TOO_LARGE',
      message: `${table}.${column}: a kept value in row ${rowKey} is longer than the ${SCAN_LIMIT} characters the PII scan reads; the batch was not written`,
    };
  return {
    code: 'FV_PII_DETECTED',
    message: `${table}.${column}: detector ${detector} matched a kept value in row ${rowKey}; the batch was not written`,
  };
}

/** What a caller writes for one batch: every row accounted for as written, deleted or quarantined. */
export interface BatchWrite {
  readonly ok: true;
  /** Transformed rows in the store's column order. */
  readonly rows: Value[][];
  /** Keys (stored form) of rows deleted in the source, soft-deleted, or dropped for an erased owner. */
  readonly deletedKeys: Value[][];
  /** Pseudonyms to keep erased, by domain, each once per batch. */
  readonly tombstones: ReadonlyMap<string, readonly string[]>;
  readonly quarantined: readonly QuarantineCount[];
  /** The links of the quarantined rows, for `Store.holdLinks` (with the `held` option). */
  readonly held: readonly HeldLink[];
  /** The order-by position of the batch's last row (for the checkpoint), if it has rows. */
  readonly position: Value[] | undefined;
}

/**
 * A batch not written. Its tombstones are still every erased owner's row of the whole batch: a
 * table refused for one unrelated value must not let a forgotten person's new row (a device added
 * after `forget`) go unerased, or the tables linking to it would copy that person's rows.
 */
export interface BatchRefused {
  readonly ok: false;
  readonly refusal: BatchRefusal;
  readonly tombstones: ReadonlyMap<string, readonly string[]>;
  /** The links of every row of the batch not deleted (none is written), for `Store.holdLinks`. */
  readonly held: readonly HeldLink[];
}

export type BatchOutput = BatchWrite | BatchRefused;

export interface BatchInput {
  /** Raw rows in the plan's read order. */
  readonly rows: readonly Value[][];
  /** Rows deleted at the source (change capture's deletes), by index; the rest are upserts. */
  readonly deleted?: (index: number) => boolean;
}

export interface BatchPipelineOptions {
  /**
   * A key deleted at the source is erased for good: change capture sees hard deletes, so every
   * deleted key of a table keyed by one pseudonym becomes a tombstone. Cursor sync sees only soft
   * deletes, which production may undo, and keeps tombstones for rows of erased owners.
   */
  readonly tombstoneDeletes?: boolean;
  /**
   * With `tombstoneDeletes`, the domains other tables hold keys of (`linkDomains`): a key deleted
   * at the source becomes a tombstone only in one of these (a user, a device: what links to it is
   * erased with it); a deleted row nothing points to (an event) is simply gone. Every domain when
   * absent. A row dropped with its erased owner always leaves its key (production may move it to a
   * live owner later).
   */
  readonly follow?: ReadonlySet<string>;
  /**
   * The table's links an erasure follows (`heldColumns`): the rows not written (quarantined, or
   * the whole batch when refused) answer theirs in `held`.
   */
  readonly held?: HeldColumns;
}

/**
 * The one batch step shared by cursor sync, change capture and ingest: raw rows in, transformed
 * rows, deleted keys, tombstones and quarantine counts, or a refusal, out. It never writes and
 * never throws for what is in the data; under `on_detect: block` a PII hit, and a generalization
 * that turned a whole column of the batch into NULL, refuse the whole batch, and the caller
 * writes nothing of it.
 *
 * @example
 * const run = batchPipeline(plan, rowTransformer(plan, key, scanner));
 * const out = run({ rows });
 * if (!out.ok) return refuse(out.refusal);
 */
export function batchPipeline(
  plan: TablePlan,
  transform: RowTransformer,
  opts: BatchPipelineOptions = {},
): (input: BatchInput) => BatchOutput {
  const table = plan.policy.name;
  const block = plan.policy.onDetect === 'block';
  const ownDomain = opts.tombstoneDeletes ? keyDomain(plan.policy) : undefined;
  return ({ rows: raw, deleted }) => {
    const rows: Value[][] = [];
    const deletedKeys: Value[][] = [];
    const tombstones = new Map<string, string[]>();
    const seen = new Map<string, Set<string>>();
    const quarantine = new Map<
      string,
      { column: string; detector: string; rows: number; sampleKeys: string[] }
    >();
    const bury = (domain: string, pseudonym: string) => {
      const set = seen.get(domain) ?? new Set<string>();
      seen.set(domain, set);
      if (set.has(pseudonym)) return;
      set.add(pseudonym);
      const list = tombstones.get(domain) ?? [];
      list.push(pseudonym);
      tombstones.set(domain, list);
    };
    const out = transform.batch(raw);
    const held: HeldLink[] = [];
    let position: Value[] | undefined;
    // After a refusal the rest of the batch is only read for its erased owners' rows.
    let refusal: BatchRefusal | undefined;
    for (let i = 0; i < out.length; i++) {
      const t = out[i] as (typeof out)[number];
      position = t.position;
      if (t.deleted || deleted?.(i)) {
        deletedKeys.push(t.key);
        if (t.tombstone) bury(t.tombstone.domain, t.tombstone.pseudonym);
        else if (ownDomain && typeof t.key[0] === 'bigint' && opts.follow?.has(ownDomain) !== false)
          bury(ownDomain, pseudonymToUuid(t.key[0]));
        continue;
      }
      if (refusal) continue;
      if (t.unfit) {
        refusal = {
          code: 'FV_TRANSFORM_UNFIT',
          message: `${table}.${t.unfit.column}: transform ${t.unfit.transform} turned every value of a batch into NULL (the values do not fit it); the batch was not written`,
        };
        continue;
      }
      const d = t.detection;
      if (d) {
        if (block) {
          refusal = detectionRefusal(table, d.column, d.detector, d.rowKey);
          continue;
        }
        const id = `${d.column}\u0000${d.detector}`;
        const q = quarantine.get(id) ?? { column: d.column, detector: d.detector, rows: 0, sampleKeys: [] };
        q.rows++;
        if (q.sampleKeys.length < SAMPLE_KEYS) q.sampleKeys.push(d.rowKey);
        quarantine.set(id, q);
        if (opts.held) held.push(...heldLinksOf(opts.held, t.values));
        continue;
      }
      rows.push(t.values);
    }
    if (refusal) {
      const all: HeldLink[] = [];
      if (opts.held)
        for (const [i, t] of out.entries())
          if (!t.deleted && !deleted?.(i)) all.push(...heldLinksOf(opts.held, t.values));
      return { ok: false, refusal, tombstones, held: all };
    }
    return {
      ok: true,
      rows,
      deletedKeys,
      tombstones,
      quarantined: [...quarantine.values()],
      held,
      position,
    };
  };
}

/** Adds one batch's quarantine counts to a running total (sample keys capped). */
export function addQuarantine(
  total: Map<string, { column: string; detector: string; rows: number; sampleKeys: string[] }>,
  batch: readonly QuarantineCount[],
): void {
  for (const q of batch) {
    const id = `${q.column}\u0000${q.detector}`;
    const t = total.get(id) ?? { column: q.column, detector: q.detector, rows: 0, sampleKeys: [] };
    t.rows += q.rows;
    for (const k of q.sampleKeys) if (t.sampleKeys.length < SAMPLE_KEYS) t.sampleKeys.push(k);
    total.set(id, t);
  }
}
