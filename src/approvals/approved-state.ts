import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FvError } from '../errors/index.ts';
import { ROLES } from '../identity/index.ts';
import { type Signer, signText, verifyText } from './admin-key.ts';
import { compareStates, type SecurityState } from './security-state.ts';

/** The audit log's head: how many records and the hash of the last. */
export interface AuditHead {
  readonly records: number;
  readonly hash: string;
}

export interface Signature {
  readonly by: string;
  readonly sig: string;
}

/**
 * What a principal grant's signers sign beside the request (signing payload 2): when it expires,
 * and exactly which principal it may change. `new`: a principal no earlier version names (its id
 * is chosen when it is created); `rekey`: this existing principal, given a new key and credential.
 * Grants signed before payload 2 (the request alone) still verify in versions already written.
 */
export interface GrantTerms {
  readonly payload: 2;
  readonly expiresAt: string;
  readonly mode: 'new' | 'rekey';
  /** The exact principal id a re-key changes; absent for a new principal. */
  readonly principal?: string;
}

/** A principal created on a proposal two admins signed (their signatures over the request and terms). */
export interface Grant {
  readonly proposal: string;
  readonly request: { readonly type: string; readonly role: string; readonly name: string };
  readonly principal: string;
  readonly signatures: readonly Signature[];
  /** Absent on grants signed with payload 1 (no expiry, no target). */
  readonly terms?: GrantTerms;
}

/** One version of the approved security state, as written to `states/<version>.json`. */
export interface StateDoc {
  readonly format: 'fleetvault-state-v2';
  readonly stateId: string;
  readonly version: number;
  /** Digest of the version before; null for version 1. */
  readonly prev: string | null;
  readonly state: SecurityState;
  /** SHA-256 of the canonical (stateId, version, prev, state). */
  readonly digest: string;
  /** Ed25519 signatures over the canonical (stateId, version, digest). */
  readonly signatures: readonly Signature[];
  readonly grant?: Grant;
  /** Written while fewer than two admins existed (nobody could approve yet). */
  readonly bootstrap?: boolean;
  /** The audit log's head when this version was signed, signed by the first signer. */
  readonly audit: AuditHead & { readonly sig: string };
  readonly signedAt: string;
}

/** JSON with sorted keys: the same content always digests and signs the same. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export function stateDigest(stateId: string, version: number, prev: string | null, state: SecurityState) {
  return sha256(canonical({ stateId, version, prev, state }));
}

/** What every signer signs: the state id, the version and the content digest. */
export const signedText = (stateId: string, version: number, digest: string) =>
  canonical({ stateId, version, digest });

/**
 * What proposer and approver of a principal grant sign. Payload 2 adds the terms (expiry, target);
 * payload 1 (the request alone) is only read, for versions and proposals written before it.
 */
export const grantText = (
  stateId: string,
  proposal: string,
  request: Grant['request'],
  terms?: GrantTerms,
) =>
  terms === undefined
    ? canonical({ stateId, proposal, request })
    : canonical({ format: 'fleetvault-grant-v2', stateId, proposal, request, terms });

/**
 * Whether a grant's terms allow it to change principal `id` of `before`: a re-key only the principal
 * it names, which must exist; a new principal only an id no version before named.
 */
export function grantTargets(terms: GrantTerms, id: string, before: SecurityState): boolean {
  const known =
    before.principals?.[id] !== undefined ||
    before.keys?.[id] !== undefined ||
    before.credentials?.[id] !== undefined;
  if (terms.mode === 'rekey') return terms.principal === id && before.principals?.[id] !== undefined;
  return terms.mode === 'new' && terms.principal === undefined && !known;
}

const auditText = (stateId: string, version: number, a: AuditHead) =>
  canonical({ stateId, version, audit: { records: a.records, hash: a.hash } });

const isAbove = (r: string) => ROLES.indexOf(r as (typeof ROLES)[number]) > 0;

/** Principals above viewer with a key in a state: who may sign its successor. */
export function keyedPrincipals(s: SecurityState): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [id, role] of Object.entries(s.principals ?? {})) {
    const key = s.keys?.[id];
    if (isAbove(role) && key) out[id] = key;
  }
  return out;
}

export function adminsOf(s: SecurityState): string[] {
  return Object.entries(s.principals ?? {})
    .filter(([id, r]) => r === 'admin' && s.keys?.[id])
    .map(([id]) => id);
}

/**
 * Whether going from `prev` to `next` weakens anything: a weaker setting, a part removed, a new
 * or raised principal, a key replaced, a used approval forgotten.
 */
export function transitionWeaker(prev: SecurityState, next: SecurityState): boolean {
  if (compareStates(prev, next).some((d) => d.weaker)) return true;
  for (const part of [
    'k',
    'columns',
    'onDetect',
    'listeners',
    'probeSeconds',
    'alertWebhook',
    'policy',
  ] as const) {
    if (prev[part] !== undefined && next[part] === undefined) return true;
  }
  // A column's or table's entry forgotten: a later policy would meet it as new, judged only against
  // its class's default (the approved protection lost). Approvals only ever merge entries in.
  for (const part of ['columns', 'onDetect'] as const) {
    const kept = next[part] ?? {};
    if (Object.keys(prev[part] ?? {}).some((name) => !(name in kept))) return true;
  }
  const tables = next.policy?.tables ?? {};
  if (Object.keys(prev.policy?.tables ?? {}).some((table) => !(table in tables))) return true;
  for (const [id, role] of Object.entries(next.principals ?? {})) {
    const was = prev.principals?.[id];
    if (isAbove(role) && ROLES.indexOf(role) > ROLES.indexOf(was ?? 'viewer')) return true;
  }
  for (const [id, key] of Object.entries(prev.keys ?? {})) {
    if (next.keys?.[id] !== undefined && next.keys[id] !== key) return true;
  }
  // A bound credential replaced or forgotten: only an enrollment with a grant may do that.
  // (Forgotten together with its principal is a removal: stronger.)
  for (const [id, c] of Object.entries(prev.credentials ?? {})) {
    if (next.credentials?.[id] !== c && next.principals?.[id] !== undefined) return true;
  }
  for (const [id, key] of Object.entries(next.keys ?? {})) {
    if (prev.keys?.[id] === undefined && key && !(id in (next.principals ?? {}))) return true;
  }
  return (prev.used ?? []).some((u) => !(next.used ?? []).includes(u));
}

function signersOf(doc: StateDoc, keys: Record<string, string>): Set<string> {
  const text = signedText(doc.stateId, doc.version, doc.digest);
  return new Set(doc.signatures.filter((s) => verifyText(keys[s.by], text, s.sig)).map((s) => s.by));
}

const tampered = (path: string, why: string) =>
  new FvError(
    'FV_STATE_TAMPERED',
    `${path}: ${why}. It was not written by fleetvault from two admins' signatures; restore the state folder from backup`,
  );

/** Whether any version of a history named two admins: from then on the bootstrap never returns. */
export const everTwoAdmins = (docs: readonly StateDoc[]) => docs.some((d) => adminsOf(d.state).length >= 2);

/**
 * Whether `next` only binds credentials that `before` named no digest for, each by its own
 * principal (a re-enrolment: the signer proved its secret by unsealing its own key).
 */
function selfBound(before: SecurityState, next: SecurityState, signers: Set<string>): boolean {
  const added = Object.keys(next.credentials ?? {}).filter((id) => before.credentials?.[id] === undefined);
  if (added.length === 0 || added.some((id) => !signers.has(id))) return false;
  const expected = {
    ...before,
    credentials: {
      ...(before.credentials ?? {}),
      ...Object.fromEntries(added.map((id) => [id, next.credentials?.[id]])),
    },
  };
  return canonical(expected) === canonical(next);
}

/**
 * Checks one version against the one before (TUF-style): same state id, next version, the
 * previous digest, and enough valid signatures by keys the previous version names. Weakening
 * needs two different admins (directly, or through a two-admin grant for a new principal);
 * anything else one; while fewer than two admins exist, and never two existed (`everTwo`), a new
 * principal may sign its own entry.
 */
export function verifyTransition(
  prev: StateDoc | undefined,
  doc: StateDoc,
  where: string,
  everTwo = false,
): void {
  if (doc.format !== 'fleetvault-state-v2') throw tampered(where, 'not a signed state');
  if (stateDigest(doc.stateId, doc.version, doc.prev, doc.state) !== doc.digest)
    throw tampered(where, 'its content does not match its digest (edited by hand)');
  if (prev) {
    if (doc.stateId !== prev.stateId) throw tampered(where, 'belongs to another state id');
    if (doc.version !== prev.version + 1 || doc.prev !== prev.digest)
      throw tampered(where, `does not follow version ${prev.version}`);
  } else if (doc.version !== 1 || doc.prev !== null) throw tampered(where, 'history before it is missing');
  const before = prev?.state ?? {};
  const prevKeys = keyedPrincipals(before);
  const newKeys = keyedPrincipals(doc.state);
  const added = Object.keys(newKeys).filter((id) => !(id in prevKeys));
  const signers = signersOf(doc, prevKeys);
  const prevAdmins = adminsOf(before);
  const firstSigner = doc.signatures[0]?.by ?? '';
  if (!prev) {
    // Version 1 (trust on first use): signed by a principal it names. The store binds to its
    // state id and digest, so a second "version 1" made later is a different state.
    const own = signersOf(doc, newKeys);
    if (
      own.size > 0 &&
      own.has(firstSigner) &&
      verifyText(newKeys[firstSigner], auditText(doc.stateId, 1, doc.audit), doc.audit.sig)
    )
      return;
    throw tampered(where, 'version 1 is not signed by a principal it names');
  }
  // A principal re-keyed by a two-admin grant (a password reset above viewer) signs with its new
  // key; the grant check below still decides whether that change stands.
  const anchorKey =
    doc.grant?.principal === firstSigner
      ? newKeys[firstSigner]
      : (prevKeys[firstSigner] ?? newKeys[firstSigner]);
  if (!verifyText(anchorKey, auditText(doc.stateId, doc.version, doc.audit), doc.audit.sig))
    throw tampered(where, 'its audit anchor is not signed');
  // An enrollment binds its principal's credential (and only its own) beside its key.
  const withCredential = <T extends object>(base: T, id: string): T => {
    const c = doc.state.credentials?.[id];
    return c === undefined ? base : { ...base, credentials: { ...(before.credentials ?? {}), [id]: c } };
  };
  if (!transitionWeaker(before, doc.state)) {
    if ([...signers].some((s) => prevAdmins.includes(s))) return;
    if (selfBound(before, doc.state, signers)) return;
    throw tampered(where, 'no admin of the version before signed it');
  }
  const admins = [...signers].filter((s) => prevAdmins.includes(s));
  if (admins.length >= 2) return;
  if (doc.grant && prev) {
    const g = doc.grant;
    if (g.terms !== undefined && g.terms.payload !== 2)
      throw tampered(where, `its grant for ${g.principal} has an unknown signing payload`);
    const text = grantText(doc.stateId, g.proposal, g.request, g.terms);
    const grantAdmins = new Set(
      g.signatures
        .filter((s) => prevAdmins.includes(s.by) && verifyText(prevKeys[s.by], text, s.sig))
        .map((s) => s.by),
    );
    const key = doc.state.keys?.[g.principal];
    const expected = withCredential(
      {
        ...before,
        principals: { ...(before.principals ?? {}), [g.principal]: g.request.role },
        keys: { ...(before.keys ?? {}), [g.principal]: key },
        used: [...new Set([...(before.used ?? []), g.proposal])],
      },
      g.principal,
    );
    const self = signersOf(doc, { [g.principal]: key ?? '' });
    if (
      grantAdmins.size >= 2 &&
      !(before.used ?? []).includes(g.proposal) &&
      g.principal.startsWith(`${g.request.type}:`) &&
      (g.terms === undefined || grantTargets(g.terms, g.principal, before)) &&
      self.has(g.principal) &&
      canonical(expected) === canonical(doc.state)
    )
      return;
    throw tampered(
      where,
      `its grant for ${g.principal} does not carry two admins' signatures for exactly that change`,
    );
  }
  if (doc.bootstrap && prevAdmins.length < 2 && !everTwo && added.length === 1) {
    const id = added[0] as string;
    const expected = withCredential(
      {
        ...before,
        principals: { ...(before.principals ?? {}), [id]: doc.state.principals?.[id] },
        keys: { ...(before.keys ?? {}), [id]: newKeys[id] },
      },
      id,
    );
    const self = signersOf(doc, { [id]: newKeys[id] as string });
    if ((self.has(id) || admins.length === 1) && canonical(expected) === canonical(doc.state)) return;
  }
  throw tampered(where, 'it weakens the state without two different admins’ signatures');
}

/**
 * The approved security state: a chain of signed versions in `<state>/states/`, the newest also in
 * `approved-state.json`. Every read verifies the whole chain from version 1, so an edited, forged,
 * re-signed or older file is refused (`FV_STATE_TAMPERED`, `FV_STATE_ROLLBACK`).
 */
export class ApprovedState {
  readonly path: string;
  readonly historyDir: string;
  private cache: { key: string; docs: StateDoc[] } | undefined;

  constructor(readonly dir: string) {
    this.path = join(dir, 'approved-state.json');
    this.historyDir = join(dir, 'states');
  }

  exists(): boolean {
    return existsSync(this.path) || (existsSync(this.historyDir) && readdirSync(this.historyDir).length > 0);
  }

  private parse(path: string): StateDoc {
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as StateDoc;
    } catch {
      throw tampered(path, 'not a signed state');
    }
  }

  /** Every version, verified from the first; empty when none was ever signed here. */
  history(): StateDoc[] {
    if (!this.exists()) return [];
    if (!existsSync(this.path))
      throw new FvError(
        'FV_STATE_TAMPERED',
        `the approved security state ${this.path} is missing, but the audit log shows it was sealed (and ${this.historyDir} holds its history); restore it from backup`,
      );
    const files = existsSync(this.historyDir)
      ? readdirSync(this.historyDir)
          .filter((f) => /^\d+\.json$/.test(f))
          .sort()
      : [];
    const current = readFileSync(this.path, 'utf8');
    const key = `${current.length}:${files.join(',')}:${current.slice(-200)}`;
    if (this.cache?.key === key) return this.cache.docs;
    const docs: StateDoc[] = [];
    for (const f of files) {
      const doc = this.parse(join(this.historyDir, f));
      verifyTransition(docs[docs.length - 1], doc, join(this.historyDir, f), everTwoAdmins(docs));
      docs.push(doc);
    }
    const head = this.parse(this.path);
    const last = docs[docs.length - 1];
    if (!last || canonical(head) !== canonical(last)) {
      if (last && head.version < last.version)
        throw new FvError(
          'FV_STATE_ROLLBACK',
          `${this.path} is version ${head.version} of state ${head.stateId}, but version ${last.version} was signed since: an older state was put back`,
        );
      throw tampered(this.path, 'it is not the newest signed version of its history');
    }
    this.cache = { key, docs };
    return docs;
  }

  current(): StateDoc | undefined {
    const h = this.history();
    return h[h.length - 1];
  }

  /** Signs and writes the next version; `sign` adds every signature after the first. */
  write(
    next: SecurityState,
    first: Signer,
    audit: AuditHead,
    extra: { signatures?: readonly Signature[]; grant?: Grant; bootstrap?: boolean } = {},
  ): StateDoc {
    const cur = this.current();
    const stateId = cur?.stateId ?? randomBytes(16).toString('hex');
    const version = (cur?.version ?? 0) + 1;
    const prev = cur?.digest ?? null;
    const digest = stateDigest(stateId, version, prev, next);
    const doc: StateDoc = {
      format: 'fleetvault-state-v2',
      stateId,
      version,
      prev,
      state: next,
      digest,
      signatures: [
        { by: first.id, sig: signText(first, signedText(stateId, version, digest)) },
        ...(extra.signatures ?? []).filter((s) => s.by !== first.id),
      ],
      ...(extra.grant ? { grant: extra.grant } : {}),
      ...(extra.bootstrap ? { bootstrap: true } : {}),
      audit: { ...audit, sig: signText(first, auditText(stateId, version, audit)) },
      signedAt: new Date().toISOString(),
    };
    verifyTransition(cur, doc, 'the new version', everTwoAdmins(this.history()));
    if (!existsSync(this.historyDir)) mkdirSync(this.historyDir, { recursive: true, mode: 0o700 });
    const body = `${JSON.stringify(doc, null, 2)}\n`;
    const file = join(this.historyDir, `${String(version).padStart(8, '0')}.json`);
    writeFileSync(file, body, { mode: 0o600, flag: 'wx' });
    writeFileSync(`${this.path}.tmp`, body, { mode: 0o600 });
    renameSync(`${this.path}.tmp`, this.path);
    this.cache = undefined;
    return doc;
  }
}
