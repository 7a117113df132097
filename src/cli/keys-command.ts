import { existsSync, renameSync, rmSync } from 'node:fs';
import {
  BINDING_META,
  bindingFor,
  checkStoreBinding,
  policyState,
  readBinding,
  type StoreBinding,
} from '../approvals/index.ts';
import type { AuditLog } from '../audit/index.ts';
import { engineFor } from '../engines/index.ts';
import { FvError, isFvError } from '../errors/index.ts';
import { commitNextKey, loadKeyFile, nextKey, retirePreviousKey } from '../privacy/index.ts';
import { connectSource } from '../source/index.ts';
import { ingestedRows, ingestedRowsError, type Store } from '../store/index.ts';
import { runSync, totalRows, translateTombstones } from '../sync/index.ts';
import type { Action } from './commands.ts';
import { loadPolicyOrThrow, requireApprovedPolicy } from './commands.ts';
import {
  DEFAULT_KEY_FILE,
  DEFAULT_POLICY,
  DEFAULT_STORE,
  ensurePrivateDir,
  STATE_DIR,
  sourceUrl,
} from './defaults.ts';
import { optionalText, type RawOptions, textOpt } from './options.ts';
import { auditLogIn } from './server-root.ts';
import { stateDirFor } from './state-guard.ts';

function audit(opts: Record<string, unknown>): AuditLog {
  const dir = opts.store === undefined && opts.stateDir === undefined ? STATE_DIR : stateDirFor(opts);
  ensurePrivateDir(dir);
  return auditLogIn(dir);
}

/** Whether the store file is bound to this key; a store bound to another key answers false. */
async function boundTo(store: Store, fingerprint: string): Promise<boolean> {
  try {
    await store.bindKey(fingerprint);
    return true;
  } catch (error) {
    if (isFvError(error) && error.code === 'FV_KEY_MISMATCH') return false;
    throw error;
  }
}

/**
 * `keys rotate`: a new key epoch. The store is rebuilt by a full sync under the new key into a new
 * generation beside it (`<store>.rotating`), erasures carried over, then renamed over the old file
 * in one atomic step, and only then does the new key become current. A crash at any point leaves
 * either the old store with the old key or the new store with the new key; re-running finishes.
 */
/** `fleetvault keys rotate` and `keys retire`: their options, read once and typed. */
export interface KeysOptions {
  readonly keyFile: string;
  readonly store: string;
  readonly source?: string;
  readonly policy: string;
  readonly discardIngested: boolean;
}

export function keysOptions(opts: RawOptions): KeysOptions {
  const source = optionalText(opts.source);
  return {
    keyFile: textOpt(opts.keyFile, DEFAULT_KEY_FILE),
    store: textOpt(opts.store, DEFAULT_STORE),
    ...(source !== undefined ? { source } : {}),
    policy: textOpt(opts.policy, DEFAULT_POLICY),
    discardIngested: opts.discardIngested === true,
  };
}

export const keysRotateAction: Action = async (out, raw) => {
  const opts = keysOptions(raw);
  const keyFile = opts.keyFile;
  const storePath = opts.store;
  const url = sourceUrl(opts.source);
  const policy = loadPolicyOrThrow(opts.policy);
  const approvals = requireApprovedPolicy(policy, raw);
  const oldKey = loadKeyFile(keyFile);
  const log = audit(raw);

  const engine = engineFor(storePath);
  // The rebuilt generation is a file renamed over the old one: a store on a server has none.
  if (engine.files(storePath).length === 0) {
    throw new FvError(
      'FV_USAGE',
      'keys rotate rebuilds a DuckDB store file; for ClickHouse, sync with the new key into a new database (see README)',
    );
  }
  const current = await engine.openStore(storePath);
  /** Rows per table before the rotation, so that any the rebuild does not bring back are counted. */
  const before: Record<string, number> = {};
  let ingested = 0;
  let binding: StoreBinding | undefined;
  try {
    // The rebuilt store keeps this one's binding (store id, highest state version seen).
    binding = readBinding(await current.meta(BINDING_META));
    checkStoreBinding(binding, approvals, storePath, true);
    if (!(await boundTo(current, oldKey.fingerprint))) {
      const pending = existsSync(`${keyFile}.next`) ? loadKeyFile(`${keyFile}.next`) : undefined;
      if (pending && (await boundTo(current, pending.fingerprint))) {
        // The swap happened before an interruption: only the key file is left to update.
        commitNextKey(keyFile);
        out.line(`Finished an interrupted rotation: key epoch ${pending.epoch} is current.`);
        return 0;
      }
      throw new FvError('FV_KEY_MISMATCH', `store ${storePath} was built with a different key`);
    }
    // Rows devices sent have no source row to rebuild from, and the store never held their raw
    // ids, so they cannot be re-pseudonymized: rotating loses them, and only on request.
    for (const table of policy.tables.keys()) {
      const n = await ingestedRows(current, table);
      if (n > 0 && !opts.discardIngested)
        throw ingestedRowsError(
          table,
          n,
          'keys rotate, which rebuilds every table from the source under the new key (rows devices sent cannot be re-pseudonymized: the store never held their raw ids),',
        );
      ingested += n;
      before[table] = (await current.tableState(table))?.rows ?? 0;
    }
  } finally {
    await current.close();
  }

  // Only now, with nothing refused, is the next key made (or the pending one of an interrupted run taken).
  const newKey = nextKey(keyFile);
  const next = `${storePath}.rotating`;
  for (const f of [next, `${next}.wal`]) rmSync(f, { force: true });
  const fresh = await engine.openStore(next);
  let ok = false;
  try {
    await fresh.bindKey(newKey.fingerprint);
    const rebound = bindingFor(approvals, binding, policyState(policy));
    if (rebound) await fresh.setMeta(BINDING_META, JSON.stringify(rebound));
    // Erasures carried batch by batch: the old store answers which of a batch are erased.
    const source = await connectSource(url);
    const old = await engine.openStore(storePath);
    let carried: Awaited<ReturnType<typeof translateTombstones>>;
    try {
      carried = await translateTombstones({ source, policy, oldKey, newKey, from: old, to: fresh });
    } finally {
      await old.close().catch(() => {});
      await source.end().catch(() => {});
    }
    const result = await runSync({
      sourceUrl: url,
      policy,
      store: fresh,
      key: newKey,
      full: true,
      onProgress: (p) => out.progress(p.table, p.rowsRead, p.estimate),
    });
    out.clearProgress();
    if (!result.ok) {
      const bad = result.tables.find((t) => t.status !== 'copied');
      throw new FvError(
        'FV_ROTATION_FAILED',
        `the rebuild under the new key stopped at table ${bad?.table ?? '?'}${bad?.error ? ` (${bad.error.code})` : ''}; the store and key are unchanged`,
      );
    }
    const after: Record<string, number> = {};
    for (const table of Object.keys(before)) after[table] = (await fresh.tableState(table))?.rows ?? 0;
    ok = true;
    await fresh.close();
    if (existsSync(`${next}.wal`)) {
      throw new FvError(
        'FV_ROTATION_FAILED',
        `the new store ${next} did not close cleanly; the store and key are unchanged`,
      );
    }
    renameSync(next, storePath);
    commitNextKey(keyFile);
    const lost = Object.fromEntries(
      Object.entries(before)
        .map(([t, n]) => [t, Math.max(0, n - (after[t] ?? 0))] as const)
        .filter(([, n]) => n > 0),
    );
    const detail = {
      epoch: newKey.epoch,
      rows: totalRows(result, 'rowsWritten'),
      /** Rows the store held that the rebuild did not bring back, per table (ingested, or gone from the source). */
      rowsNotCarried: lost,
      ingestedDiscarded: ingested,
      tombstonesCarried: carried.carried,
      tombstonesDropped: carried.dropped,
    };
    log.append({ actor: 'cli', action: 'keys.rotate', outcome: 'ok', detail });
    if (out.json) out.data(detail);
    out.line(
      `Rotated to key epoch ${detail.epoch}: the store was rebuilt with new pseudonyms (${detail.rows.toLocaleString('en-US')} rows) and swapped in; ${detail.tombstonesCarried} erasure(s) carried over.`,
    );
    for (const [t, n] of Object.entries(lost))
      out.line(
        `  ${t}: ${n.toLocaleString('en-US')} row(s) of the old store not in the new one (rows devices sent, or rows deleted in the source)`,
      );
    out.line(
      `The previous key is kept until \`fleetvault keys retire\` destroys it. Restart \`fleetvault serve\` to read the new store.`,
    );
    return 0;
  } finally {
    if (!ok) {
      await fresh.close().catch(() => {});
      for (const f of [next, `${next}.wal`]) rmSync(f, { force: true });
      log.append({ actor: 'cli', action: 'keys.rotate', outcome: 'failed' });
    }
  }
};

/** `keys retire`: destroys the previous key, so pseudonyms made under it can never be linked again. */
export const keysRetireAction: Action = async (out, raw) => {
  const { keyFile } = keysOptions(raw);
  if (existsSync(`${keyFile}.next`)) {
    throw new FvError(
      'FV_USAGE',
      'a key rotation is in progress; run `fleetvault keys rotate` to finish it first',
    );
  }
  const epoch = retirePreviousKey(keyFile);
  if (out.json) out.data({ retired: epoch ?? null });
  if (epoch === undefined) {
    out.line('No previous key to retire.');
    return 0;
  }
  audit(raw).append({ actor: 'cli', action: 'keys.retire', outcome: 'ok', detail: { epoch } });
  out.line(`Key epoch ${epoch} destroyed: pseudonyms made under it can no longer be linked to anyone.`);
  return 0;
};
