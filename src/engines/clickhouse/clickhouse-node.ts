import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import {
  type ClickHouseClient,
  ClickHouseLogLevel,
  type ClickHouseSettings,
  createClient,
} from '@clickhouse/client';
import type { FvCode } from '../../errors/index.ts';
import { FvError } from '../../errors/index.ts';
import type { ClickHouseLocation } from './clickhouse-url.ts';
import { parseTsvLine } from './clickhouse-values.ts';

type Row = Array<string | null>;

/**
 * What a ClickHouse error may say in fleetvault's output: its name and code, never the server's
 * text (a parse error echoes the row it choked on).
 */
export function describeClickHouseError(error: unknown): string {
  const message = String((error as { message?: string }).message ?? '');
  // 18.16 says `Code: 62, e.displayText() = DB::Exception: …`, current servers `Code: 62. DB::Exception: …`.
  const server =
    /Code: (\d+)[.,]?\s*(?:e\.displayText\(\) = )?(?:DB::Exception: )?((?:(?!, e\.what)[^:'"(\n]){0,100})/.exec(
      message,
    );
  // The server's sentence up to its first colon or quote: what went wrong, never the data quoted after.
  if (server) return `${String(server[2]).trim().replace(/[.,]$/, '')} (code ${server[1]})`;
  // A current server's error (`Code: 241. DB::Exception: … (TYPE)`) is parsed by the client:
  // the code is on the error and the message is the sentence alone.
  const code = String((error as { code?: unknown }).code ?? '');
  if (/^\d+$/.test(code)) {
    const sentence = /^(?:DB::Exception: )?((?:[^:'"(\n]){0,100})/.exec(message)?.[1] ?? '';
    return `${sentence.trim().replace(/[.,]$/, '')} (code ${code})`;
  }
  const net = /ECONNREFUSED|ENOTFOUND|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|socket hang up|Timeout/i.exec(
    message,
  );
  // Anything else comes from the client itself, before the server saw data.
  return net ? `not reachable (${net[0]})` : message.slice(0, 160);
}

/**
 * The server's codes for a replicated table that cannot reach ZooKeeper (18.16 and current): 225
 * no ZooKeeper, 242 table read-only, 999 coordination error, 319 an insert whose commit to
 * ZooKeeper was cut (it may have landed; a rerun writes the same rows again, idempotent by key).
 */
const COORDINATION_CODES = new Set(['225', '242', '319', '999']);

/** An error of the connection itself: the server may be gone (killed, restarting, unreachable). */
function isNetworkError(error: unknown): boolean {
  const message = String((error as { message?: string }).message ?? '');
  const code = String((error as { code?: string }).code ?? '');
  return (
    /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|EPIPE|socket hang up|other side closed/i.test(message) ||
    /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|EPIPE/.test(code) ||
    // The server's own connection to another server broke mid-query (it died): 209 socket
    // timeout, 210 network error, 279 all connection tries failed.
    /^Code: (209|210|279)\b/.test(message) ||
    /^(209|210|279)$/.test(code)
  );
}

/** The statement never reached the server: no connection could be made. */
function isUnreached(error: unknown): boolean {
  const message = String((error as { message?: string }).message ?? '');
  const code = String((error as { code?: string }).code ?? '');
  return /ECONNREFUSED|EHOSTUNREACH/.test(message) || /ECONNREFUSED|EHOSTUNREACH/.test(code);
}

/**
 * The server fleetvault sends a store's statements to: the first listed, and with a cluster the
 * others after it when it is gone (with replicas they hold the same tables; without, the next
 * one lacks the bookkeeping and the statement fails clearly instead).
 */
export function clickHouseEntry(where: ClickHouseLocation): ClickHouseNode {
  const [first, ...rest] = where.hosts;
  return new ClickHouseNode(where, first as string, where.cluster ? rest : []);
}

/**
 * One ClickHouse server over HTTP, through the official client, with TabSeparated in and out.
 * With `fallbacks` (replicas that hold the same tables, see ClickHouseStore), a request the
 * server cannot take because it is gone is sent to the next one instead: every statement
 * fleetvault sends is idempotent by key, so one that reached a dying server is safe to repeat.
 */
export class ClickHouseNode {
  readonly #clients: Array<ClickHouseClient | undefined>;
  readonly #hosts: readonly string[];
  #at = 0;
  readonly #where: ClickHouseLocation;
  readonly #ca: Buffer | undefined;
  #failovers = 0;

  readonly user: string;
  /** The user's `readonly` profile setting, once `readonlySetting()` has read it. */
  #userReadonly: string | undefined;

  /**
   * How many requests were sent again to another server after a network error: an insert that
   * reached the first one before it failed may then be written twice (ClickHouseStore marks the
   * table unsettled).
   */
  get failovers(): number {
    return this.#failovers;
  }

  /** The server requests go to now. */
  get host(): string {
    return this.#hosts[this.#at] as string;
  }

  constructor(where: ClickHouseLocation, host: string, fallbacks: readonly string[] = []) {
    this.#hosts = [host, ...fallbacks];
    this.#clients = this.#hosts.map(() => undefined);
    this.#where = where;
    this.user = where.user;
    let ca: Buffer | undefined;
    if (where.caFile) {
      try {
        ca = readFileSync(where.caFile);
      } catch (error) {
        throw new FvError(
          'FV_STORE_OPEN',
          `cannot read the ClickHouse CA file FLEETVAULT_CLICKHOUSE_CA=${where.caFile} (${(error as { code?: string }).code ?? 'unreadable'})`,
        );
      }
    }
    this.#ca = ca;
  }

  private get client(): ClickHouseClient {
    const existing = this.#clients[this.#at];
    if (existing) return existing;
    const where = this.#where;
    const made = createClient({
      url: `${where.secure ? 'https' : 'http'}://${this.host}`,
      username: where.user,
      password: where.password,
      database: where.database,
      ...(this.#ca ? { tls: { ca_cert: this.#ca } } : {}),
      request_timeout: 600_000,
      // Replicas: each shard's first live replica answers, the one Distributed inserts went to,
      // so a read sees the rows fleetvault just wrote without waiting for replication.
      ...(this.#hosts.length > 1 ? { clickhouse_settings: { load_balancing: 'in_order' } } : {}),
      compression: { request: false, response: false },
      // The client's own logger would print server messages, which may quote data.
      log: { level: ClickHouseLogLevel.OFF },
    });
    this.#clients[this.#at] = made;
    return made;
  }

  /**
   * Runs `op` on the current server, moving on to the next one while the servers are gone;
   * `beforeRetry` runs on the next server before `op` is sent there again.
   */
  private async attempt<T>(
    op: (client: ClickHouseClient) => Promise<T>,
    beforeRetry?: () => Promise<void>,
    retry: (error: unknown) => boolean = isNetworkError,
  ): Promise<T> {
    for (let tried = 1; ; tried++) {
      try {
        return await op(this.client);
      } catch (error) {
        if (tried >= this.#hosts.length || !retry(error)) throw error;
        this.#at = (this.#at + 1) % this.#hosts.length;
        this.#failovers++;
        await beforeRetry?.();
      }
    }
  }

  /**
   * A user whose profile is read-only with settings allowed (`readonly = 2`, what serve reads as)
   * may not name `readonly` in a query at all, and needs nothing more: the setting is left out.
   */
  private settings(s: ClickHouseSettings): ClickHouseSettings {
    if (this.#userReadonly !== '2' || !('readonly' in s)) return s;
    const { readonly: _, ...rest } = s;
    return rest;
  }

  private fail(code: FvCode, what: string, error: unknown): never {
    const why = describeClickHouseError(error);
    if (COORDINATION_CODES.has(/\(code (\d+)\)$/.exec(why)?.[1] ?? '')) {
      throw new FvError(
        'FV_STORE_REPLICATION',
        `ClickHouse at ${this.host}: ${what}: the replicated tables cannot reach ZooKeeper (${why}); writes stop until it is back`,
      );
    }
    throw new FvError(code, `ClickHouse at ${this.host}: ${what}: ${why}`);
  }

  async command(sql: string, what: string, settings: ClickHouseSettings = {}): Promise<void> {
    try {
      await this.attempt((c) => c.command({ query: sql, clickhouse_settings: this.settings(settings) }));
    } catch (error) {
      this.fail('FV_STORE_WRITE', what, error);
    }
  }

  async rows(sql: string, what: string, settings: ClickHouseSettings = {}): Promise<Row[]> {
    let text: string;
    try {
      text = await this.attempt(async (c) => {
        const rs = await c.query({
          query: sql,
          format: 'TabSeparated',
          clickhouse_settings: this.settings(settings),
        });
        return rs.text();
      });
    } catch (error) {
      return this.fail('FV_STORE_WRITE', what, error);
    }
    return text === '' ? [] : text.replace(/\n$/, '').split('\n').map(parseTsvLine);
  }

  /**
   * Runs a query for an analyst: errors are the engine's own, thrown as they are. The statement
   * goes to the next server only when none could be reached; one whose connection dropped once it
   * was sent may have brought its server down (ClickHouse 18.16 crashed on some statements), so it
   * is sent again only to the same server, once, and only when that server still answers (a
   * kept-alive connection it had closed): never on to the next server, to take that one down too.
   */
  async json(
    sql: string,
    settings: ClickHouseSettings,
    signal?: AbortSignal,
  ): Promise<{ meta: Array<{ name: string }>; data: unknown[][] }> {
    const run = async (c: ClickHouseClient) => {
      const rs = await c.query({
        query: sql,
        format: 'JSON',
        clickhouse_settings: this.settings(settings),
        ...(signal ? { abort_signal: signal } : {}),
      });
      return (await rs.json()) as {
        meta: Array<{ name: string; type?: string }>;
        data: Array<Record<string, unknown>>;
      };
    };
    const out = await this.attempt(run, undefined, isUnreached).catch(async (error: unknown) => {
      if (!isNetworkError(error) || isUnreached(error) || signal?.aborted) throw error;
      const alive = await this.client
        .query({ query: 'SELECT 1', format: 'TabSeparated' })
        .then((r) => r.text())
        .then(
          () => true,
          () => false,
        );
      if (!alive) throw error;
      return run(this.client);
    });
    // Counts are numbers: ClickHouse quotes 64-bit integers in JSON; one that fits a double
    // exactly becomes a number, a larger one stays a string rather than being rounded.
    const wide = out.meta.map((m) => /^(Nullable\()?U?Int(64|128|256)\b/.test(m.type ?? ''));
    const value = (v: unknown, i: number) => {
      if (!wide[i] || typeof v !== 'string') return v;
      const n = Number(v);
      return Number.isSafeInteger(n) ? n : v;
    };
    return { meta: out.meta, data: out.data.map((r) => out.meta.map((m, i) => value(r[m.name], i))) };
  }

  async insert(
    table: string,
    columns: readonly string[],
    lines: Iterable<string>,
    what: string,
    settings: ClickHouseSettings = {},
    /**
     * Runs before the rows are sent again to another server after a network error (the first may
     * have written them: ClickHouseStore marks the table unsettled there, before a second copy can
     * land and be read without FINAL).
     */
    beforeResend?: () => Promise<void>,
  ): Promise<void> {
    // A stream is read once: with a server to fall back to, the lines are kept to send again.
    const again = this.#hosts.length > 1 ? [...lines] : lines;
    try {
      await this.attempt(
        (c) =>
          c.insert({
            table,
            columns: [...columns] as [string, ...string[]],
            values: Readable.from(again, { objectMode: false }),
            format: 'TabSeparated',
            clickhouse_settings: settings,
          }),
        beforeResend,
      );
    } catch (error) {
      this.fail('FV_STORE_WRITE', what, error);
    }
  }

  /** The connected user's `readonly` setting, as its profile sets it; later queries follow it. */
  async readonlySetting(): Promise<string | undefined> {
    const r = await this.rows(
      "SELECT value FROM system.settings WHERE name = 'readonly'",
      "read the user's settings",
    );
    this.#userReadonly = r[0]?.[0] ?? undefined;
    return this.#userReadonly;
  }

  async ping(): Promise<void> {
    try {
      await this.attempt((c) => c.query({ query: 'SELECT 1', format: 'TabSeparated' }).then((r) => r.text()));
    } catch (error) {
      this.fail('FV_STORE_OPEN', 'cannot connect', error);
    }
  }

  async close(): Promise<void> {
    for (const c of this.#clients) await c?.close();
  }
}
