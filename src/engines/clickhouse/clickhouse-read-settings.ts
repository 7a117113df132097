import type { ClickHouseSettings } from '@clickhouse/client';
import { FvError } from '../../errors/index.ts';
import { clickHouseEntry, describeClickHouseError } from './clickhouse-node.ts';
import { parseClickHouseUrl } from './clickhouse-url.ts';

/**
 * The per-query limits of every metric read on ClickHouse (the metric itself and the bookkeeping
 * it needs), in one place. A row cap alone does not bound memory: a sort or GROUP BY over 40 M
 * rows builds its state before the first row is returned (717 MB in the review), so each query
 * also carries `max_memory_usage`, and the server stops it when it needs more. Analyst statements
 * take the guarded-SQL path (clickhouse-sql.ts) with their own limits; both reach the server
 * through ClickHouseNode, which adapts `readonly` to the connected user.
 */
export const METRIC_READ_LIMITS = {
  /** The heaviest shipped metric joins every event to its device; room for that at fleet size. */
  memoryBytes: 2 * 1024 ** 3,
  /** Groups in one answer: periods × dimension values. More is refused, never cut silently. */
  maxRows: 1_000_000,
} as const;

/**
 * What the connected user's `readonly` profile setting allows. 0: the user can write, so every
 * read sets readonly = 1 itself. 2: read-only with per-query settings allowed (what the server's
 * user must be). 1: read-only and no setting may be passed, so no limit could be set: refused.
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

/** The memory one metric read may take on a server; FLEETVAULT_CLICKHOUSE_QUERY_MEMORY (bytes) replaces it. */
export function metricMemoryBytes(env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = Number(env.FLEETVAULT_CLICKHOUSE_QUERY_MEMORY);
  return Number.isSafeInteger(fromEnv) && fromEnv > 0 ? fromEnv : METRIC_READ_LIMITS.memoryBytes;
}

/**
 * The settings every metric read runs with: read-only, a memory cap, and a row cap that throws
 * (an answer cut short would be a wrong answer).
 *
 * @example
 * await node.rows(sql, 'compute activations', metricReadSettings());
 */
export function metricReadSettings(env: NodeJS.ProcessEnv = process.env): ClickHouseSettings {
  return {
    readonly: '1',
    max_memory_usage: String(metricMemoryBytes(env)),
    max_result_rows: String(METRIC_READ_LIMITS.maxRows),
    result_overflow_mode: 'throw',
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

/** A metric read stopped by a limit, said plainly: which limit, and what to narrow. */
export function limitMessage(hit: 'memory' | 'rows' | 'time', env = process.env): string {
  if (hit === 'memory')
    return `the query needed more than ${Math.round(metricMemoryBytes(env) / 1024 ** 2)} MiB on the ClickHouse server and was stopped (FLEETVAULT_CLICKHOUSE_QUERY_MEMORY sets the limit)`;
  if (hit === 'rows')
    return `the answer has more than ${METRIC_READ_LIMITS.maxRows.toLocaleString('en-US')} groups`;
  return 'the query ran longer than its time limit and was stopped';
}

/**
 * What `serve` checks before it listens: the ClickHouse user it reads as cannot write. The server
 * answers strangers' requests; a user that can also write (or DROP) is what sync uses, not it.
 */
export async function requireReadOnlyClickHouseUser(url: string): Promise<void> {
  const where = parseClickHouseUrl(url);
  const node = clickHouseEntry(where);
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
