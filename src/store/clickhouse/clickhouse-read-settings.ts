import type { ClickHouseSettings } from '@clickhouse/client';
import { FvError } from '../../errors/index.ts';
import { ClickHouseNode, describeClickHouseError } from './clickhouse-node.ts';
import { parseClickHouseUrl } from './clickhouse-url.ts';

/**
 * The per-query limits of every read fleetvault makes on ClickHouse, in one place (metric reads,
 * their bookkeeping, analyst SQL). A row cap alone does not bound memory: a sort or GROUP BY over
 * 40 M rows builds its state before the first row is returned (717 MB in the review), so each
 * query also carries `max_memory_usage`, and the server stops it when it needs more.
 * FLEETVAULT_CLICKHOUSE_QUERY_MEMORY (bytes) replaces both memory defaults.
 */
export const READ_LIMITS = {
  metric: {
    /** The heaviest shipped metric joins every event to its device; room for that at fleet size. */
    memoryBytes: 2 * 1024 ** 3,
    /** Groups in one answer: periods × dimension values. More is refused, never cut silently. */
    maxRows: 1_000_000,
  },
  analyst: {
    memoryBytes: 1024 ** 3,
    /** Bytes of one analyst answer, on top of its row cap (a row may hold a long string). */
    maxBytes: 64 * 1024 ** 2,
  },
} as const;

/** Which kind of read: a metric (or the bookkeeping it needs), or an analyst's guarded SELECT. */
export type ReadKind = 'metric' | 'analyst';

/**
 * What the connected user's `readonly` profile setting allows. 0: the user can write, so every
 * read also sets readonly = 1 itself. 2: read-only, and per-query settings allowed (what the
 * server's user must be). 1: read-only but no setting may be passed, so no limit could be set:
 * refused.
 */
export type ReadonlyLevel = 0 | 2;

/** Reads the user's `readonly` level from the server; a level-1 user is refused (no limits possible). */
export function readonlyLevel(value: string | null | undefined, user: string): ReadonlyLevel {
  const level = Number(value ?? 0);
  if (level === 0 || level === 2) return level;
  throw new FvError(
    'FV_STORE_PRIVILEGE',
    `ClickHouse user ${user} has readonly = ${String(value)}, which forbids the per-query memory and row limits fleetvault sets on every read; give its profile readonly = 2`,
  );
}

function memoryBytes(kind: ReadKind, env: NodeJS.ProcessEnv): number {
  const fromEnv = Number(env.FLEETVAULT_CLICKHOUSE_QUERY_MEMORY);
  return Number.isSafeInteger(fromEnv) && fromEnv > 0 ? fromEnv : READ_LIMITS[kind].memoryBytes;
}

/**
 * The settings one read runs with. Metric reads throw when an answer would exceed the row cap
 * (a metric cut short would be wrong); analyst reads stop at `maxRows + 1` (the caller shows
 * `maxRows` and says the answer was truncated) and at `timeoutMs`.
 *
 * @example
 * await node.rows(sql, 'compute activations', clickHouseReadSettings('metric', 2));
 */
export function clickHouseReadSettings(
  kind: ReadKind,
  level: ReadonlyLevel,
  opts: { readonly maxRows?: number; readonly timeoutMs?: number } = {},
  env: NodeJS.ProcessEnv = process.env,
): ClickHouseSettings {
  const base: ClickHouseSettings = {
    // A writer connection reads with readonly = 1 (no write, no setting change); a readonly = 2
    // user may not change `readonly` at all, and needs nothing more.
    ...(level === 0 ? { readonly: '1' } : {}),
    max_memory_usage: String(memoryBytes(kind, env)),
  };
  if (kind === 'metric') {
    return { ...base, max_result_rows: String(READ_LIMITS.metric.maxRows), result_overflow_mode: 'throw' };
  }
  return {
    ...base,
    max_result_rows: String((opts.maxRows ?? 1000) + 1),
    max_result_bytes: String(READ_LIMITS.analyst.maxBytes),
    result_overflow_mode: 'break',
    ...(opts.timeoutMs !== undefined
      ? { max_execution_time: Math.max(1, Math.ceil(opts.timeoutMs / 1000)) }
      : {}),
  };
}

const LIMIT_CODES: Readonly<Record<string, 'memory' | 'rows' | 'time'>> = {
  '241': 'memory', // MEMORY_LIMIT_EXCEEDED
  '396': 'rows', // TOO_MANY_ROWS_OR_BYTES (max_result_rows with result_overflow_mode = throw)
  '159': 'time', // TIMEOUT_EXCEEDED
};

/** Which per-query limit stopped a read, if one did. */
export function limitHit(error: unknown): 'memory' | 'rows' | 'time' | undefined {
  const text = error instanceof FvError ? error.message : describeClickHouseError(error);
  const code = /\(code (\d+)\)\s*$/.exec(text)?.[1];
  return code ? LIMIT_CODES[code] : undefined;
}

/** A read stopped by a limit, said plainly: which limit, and what to narrow. */
export function limitMessage(hit: 'memory' | 'rows' | 'time', kind: ReadKind, env = process.env): string {
  if (hit === 'memory')
    return `the query needed more than ${Math.round(memoryBytes(kind, env) / 1024 ** 2)} MiB on the ClickHouse server and was stopped (FLEETVAULT_CLICKHOUSE_QUERY_MEMORY sets the limit)`;
  if (hit === 'rows')
    return `the answer has more than ${READ_LIMITS.metric.maxRows.toLocaleString('en-US')} groups`;
  return 'the query ran longer than its time limit and was stopped';
}

/**
 * What `serve` checks before it listens: the ClickHouse user it reads as cannot write. The server
 * answers strangers' requests; a user that can also write (or DROP) is what sync uses, not it.
 */
export async function requireReadOnlyClickHouseUser(url: string): Promise<void> {
  const where = parseClickHouseUrl(url);
  const node = new ClickHouseNode(where, where.hosts[0] as string);
  try {
    await node.ping();
    if (readonlyLevel(await node.readonlySetting(), where.user) === 0) {
      throw new FvError(
        'FV_STORE_PRIVILEGE',
        `ClickHouse user ${where.user} can write to ${where.display}; serve reads as a read-only user (profile readonly = 2, allowed only the store's database), separate from the user sync writes with`,
      );
    }
  } finally {
    await node.close();
  }
}
