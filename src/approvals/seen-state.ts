import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { FvError } from '../errors/index.ts';
import type { Approvals } from './approvals.ts';

/** The highest signed state this user's CLI has seen in one state folder. */
interface Seen {
  readonly stateId: string;
  readonly version: number;
  readonly digest: string;
  readonly seenAt: string;
}

/**
 * The per-user record of states seen ($XDG_STATE_HOME/fleetvault/seen.json, else
 * ~/.local/state/fleetvault/seen.json, mode 0600): outside every state folder, so restoring or
 * replacing a state folder does not reset it. Root on the machine can still edit it; other admins'
 * own records (their machines, their home folders) are what make a cut-back chain visible.
 */
export function seenFile(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'fleetvault', 'seen.json');
}

function readSeen(file: string): Record<string, Seen> {
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, Seen>;
  } catch {
    throw new FvError('FV_STATE_CORRUPT', `${file} (the states this user has seen) is not valid JSON`);
  }
}

/**
 * TUF's client-side defence: the state in a folder may only move forward. Refuses a state older
 * than the one this user saw there (FV_STATE_ROLLBACK), or a different chain in its place — another
 * state id, or the same id with another digest at a version seen (FV_STATE_FORK); otherwise records
 * the newest.
 *
 * @example
 * guardSeen(approvals); // after the command's own checks
 */
export function guardSeen(approvals: Approvals, file = seenFile()): void {
  const doc = approvals.current();
  if (!doc) return;
  const dir = resolve(approvals.dir);
  const all = readSeen(file);
  const seen = all[dir];
  if (seen) {
    const was = `state ${seen.stateId} version ${seen.version} (digest ${seen.digest.slice(0, 12)}…, seen ${seen.seenAt})`;
    if (seen.stateId !== doc.stateId) {
      throw new FvError(
        'FV_STATE_FORK',
        `${dir} now holds state ${doc.stateId} version ${doc.version}, but this user saw ${was} there: the chain was replaced (a new bootstrap or another deployment's state)`,
      );
    }
    if (doc.version < seen.version) {
      throw new FvError(
        'FV_STATE_ROLLBACK',
        `${dir} holds version ${doc.version} of state ${doc.stateId}, but this user saw ${was}: an older state was put back`,
      );
    }
    const at = approvals.state.history()[seen.version - 1];
    if (!at || at.digest !== seen.digest) {
      throw new FvError(
        'FV_STATE_FORK',
        `version ${seen.version} of state ${doc.stateId} in ${dir} has digest ${at?.digest.slice(0, 12) ?? 'none'}…, but this user saw ${was}: the chain forked`,
      );
    }
    if (doc.version === seen.version) return;
  }
  all[dir] = {
    stateId: doc.stateId,
    version: doc.version,
    digest: doc.digest,
    seenAt: new Date().toISOString(),
  };
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}
