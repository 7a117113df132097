import { createHash, randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { AuditLog } from '../audit/index.ts';
import { FvError } from '../errors/index.ts';
import type { Approvals } from './approvals.ts';
import { type AuditHead, canonical } from './approved-state.ts';
import type { SecurityState } from './security-state.ts';
import { guardSeen } from './seen-state.ts';

/** The store's meta key holding its binding. */
export const BINDING_META = 'fv_binding';

/**
 * What a store records about the security state it was last synced under. Written by every sync;
 * checked by serve, sync, metrics and probe before they touch the store's data.
 */
export interface StoreBinding {
  /** Random at the first binding: a store started over has a new one. */
  readonly storeId: string;
  readonly stateId: string;
  readonly version: number;
  readonly digest: string;
  /** The highest state version this store has been synced under: anything lower is a rollback. */
  readonly highest: number;
  readonly k: number;
  /** SHA-256 of the policy's protection (the same parts the state compares). */
  readonly policyDigest: string;
  /** The absolute state folder the store was synced with. */
  readonly stateDir: string;
  /** The audit log's head at this sync. */
  readonly audit: AuditHead;
  readonly boundAt: string;
}

export function readBinding(raw: string | undefined): StoreBinding | undefined {
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as StoreBinding;
  } catch {
    throw new FvError('FV_STATE_MISMATCH', 'the store’s security-state binding is not readable');
  }
}

export const policyDigest = (s: SecurityState): string =>
  createHash('sha256')
    .update(canonical({ k: s.k, columns: s.columns, onDetect: s.onDetect }))
    .digest('hex');

/**
 * Refuses a store whose binding does not fit the state given (another state, a version this
 * store never saw, a state older than one it was synced under, a weaker k), and an audit log that
 * no longer reaches the heads the state and the store anchored. Nothing is read or written before.
 */
export function checkStoreBinding(
  binding: StoreBinding | undefined,
  approvals: Approvals,
  store: string,
  forSync = false,
): void {
  const doc = approvals.current();
  const dir = resolve(approvals.dir);
  if (binding) {
    const bound = `state ${binding.stateId} version ${binding.version} (state folder ${binding.stateDir})`;
    if (!doc) {
      throw new FvError(
        'FV_STATE_MISMATCH',
        `the store ${store} is bound to ${bound}, but the state folder ${dir} holds no signed security state; pass --state-dir ${binding.stateDir}`,
      );
    }
    if (doc.stateId !== binding.stateId) {
      throw new FvError(
        'FV_STATE_MISMATCH',
        `the store ${store} is bound to ${bound}, but ${dir} holds state ${doc.stateId} version ${doc.version}`,
      );
    }
    if (doc.version < binding.highest) {
      throw new FvError(
        'FV_STATE_ROLLBACK',
        `the store ${store} was synced under version ${binding.highest} of state ${binding.stateId}, but ${dir} holds version ${doc.version}: an older state was put back`,
      );
    }
    const at = approvals.state.history()[binding.version - 1];
    if (!at || at.digest !== binding.digest) {
      throw new FvError(
        'FV_STATE_MISMATCH',
        `the store ${store} is bound to ${bound} with digest ${binding.digest.slice(0, 12)}…, but version ${binding.version} in ${dir} has digest ${at?.digest.slice(0, 12) ?? 'none'}…`,
      );
    }
    // A sync rewrites k; everything that reads refuses a store built with a k below the approved one.
    if (!forSync && doc.state.k !== undefined && binding.k < doc.state.k) {
      throw new FvError(
        'FV_STATE_MISMATCH',
        `the store ${store} was synced with k = ${binding.k}, below the approved k = ${doc.state.k} of state ${doc.stateId} version ${doc.version}; sync it under the approved policy`,
      );
    }
  } else if (doc && !forSync) {
    // A store never synced under this state (one from before, or put back from elsewhere) is not
    // served under it: the first sync binds it after checking its policy.
    throw new FvError(
      'FV_STATE_MISMATCH',
      `the store ${store} is bound to no security state, but ${dir} holds state ${doc.stateId} version ${doc.version}; run \`fleetvault sync\` once with this state folder to bind it`,
    );
  }
  requireAuditAnchors(approvals, binding);
}

/**
 * The audit log must not remember a newer state than the one in the folder: a state folder and
 * store restored from a backup beside today's log leave seal and approval records of higher
 * versions (or of another state id after this one's) in the log. Either is a rollback.
 */
export function requireNoLaterState(
  approvals: Approvals,
  file = approvals.audit.path,
  lines: readonly string[] = AuditLog.lines(file),
): void {
  const doc = approvals.current();
  let highest = 0;
  let laterOther: { stateId: string; version: number } | undefined;
  for (const line of lines) {
    if (!line.includes('"stateId"')) continue;
    let d: { stateId?: unknown; version?: unknown } | undefined;
    try {
      d = (JSON.parse(line) as { detail?: { stateId?: unknown; version?: unknown } }).detail;
    } catch {
      continue; // the chain check names a broken line
    }
    if (typeof d?.stateId !== 'string' || typeof d.version !== 'number') continue;
    if (doc && d.stateId === doc.stateId) {
      highest = Math.max(highest, d.version);
      laterOther = undefined;
    } else laterOther = { stateId: d.stateId, version: d.version };
  }
  const dir = resolve(approvals.dir);
  if (!doc && laterOther) {
    throw new FvError(
      'FV_STATE_ROLLBACK',
      `the audit log ${file} records version ${laterOther.version} of state ${laterOther.stateId}, but ${dir} holds no signed state: the state was removed`,
    );
  }
  if (doc && highest > doc.version) {
    throw new FvError(
      'FV_STATE_ROLLBACK',
      `the audit log ${file} records version ${highest} of state ${doc.stateId}, but ${dir} holds version ${doc.version}: an older state (and store) was put back`,
    );
  }
  if (doc && laterOther) {
    throw new FvError(
      'FV_STATE_ROLLBACK',
      `the audit log ${file} records state ${laterOther.stateId} version ${laterOther.version} after state ${doc.stateId}: ${dir} holds a state that was replaced`,
    );
  }
}

/** The audit log must still reach the head the signed state and the store anchored. */
export function requireAuditAnchors(approvals: Approvals, binding: StoreBinding | undefined): void {
  const doc = approvals.current();
  const anchors = [
    ...(doc ? [{ what: `version ${doc.version} of the signed security state`, ...doc.audit }] : []),
    ...(binding && binding.stateId === doc?.stateId ? [{ what: 'the store', ...binding.audit }] : []),
    ...AuditLog.headAnchors(approvals.audit.path),
  ];
  const lines = AuditLog.lines(approvals.audit.path);
  const v = AuditLog.verifyAnchored(approvals.audit.path, anchors, lines);
  if (!v.ok) {
    throw new FvError(
      'FV_AUDIT_TRUNCATED',
      `the audit log ${approvals.audit.path} fails at line ${v.firstBad?.line}: ${v.firstBad?.reason}`,
    );
  }
  requireNoLaterState(approvals, approvals.audit.path, lines);
  guardSeen(approvals);
}

/** The binding a sync writes: this state's id, version and digest, the highest seen, k, policy, audit head. */
export function bindingFor(
  approvals: Approvals,
  previous: StoreBinding | undefined,
  policyState: SecurityState,
): StoreBinding | undefined {
  const doc = approvals.current();
  if (!doc) return undefined;
  return {
    storeId: previous?.storeId ?? randomBytes(8).toString('hex'),
    stateId: doc.stateId,
    version: doc.version,
    digest: doc.digest,
    highest: Math.max(previous?.highest ?? 0, doc.version),
    k: policyState.k ?? 0,
    policyDigest: policyDigest(policyState),
    stateDir: resolve(approvals.dir),
    audit: approvals.audit.head(),
    boundAt: new Date().toISOString(),
  };
}
