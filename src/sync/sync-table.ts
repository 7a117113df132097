import type { Client } from 'pg';
import { FvError, isFvError } from '../errors/index.ts';
import type { Policy, Value } from '../policy/index.ts';
import type { MasterKey, PiiScanner, SealedBox } from '../privacy/index.ts';
import { readTable, sourceError } from '../source/index.ts';
import type { Store, WriteMode } from '../store/index.ts';
import { addQuarantine, batchPipeline } from './batch-pipeline.ts';
import { eraseLinked, linkDomains, tombstone } from './erase-linked.ts';
import type { PseudonymizerCache } from './erased-among.ts';
import type { ErasedKeys } from './erased-keys.ts';
import { HeldLinkWriter, heldColumns } from './held-links.ts';
import { readAhead } from './read-ahead.ts';
import { rowTransformer } from './row-transformer.ts';
import { stagedCopy, stagedFallbackReason } from './staged-copy.ts';
import type { QuarantineCount, TableResult } from './sync-result.ts';
import { decodePosition, encodePosition, keyDomain, type TablePlan } from './table-plan.ts';

export interface TableProgress {
  readonly table: string;
  readonly rowsRead: number;
  /** The catalog's row estimate; a hint for progress bars, not a count. */
  readonly estimate: number;
}

export interface SyncTableContext {
  readonly source: Client;
  readonly policy: Policy;
  readonly schema: string;
  readonly store: Store;
  readonly key: MasterKey;
  readonly box: SealedBox;
  readonly scanner: PiiScanner;
  /** Erased pseudonyms by domain; rows dropped for an erased owner add their own key here. */
  readonly erased: ErasedKeys;
  readonly full: boolean;
  readonly batchSize: number;
  readonly estimate: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: TableProgress) => void;
}

/**
 * Keeps erased the pseudonyms a batch dropped with their erased owner: only those not yet known go
 * to the store and to the run's set (which later tables of the run read). A key other tables hold
 * (a device production added after its owner was erased) is erased with what links to it: rows
 * device ingest stored under it before this sync saw the device.
 */
async function bury(ctx: SyncTableContext, domain: string, pseudonyms: readonly string[]): Promise<void> {
  const fresh = await ctx.erased.fresh(domain, pseudonyms);
  if (fresh.length === 0) return;
  // Every tombstone the erasure writes counts as the run's own, in whatever domain (a device's
  // stored events, tombstoned with it), so the run's end does not take them for another's erasure.
  const onTombstones = (d: string, erased: readonly string[], written: readonly string[]) =>
    ctx.erased.record(d, erased, written);
  if (linkDomains(ctx.policy).has(domain))
    await eraseLinked({
      policy: ctx.policy,
      store: ctx.store,
      key: ctx.key,
      domain,
      pseudonyms: fresh,
      onTombstones,
    });
  else onTombstones(domain, fresh, await tombstone(ctx.store, domain, fresh));
}

/** Resident memory (MiB) past which a table's copy gives the store's memory back between batches. */
const RELEASE_ABOVE_MB = 400;
/** Fewest rows a copy writes between two releases (each reopens a DuckDB store: 30–200 ms). */
const RELEASE_AFTER_ROWS = 100_000;

/**
 * Resident memory (bytes) past which a table's copy gives the store's memory back:
 * `FLEETVAULT_SYNC_RELEASE_MB` when set (MiB, a number ≥ 0; 0 = after every batch, slow, tests use
 * it), RELEASE_ABOVE_MB otherwise; anything else is FV_USAGE naming it. runSync reads it before
 * anything is read or written.
 */
export function syncReleaseBytes(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.FLEETVAULT_SYNC_RELEASE_MB;
  if (text === undefined || text === '') return RELEASE_ABOVE_MB * 2 ** 20;
  const mb = Number(text);
  if (text.trim() === '' || !Number.isFinite(mb) || mb < 0)
    throw new FvError(
      'FV_USAGE',
      `FLEETVAULT_SYNC_RELEASE_MB must be a number of MiB, 0 or more, not "${text}"`,
    );
  return mb * 2 ** 20;
}

/**
 * Gives the store's memory back (Store.releaseMemory) after a batch once the process holds more
 * than syncReleaseBytes and the copy has written `RELEASE_AFTER_ROWS` since: a DuckDB store keeps
 * part of what each batch left (a fleet's 3M devices took the sync from ~330 to ~600 MB), which a
 * copy of millions of rows would otherwise carry to its end.
 */
function memoryRelease(store: Store): { (rows: number): Promise<void>; readonly times: () => number } {
  const above = syncReleaseBytes();
  const after = above === 0 ? 0 : RELEASE_AFTER_ROWS;
  let since = 0;
  let times = 0;
  const release = async (rows: number) => {
    since += rows;
    if (since < after || process.memoryUsage.rss() < above) return;
    since = 0;
    times++;
    await store.releaseMemory();
  };
  return Object.assign(release, { times: () => times });
}

function chooseMode(
  plan: TablePlan,
  full: boolean,
  state: { checkpoint?: string; rows: number } | undefined,
): WriteMode {
  if (full || !plan.policy.cursor) return 'rebuild';
  if (!state || (state.checkpoint === undefined && state.rows === 0)) return 'append';
  return 'upsert';
}

/**
 * Syncs one table: streams the allowed columns in cursor order, transforms each row, and commits
 * each batch with its sealed checkpoint in one store transaction. Resolves to a result; a PII hit
 * under `block` resolves as refused with nothing of that batch written.
 */
export async function syncTable(plan: TablePlan, ctx: SyncTableContext): Promise<TableResult> {
  const started = Date.now();
  const name = plan.policy.name;
  const context = `checkpoint:${name}`;
  const state = await ctx.store.tableState(name);
  const mode = chooseMode(plan, ctx.full, state);
  let after: Value[] | undefined;
  if (mode !== 'rebuild' && state?.checkpoint) {
    const opened = ctx.box.open(state.checkpoint, context);
    if (opened === undefined) {
      throw new FvError(
        'FV_CHECKPOINT_CORRUPT',
        `checkpoint of table ${name} failed authentication (tampered, or another key)`,
      );
    }
    after = decodePosition(plan, opened);
  }
  // Erased keys held in memory are read once; a domain with many is looked up batch by batch.
  const pseudonymizers: PseudonymizerCache = new Map();
  const held = heldColumns(ctx.policy, plan);
  // The links of rows not written (quarantined, refused) are kept for erasures to follow; those of
  // keys written again are released.
  const links = await HeldLinkWriter.open(ctx.store, name, held);
  const pipelineOf = async (rows: Value[][]) =>
    batchPipeline(
      plan,
      rowTransformer(
        plan,
        ctx.key,
        ctx.scanner,
        await ctx.erased.forRows(plan, ctx.key, rows, pseudonymizers),
      ),
      held ? { held } : {},
    );
  const once = ctx.erased.lookedUpIn(plan).size > 0 ? undefined : await pipelineOf([]);
  const quarantine = new Map<
    string,
    { column: string; detector: string; rows: number; sampleKeys: string[] }
  >();
  let rowsRead = 0;
  let rowsWritten = 0;
  let rowsDeleted = 0;
  let rowsExpired = 0;
  let last: Value[] | undefined;
  const base = { table: name, mode, columns: plan.report } as const;
  const writer = await ctx.store.openWriter(plan.store, mode);
  const release = memoryRelease(ctx.store);
  try {
    // The staged path when the table's shape allows it (see stagedFallbackReason); the row path
    // otherwise, or everywhere with FLEETVAULT_SYNC_PATH=rows.
    const fallback =
      process.env.FLEETVAULT_SYNC_PATH === 'rows'
        ? 'FLEETVAULT_SYNC_PATH=rows'
        : stagedFallbackReason(plan, mode, writer);
    // FLEETVAULT_SYNC_TRACE=1: which path each table took, and why not the staged one.
    if (process.env.FLEETVAULT_SYNC_TRACE)
      process.stderr.write(
        `sync ${name}: ${fallback === undefined ? 'staged path' : `row path (${fallback})`}\n`,
      );
    const staged =
      fallback === undefined
        ? await stagedCopy(plan, writer, {
            source: ctx.source,
            schema: ctx.schema,
            key: ctx.key,
            scanner: ctx.scanner,
            ...(after ? { after } : {}),
            ...(ctx.signal ? { signal: ctx.signal } : {}),
            seal: (position) => ctx.box.seal(encodePosition(position), context),
            onBatch: (n) => ctx.onProgress?.({ table: name, rowsRead: n, estimate: ctx.estimate }),
            erased: ctx.erased,
            onErased: (domain, pseudonyms) => bury(ctx, domain, pseudonyms),
            ...(held ? { held: { columns: held, keep: (l) => links.keep(l) } } : {}),
            afterWrite: release,
          })
        : undefined;
    // The staging database failed before a row was written (a row of several megabytes, more than
    // its CSV reader holds): the row path copies the table instead, with the same checks (a value
    // too large to scan is refused or quarantined there as on the staged path).
    const again =
      staged?.ok === false && staged.refusal.code === 'FV_STAGING_FAILED' && staged.written === false;
    if (again && process.env.FLEETVAULT_SYNC_TRACE)
      process.stderr.write(`sync ${name}: row path (the staging database failed)\n`);
    if (staged && !again) {
      const out = staged;
      if (!out.ok) {
        await buryRefused(plan, ctx, { mode, after, pipelineOf, links });
        return {
          ...base,
          status: 'refused',
          ...refusedCounts(out.rowsRead, out.rowsWritten, 0, quarantine),
          durationMs: Date.now() - started,
          error: out.refusal,
        };
      }
      rowsRead = out.rowsRead;
      rowsWritten = out.rowsWritten;
      rowsDeleted = out.rowsDeleted;
      last = out.position;
      for (const q of out.quarantined) addQuarantine(quarantine, [q]);
    } else {
      // Batch N+1 is read and parsed while batch N is transformed and written.
      const batches = readAhead(readRows(plan, ctx, mode, after));
      for await (const batch of batches) {
        const out = (once ?? (await pipelineOf(batch)))({ rows: batch });
        if (!out.ok) {
          for (const [domain, list] of out.tombstones) await bury(ctx, domain, list);
          await links.keep(out.held);
          await buryRest(plan, ctx, batches, pipelineOf, links);
          return {
            ...base,
            status: 'refused',
            ...refusedCounts(rowsRead + batch.length, rowsWritten, rowsDeleted, quarantine),
            durationMs: Date.now() - started,
            error: out.refusal,
          };
        }
        const { rows, deletedKeys: deleted } = out;
        if (out.position) last = out.position;
        addQuarantine(quarantine, out.quarantined);
        // Tombstones first: a crash after them only repeats harmless work; one before the batch's
        // checkpoint could never let an erased owner's rows back in.
        for (const [domain, list] of out.tombstones) await bury(ctx, domain, list);
        await links.keep(out.held);
        const checkpoint = ctx.box.seal(encodePosition(last ?? []), context);
        await writer.writeBatch(rows, mode === 'upsert' ? deleted : [], checkpoint);
        if (mode === 'upsert') await links.written(rows);
        await release(rows.length + deleted.length);
        rowsRead += batch.length;
        rowsWritten += rows.length;
        // Deleted rows are counted in every mode (a rebuild skips them; an upsert also removes them).
        rowsDeleted += deleted.length;
        ctx.onProgress?.({ table: name, rowsRead, estimate: ctx.estimate });
      }
    }
    const finalCheckpoint =
      last && plan.policy.cursor
        ? ctx.box.seal(encodePosition(last), context)
        : mode === 'rebuild'
          ? undefined
          : state?.checkpoint;
    await writer.finish(finalCheckpoint);
    if (process.env.FLEETVAULT_SYNC_TRACE && release.times() > 0)
      process.stderr.write(`sync: the store's memory given back ${release.times()} times during ${name}\n`);
    if (mode !== 'upsert') await links.rebuilt();
    const r = plan.policy.retention;
    if (r) rowsExpired = await ctx.store.expire(name, r.column, retentionCutoff(r.days));
  } catch (error) {
    if (!isFvError(error)) throw sourceError(error, { relation: `table ${name}` }) ?? error;
    throw error;
  }
  return {
    ...base,
    status: 'copied',
    rowsRead,
    rowsWritten,
    rowsDeleted,
    rowsBlocked: 0,
    rowsErased: 0,
    rowsExpired,
    quarantined: [...quarantine.values()] satisfies QuarantineCount[],
    durationMs: Date.now() - started,
  };
}

/** The table's rows from `after` on, in the order the sync reads them. */
function readRows(
  plan: TablePlan,
  ctx: SyncTableContext,
  mode: WriteMode,
  after: Value[] | undefined,
): AsyncIterable<Value[][]> {
  return readTable(ctx.source, {
    schema: ctx.schema,
    table: plan.policy.name,
    columns: plan.read,
    orderBy: mode === 'rebuild' && !plan.policy.cursor ? [] : plan.orderBy,
    ...(after ? { after } : {}),
    batchSize: ctx.batchSize,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
}

type PipelineOf = (rows: Value[][]) => Promise<ReturnType<typeof batchPipeline>>;

/**
 * A refused table writes nothing, but its rows of erased owners are still erased: read on, only
 * for them. A person forgotten while production added a device for them would otherwise leave
 * that device unknown to this run, and the tables linking to it (events) would copy their rows.
 * The links of the rows it did not write are kept (`HeldLinkWriter`): erasing a device's owner later still
 * reaches the events this run copied for it.
 */
async function buryRest(
  plan: TablePlan,
  ctx: SyncTableContext,
  batches: AsyncIterable<Value[][]>,
  pipelineOf: PipelineOf,
  links: HeldLinkWriter,
) {
  // Only a table other tables link to (users, devices): a refused table of leaves (events) is
  // read again whole on its next run, and nothing of this run depends on its keys.
  const domain = keyDomain(plan.policy);
  if (domain === undefined || !linkDomains(ctx.policy).has(domain)) return;
  for await (const batch of batches) {
    const out = (await pipelineOf(batch))({ rows: batch });
    for (const [domain, list] of out.tombstones) await bury(ctx, domain, list);
    // Nothing of the table is written now: every row's links are kept, not only a refused batch's.
    await links.keep(out.held);
    if (out.ok) await links.notWritten(out.rows);
  }
}

/** As `buryRest`, for a table the staged path refused: its rows read again from the run's start. */
async function buryRefused(
  plan: TablePlan,
  ctx: SyncTableContext,
  o: { mode: WriteMode; after: Value[] | undefined; pipelineOf: PipelineOf; links: HeldLinkWriter },
) {
  await buryRest(plan, ctx, readAhead(readRows(plan, ctx, o.mode, o.after)), o.pipelineOf, o.links);
}

/**
 * The counts of a table refused in the middle of a batch: that batch's rows not yet quarantined
 * are blocked, so every row read is still counted once.
 */
function refusedCounts(
  rowsRead: number,
  rowsWritten: number,
  rowsDeleted: number,
  quarantine: ReadonlyMap<string, QuarantineCount>,
): Pick<
  TableResult,
  'rowsRead' | 'rowsWritten' | 'rowsDeleted' | 'rowsBlocked' | 'rowsErased' | 'rowsExpired' | 'quarantined'
> {
  const quarantined = [...quarantine.values()];
  const q = quarantined.reduce((n, x) => n + x.rows, 0);
  return {
    rowsRead,
    rowsWritten,
    rowsDeleted,
    rowsBlocked: rowsRead - rowsWritten - rowsDeleted - q,
    rowsErased: 0,
    rowsExpired: 0,
    quarantined,
  };
}

/**
 * Rows older than the start of the UTC day `days` days ago expire. A whole-day cutoff is the same
 * for every sync on one day, so two stores (or a re-run) expire exactly the same rows.
 */
export function retentionCutoff(days: number, now = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - days));
}
