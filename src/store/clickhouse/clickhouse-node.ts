import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import {
  type ClickHouseClient,
  ClickHouseLogLevel,
  type ClickHouseSettings,
  createClient,
} from '@clickhouse/client';
import type { ErrorCode } from '../../errors/index.ts';
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
  const net = /ECONNREFUSED|ENOTFOUND|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|socket hang up|Timeout/i.exec(
    message,
  );
  // Anything else comes from the client itself, before the server saw data.
  return net ? `not reachable (${net[0]})` : message.slice(0, 160);
}

/** One ClickHouse server over HTTP, through the official client, with TabSeparated in and out. */
export class ClickHouseNode {
  private readonly client: ClickHouseClient;

  readonly host: string;
  readonly user: string;
  /** The user's `readonly` profile setting, once `readonlySetting()` has read it. */
  #userReadonly: string | undefined;

  constructor(where: ClickHouseLocation, host: string) {
    this.host = host;
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
    this.client = createClient({
      url: `${where.secure ? 'https' : 'http'}://${host}`,
      username: where.user,
      password: where.password,
      database: where.database,
      ...(ca ? { tls: { ca_cert: ca } } : {}),
      request_timeout: 600_000,
      compression: { request: false, response: false },
      // The client's own logger would print server messages, which may quote data.
      log: { level: ClickHouseLogLevel.OFF },
    });
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

  private fail(code: ErrorCode, what: string, error: unknown): never {
    throw new FvError(code, `ClickHouse at ${this.host}: ${what}: ${describeClickHouseError(error)}`);
  }

  async command(sql: string, what: string, settings: ClickHouseSettings = {}): Promise<void> {
    try {
      await this.client.command({ query: sql, clickhouse_settings: this.settings(settings) });
    } catch (error) {
      this.fail('FV_STORE_WRITE', what, error);
    }
  }

  async rows(sql: string, what: string, settings: ClickHouseSettings = {}): Promise<Row[]> {
    let text: string;
    try {
      const rs = await this.client.query({
        query: sql,
        format: 'TabSeparated',
        clickhouse_settings: this.settings(settings),
      });
      text = await rs.text();
    } catch (error) {
      return this.fail('FV_STORE_WRITE', what, error);
    }
    return text === '' ? [] : text.replace(/\n$/, '').split('\n').map(parseTsvLine);
  }

  /** Runs a query for an analyst: errors are the engine's own, thrown as they are. */
  async json(
    sql: string,
    settings: ClickHouseSettings,
    signal?: AbortSignal,
  ): Promise<{ meta: Array<{ name: string }>; data: unknown[][] }> {
    const rs = await this.client.query({
      query: sql,
      format: 'JSON',
      clickhouse_settings: this.settings(settings),
      ...(signal ? { abort_signal: signal } : {}),
    });
    const out = (await rs.json()) as {
      meta: Array<{ name: string; type?: string }>;
      data: Array<Record<string, unknown>>;
    };
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
  ): Promise<void> {
    try {
      await this.client.insert({
        table,
        columns: [...columns] as [string, ...string[]],
        values: Readable.from(lines, { objectMode: false }),
        format: 'TabSeparated',
        clickhouse_settings: settings,
      });
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
      await this.client.query({ query: 'SELECT 1', format: 'TabSeparated' }).then((r) => r.text());
    } catch (error) {
      this.fail('FV_STORE_OPEN', 'cannot connect', error);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
