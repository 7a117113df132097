// The child process of read-only-sql.ts: one analyst statement, then exit. Its parent kills it at
// the deadline or at the memory cap; if the parent goes away, it goes too.
import { DuckDBInstance } from '@duckdb/node-api';
import { FvError, isFvError } from '../../errors/index.ts';
import { type SandboxReply, type SandboxRequest, tooBig, tooLong } from './read-only-sql.ts';
import { guardedSql, lockForAnalysts } from './sql-guard.ts';

async function answer(req: SandboxRequest): Promise<SandboxReply> {
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(req.path, {
      access_mode: 'READ_ONLY',
      enable_external_access: 'false',
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
      memory_limit: `${req.duckdbMemoryMb}MB`,
      threads: String(req.threads),
      // No spilling: a statement that needs more than its memory fails instead of filling the disk.
      max_temp_directory_size: '0B',
    });
  } catch (error) {
    const why = String((error as Error).message).split('\n')[0];
    return { ok: false, code: 'FV_STORE_OPEN', message: `cannot open store ${req.path} read-only: ${why}` };
  }
  const db = await instance.connect();
  try {
    // The allow-list is what the sync wrote; a file without it offers no table at all.
    const tables = await db
      .runAndReadAll('SELECT name FROM _fv_tables')
      .then((r) => new Set(r.getRows().map((x) => String(x[0]))))
      .catch(() => new Set<string>());
    const catalog = String((await db.runAndReadAll('SELECT current_database()')).getRows()[0]?.[0]);
    await lockForAnalysts(db);
    const result = await guardedSql(db, req.sql, tables, catalog, req.maxRows);
    if (JSON.stringify(result).length > req.maxResultBytes)
      throw new FvError('FV_SQL_LIMIT', `the result is larger than ${req.maxResultBytes / 1024 / 1024} MB`);
    return { ok: true, result };
  } catch (error) {
    if (isFvError(error)) return { ok: false, code: error.code, message: error.message };
    return {
      ok: false,
      code: 'FV_SQL_FAILED',
      message: String((error as Error).message).split('\n')[0] ?? 'failed',
    };
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

/** Says why, then dies at once: a statement stuck in one expression cannot be asked to stop. */
function stop(message: string): void {
  const die = () => process.kill(process.pid, 'SIGKILL');
  const reply: SandboxReply = { ok: false, code: 'FV_SQL_LIMIT', message };
  if (!process.send?.(reply, die)) die();
  setTimeout(die, 200).unref();
}

process.once('disconnect', () => process.kill(process.pid, 'SIGKILL'));
process.once('message', (msg) => {
  const req = msg as SandboxRequest;
  // The parent enforces these first; this is the second line, a little later.
  setTimeout(() => stop(tooLong(req.timeoutMs)), req.timeoutMs + 250).unref();
  setInterval(() => {
    if (process.memoryUsage.rss() > req.memoryMb * 1024 * 1024 * 1.1) stop(tooBig(req.memoryMb));
  }, 50).unref();
  void answer(req).then((reply) => process.send?.(reply, () => process.exit(0)));
});
// DuckDB is loaded (the imports above): the statement's clock may start.
process.send?.({ ready: true });
