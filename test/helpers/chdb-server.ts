// ClickHouse 26 for the tests, from chdb (the ClickHouse engine in a Node addon, installed by
// test/setup/chdb.mjs), behind the part of ClickHouse's HTTP interface fleetvault's client uses:
// a statement in the body or the `query` parameter (an insert's rows in the body), settings and
// `database` as URL parameters, the answer in the asked format, an error as HTTP 500 with
// ClickHouse's own `Code: N. DB::Exception: …` text. The store, the metrics reader and the SQL
// guard then run unchanged, their SQL executed by ClickHouse 26 itself. What this cannot show:
// users and profiles (chdb has none; everything runs as one unrestricted user), and clusters.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The part of chdb's Session the server uses. */
interface ChdbSession {
  queryAsync(sql: string, opts: { format: string }): Promise<{ text(): string }>;
  query(sql: string, format?: string): string;
  close(): void;
}

/** The URL parameters that are not settings. */
const NOT_SETTINGS = new Set(['query', 'query_id', 'database', 'session_id', 'role']);

export interface ChdbServer {
  /** `clickhouse://fv@127.0.0.1:<port>/fv?password_file=…` (chdb checks no password). */
  readonly url: string;
  /** ClickHouse's version, as `SELECT version()` answers. */
  readonly version: string;
  /** Creates another database; resolves to the store URL for it. */
  database(name: string): Promise<string>;
  /** Runs one statement directly on chdb; resolves to its TabSeparated answer. */
  query(sql: string): Promise<string>;
  stop(): Promise<void>;
}

function loadSession(dir: string): ChdbSession {
  const chdbDir = process.env.FV_CHDB_DIR;
  if (!chdbDir) throw new Error('FV_CHDB_DIR is not set: the tests install chdb in their global setup');
  const { Session } = createRequire(join(chdbDir, 'package.json'))('chdb') as {
    Session: new (path: string) => ChdbSession;
  };
  return new Session(dir);
}

/** Settings go where ClickHouse reads them in a statement: a SETTINGS clause before FORMAT. */
function withSettings(sql: string, settings: Array<[string, string]>): string {
  if (settings.length === 0) return sql;
  const clause = `SETTINGS ${settings.map(([k, v]) => `${k} = ${/^-?\d+(\.\d+)?$/.test(v) ? v : `'${v.replaceAll("'", "\\'")}'`}`).join(', ')}`;
  const format = /\n?FORMAT\s+\w+\s*$/i.exec(sql);
  if (/^\s*(SELECT|WITH|\()/i.test(sql)) {
    return format
      ? `${sql.slice(0, format.index)}\n${clause}${sql.slice(format.index)}`
      : `${sql}\n${clause}`;
  }
  if (/^\s*INSERT\b/i.test(sql) && format)
    return `${sql.slice(0, format.index)} ${clause}${sql.slice(format.index)}`;
  // INSERT … SELECT: the SELECT's own SETTINGS clause, at its end.
  if (/^\s*INSERT\b[\s\S]*?\bSELECT\b/i.test(sql)) return `${sql}\n${clause}`;
  throw new Error(
    `chdb-server: settings ${settings.map(([k]) => k).join(', ')} on a statement that takes none`,
  );
}

/** Starts chdb with database `fv` and its HTTP front on a free loopback port. */
export async function startChdbServer(): Promise<ChdbServer> {
  const root = mkdtempSync(join(tmpdir(), 'fv-chdb-'));
  const data = join(root, 'data');
  mkdirSync(data);
  const passwordFile = join(root, 'fv.pw');
  writeFileSync(passwordFile, 'unused\n', { mode: 0o600 });
  const session = loadSession(data);
  let current = 'default';
  // One statement at a time, in order, as one server connection would run them.
  let queue: Promise<unknown> = Promise.resolve();
  const run = (sql: string, database: string, format: string): Promise<string> => {
    const next = queue.then(async () => {
      if (database !== current) {
        session.query(`USE ${database}`);
        current = database;
      }
      const out = (await session.queryAsync(sql, { format })).text();
      if (process.env.FV_CHDB_TRACE)
        process.stderr.write(`chdb> ${sql.slice(0, 300)}\n=> ${out.slice(0, 200)}\n`);
      return out;
    });
    queue = next.catch(() => undefined);
    return next;
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const params = new URL(req.url ?? '/', 'http://x').searchParams;
    const settings = [...params.entries()].filter(([k]) => !NOT_SETTINGS.has(k) && !k.startsWith('param_'));
    // An insert names itself in `query` and sends its rows in the body.
    const named = params.get('query');
    try {
      const statement = named ? `${withSettings(named, settings)}\n${body}` : withSettings(body, settings);
      const format = /FORMAT\s+(\w+)\s*$/i.exec(named ?? body)?.[1] ?? 'TabSeparated';
      const out = await run(statement, params.get('database') ?? 'default', format);
      res.writeHead(200, { 'content-type': 'text/plain; charset=UTF-8' });
      res.end(out);
    } catch (error) {
      const message = String((error as Error).message ?? error).replace(/^Query failed: /, '');
      const code = /Code: (\d+)/.exec(message)?.[1] ?? '1000';
      res.writeHead(500, { 'x-clickhouse-exception-code': code, 'content-type': 'text/plain' });
      res.end(message);
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const database = async (name: string) => {
    await run(`CREATE DATABASE IF NOT EXISTS ${name}`, 'default', 'TabSeparated');
    return `clickhouse://fv@127.0.0.1:${port}/${name}?password_file=${passwordFile}`;
  };
  const url = await database('fv');
  const version = (await run('SELECT version()', 'default', 'TabSeparated')).trim();
  return {
    url,
    version,
    database,
    query: (sql: string) => run(sql, 'default', 'TabSeparated'),
    stop: async () => {
      await new Promise((resolve) => server.close(resolve));
      await queue;
      session.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
