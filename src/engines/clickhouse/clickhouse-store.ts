import { randomBytes } from 'node:crypto';
import { FvError } from '../../errors/index.ts';
import type { Value } from '../../policy/index.ts';
import { ingestedRows, ingestedRowsError, ingestedRowsMeta } from '../../store/ingested-rows.ts';
import type { RollupSpec } from '../../store/rollup-spec.ts';
import type {
  HeldLink,
  StagedText,
  Store,
  StoreColumn,
  StoreTableSpec,
  TableState,
  TableWriter,
  WriteMode,
} from '../../store/store.ts';
import { batchChecker, type ValueLimits } from '../../store/value-limits.ts';
import { ClickHouseNode } from './clickhouse-node.ts';
import {
  type DirtyDays,
  dayNumber,
  dayOfValue,
  mondayOf,
  ROLLUP_DIRTY,
  rollupMeta,
  rollupSelectClickHouse,
} from './clickhouse-rollups.ts';
import { type ClickHouseLocation, parseClickHouseUrl } from './clickhouse-url.ts';
import {
  CLICKHOUSE_LIMITS,
  encoders,
  FLOAT_TEXT,
  floatText,
  isTime,
  limitsSql,
  chString as lit,
  microsColumn,
  physicalColumns,
  chIdent as q,
  tsvFieldsSql,
  uuidText,
} from './clickhouse-values.ts';
import { requireWritableReplicas } from './writable-replicas.ts';

/**
 * Bytes a rollup's grouping may hold in memory before ClickHouse spills it to disk (transformed
 * values only, on the server's own disk); well under a server's usual 4–10 GB per-query limit.
 */
const ROLLUP_GROUP_BY_BYTES = 1_000_000_000;
const META = '_fv_meta';
/** Done rollup entries deleted per statement (their ids listed in it), and statements per refresh. */
const PRUNE_CHUNK = 5000;
const PRUNE_CHUNKS = 10;
const TABLES = '_fv_tables';
const FORGOTTEN = '_fv_forgotten';
/** Links of rows held back (quarantined, refused), for erasures to follow: `Store.holdLinks`. */
const HELD = '_fv_held_links';
const REBUILD_SUFFIX = '__fv_rebuild';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/**
 * Pseudonyms per delete: a delete names them twice (the rows, and every version of their keys) and
 * a statement must stay under the server's 256 KiB `max_query_size` (39 bytes each, quoted).
 */
const ERASE_CHUNK = 2_000;
/**
 * The version of rows `insertNew` adds (device messages): the lowest, so a row a sync writes for
 * the same key (production's), or a tombstone, replaces them whichever reaches a shard first.
 */
const INGESTED_VERSION = 1n;
/** Replaced and erased row versions leave the disk this many seconds after a merge or mutation. */
const OLD_PARTS_SECONDS = 10;

/**
 * The bookkeeping setting that says whether a table is settled: '0' when it holds at most one
 * version of each key and no live row behind a newer tombstone, so reading it without FINAL gives
 * the rows FINAL would. Any other value (or none: a table from before this setting) means read it
 * FINAL. A write that may leave a superseded version sets it first; refreshDerived merges the
 * versions away and clears it.
 */
export const unsettledMeta = (table: string) => `unsettled:${table}`;

/**
 * The bookkeeping entry holding the shard layout a table's rows were placed under (its shards'
 * weights in order, as `1,1`): written when the table is created or rebuilt.
 */
export const layoutMeta = (table: string) => `layout:${table}`;

/** Each shard's own table, the Distributed table over them, and the view analysts query. */
export const localTable = (name: string) => `${name}__fv_local`;
export const allTable = (name: string) => `${name}__fv_all`;
/** The table a query reads every shard's rows through. */
export const readableTable = (name: string, sharded: boolean) =>
  sharded ? allTable(name) : localTable(name);

/**
 * The column a Distributed table's sharding key (`routing`) hashes: `shardBy`, or the one key
 * column when it routes by key; undefined for any other key (a composite key, rollups' rand()).
 */
export function routedColumn(engineFull: string): string | undefined {
  const m = /, cityHash64\((?:ifNull\()?toString\((`(?:[^`\\]|\\.)+`|[A-Za-z_][A-Za-z0-9_]*)\)/.exec(
    engineFull,
  );
  const name = m?.[1];
  if (name === undefined) return undefined;
  return name.startsWith('`') ? name.slice(1, -1).replace(/\\(.)/g, '$1') : name;
}

/** `spec` routed by `column`: by its key alone when that is its one key column. */
function routedSpec(spec: StoreTableSpec, column: string): StoreTableSpec {
  const { shardBy: _, ...rest } = spec;
  return spec.key.length === 1 && spec.key[0] === column ? rest : { ...rest, shardBy: column };
}

/**
 * Waits until no server of `nodes` holds a row of `table` matching `where` (a mutation applied,
 * replicas included), for up to ten minutes.
 */
async function waitUntilNone(
  nodes: readonly ClickHouseNode[],
  table: string,
  where: string,
  what: string,
  verb: 'delete' | 'update',
): Promise<void> {
  for (const node of nodes) {
    const deadline = Date.now() + 600_000;
    for (;;) {
      const r = await node.rows(`SELECT count() FROM ${table} WHERE ${where}`, what);
      if (Number(r[0]?.[0] ?? 0) === 0) break;
      if (Date.now() > deadline)
        throw new FvError(
          'FV_STORE_WRITE',
          `ClickHouse at ${node.host}: ${what}: the ${verb} did not reach this server in 10 minutes`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** `values` as the lists of an `IN (…)`, `ERASE_CHUNK` at a time: statements the server takes. */
function inLists(values: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < values.length; i += ERASE_CHUNK)
    out.push(
      values
        .slice(i, i + ERASE_CHUNK)
        .map(lit)
        .join(', '),
    );
  return out;
}

/** A name as a TSV field of an insert: tabs, newlines and backslashes made `_`. */
const tsvName = (name: string) => name.replace(/[\\\t\n]/g, '_');
/** A name as `holdLinks` and `addTombstones` store it, quoted. */
const heldName = (name: string) => lit(tsvName(name));
const forgottenDomain = heldName;

let lastVersion = 0n;
/** Row versions only grow (wall-clock microseconds, bumped when the clock stalls). */
function nextVersion(): bigint {
  const now = BigInt(Date.now()) * 1000n;
  lastVersion = now > lastVersion ? now : lastVersion + 1n;
  return lastVersion;
}

/** Which shard each listed server holds, whether it answered, whether shards have replicas. */
interface Topology {
  readonly replicated: boolean;
  /** The shards' weights in shard order (`1,1`): where the Distributed tables place each row. */
  readonly layout: string;
  readonly shard: readonly number[];
  readonly up: readonly boolean[];
}

interface TableRow {
  columns: string;
  checkpoint: string | null;
  rebuild: string | null;
}

/**
 * Every path that writes or removes a base table's rows records the days its rollups must
 * recompute (store.recordDirty, with store.dirtyDays or any day) before the rows and again after
 * them (clickhouse-rollups.ts): a path that does not would leave a rollup read while stale.
 */
class ClickHouseTableWriter implements TableWriter {
  private readonly target: string;
  private readonly encode: ReturnType<typeof encoders>;
  private readonly check: (rows: readonly Value[][]) => void;
  readonly columns: string[];
  /** Upserted rows also leave tombstones on every shard when their shard may have changed. */
  private readonly crossShard: boolean;

  constructor(
    private readonly store: ClickHouseStore,
    private readonly spec: StoreTableSpec,
    private readonly mode: WriteMode,
  ) {
    this.target = mode === 'rebuild' ? spec.name + REBUILD_SUFFIX : spec.name;
    this.encode = encoders(spec.name, spec.columns);
    this.check = batchChecker(CLICKHOUSE_LIMITS, spec.name, spec.columns);
    this.columns = [
      ...physicalColumns(spec.columns, spec.key).map((c) => q(c.name)),
      '_fv_version',
      '_fv_deleted',
    ];
    const routedByKey = spec.key.length === 1 && (spec.shardBy ?? spec.key[0]) === spec.key[0];
    this.crossShard = mode === 'upsert' && store.sharded && !routedByKey;
    this.stagedText = this.staged();
  }

  line(row: readonly Value[], version: bigint, deleted: 0 | 1): string {
    let s = '';
    for (let i = 0; i < this.encode.length; i++)
      s += `${(this.encode[i] as (v: Value) => string)(row[i] ?? null)}\t`;
    return `${s}${version}\t${deleted}\n`;
  }

  private tombstone(key: readonly Value[], version: bigint): string {
    const row: Value[] = this.spec.columns.map((c) => {
      const k = this.spec.key.indexOf(c.name);
      return k >= 0 ? (key[k] ?? null) : null;
    });
    return this.line(row, version, 1);
  }

  async writeBatch(
    rows: readonly Value[][],
    deletedKeys: readonly Value[][],
    checkpoint: string | undefined,
  ): Promise<void> {
    const what = `write ${this.spec.name}`;
    // Every value is checked and every line made before anything is sent: a refused batch
    // leaves no tombstone behind to hide a stored row.
    this.check(rows);
    const keyIdx = this.spec.key.map((k) => this.spec.columns.findIndex((c) => c.name === k));
    const deaths = [...deletedKeys];
    if (this.crossShard) for (const r of rows) deaths.push(keyIdx.map((i) => r[i] ?? null));
    const deathVersion = deaths.length > 0 ? nextVersion() : 0n;
    const deathLines = deaths.map((k) => this.tombstone(k, deathVersion));
    const rowVersion = nextVersion();
    const rowLines = rows.map((r) => this.line(r, rowVersion, 0));
    let unsettling = false;
    let dirty: DirtyDays[] = [];
    if (this.mode === 'upsert') {
      // A key already stored gets a second version (a changed row, a batch written again by a
      // resumed run, a tombstone): readers must merge versions (FINAL) until the run settles it.
      const keys = [...deaths, ...(this.crossShard ? [] : rows.map((r) => keyIdx.map((i) => r[i] ?? null)))];
      unsettling = await this.store.markIfStored(this.spec, keys);
      // The rollups' days of the rows written and of the versions they replace or delete.
      dirty = await this.store.dirtyDays(this.spec, rows, keys);
    } else if (this.mode === 'append') dirty = await this.store.dirtyDays(this.spec, rows, []);
    // Recorded before the rows are written (see clickhouse-rollups.ts), and again after them.
    await this.store.recordDirty(this.spec.name, dirty);
    if (deathLines.length > 0) {
      // Tombstones go to every shard, older than the rows that follow: wherever a key lived
      // before, its old version is hidden, and the new row (newer) wins on its own shard.
      for (const node of this.store.shardWriters())
        await node.insert(localTable(this.target), this.columns, deathLines, what, this.store.insertSettings);
    }
    if (rowLines.length > 0) await this.store.insertRouted(this.target, this.columns, rowLines, what);
    // Marked again once the versions are there: a settling step that read the first mark while
    // they were on their way cannot clear it (its compare-and-set meets this newer value).
    if (unsettling) await this.store.markUnsettled(this.spec.name);
    await this.store.recordDirty(this.spec.name, dirty);
    // Only now, with every shard holding the batch, does the checkpoint move past it.
    if (checkpoint !== undefined) {
      await this.store.updateTable(this.spec.name, (t) =>
        this.mode === 'rebuild' ? { ...t, rebuild: checkpoint } : { ...t, checkpoint },
      );
    }
  }

  /**
   * The staged sync path (first copies and rebuilds): the staging database renders the lines
   * `line` renders for the row path, with the batch's version, and checks the values against
   * CLICKHOUSE_LIMITS (`batchChecker`'s refusal). The lines then go as writeBatch sends an
   * append's rows: through the Distributed table (routed by the same sharding key), every shard
   * waited for, a resend marked unsettled (insertRouted), then the checkpoint.
   */
  readonly stagedText: StagedText | undefined;

  private staged(): StagedText {
    return {
      rowSql: (ident) =>
        `concat(${tsvFieldsSql(this.spec.columns, ident)}, chr(9), '${nextVersion()}', chr(9), '0', chr(10))`,
      limits: (ident) => limitsSql(this.spec.columns, ident),
      functions: [{ name: FLOAT_TEXT, text: floatText }],
      append: async (next, checkpoint) => {
        if (this.mode === 'upsert') throw new Error('stagedText: an upsert goes through writeBatch');
        // A first copy or a rebuild writes keys no stored row holds: nothing is unsettled by it
        // (a run resumed after a kill is an upsert, and takes the row path).
        const pieces: string[] = [];
        let rows = 0;
        for (let p = await next(); p; p = await next()) {
          pieces.push(p.text);
          rows += p.rows;
        }
        // A first copy may write any day of its table: its rollups are rebuilt whole by the next
        // refresh, recorded before the rows and again after them as writeBatch records its days
        // (a rebuild records them when it is swapped in, finish).
        const all: DirtyDays[] = this.mode === 'append' ? [{ time: '', lo: null, hi: null }] : [];
        await this.store.recordDirty(this.spec.name, all);
        if (rows > 0)
          await this.store.insertRouted(this.target, this.columns, pieces, `write ${this.spec.name}`);
        await this.store.recordDirty(this.spec.name, all);
        // Only now, with every shard holding the batch, does the checkpoint move past it.
        if (checkpoint !== undefined) {
          await this.store.updateTable(this.spec.name, (t) =>
            this.mode === 'rebuild' ? { ...t, rebuild: checkpoint } : { ...t, checkpoint },
          );
        }
        return rows;
      },
    };
  }

  async finish(checkpoint: string | undefined): Promise<void> {
    if (this.mode !== 'rebuild') return;
    // Every day of the table may change: its rollups are rebuilt whole by the next refresh.
    const all: DirtyDays[] = [{ time: '', lo: null, hi: null }];
    await this.store.recordDirty(this.spec.name, all);
    await this.store.swapIn(this.spec, this.target);
    await this.store.recordDirty(this.spec.name, all);
    // Built from empty in this run, one version per key (unless an insert was sent twice).
    await this.store.markSettledIfClean(this.spec.name);
    await this.store.updateTable(this.spec.name, () => ({
      columns: JSON.stringify(this.spec.columns),
      checkpoint: checkpoint ?? null,
      rebuild: null,
    }));
    // The rows devices added went with the old copy (the store allowed it, see openWriter).
    if ((await ingestedRows(this.store, this.spec.name)) > 0)
      await this.store.setMeta(ingestedRowsMeta(this.spec.name), '0');
  }
}

/**
 * The store on ClickHouse: one server, or a cluster of shards (one server each; replicas need
 * ZooKeeper). Per table: a ReplacingMergeTree on every shard keyed by the row key with a version,
 * a Distributed table routing rows by the owner's pseudonym, and a view that reads the newest
 * live version of each row. Nothing is a transaction here, so every write is idempotent by key
 * and each checkpoint is written only after the rows it covers are on every shard.
 *
 * @example
 * const store = await ClickHouseStore.open('clickhouse://fv@127.0.0.1:8123,127.0.0.1:8124/fv?cluster=fv&password_file=/etc/fleetvault/fv.pw');
 */
export class ClickHouseStore implements Store {
  private readonly entry: ClickHouseNode;
  private buffered: Map<string, string> | undefined;
  private discardIngested = false;
  /** Tables `insertNew` has made sure of in this process (a stream adds to one table many times). */
  private readonly ensured = new Set<string>();
  readonly limits: ValueLimits = CLICKHOUSE_LIMITS;

  private constructor(
    private readonly where: ClickHouseLocation,
    /** Every listed server, in the order of the cluster's `<remote_servers>` entry. */
    readonly nodes: readonly ClickHouseNode[],
    private readonly topology: Topology,
    entry?: ClickHouseNode,
  ) {
    this.entry = entry ?? (nodes[0] as ClickHouseNode);
  }

  get location(): string {
    return this.where.display;
  }

  get sharded(): boolean {
    return this.where.cluster !== undefined;
  }

  /** Whether each shard is on several servers, with Replicated tables kept in step by ZooKeeper. */
  get replicated(): boolean {
    return this.topology.replicated;
  }

  /** The servers that answered when the store was opened (every one, unless replicated). */
  private get liveNodes(): ClickHouseNode[] {
    return this.nodes.filter((_, i) => this.topology.up[i]);
  }

  /**
   * One server per shard, to write a shard's own table on: every server without replicas, else
   * the first live replica of each shard (ZooKeeper brings the rows to the others).
   */
  shardWriters(): ClickHouseNode[] {
    if (!this.replicated) return [...this.nodes];
    const out: ClickHouseNode[] = [];
    for (const shard of new Set(this.topology.shard)) {
      const i = this.topology.shard.findIndex((s, j) => s === shard && this.topology.up[j]);
      out.push(this.nodes[i] as ClickHouseNode);
    }
    return out;
  }

  /** Creating or replacing tables needs every replica: one that misses it would answer stale rows. */
  private requireEveryReplica(what: string): void {
    const down = this.nodes.filter((_, i) => !this.topology.up[i]).map((n) => n.host);
    if (down.length > 0) {
      throw new FvError(
        'FV_STORE_REPLICA_DOWN',
        `${what} needs every replica of ${this.location}, and ${down.join(', ')} did not answer; incremental writes go on with one live replica per shard`,
      );
    }
  }

  /** The table engine of a shard's table on server `i`: Replicated under `zkBase` when replicated. */
  private engine(i: number, zkBase: string | undefined, merge: string, args: string): string {
    if (!zkBase) return `${merge}(${args})`;
    const path = `${zkBase}/${this.topology.shard[i]}`;
    return `Replicated${merge}(${lit(path)}, '{replica}'${args ? `, ${args}` : ''})`;
  }

  /** Where a replicated table's shards meet in ZooKeeper: one folder per cluster, database, table. */
  private zkFolder(name: string): string {
    return `/clickhouse/fleetvault/${this.where.cluster}/${this.where.database}/${name}`;
  }

  static async open(url: string): Promise<ClickHouseStore> {
    const where = parseClickHouseUrl(url);
    const nodes = where.hosts.map((h) => new ClickHouseNode(where, h));
    const up = await Promise.all(
      nodes.map((n) =>
        n.ping().then(
          () => true,
          (error: unknown) => error,
        ),
      ),
    );
    let topology: Topology = {
      replicated: false,
      layout: '',
      shard: nodes.map((_, i) => i + 1),
      up: nodes.map(() => true),
    };
    let entry: ClickHouseNode | undefined;
    try {
      const first = up.indexOf(true);
      if (first < 0 || (!where.cluster && up[0] !== true)) throw up[0];
      if (where.cluster) {
        const firstNode = nodes[first] as ClickHouseNode;
        const r = await firstNode.rows(
          `SELECT shard_num, replica_num, shard_weight FROM system.clusters WHERE cluster = ${lit(where.cluster)} ORDER BY shard_num, replica_num`,
          'read the cluster',
        );
        if (r.length !== nodes.length) {
          throw new FvError(
            'FV_STORE_OPEN',
            r.length === 0
              ? `cluster ${where.cluster} is not defined in <remote_servers> on ${firstNode.host}`
              : `cluster ${where.cluster} has ${r.length} servers but ${where.display} lists ${nodes.length}; list each server's HTTP address, shard by shard`,
          );
        }
        const replicated = r.some((row) => Number(row[1]) > 1);
        const weights = new Map(r.map((row) => [Number(row[0]), String(row[2])]));
        topology = {
          replicated,
          layout: [...weights.values()].join(','),
          shard: r.map((row) => Number(row[0])),
          up: up.map((x) => x === true),
        };
        if (!replicated) {
          const down = up.find((x) => x !== true);
          if (down !== undefined) throw down;
        } else {
          for (const shard of new Set(topology.shard)) {
            if (!topology.shard.some((s, i) => s === shard && topology.up[i])) {
              throw new FvError(
                'FV_STORE_REPLICA_DOWN',
                `no replica of shard ${shard} of ${where.display} answered (${where.hosts.filter((_, i) => topology.shard[i] === shard).join(', ')})`,
              );
            }
          }
          // Any live server can take the bookkeeping and the Distributed reads and writes: they
          // are replicated to every server. Requests fail over to the next when one is gone.
          const live = where.hosts.filter((_, i) => topology.up[i]);
          entry = new ClickHouseNode(where, live[0] as string, live.slice(1));
        }
      }
    } catch (error) {
      for (const n of nodes) await n.close();
      throw error;
    }
    const store = new ClickHouseStore(where, nodes, topology, entry);
    try {
      // Every store opened here is opened to write: with ZooKeeper gone, stop before writing.
      if (store.replicated) await requireWritableReplicas(store.liveNodes);
      // Bookkeeping: on the first server, or with replicas on every server, one ZooKeeper folder.
      const bookkeeping = store.replicated ? store.liveNodes : [store.entry];
      const zk = (table: string) => (store.replicated ? store.zkFolder(table) : undefined);
      const engine = (table: string, merge: string, args: string) =>
        zk(table)
          ? `Replicated${merge}(${lit(zk(table) as string)}, '{replica}'${args ? `, ${args}` : ''})`
          : `${merge}(${args})`;
      for (const node of bookkeeping) {
        await node.command(
          `CREATE TABLE IF NOT EXISTS ${META} (key String, value String, v UInt64) ENGINE = ${engine(META, 'ReplacingMergeTree', 'v')} ORDER BY key`,
          'create bookkeeping',
        );
        await node.command(
          `CREATE TABLE IF NOT EXISTS ${TABLES} (name String, columns String, checkpoint Nullable(String), rebuild_checkpoint Nullable(String), v UInt64) ENGINE = ${engine(TABLES, 'ReplacingMergeTree', 'v')} ORDER BY name`,
          'create bookkeeping',
        );
        await node.command(
          `CREATE TABLE IF NOT EXISTS ${FORGOTTEN} (domain String, pseudonym UUID, erased_at DateTime('UTC') DEFAULT now()) ENGINE = ${engine(FORGOTTEN, 'MergeTree', '')} ORDER BY (domain, pseudonym)`,
          'create bookkeeping',
        );
        await node.command(
          `CREATE TABLE IF NOT EXISTS ${HELD} (tbl String, keycol String, key UUID, col String, link Nullable(UUID), v UInt64) ENGINE = ${engine(HELD, 'ReplacingMergeTree', 'v')} ORDER BY (tbl, key, col)`,
          'create bookkeeping',
        );
        await node.command(
          `CREATE TABLE IF NOT EXISTS ${ROLLUP_DIRTY} (id String, tbl String, time String, lo Nullable(Int32), hi Nullable(Int32), done UInt8, v UInt64) ENGINE = ${engine(ROLLUP_DIRTY, 'ReplacingMergeTree', 'v')} ORDER BY id`,
          'create bookkeeping',
        );
      }
    } catch (error) {
      await store.close();
      if (error instanceof FvError && error.code === 'FV_STORE_WRITE')
        throw new FvError('FV_STORE_OPEN', `cannot open store ${where.display}: ${error.message}`);
      throw error;
    }
    return store;
  }

  /** Inserts rows where their shard is: through the Distributed table, waiting for every shard. */
  async insertRouted(
    table: string,
    columns: readonly string[],
    lines: string[],
    what: string,
  ): Promise<void> {
    // Sent again to another replica, the first may have written it too (same version, twice):
    // the table is marked unsettled before the second copy is sent, so no read without FINAL sees
    // both, and again once it landed, so a settling step that read the first mark cannot clear it.
    const failovers = this.entry.failovers;
    const unsettle = () => this.markUnsettled(table.replace(REBUILD_SUFFIX, ''));
    if (!this.sharded) await this.entry.insert(localTable(table), columns, lines, what, {}, unsettle);
    else
      await this.entry.insert(
        allTable(table),
        columns,
        lines,
        what,
        { ...this.insertSettings, insert_distributed_sync: 1 },
        unsettle,
      );
    if (this.entry.failovers !== failovers) await unsettle();
  }

  /** Marks a table unsettled (readers use FINAL), before the write that may unsettle it. */
  async markUnsettled(table: string): Promise<void> {
    // Written at once, not buffered by `atomically`: it must be there before the rows are. A new
    // value each time, so a refreshDerived that began before it does not clear it.
    await this.writeMeta([[unsettledMeta(table), String(nextVersion())]]);
  }

  /**
   * Marks the table unsettled when any of `keys` (stored form) is held by a live row, and says
   * whether it did: the writer marks it again after its write (markUnsettled).
   */
  async markIfStored(spec: StoreTableSpec, keys: readonly Value[][], anyVersion = false): Promise<boolean> {
    if (keys.length === 0) return false;
    if (!(await this.heldKeys(spec, keys, anyVersion ? 'any' : 'unmerged')).some(Boolean)) return false;
    await this.markUnsettled(spec.name);
    return true;
  }

  /** After a rebuild: settled, unless an insert of this process was sent to a second server. */
  async markSettledIfClean(table: string): Promise<void> {
    if (this.entry.failovers > 0) return this.markUnsettled(table);
    await this.writeMeta([[unsettledMeta(table), '0']]);
  }

  /**
   * Settles every table not marked settled: each shard merges its table's versions (OPTIMIZE …
   * FINAL keeps the newest version of each key, a tombstone included), every replica waited for,
   * then the mark is cleared unless a write marked the table again meanwhile. Runs after a sync's
   * writes (runSync, forget), only with every replica up: until then readers use FINAL on those
   * tables.
   */
  async refreshDerived(rollups?: readonly RollupSpec[]): Promise<void> {
    // A replica that is down would take the merge only when back: a read sent to it then (its
    // shard's other replica gone) could meet two versions. Tables stay read FINAL until a run
    // with every replica up settles them.
    if (this.topology.up.some((up) => !up)) return;
    const what = 'settle row versions';
    const tables = await this.entry.rows(`SELECT name FROM ${TABLES} FINAL`, what);
    for (const [name] of tables) {
      const table = String(name);
      const mark = await this.meta(unsettledMeta(table));
      if (mark === '0' || !(await this.tableExists(table))) continue;
      try {
        for (const node of this.shardWriters()) {
          await node.command(`OPTIMIZE TABLE ${q(localTable(table))} FINAL`, what, {
            optimize_throw_if_noop: 1,
            replication_alter_partitions_sync: 2,
          });
        }
      } catch {
        // Not merged (a replica forwarding it to its shard's leader can be refused, code 192):
        // the table stays unsettled and read FINAL, which answers the same, only slower; the
        // run's writes are done and stand.
        continue;
      }
      if ((await this.meta(unsettledMeta(table))) === mark)
        await this.writeMeta([[unsettledMeta(table), '0']]);
    }
    await this.refreshRollups(rollups);
  }

  /**
   * Brings the rollups up to date (clickhouse-rollups.ts). With `rollups` (derived from the metrics
   * file), those are kept from now on: others are dropped, new ones built whole. Then, per base
   * table, the days of the pending ROLLUP_DIRTY entries read at the start are recomputed in each
   * rollup (whole weeks: a partition each, dropped and computed again from the shard's own rows),
   * and only those entries are marked done. A run killed on the way leaves them pending: the
   * rollups are not read until a refresh completes them.
   */
  private async refreshRollups(rollups: readonly RollupSpec[] | undefined): Promise<void> {
    const what = 'refresh rollups';
    let built = await this.builtRollups();
    if (rollups) {
      const wanted = new Set(rollups.map((r) => r.name));
      for (const r of built.filter((x) => !wanted.has(x.name))) {
        // Unlisted first (readers stop reading it), then dropped.
        await this.writeMeta([[rollupMeta(r.name), '']]);
        await this.dropRollupTables(r.name, what);
      }
      built = built.filter((x) => wanted.has(x.name));
    }
    const fresh = (rollups ?? []).filter((r) => !built.some((b) => b.name === r.name));
    const pending = await this.entry.rows(
      `SELECT id, tbl, time, lo, hi FROM ${ROLLUP_DIRTY} FINAL WHERE done = 0`,
      what,
    );
    const tables = new Set([...pending.map((p) => String(p[1])), ...fresh.map((r) => r.table)]);
    for (const table of tables) {
      const entries = pending.filter((p) => String(p[1]) === table);
      if (await this.tableExists(table)) {
        const settled = (await this.meta(unsettledMeta(table))) === '0';
        if (this.replicated)
          for (const node of this.shardWriters())
            await node.command(`SYSTEM SYNC REPLICA ${q(localTable(table))}`, what);
        for (const r of built.filter((x) => x.table === table)) {
          if (entries.length === 0) continue;
          // Entries of another time column (or of any day) recompute every day of this rollup.
          const mine = entries.map((p) =>
            String(p[2]) === r.time && p[3] !== null && p[4] !== null
              ? [Number(p[3]), Number(p[4])]
              : undefined,
          );
          const range = mine.some((x) => x === undefined)
            ? undefined
            : ([
                Math.min(...mine.map((x) => (x as number[])[0] as number)),
                Math.max(...mine.map((x) => (x as number[])[1] as number)),
              ] as const);
          await this.recomputeRollup(r, table, settled, range, what);
        }
        for (const r of fresh.filter((x) => x.table === table)) {
          await this.dropRollupTables(r.name, what);
          await this.createRollupTables(r, table, what);
          await this.recomputeRollup(r, table, settled, undefined, what);
          await this.writeMeta([[rollupMeta(r.name), JSON.stringify(r)]]);
        }
      }
      if (entries.length > 0) {
        const v = nextVersion();
        await this.entry.command(
          `INSERT INTO ${ROLLUP_DIRTY} VALUES ${entries.map((p) => `(${lit(String(p[0]))}, ${lit(table)}, ${lit(String(p[2]))}, ${p[3] === null ? 'NULL' : Number(p[3])}, ${p[4] === null ? 'NULL' : Number(p[4])}, 1, ${v})`).join(', ')}`,
          what,
        );
      }
    }
    await this.pruneRollupEntries(what);
  }

  /**
   * Every reader's query and every refresh read the pending ROLLUP_DIRTY entries with FINAL over
   * all the entries kept, so the completed ones are deleted: that read stays a few rows per write
   * since the last refresh, not every write ever. An entry's id is its own and an entry once done
   * is never pending again, so its versions can go, but never its done version first: a mutation
   * applies part by part (and replica by replica), and deleting both versions in one left, for a
   * moment, the pending version alone: the rollups taken as not current (CI saw it with replicas).
   * So, in two steps, the ids listed in the statements (a mutation's subquery is evaluated part by
   * part: on 18.16 `id IN (SELECT … FINAL WHERE done = 1)` left pending versions alone):
   * 1. the pending versions of completed entries are deleted: their done versions stay, and answer;
   * 2. a done version whose pending version no server holding the table keeps any more (step 1
   *    of an earlier refresh applied there) is deleted.
   * A store with a backlog sheds it over a few refreshes; with a replica down, step 2 waits.
   */
  private async pruneRollupEntries(what: string): Promise<void> {
    const limit = PRUNE_CHUNK * PRUNE_CHUNKS;
    /** `ids` as `id IN (…)` conditions of at most PRUNE_CHUNK listed ids each. */
    const among = (ids: readonly string[]) =>
      Array.from(
        { length: Math.ceil(ids.length / PRUNE_CHUNK) },
        (_, i) =>
          `id IN (${ids
            .slice(i * PRUNE_CHUNK, (i + 1) * PRUNE_CHUNK)
            .map(lit)
            .join(', ')})`,
      );
    const deleteWhere = async (condition: string, ids: readonly string[]) => {
      for (const listed of among(ids))
        await this.entry.command(`ALTER TABLE ${ROLLUP_DIRTY} DELETE WHERE ${condition} AND ${listed}`, what);
    };
    // Every version an id has on a server, read without FINAL: [id, its lowest done].
    const versions = await this.entry.rows(
      `SELECT id, min(done) FROM ${ROLLUP_DIRTY} GROUP BY id HAVING max(done) = 1 LIMIT ${limit}`,
      what,
    );
    const idsWhere = (lowest: number) =>
      versions.filter((r) => Number(r[1]) === lowest).map((r) => String(r[0]));
    await deleteWhere('done = 0', idsWhere(0));
    const holders = this.replicated ? this.nodes : [this.entry];
    if (holders.some((n) => !this.liveNodes.includes(n))) return;
    let gone = idsWhere(1);
    for (const node of holders.filter((n) => n !== this.entry)) {
      const kept = new Set<string>();
      for (const listed of among(gone))
        for (const r of await node.rows(
          `SELECT id FROM ${ROLLUP_DIRTY} WHERE ${listed} GROUP BY id HAVING min(done) = 1`,
          what,
        ))
          kept.add(String(r[0]));
      gone = gone.filter((id) => kept.has(id));
    }
    await deleteWhere('done = 1', gone);
  }

  /** Drops a rollup's tables on every live server (its Distributed table first). */
  private async dropRollupTables(name: string, what: string): Promise<void> {
    for (const node of this.liveNodes) {
      if (this.sharded) await node.command(`DROP TABLE IF EXISTS ${q(allTable(name))}`, what);
      await node.command(`DROP TABLE IF EXISTS ${q(localTable(name))}`, what);
    }
  }

  /** Creates a rollup's shard tables (the shape of its SELECT) and its Distributed table. */
  private async createRollupTables(r: RollupSpec, table: string, what: string): Promise<void> {
    this.requireEveryReplica(what);
    const zkBase = this.replicated ? `${this.zkFolder(r.name)}/${randomBytes(8).toString('hex')}` : undefined;
    const shape = rollupSelectClickHouse(r, localTable(table), true, 'none', await this.timeColumns(table));
    for (const [i, node] of this.nodes.entries()) {
      await node.command(
        `CREATE TABLE ${q(localTable(r.name))} ENGINE = ${this.engine(i, zkBase, 'MergeTree', '')} PARTITION BY toMonday(_fv_day) ORDER BY _fv_day AS ${shape}`,
        what,
      );
    }
    if (this.sharded)
      for (const node of this.nodes) {
        // Rows are computed on each shard from its own base rows, never inserted through it.
        await node.command(
          `CREATE TABLE ${q(allTable(r.name))} AS ${q(localTable(r.name))} ENGINE = Distributed(${q(this.where.cluster as string)}, currentDatabase(), ${q(localTable(r.name))}, rand())`,
          what,
        );
      }
  }

  /**
   * Computes a rollup's rows again for the days `range` (widened to whole weeks, the partitions),
   * or all, on every shard from its own base rows: the partitions dropped, then filled again.
   */
  private async recomputeRollup(
    r: RollupSpec,
    table: string,
    settled: boolean,
    range: readonly [number, number] | undefined,
    what: string,
  ): Promise<void> {
    const weeks = range ? ([mondayOf(range[0]), mondayOf(range[1]) + 6] as const) : undefined;
    const local = localTable(r.name);
    // With replicas, a dropped partition is gone from every replica before the rows are computed.
    const sync = this.replicated ? { replication_alter_partitions_sync: 2 } : {};
    for (const node of this.shardWriters()) {
      const parts = await node.rows(
        `SELECT DISTINCT toString(partition) FROM system.parts WHERE database = currentDatabase() AND table = ${lit(local)} AND active`,
        what,
      );
      for (const [p] of parts) {
        const monday = Math.round(Date.parse(`${String(p).replace(/'/g, '')}T00:00:00Z`) / 86_400_000);
        if (weeks && (monday < weeks[0] || monday > weeks[1])) continue;
        await node.command(
          `ALTER TABLE ${q(local)} DROP PARTITION ${lit(String(p).replace(/'/g, ''))}`,
          what,
          sync,
        );
      }
      // The grouping spills to the server's disk past ROLLUP_GROUP_BY_BYTES: built whole over the
      // fleet benchmark's 50M events per shard it otherwise passed the 4 GB per-query limit.
      await node.command(
        `INSERT INTO ${q(local)} ${rollupSelectClickHouse(r, localTable(table), settled, weeks, await this.timeColumns(table))}`,
        what,
        { ...this.insertSettings, max_bytes_before_external_group_by: String(ROLLUP_GROUP_BY_BYTES) },
      );
    }
    // Every replica holds the rows before the entries are marked done.
    if (this.replicated)
      for (const node of this.liveNodes) await node.command(`SYSTEM SYNC REPLICA ${q(local)}`, what);
  }

  /**
   * Replicated tables drop a block equal to one of the last hundred inserted (ZooKeeper keeps
   * their hashes); fleetvault's writes are idempotent by key and version instead, so a block equal
   * to an earlier one (a device message sent again after a sync hid it) is written, not dropped.
   */
  get insertSettings(): { insert_deduplicate?: 0 } {
    return this.replicated ? { insert_deduplicate: 0 } : {};
  }

  private async tableExists(name: string): Promise<boolean> {
    return this.catalogHas(localTable(name));
  }

  /** Whether the entry node's catalog holds a table (or view) of that name. */
  private async catalogHas(table: string): Promise<boolean> {
    const r = await this.entry.rows(
      `SELECT 1 FROM system.tables WHERE database = currentDatabase() AND name = ${lit(table)}`,
      'read the catalog',
    );
    return r.length > 0;
  }

  /** Whether every node has the table's local table, its Distributed table (sharded) and its view. */
  private async completeEverywhere(name: string): Promise<boolean> {
    const names = [localTable(name), ...(this.sharded ? [allTable(name)] : []), name];
    for (const node of this.liveNodes) {
      const r = await node.rows(
        `SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN (${names.map(lit).join(', ')})`,
        'read the catalog',
      );
      if (Number(r[0]?.[0] ?? 0) !== names.length) return false;
    }
    return true;
  }

  private async readTable(name: string): Promise<TableRow | undefined> {
    const r = await this.entry.rows(
      `SELECT columns, checkpoint, rebuild_checkpoint FROM ${TABLES} FINAL WHERE name = ${lit(name)}`,
      'read bookkeeping',
    );
    const row = r[0];
    return row ? { columns: String(row[0]), checkpoint: row[1] ?? null, rebuild: row[2] ?? null } : undefined;
  }

  async updateTable(name: string, change: (t: TableRow) => TableRow, initial?: TableRow): Promise<void> {
    const current = (await this.readTable(name)) ?? initial;
    if (!current) return;
    const t = change(current);
    const cell = (v: string | null) => (v === null ? 'NULL' : lit(v));
    await this.entry.command(
      `INSERT INTO ${TABLES} VALUES (${lit(name)}, ${lit(t.columns)}, ${cell(t.checkpoint)}, ${cell(t.rebuild)}, ${nextVersion()})`,
      'write bookkeeping',
    );
  }

  /**
   * The column whose value routes a table's rows to a shard, as its Distributed table was created
   * (read on the first live node that has it); undefined when none has it or it routes otherwise.
   */
  private async routedBy(name: string): Promise<string | undefined> {
    for (const node of this.liveNodes) {
      const r = await node.rows(
        `SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = ${lit(allTable(name))}`,
        'read the catalog',
      );
      const engine = r[0]?.[0];
      if (engine) return routedColumn(String(engine));
    }
    return undefined;
  }

  private routing(spec: StoreTableSpec): string {
    const keyText = spec.key.map((k) => `toString(${q(k)})`);
    const key = keyText.length === 1 ? (keyText[0] as string) : `concat(${keyText.join(", '|', ")})`;
    return spec.shardBy ? `cityHash64(ifNull(toString(${q(spec.shardBy)}), ${key}))` : `cityHash64(${key})`;
  }

  /** Creates a table's shard tables, Distributed table and view, replacing the last two. */
  private async create(spec: StoreTableSpec, name: string, what: string): Promise<void> {
    const cols = physicalColumns(spec.columns, spec.key)
      .map((c) => `${q(c.name)} ${c.type}`)
      .join(', ');
    const order = spec.key.map(q).join(', ');
    const zkBase = this.replicated ? await this.zkBase(name) : undefined;
    for (const [i, node] of this.nodes.entries()) {
      if (!this.topology.up[i]) continue;
      await node.command(
        `CREATE TABLE IF NOT EXISTS ${q(localTable(name))} (${cols}, _fv_version UInt64, _fv_deleted UInt8) ENGINE = ${this.engine(i, zkBase, 'ReplacingMergeTree', '_fv_version')} ORDER BY (${order}) SETTINGS old_parts_lifetime = ${OLD_PARTS_SECONDS}`,
        what,
      );
    }
    await this.exposeOn(spec, name, what);
  }

  /**
   * The ZooKeeper folder of a table's shards: the one its existing replicas use (a server that
   * missed the table, down when it was created, joins them when a later write finds it missing
   * and fetches its rows), else a new one. Each creation gets its own folder, since a
   * rebuilt table is renamed into place and a Replicated table keeps its folder across renames.
   */
  private async zkBase(name: string): Promise<string> {
    for (const node of this.liveNodes) {
      const r = await node.rows(
        `SELECT zookeeper_path FROM system.replicas WHERE database = currentDatabase() AND table = ${lit(localTable(name))}`,
        'read the replicas',
      );
      const path = r[0]?.[0];
      if (path) return path.replace(/\/[^/]*$/, '');
    }
    return `${this.zkFolder(name.replace(REBUILD_SUFFIX, ''))}/${randomBytes(8).toString('hex')}`;
  }

  private async exposeOn(spec: StoreTableSpec, name: string, what: string): Promise<void> {
    const visible = spec.columns.map((c) => q(c.name)).join(', ');
    for (const node of this.liveNodes) {
      if (this.sharded) {
        await node.command(`DROP TABLE IF EXISTS ${q(allTable(name))}`, what);
        await node.command(
          `CREATE TABLE ${q(allTable(name))} AS ${q(localTable(name))} ENGINE = Distributed(${q(this.where.cluster as string)}, currentDatabase(), ${q(localTable(name))}, ${this.routing(spec)})`,
          what,
        );
      }
      if (name.endsWith(REBUILD_SUFFIX)) continue;
      await node.command(`DROP TABLE IF EXISTS ${q(name)}`, what);
      await node.command(
        `CREATE VIEW ${q(name)} AS SELECT ${visible} FROM ${q(this.readable(name))} FINAL WHERE _fv_deleted = 0`,
        what,
      );
    }
  }

  /** The table a query reads all shards through. */
  readable(name: string): string {
    return readableTable(name, this.sharded);
  }

  /**
   * With replicas, a rebuilt table of the same columns replaces the rows of the live one with
   * `REPLACE PARTITION`, which ZooKeeper logs: a replica that is down replays it when it returns,
   * where a `RENAME` would leave it the old table (and the rows erased since) under the live name.
   */
  private async replaceReplicated(spec: StoreTableSpec, built: string, what: string): Promise<boolean> {
    const columnsOf = async (table: string) =>
      (
        await this.entry.rows(
          `SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = ${lit(table)} ORDER BY name`,
          what,
        )
      )
        .map((r) => r.join(' '))
        .join(', ');
    const live = await columnsOf(localTable(spec.name));
    if (live === '' || live !== (await columnsOf(localTable(built)))) return false;
    for (const node of this.shardWriters()) {
      // The built table's rows reached this replica through replication: wait for all of them.
      await node.command(`SYSTEM SYNC REPLICA ${q(localTable(built))}`, what);
      await node.command(
        `ALTER TABLE ${q(localTable(spec.name))} REPLACE PARTITION tuple() FROM ${q(localTable(built))}`,
        what,
      );
    }
    for (const node of this.liveNodes) {
      if (this.sharded) await node.command(`DROP TABLE IF EXISTS ${q(allTable(built))}`, what);
      await node.command(`DROP TABLE IF EXISTS ${q(localTable(built))}`, what);
    }
    return true;
  }

  async swapIn(spec: StoreTableSpec, built: string): Promise<void> {
    const what = `swap in the rebuilt ${spec.name}`;
    if (this.replicated && (await this.replaceReplicated(spec, built, what))) {
      await this.exposeOn(spec, spec.name, what);
      await this.recordLayout(spec.name);
      return;
    }
    this.requireEveryReplica(what);
    for (const node of this.nodes) {
      const old = `${localTable(spec.name)}__fv_old`;
      await node.command(`DROP TABLE IF EXISTS ${q(old)}`, what);
      const has = await node.rows(
        `SELECT 1 FROM system.tables WHERE database = currentDatabase() AND name = ${lit(localTable(spec.name))}`,
        what,
      );
      await node.command(
        has.length > 0
          ? `RENAME TABLE ${q(localTable(spec.name))} TO ${q(old)}, ${q(localTable(built))} TO ${q(localTable(spec.name))}`
          : `RENAME TABLE ${q(localTable(built))} TO ${q(localTable(spec.name))}`,
        what,
      );
      await node.command(`DROP TABLE IF EXISTS ${q(old)}`, what);
      if (this.sharded) await node.command(`DROP TABLE IF EXISTS ${q(allTable(built))}`, what);
    }
    await this.exposeOn(spec, spec.name, what);
    await this.recordLayout(spec.name);
  }

  /** Records that `table`'s rows are placed under the cluster's layout of now (layoutMeta). */
  private async recordLayout(table: string): Promise<void> {
    if (this.sharded) await this.writeMeta([[layoutMeta(table), this.topology.layout]]);
  }

  /**
   * Rows are placed by their routing value over the cluster's shard weights. A table written under
   * another layout holds rows where today's would not put them: an upsert by key would leave its
   * old version live on another shard, and a join on each shard would miss rows. So a write into
   * an existing table needs the layout it was placed under (recorded when it was created or
   * rebuilt; a table from before this record is taken as placed under today's), and `sync --full`
   * rebuilds it on a new one.
   */
  private async requireLayout(table: string): Promise<void> {
    if (!this.sharded) return;
    const placed = await this.meta(layoutMeta(table));
    if (placed === undefined) return this.recordLayout(table);
    if (placed !== this.topology.layout) {
      const shown = (l: string) => `${l.split(',').length} shards (weights ${l})`;
      throw new FvError(
        'FV_STORE_LAYOUT',
        `table ${table} of ${this.location} was placed on ${shown(placed)} and cluster ${this.where.cluster} has ${shown(this.topology.layout)} now: run \`fleetvault sync --full\` to rebuild it there`,
      );
    }
  }

  async bindKey(fingerprint: string): Promise<void> {
    const have = await this.meta('key_fingerprint');
    if (have === undefined) await this.setMeta('key_fingerprint', fingerprint);
    else if (have !== fingerprint) {
      throw new FvError('FV_KEY_MISMATCH', `store ${this.location} was built with a different key`);
    }
  }

  async setMeta(key: string, value: string): Promise<void> {
    if (this.buffered) {
      this.buffered.set(key, value);
      return;
    }
    await this.writeMeta([[key, value]]);
  }

  async setMetaNow(key: string, value: string): Promise<void> {
    await this.writeMeta([[key, value]]);
    this.buffered?.delete(key);
  }

  private async writeMeta(entries: ReadonlyArray<readonly [string, string]>): Promise<void> {
    if (entries.length === 0) return;
    const v = nextVersion();
    await this.entry.command(
      `INSERT INTO ${META} VALUES ${entries.map(([k, x]) => `(${lit(k)}, ${lit(x)}, ${v})`).join(', ')}`,
      'write bookkeeping',
    );
  }

  async meta(key: string): Promise<string | undefined> {
    const pending = this.buffered?.get(key);
    if (pending !== undefined) return pending;
    // A store never written has no bookkeeping yet: nothing recorded, not an error.
    const made = await this.entry.rows(
      `SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = ${lit(META)}`,
      'read bookkeeping',
    );
    if (Number(made[0]?.[0] ?? 0) === 0) return undefined;
    const r = await this.entry.rows(
      `SELECT value FROM ${META} FINAL WHERE key = ${lit(key)}`,
      'read bookkeeping',
    );
    const v = r[0]?.[0];
    return v === undefined || v === null ? undefined : v;
  }

  async metaEntries(prefix: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const made = await this.entry.rows(
      `SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = ${lit(META)}`,
      'read bookkeeping',
    );
    if (Number(made[0]?.[0] ?? 0) === 0) return out;
    for (const [k, v] of await this.entry.rows(
      `SELECT key, value FROM ${META} FINAL WHERE substring(key, 1, ${Buffer.byteLength(prefix)}) = ${lit(prefix)} ORDER BY key`,
      'read bookkeeping',
    ))
      out.set(String(k), v === null ? '' : String(v));
    for (const [k, v] of this.buffered ?? []) if (k.startsWith(prefix)) out.set(k, v);
    return out;
  }

  /**
   * No transactions here: the rows `fn` writes land as it writes them (each idempotent by key), and
   * the settings it records (a change-capture position) are written together, in one insert, after.
   */
  async atomically<T>(fn: () => Promise<T>): Promise<T> {
    if (this.buffered) throw new Error('atomically does not nest');
    this.buffered = new Map();
    try {
      const out = await fn();
      const entries = [...this.buffered.entries()];
      this.buffered = undefined;
      await this.writeMeta(entries);
      return out;
    } finally {
      this.buffered = undefined;
    }
  }

  async tableState(name: string): Promise<TableState | undefined> {
    const t = await this.readTable(name);
    if (!t) return undefined;
    // Counted through the table rows are written through: a run killed before it created that one
    // (the Distributed table, after the shards' tables) wrote no row.
    const rows = (await this.catalogHas(this.readable(name)))
      ? Number(
          (
            await this.entry.rows(
              `SELECT count() FROM ${q(this.readable(name))} FINAL WHERE _fv_deleted = 0`,
              `count ${name}`,
            )
          )[0]?.[0] ?? 0,
        )
      : 0;
    return {
      columns: JSON.parse(t.columns) as StoreColumn[],
      ...(t.checkpoint !== null ? { checkpoint: t.checkpoint } : {}),
      rows,
    };
  }

  allowDiscardingIngested(): void {
    this.discardIngested = true;
  }

  async openWriter(spec: StoreTableSpec, mode: WriteMode): Promise<TableWriter> {
    const columns = JSON.stringify(spec.columns);
    const what = `prepare ${spec.name}`;
    /** The table as written: the spec, routed as the stored table already is. */
    let table = spec;
    if (mode === 'rebuild' && !this.discardIngested) {
      const n = await ingestedRows(this, spec.name);
      if (n > 0) throw ingestedRowsError(spec.name, n, 'rebuilding it from the source');
    }
    if (mode === 'rebuild') {
      const built = spec.name + REBUILD_SUFFIX;
      for (const node of this.liveNodes) {
        await node.command(`DROP TABLE IF EXISTS ${q(allTable(built))}`, what);
        await node.command(`DROP TABLE IF EXISTS ${q(localTable(built))}`, what);
      }
      await this.create(spec, built, what);
      await this.updateTable(spec.name, (t) => ({ ...t, rebuild: null }), {
        columns,
        checkpoint: null,
        rebuild: null,
      });
    } else {
      // A table keeps the routing it was created with (a policy's rule may have changed since):
      // its rows sit where that routing put them. `--full` rebuilds it with the spec's.
      const routed = this.sharded ? await this.routedBy(spec.name) : undefined;
      if (routed !== undefined) table = routedSpec(spec, routed);
      // A run killed while creating the table may have left it on some nodes only, or without
      // its bookkeeping row (written last): create what is missing, then the row.
      const known = await this.readTable(spec.name);
      if (known) await this.requireLayout(spec.name);
      if (!known || !(await this.completeEverywhere(spec.name))) {
        await this.create(table, spec.name, what);
        if (!known) {
          if ((await this.count(spec.name, '1', what)) === 0)
            await this.writeMeta([[unsettledMeta(spec.name), '0']]);
          await this.recordLayout(spec.name);
          await this.updateTable(spec.name, () => ({ columns, checkpoint: null, rebuild: null }), {
            columns,
            checkpoint: null,
            rebuild: null,
          });
        }
      }
    }
    return new ClickHouseTableWriter(this, table, mode);
  }

  /** Which of a table's columns are times (kept with a `__us` column), as rollups ask. */
  private async timeColumns(table: string): Promise<(column: string) => boolean> {
    const columns = await this.columnsOf(table);
    return (c) => {
      const kind = columns.find((x) => x.name === c)?.kind;
      return kind !== undefined && isTime(kind);
    };
  }

  private async columnsOf(table: string): Promise<StoreColumn[]> {
    const t = await this.readTable(table);
    return t ? (JSON.parse(t.columns) as StoreColumn[]) : [];
  }

  /**
   * What a delete by `where` must remove: the matching rows (any version), and every version of a
   * key whose newest version matches, since deleting only the newest would bring an older version
   * of that key back (one not merged away yet: ClickHouse 26 merges later than 18.16 did).
   */
  private async withOlderVersions(table: string, where: string, what: string): Promise<string> {
    const r = await this.entry.rows(
      `SELECT sorting_key FROM system.tables WHERE database = currentDatabase() AND name = ${lit(localTable(table))}`,
      what,
    );
    const key = r[0]?.[0];
    if (!key) return where;
    return `(${where}) OR (${key}) IN (SELECT ${key} FROM ${q(localTable(table))} FINAL WHERE ${where})`;
  }

  /** Runs a delete on every shard and waits until each has rewritten its parts. */
  private async mutate(table: string, match: string, what: string): Promise<void> {
    // The rollups' days of the live rows that go (older versions are in no rollup), before and after.
    const dirty = await this.dirtyDaysWhere(table, match);
    await this.recordDirty(table, dirty);
    const where = await this.withOlderVersions(table, match, what);
    if (this.replicated) await this.mutateReplicas(table, where, what);
    else await this.mutateShards(table, where, what);
    await this.recordDirty(table, dirty);
  }

  private async mutateShards(table: string, where: string, what: string): Promise<void> {
    for (const node of this.nodes) {
      await node.command(`ALTER TABLE ${q(localTable(table))} DELETE WHERE ${where}`, what);
    }
    for (const node of this.nodes) {
      const deadline = Date.now() + 600_000;
      for (;;) {
        const r = await node.rows(
          `SELECT count() FROM system.mutations WHERE database = currentDatabase() AND table = ${lit(localTable(table))} AND is_done = 0`,
          what,
        );
        if (Number(r[0]?.[0] ?? 0) === 0) break;
        if (Date.now() > deadline)
          throw new FvError(
            'FV_STORE_WRITE',
            `ClickHouse at ${node.host}: ${what}: the delete did not finish in 10 minutes`,
          );
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /**
   * With replicas a delete is written once per shard, into ZooKeeper's log of that shard's table:
   * every replica applies it, and one that is down applies it when it returns, before it takes a
   * new part (it replays the log in order). fleetvault waits until no live replica holds a
   * matching row, any version, tombstones included.
   */
  private async mutateReplicas(table: string, where: string, what: string): Promise<void> {
    for (const node of this.shardWriters()) {
      await node.command(`ALTER TABLE ${q(localTable(table))} DELETE WHERE ${where}`, what);
    }
    await waitUntilNone(this.liveNodes, q(localTable(table)), where, what, 'delete');
  }

  private async count(table: string, where: string, what: string): Promise<number> {
    const r = await this.entry.rows(
      `SELECT count() FROM ${q(this.readable(table))} FINAL WHERE _fv_deleted = 0 AND ${where}`,
      what,
    );
    return Number(r[0]?.[0] ?? 0);
  }

  async expire(table: string, column: string, cutoff: Date): Promise<number> {
    if (!(await this.tableExists(table))) return 0;
    const kind = (await this.columnsOf(table)).find((c) => c.name === column)?.kind;
    const us = BigInt(cutoff.getTime()) * 1000n;
    let where: string;
    if (kind && isTime(kind)) {
      where = `(toUInt64(toUInt32(${q(column)})) * 1000000 + ${q(microsColumn(column))}) < ${us}`;
    } else {
      // A date is before the cutoff when its midnight is.
      const day = Math.ceil(cutoff.getTime() / 86_400_000);
      where = `${q(column)} < toDate(${lit(new Date(day * 86_400_000).toISOString().slice(0, 10))})`;
    }
    const what = `expire ${table}.${column}`;
    const n = await this.count(table, where, what);
    if (n > 0) await this.mutate(table, where, what);
    return n;
  }

  async linked(
    table: string,
    column: string,
    pseudonyms: readonly string[],
    returning: string,
  ): Promise<string[]> {
    const list = pseudonyms.filter((p) => UUID.test(p));
    if (list.length === 0 || !(await this.tableExists(table))) return [];
    const out = new Set<string>();
    for (let i = 0; i < list.length; i += ERASE_CHUNK) {
      const r = await this.entry.rows(
        `SELECT DISTINCT toString(${q(returning)}) FROM ${q(this.readable(table))} FINAL WHERE _fv_deleted = 0 AND ${q(column)} IN (${list
          .slice(i, i + ERASE_CHUNK)
          .map(lit)
          .join(', ')})`,
        `follow ${table}.${column}`,
      );
      for (const x of r) if (x[0] !== null) out.add(x[0] as string);
    }
    return [...out];
  }

  async clear(table: string, column: string, pseudonyms: readonly string[]): Promise<number> {
    const list = pseudonyms.filter((p) => UUID.test(p));
    if (list.length === 0 || !(await this.tableExists(table))) return 0;
    const what = `clear ${table}.${column}`;
    let cleared = 0;
    for (let i = 0; i < list.length; i += ERASE_CHUNK) {
      const where = `${q(column)} IN (${list
        .slice(i, i + ERASE_CHUNK)
        .map(lit)
        .join(', ')})`;
      cleared += await this.count(table, where, what);
      const dirty = await this.dirtyDaysWhere(table, where);
      await this.recordDirty(table, dirty);
      // Every version holding the value, on every shard (one replica per shard: ZooKeeper takes
      // the update to the others); done when no server holds a row with it.
      for (const node of this.shardWriters())
        await node.command(
          `ALTER TABLE ${q(localTable(table))} UPDATE ${q(column)} = NULL WHERE ${where}`,
          what,
        );
      await waitUntilNone(this.liveNodes, q(localTable(table)), where, what, 'update');
      await this.recordDirty(table, dirty);
    }
    return cleared;
  }

  async holdLinks(table: string, keyColumn: string, links: readonly HeldLink[]): Promise<void> {
    const list = links.filter((l) => UUID.test(l.key) && (l.link === null || UUID.test(l.link)));
    if (list.length === 0) return;
    // Each (key, column) keeps its latest link: the newest version wins (read with FINAL).
    const v = nextVersion();
    await this.entry.insert(
      HELD,
      ['tbl', 'keycol', 'key', 'col', 'link', 'v'],
      list.map(
        (l) =>
          `${tsvName(table)}\t${tsvName(keyColumn)}\t${l.key}\t${tsvName(l.column)}\t${l.link ?? '\\N'}\t${v}\n`,
      ),
      'hold links',
    );
  }

  async heldLinks(table: string, column: string, pseudonyms: readonly string[]): Promise<string[]> {
    return [...(await this.heldKeysWhere(table, column, 'link', pseudonyms))];
  }

  async heldAmong(table: string, column: string, keys: readonly string[]): Promise<Set<string>> {
    return this.heldKeysWhere(table, column, 'key', keys);
  }

  /** The keys of `table`'s current held links in `column` whose `field` is among `values`. */
  private async heldKeysWhere(
    table: string,
    column: string,
    field: 'link' | 'key',
    values: readonly string[],
  ): Promise<Set<string>> {
    const out = new Set<string>();
    for (const among of inLists(values.filter((p) => UUID.test(p)))) {
      const r = await this.entry.rows(
        `SELECT DISTINCT toString(key) FROM (${this.currentHeld(table)}) WHERE col = ${heldName(column)} AND ${field} IN (${among})`,
        `read held links of ${table}.${column}`,
      );
      for (const x of r) out.add(String(x[0]));
    }
    return out;
  }

  async holdsLinks(table: string): Promise<boolean> {
    const r = await this.entry.rows(
      `SELECT 1 FROM ${HELD} WHERE tbl = ${heldName(table)} LIMIT 1`,
      `read held links of ${table}`,
    );
    return r.length > 0;
  }

  async releaseHeld(table: string, keys?: readonly string[]): Promise<void> {
    const what = `release held links of ${table}`;
    let among: string[];
    if (keys === undefined) {
      // The held keys whose row the table holds now.
      const held = await this.entry.rows(
        `SELECT DISTINCT toString(key), keycol FROM ${HELD} WHERE tbl = ${heldName(table)}`,
        what,
      );
      const keycol = held[0]?.[1];
      if (keycol === undefined || !(await this.tableExists(table))) return;
      among = [];
      for (const list of inLists(held.map((x) => String(x[0])))) {
        const live = await this.entry.rows(
          `SELECT DISTINCT toString(${q(String(keycol))}) FROM ${q(this.readable(table))} FINAL WHERE _fv_deleted = 0 AND ${q(String(keycol))} IN (${list})`,
          what,
        );
        for (const x of live) among.push(String(x[0]));
      }
    } else {
      // Only the keys held: a batch of written rows mostly holds none, and a delete is a mutation.
      among = [];
      for (const list of inLists(keys.filter((p) => UUID.test(p)))) {
        const held = await this.entry.rows(
          `SELECT DISTINCT toString(key) FROM ${HELD} WHERE tbl = ${heldName(table)} AND key IN (${list})`,
          what,
        );
        for (const x of held) among.push(String(x[0]));
      }
    }
    for (const list of inLists(among))
      await this.deleteHeld(`tbl = ${heldName(table)} AND key IN (${list})`, what);
  }

  /** Deletes the held links matching `where`, every version, on every replica. */
  private async deleteHeld(where: string, what: string): Promise<void> {
    const any = await this.entry.rows(`SELECT count() FROM ${HELD} WHERE ${where}`, what);
    if (Number(any[0]?.[0] ?? 0) === 0) return;
    await this.entry.command(`ALTER TABLE ${HELD} DELETE WHERE ${where}`, what);
    await waitUntilNone(this.replicated ? this.liveNodes : [this.entry], HELD, where, what, 'delete');
  }

  /**
   * The current version of each held link of `table`: filtered by anything but the sorting key
   * only after FINAL has merged the versions (a condition moved before the merge would let a
   * superseded version match).
   */
  private currentHeld(table: string): string {
    return `SELECT key, keycol, col, link FROM ${HELD} FINAL WHERE tbl = ${heldName(table)}`;
  }

  /**
   * Deletes the held links of `table` that `erase(table, column, list)` reaches, on every replica:
   * every version of a key whose current link (FINAL) or own key matches, and superseded versions
   * holding a matching link (a held-back device's former owner); a key's current other link stays.
   */
  private async eraseHeld(table: string, column: string, list: readonly string[]): Promise<void> {
    const what = `erase held links of ${table}.${column}`;
    const among = list.map(lit).join(', ');
    const match = `(col = ${heldName(column)} AND link IN (${among})) OR (keycol = ${heldName(column)} AND key IN (${among}))`;
    const keys = await this.entry.rows(
      `SELECT DISTINCT toString(key) FROM (${this.currentHeld(table)}) WHERE ${match}`,
      what,
    );
    const current = keys.map((k) => lit(String(k[0])));
    const where = `tbl = ${heldName(table)} AND (${match}${current.length > 0 ? ` OR key IN (${current.join(', ')})` : ''})`;
    await this.deleteHeld(where, what);
  }

  async erase(table: string, column: string, pseudonyms: readonly string[]): Promise<number> {
    const list = pseudonyms.filter((p) => UUID.test(p));
    if (list.length === 0) return 0;
    for (let i = 0; i < list.length; i += ERASE_CHUNK)
      await this.eraseHeld(table, column, list.slice(i, i + ERASE_CHUNK));
    if (!(await this.tableExists(table))) return 0;
    const what = `erase from ${table}.${column}`;
    let deleted = 0;
    for (let i = 0; i < list.length; i += ERASE_CHUNK) {
      const where = `${q(column)} IN (${list
        .slice(i, i + ERASE_CHUNK)
        .map(lit)
        .join(', ')})`;
      const n = await this.count(table, where, what);
      deleted += n;
      // Every version of the rows goes, tombstones included, on every shard.
      await this.mutate(table, where, what);
    }
    return deleted;
  }

  async missingKeys(
    table: string,
    column: string,
    live: AsyncIterable<readonly bigint[]>,
  ): Promise<string[]> {
    if (!(await this.tableExists(table))) return [];
    const scratch = `_fv_live_${randomBytes(6).toString('hex')}`;
    const what = `compare ${table}.${column} with the source`;
    await this.entry.command(`CREATE TABLE ${scratch} (k UUID) ENGINE = Memory`, what);
    try {
      for await (const keys of live)
        if (keys.length > 0)
          await this.entry.insert(
            scratch,
            ['k'],
            keys.map((p) => `${uuidText(p)}\n`),
            what,
          );
      const r = await this.entry.rows(
        `SELECT DISTINCT toString(${q(column)}) FROM ${q(this.readable(table))} FINAL WHERE _fv_deleted = 0 AND ${q(column)} ${this.sharded ? 'GLOBAL ' : ''}NOT IN (SELECT k FROM ${scratch})`,
        what,
      );
      return r.map((x) => String(x[0]));
    } finally {
      await this.entry.command(`DROP TABLE IF EXISTS ${scratch}`, what);
    }
  }

  /**
   * Looks the keys up across every shard (a row routed by another column than its key may sit on
   * another shard than a message reusing its key would go to), then adds the others with the
   * lowest version: a sync that writes the same key later (a tombstone on every shard, then its
   * row) still wins.
   */
  async insertNew(spec: StoreTableSpec, rows: readonly Value[][]): Promise<number> {
    const writer = new ClickHouseTableWriter(this, spec, 'append');
    batchChecker(CLICKHOUSE_LIMITS, spec.name, spec.columns)(rows);
    if (!this.ensured.has(spec.name)) {
      await this.openWriter(spec, 'append'); // creates the tables when missing
      this.ensured.add(spec.name);
    }
    const keyIdx = spec.key.map((k) => spec.columns.findIndex((c) => c.name === k));
    const held = await this.heldKeys(
      spec,
      rows.map((r) => keyIdx.map((i) => r[i] ?? null)),
    );
    const fresh = rows.filter((_, i) => !held[i]);
    if (fresh.length === 0) return 0;
    // A key with only a tombstone stored (erased, or deleted at the source) is not held, but its
    // message's row is older than the tombstone: only FINAL hides it, until settled.
    const unsettling = await this.markIfStored(
      spec,
      fresh.map((r) => keyIdx.map((i) => r[i] ?? null)),
      true,
    );
    const dirty = await this.dirtyDays(spec, fresh, []);
    await this.recordDirty(spec.name, dirty);
    await this.insertRouted(
      spec.name,
      writer.columns,
      fresh.map((r) => writer.line(r, INGESTED_VERSION, 0)),
      `write ${spec.name}`,
    );
    // Marked again once the rows are there (as writeBatch does after its versions).
    if (unsettling) await this.markUnsettled(spec.name);
    await this.recordDirty(spec.name, dirty);
    await this.setMeta(
      ingestedRowsMeta(spec.name),
      String((await ingestedRows(this, spec.name)) + fresh.length),
    );
    return fresh.length;
  }

  /**
   * For each key (the table's key columns, stored form): whether a row holds it. `live`: the
   * newest version is a live row (FINAL); `unmerged`: any live version (no FINAL, what a settled
   * table answers without merging); `any`: any version, tombstones too.
   */
  private async heldKeys(
    spec: StoreTableSpec,
    keys: readonly Value[][],
    which: 'live' | 'unmerged' | 'any' = 'live',
  ): Promise<boolean[]> {
    if (keys.length === 0 || !(await this.tableExists(spec.name))) return keys.map(() => false);
    const match = this.keyMatch(spec);
    const held = new Set<string>();
    for (let i = 0; i < keys.length; i += ERASE_CHUNK) {
      const r = await this.entry.rows(
        `SELECT ${match.expr} FROM ${q(this.readable(spec.name))}${which === 'live' ? ' FINAL' : ''} WHERE ${which === 'any' ? '1' : '_fv_deleted = 0'} AND ${match.among(keys.slice(i, i + ERASE_CHUNK))}`,
        `look up keys of ${spec.name}`,
      );
      for (const row of r) held.add(String(row[0]));
    }
    return keys.map((k) => held.has(match.text(k)));
  }

  /** How rows are matched to keys (the table's key columns, stored form): each key as text, and SQL. */
  private keyMatch(spec: StoreTableSpec): {
    expr: string;
    text: (key: readonly Value[]) => string;
    among: (keys: readonly Value[][]) => string;
  } {
    const columns = spec.key.map(
      (k) => spec.columns.find((c) => c.name === k) ?? { name: k, kind: 'text' as const, sourceType: '' },
    );
    // A key as text, the same on both sides: TabSeparated fields, a time as its two columns.
    const enc = encoders(spec.name, columns);
    const text = (key: readonly Value[]) =>
      columns
        .map((c, i) =>
          c.kind === 'text' ? String(key[i]) : (enc[i] as (v: Value) => string)(key[i] ?? null),
        )
        .join('\t');
    const parts = columns.map((c) =>
      isTime(c.kind)
        ? `toString(${q(c.name)}), '\\t', toString(${q(microsColumn(c.name))})`
        : `toString(${q(c.name)})`,
    );
    const expr =
      parts.length === 1 && !isTime(columns[0]?.kind ?? 'text')
        ? (parts[0] as string)
        : `concat(${parts.join(", '\\t', ")})`;
    // One key column of a plain kind is looked up through the primary index; others by their text.
    const direct = columns.length === 1 && !isTime(columns[0]?.kind ?? 'text');
    const literal = (k: readonly Value[]) =>
      direct && (columns[0]?.kind === 'integer' || columns[0]?.kind === 'bigint')
        ? String(k[0])
        : lit(text(k));
    const among = (keys: readonly Value[][]) =>
      `${direct ? q(columns[0]?.name ?? '') : expr} IN (${keys.map(literal).join(', ')})`;
    return { expr, text, among };
  }

  /** The time columns of `table` its rollups are kept by (built rollups, from the settings). */
  private async rollupTimes(table: string): Promise<string[]> {
    const specs = await this.builtRollups();
    return [...new Set(specs.filter((r) => r.table === table).map((r) => r.time))];
  }

  /** The rollups built and kept (rollupMeta), as their specs. */
  private async builtRollups(): Promise<RollupSpec[]> {
    const r = await this.entry.rows(
      `SELECT value FROM ${META} FINAL WHERE key LIKE 'rollup:%' AND value != ''`,
      'read bookkeeping',
    );
    return r.map((x) => JSON.parse(String(x[0])) as RollupSpec);
  }

  /**
   * The days of `spec`'s rollups a write changes: of `rows` (written) and of the stored rows under
   * `keys` (replaced or deleted), per time column a rollup of the table is kept by; any day when
   * the table has no rollup yet (one built while this write goes on is then rebuilt whole).
   */
  async dirtyDays(
    spec: StoreTableSpec,
    rows: readonly Value[][],
    keys: readonly Value[][],
  ): Promise<DirtyDays[]> {
    const times = await this.rollupTimes(spec.name);
    if (times.length === 0) return rows.length + keys.length > 0 ? [{ time: '', lo: null, hi: null }] : [];
    const out: DirtyDays[] = [];
    const stored = keys.length > 0 && (await this.tableExists(spec.name));
    for (const time of times) {
      const i = spec.columns.findIndex((c) => c.name === time);
      const col = spec.columns[i];
      if (!col) return [{ time: '', lo: null, hi: null }];
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (const r of rows) {
        const d = dayOfValue(r[i], col.kind);
        if (d === undefined) continue;
        lo = Math.min(lo, d);
        hi = Math.max(hi, d);
      }
      if (stored) {
        // Every version under the keys (a superset of the live ones), through the key index.
        const match = this.keyMatch(spec);
        for (let k = 0; k < keys.length; k += ERASE_CHUNK) {
          const r = await this.entry.rows(
            `SELECT toInt32(min(${dayNumber(time)})), toInt32(max(${dayNumber(time)})), count(${q(time)}) FROM ${q(this.readable(spec.name))} WHERE ${match.among(keys.slice(k, k + ERASE_CHUNK))}`,
            `look up keys of ${spec.name}`,
          );
          if (Number(r[0]?.[2] ?? 0) === 0) continue;
          lo = Math.min(lo, Number(r[0]?.[0]));
          hi = Math.max(hi, Number(r[0]?.[1]));
        }
      }
      if (lo <= hi) out.push({ time, lo, hi });
    }
    return out;
  }

  /** The days of `table`'s rollups a delete of the live rows matching `where` changes. */
  private async dirtyDaysWhere(table: string, where: string): Promise<DirtyDays[]> {
    const times = await this.rollupTimes(table);
    if (times.length === 0) return [{ time: '', lo: null, hi: null }];
    const out: DirtyDays[] = [];
    for (const time of times) {
      const r = await this.entry.rows(
        `SELECT toInt32(min(${dayNumber(time)})), toInt32(max(${dayNumber(time)})), count(${q(time)}) FROM ${q(this.readable(table))} WHERE _fv_deleted = 0 AND (${where})`,
        `find the days of ${table} a delete changes`,
      );
      if (Number(r[0]?.[2] ?? 0) > 0) out.push({ time, lo: Number(r[0]?.[0]), hi: Number(r[0]?.[1]) });
    }
    return out;
  }

  /** Records days of `table` its rollups must recompute before they are read again (ROLLUP_DIRTY). */
  async recordDirty(table: string, days: readonly DirtyDays[]): Promise<void> {
    if (days.length === 0) return;
    const v = nextVersion();
    const n = (x: number | null) => (x === null ? 'NULL' : String(x));
    await this.entry.command(
      `INSERT INTO ${ROLLUP_DIRTY} VALUES ${days.map((d) => `(${lit(randomBytes(12).toString('hex'))}, ${lit(table)}, ${lit(d.time)}, ${n(d.lo)}, ${n(d.hi)}, 0, ${v})`).join(', ')}`,
      'write bookkeeping',
    );
  }

  async tombstones(): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>();
    for (const [domain, p] of await this.entry.rows(
      `SELECT domain, toString(pseudonym) FROM ${FORGOTTEN}`,
      'read tombstones',
    )) {
      const set = out.get(String(domain)) ?? new Set<string>();
      set.add(String(p));
      out.set(String(domain), set);
    }
    return out;
  }

  async tombstonesAmong(domain: string, candidates: readonly bigint[]): Promise<Set<string>> {
    if (candidates.length === 0) return new Set();
    const scratch = `_fv_among_${randomBytes(6).toString('hex')}`;
    const what = 'read tombstones';
    await this.entry.command(`CREATE TABLE ${scratch} (k UUID) ENGINE = Memory`, what);
    try {
      await this.entry.insert(
        scratch,
        ['k'],
        candidates.map((p) => `${uuidText(p)}\n`),
        what,
      );
      const rows = await this.entry.rows(
        `SELECT DISTINCT toString(pseudonym) FROM ${FORGOTTEN} WHERE domain = ${forgottenDomain(domain)} AND pseudonym IN (SELECT k FROM ${scratch})`,
        what,
      );
      return new Set(rows.map((x) => String(x[0])));
    } finally {
      await this.entry.command(`DROP TABLE IF EXISTS ${scratch}`, what);
    }
  }

  async tombstoneCounts(): Promise<Map<string, { count: number; latest: number }>> {
    const rows = await this.entry.rows(
      `SELECT domain, count(), toUnixTimestamp(max(erased_at)) * 1000 FROM ${FORGOTTEN} GROUP BY domain`,
      'read tombstones',
    );
    return new Map(rows.map(([d, n, t]) => [String(d), { count: Number(n), latest: Number(t) }] as const));
  }

  async tombstonesIn(domain: string, since?: number): Promise<Set<string>> {
    // erased_at holds seconds: a `since` inside a second takes that whole second.
    const after =
      since === undefined ? '' : ` AND erased_at >= toDateTime(${Math.floor(since / 1000)}, 'UTC')`;
    const rows = await this.entry.rows(
      `SELECT DISTINCT toString(pseudonym) FROM ${FORGOTTEN} WHERE domain = ${forgottenDomain(domain)}${after}`,
      'read tombstones',
    );
    return new Set(rows.map((x) => String(x[0])));
  }

  async addTombstones(domain: string, pseudonyms: readonly string[]): Promise<void> {
    const list = pseudonyms.filter((p) => UUID.test(p));
    if (list.length === 0) return;
    await this.entry.insert(
      FORGOTTEN,
      ['domain', 'pseudonym'],
      list.map((p) => `${tsvName(domain)}\t${p}\n`),
      'write tombstones',
    );
  }

  /** The servers hold the data and their own memory; this process keeps nothing between steps. */
  async releaseMemory(): Promise<void> {}

  async close(): Promise<void> {
    for (const n of this.nodes) await n.close();
    if (!this.nodes.includes(this.entry)) await this.entry.close();
  }
}
