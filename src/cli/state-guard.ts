import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  Approvals,
  BINDING_META,
  bindingFor,
  checkStoreBinding,
  policyState,
  readBinding,
  type StoreBinding,
} from '../approvals/index.ts';
import { engineFor, openMetricsReader } from '../engines/index.ts';
import { FvError } from '../errors/index.ts';
import type { Policy } from '../policy/index.ts';
import type { Store } from '../store/index.ts';
import { DEFAULT_STORE, ensurePrivateDir, STATE_DIR } from './defaults.ts';
import { auditLogIn } from './server-root.ts';

/**
 * The state folder of a command that works on a store: `--state-dir`, else the folder the store's
 * binding records, else the store file's own folder. Never the current directory by accident: a
 * store bound to one state refuses every other (`FV_STATE_MISMATCH`).
 */
export function stateDirFor(opts: Record<string, unknown>, binding?: StoreBinding): string {
  if (typeof opts.stateDir === 'string') return resolve(opts.stateDir);
  if (binding) return binding.stateDir;
  const store = typeof opts.store === 'string' ? opts.store : DEFAULT_STORE;
  const [file] = engineFor(store).files(store);
  return file === undefined ? resolve(STATE_DIR) : resolve(dirname(file));
}

/** The signed state and audit log of a state folder (created 0700 when missing). */
export function approvalsIn(dir: string): Approvals {
  ensurePrivateDir(dir);
  return new Approvals(dir, auditLogIn(dir));
}

/** The binding a store records, read without writing; undefined for a store never bound (or not there). */
export async function storeBinding(storePath: string): Promise<StoreBinding | undefined> {
  if (
    !engineFor(storePath)
      .files(storePath)
      .every((f) => existsSync(f))
  )
    return undefined;
  const reader = await openMetricsReader(storePath, {
    file: '',
    privacyUnit: 'users.id',
    metrics: new Map(),
  });
  try {
    return readBinding(await reader.meta(BINDING_META));
  } finally {
    reader.close();
  }
}

/**
 * What every reading command does before it reads a store (`metrics`, `sql`): the store's binding
 * must fit the state folder it resolves to, and no state version may have gone back.
 */
export async function requireStoreState(storePath: string, opts: Record<string, unknown>): Promise<void> {
  const binding = await storeBinding(storePath);
  checkStoreBinding(binding, approvalsIn(stateDirFor({ ...opts, store: storePath }, binding)), storePath);
}

/**
 * The two-person rule for a policy about to be applied: nothing may travel less protected than the
 * signed state says. Once a signed state exists, it must hold a policy (an admin seals it once).
 */
export function requirePolicyApproved(policy: Policy, approvals: Approvals, actor: string): void {
  if (!policy.reviewed) return; // the sync refuses an unreviewed policy with its own message
  const doc = approvals.current();
  if (doc && doc.state.k === undefined) {
    throw new FvError(
      'FV_STATE_UNSEALED',
      `the signed security state ${doc.stateId} (version ${doc.version}) holds no policy yet, so nothing could tell a weaker one apart: an admin records it once with \`fleetvault approvals seal --policy <file> --user <admin>\``,
    );
  }
  approvals.check(policyState(policy), actor);
}

/**
 * What every sync does before writing (CLI, scheduler, change capture, ingest, key rotation): the
 * store's binding must fit the state, the policy must not be weaker than the signed one, then the
 * store records this state's id, version, digest, the highest version seen, k, the policy digest
 * and the audit head. A refusal leaves the store untouched.
 */
export async function bindStoreForSync(
  store: Store,
  storePath: string,
  policy: Policy,
  approvals: Approvals,
  actor: string,
): Promise<void> {
  const binding = readBinding(await store.meta(BINDING_META));
  checkStoreBinding(binding, approvals, storePath, true);
  requirePolicyApproved(policy, approvals, actor);
  const next = bindingFor(approvals, binding, policyState(policy));
  if (next) await store.setMeta(BINDING_META, JSON.stringify(next));
}
