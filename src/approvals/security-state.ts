import { ROLES, type Role } from '../identity/index.ts';
import {
  CLASS_RULES,
  type ColumnAction,
  type ColumnClass,
  type OnDetect,
  type Policy,
} from '../policy/index.ts';
import { comparePrivacy } from './privacy-state.ts';

/** How one column travels, as far as protection goes. */
export interface ColumnProtection {
  readonly class: ColumnClass;
  readonly action: ColumnAction;
  /** The transform's own description, e.g. `truncated to the day (UTC)`; null when none. */
  readonly transform: string | null;
  /** How much detail the transform keeps (see `Transform.detail`); null when none. */
  readonly detail: { readonly family: string; readonly levels: readonly number[] } | null;
  readonly aggregateOnly: boolean;
  /** Pseudonym domain of an identifier (recorded since the domain became part of the state). */
  readonly domain?: string | null;
}

/** The policy's other security-relevant fields: anything not provably stronger is weaker. */
export interface PolicyView {
  /** The source schema read from. */
  readonly schema: string;
  /** The pseudonym domain k counts. */
  readonly privacyUnit: string;
  /** Differential privacy's budget and bounds; absent under k-anonymity (privacy-state.ts). */
  readonly privacy?: Policy['privacy'];
  /** name → the pattern (`/source/flags`). */
  readonly customDetectors: Readonly<Record<string, string>>;
  /** table → its soft-delete column and retention (null when none). */
  readonly tables: Readonly<
    Record<
      string,
      {
        readonly softDelete: string | null;
        readonly retention: { readonly column: string; readonly days: number } | null;
      }
    >
  >;
}

/** A listener beyond loopback (loopback listeners need no approval). */
export interface Listener {
  readonly address: string;
  readonly tls: boolean;
}

/**
 * Everything whose weakening needs a second admin. Each command knows part of it (a sync knows
 * the policy, a server its listeners and principals); a missing part is simply not compared.
 */
export interface SecurityState {
  /** Minimum group size of every answer. */
  readonly k?: number;
  /** `table.column` → how it travels. */
  readonly columns?: Readonly<Record<string, ColumnProtection>>;
  /** table → what a PII hit does. */
  readonly onDetect?: Readonly<Record<string, OnDetect>>;
  readonly listeners?: readonly Listener[];
  /** Seconds between the server's exposure probes; null is off. */
  readonly probeSeconds?: number | null;
  /** The server's alert webhook URL; null is none. Removing or changing it is weaker. */
  readonly alertWebhook?: string | null;
  /** The policy's schema, privacy unit, custom detectors, soft deletes and retention. */
  readonly policy?: PolicyView;
  /** `token:<id>` or `user:<id>` → role, for principals above viewer. */
  readonly principals?: Readonly<Record<string, Role>>;
  /**
   * Approvals already used to create a token or account. Kept in the signed state, so restoring an
   * old copy of the proposals file cannot use one twice. Not a setting: never compared.
   */
  readonly used?: readonly string[];
  /**
   * `token:<id>` / `user:<id>` → the principal's Ed25519 public key (SPKI DER, base64). Only
   * principals with a key here can sign the next version. Not a setting: never compared here.
   */
  readonly keys?: Readonly<Record<string, string>>;
  /**
   * `token:<id>` / `user:<id>` → digest of the principal's name and stored token or password hash
   * (credentialDigest). A file whose hash or name differs (swapped by hand) is an unapproved
   * principal; only an enrollment (creation, a two-admin password reset) changes it.
   */
  readonly credentials?: Readonly<Record<string, string>>;
}

/** One difference between the approved state and a configuration, in words a reviewer reads. */
export interface Difference {
  readonly field: string;
  readonly approved: string;
  readonly configured: string;
  /** Weaker needs a second admin; stronger does not. */
  readonly weaker: boolean;
}

/** Most protective first: a column moving right in this list is being weakened. */
const ACTION_ORDER: readonly ColumnAction[] = ['never_read', 'drop', 'pseudonymize', 'generalize', 'keep'];

export function policyState(policy: Policy): SecurityState {
  const columns: Record<string, ColumnProtection> = {};
  const onDetect: Record<string, OnDetect> = {};
  const tables: Record<string, PolicyView['tables'][string]> = {};
  for (const t of policy.tables.values()) {
    onDetect[t.name] = t.onDetect;
    for (const c of t.columns.values()) {
      columns[`${t.name}.${c.name}`] = {
        class: c.class,
        action: c.action,
        transform: c.transform ? c.transform.describe() : null,
        detail: c.transform ? c.transform.detail : null,
        aggregateOnly: c.aggregateOnly,
        domain: c.domain ?? null,
      };
    }
    tables[t.name] = {
      softDelete: t.softDelete ?? null,
      retention: t.retention ? { column: t.retention.column, days: t.retention.days } : null,
    };
  }
  const customDetectors = Object.fromEntries(
    policy.customDetectors.map((d) => [d.name, `/${d.pattern.source}/${d.pattern.flags}`]),
  );
  return {
    k: policy.k,
    columns,
    onDetect,
    policy: {
      schema: policy.schema,
      privacyUnit: policy.privacyUnit ?? 'user',
      ...(policy.privacy ? { privacy: policy.privacy } : {}),
      customDetectors,
      tables,
    },
  };
}

/** Every difference between two policy views; only additions that provably keep less are stronger. */
function comparePolicy(a: PolicyView, n: PolicyView): Difference[] {
  const out: Difference[] = [];
  const diff = (field: string, approved: string, configured: string, weaker: boolean) =>
    out.push({ field, approved, configured, weaker });
  if (a.schema !== n.schema) diff('policy schema', a.schema, n.schema, true);
  if (a.privacyUnit !== n.privacyUnit) diff('policy privacy_unit', a.privacyUnit, n.privacyUnit, true);
  out.push(...comparePrivacy(a.privacy, n.privacy));
  for (const [name, p] of Object.entries(a.customDetectors)) {
    const now = n.customDetectors[name];
    if (now !== p) diff(`custom_detector ${name}`, p, now ?? 'removed', true);
  }
  for (const [name, p] of Object.entries(n.customDetectors)) {
    if (!(name in a.customDetectors)) diff(`custom_detector ${name}`, 'none', p, false);
  }
  const show = (r: { column: string; days: number } | null) =>
    r ? `${r.column} after ${r.days} days` : 'none';
  for (const [table, t] of Object.entries(n.tables)) {
    const at = a.tables[table];
    if (!at) continue;
    if (at.softDelete !== t.softDelete)
      diff(`soft_delete ${table}`, at.softDelete ?? 'none', t.softDelete ?? 'none', at.softDelete !== null);
    const ar = at.retention;
    const nr = t.retention;
    if (JSON.stringify(ar) !== JSON.stringify(nr)) {
      const stronger = nr !== null && (ar === null || (ar.column === nr.column && nr.days < ar.days));
      diff(`retention ${table}`, show(ar), show(nr), !stronger);
    }
  }
  return out;
}

function describeColumn(c: ColumnProtection | undefined): string {
  if (!c) return 'not in the policy';
  return `${c.class}, ${c.action}${c.transform ? ` (${c.transform})` : ''}${c.aggregateOnly ? ', aggregate only' : ''}`;
}

function columnWeaker(approved: ColumnProtection | undefined, now: ColumnProtection): boolean {
  // A column new to the policy compares with its class's safe default.
  const base = approved ?? {
    ...now,
    action: CLASS_RULES[now.class].defaultAction,
    transform: null,
    detail: null,
  };
  const a = ACTION_ORDER.indexOf(base.action);
  const b = ACTION_ORDER.indexOf(now.action);
  if (b !== a) return b > a;
  // The same action with another transform: weaker unless it provably keeps no more detail.
  if (approved && now.action === 'generalize' && now.transform !== approved.transform) {
    const a = approved.detail;
    const n = now.detail;
    if (!a || !n || a.family !== n.family || a.levels.length !== n.levels.length) return true;
    if (n.levels.some((level, i) => level > (a.levels[i] as number))) return true;
  }
  // Another pseudonym domain links what was kept apart (or splits what k counted).
  if (approved && approved.domain !== undefined && (approved.domain ?? null) !== (now.domain ?? null))
    return true;
  return approved?.aggregateOnly === true && !now.aggregateOnly;
}

const roleRank = (r: Role | undefined) => (r === undefined ? -1 : ROLES.indexOf(r));

/**
 * Every difference between the approved state and a configuration, for the parts the
 * configuration knows. Parts the approved state has never recorded are not differences: they are
 * recorded when first seen.
 */
export function compareStates(approved: SecurityState, now: SecurityState): Difference[] {
  const out: Difference[] = [];
  if (now.k !== undefined && approved.k !== undefined && now.k !== approved.k) {
    out.push({
      field: 'k',
      approved: String(approved.k),
      configured: String(now.k),
      weaker: now.k < approved.k,
    });
  }
  if (now.columns && approved.columns) {
    for (const [name, c] of Object.entries(now.columns)) {
      const a = approved.columns[name];
      if (a && JSON.stringify(a) === JSON.stringify(c)) continue;
      const weaker = columnWeaker(a, c);
      if (a || weaker) {
        out.push({
          field: `column ${name}`,
          approved: describeColumn(a),
          configured: describeColumn(c),
          weaker,
        });
      }
    }
    for (const name of Object.keys(approved.columns)) {
      if (!(name in now.columns)) {
        out.push({
          field: `column ${name}`,
          approved: describeColumn(approved.columns[name]),
          configured: 'not in the policy',
          weaker: false,
        });
      }
    }
  }
  if (now.onDetect && approved.onDetect) {
    for (const [table, v] of Object.entries(now.onDetect)) {
      const a = approved.onDetect[table];
      if (a !== undefined && a !== v) {
        out.push({ field: `on_detect ${table}`, approved: a, configured: v, weaker: a === 'block' });
      }
    }
  }
  if (now.listeners && approved.listeners) {
    for (const l of now.listeners) {
      const a = approved.listeners.find((x) => x.address === l.address);
      if (!a || (a.tls && !l.tls)) {
        out.push({
          field: `listen ${l.address}`,
          approved: a ? `TLS ${a.tls ? 'on' : 'off'}` : 'not approved',
          configured: `TLS ${l.tls ? 'on' : 'off'}`,
          weaker: true,
        });
      }
    }
  }
  if (
    now.probeSeconds !== undefined &&
    approved.probeSeconds !== undefined &&
    now.probeSeconds !== approved.probeSeconds
  ) {
    const show = (s: number | null) => (s === null ? 'off' : `every ${s} s`);
    const weaker =
      now.probeSeconds === null ||
      (approved.probeSeconds !== null && now.probeSeconds > approved.probeSeconds);
    out.push({
      field: 'probe',
      approved: show(approved.probeSeconds),
      configured: show(now.probeSeconds),
      weaker,
    });
  }
  if (now.policy && approved.policy) out.push(...comparePolicy(approved.policy, now.policy));
  if (now.alertWebhook !== undefined && approved.alertWebhook !== undefined) {
    if (now.alertWebhook !== approved.alertWebhook) {
      out.push({
        field: 'alert webhook',
        approved: approved.alertWebhook ?? 'none',
        configured: now.alertWebhook ?? 'none',
        weaker: approved.alertWebhook !== null,
      });
    }
  }
  if (now.credentials && approved.credentials) {
    for (const [id, c] of Object.entries(now.credentials)) {
      const a = approved.credentials[id];
      if (a !== undefined && a !== c) {
        out.push({
          field: `credential ${id}`,
          approved: 'the enrolled name and secret',
          configured: 'another name or secret hash in the file (changed by hand)',
          weaker: true,
        });
      }
    }
  }
  if (now.principals && approved.principals) {
    for (const [id, role] of Object.entries(now.principals)) {
      const a = approved.principals[id];
      if (role !== 'viewer' && roleRank(role) > roleRank(a)) {
        out.push({ field: `principal ${id}`, approved: a ?? 'not approved', configured: role, weaker: true });
      }
    }
  }
  return out;
}

/** The approved state with the parts a configuration knows replaced by it (after approval, or to ratchet up). */
export function mergeState(approved: SecurityState, patch: SecurityState): SecurityState {
  return {
    ...approved,
    ...(patch.k !== undefined ? { k: patch.k } : {}),
    ...(patch.columns ? { columns: { ...(approved.columns ?? {}), ...patch.columns } } : {}),
    ...(patch.onDetect ? { onDetect: { ...(approved.onDetect ?? {}), ...patch.onDetect } } : {}),
    ...(patch.listeners ? { listeners: patch.listeners } : {}),
    ...(patch.probeSeconds !== undefined ? { probeSeconds: patch.probeSeconds } : {}),
    ...(patch.alertWebhook !== undefined ? { alertWebhook: patch.alertWebhook } : {}),
    ...(patch.policy ? { policy: patch.policy } : {}),
    ...(patch.principals ? { principals: { ...(approved.principals ?? {}), ...patch.principals } } : {}),
    ...(patch.keys ? { keys: { ...(approved.keys ?? {}), ...patch.keys } } : {}),
    ...(patch.credentials ? { credentials: { ...(approved.credentials ?? {}), ...patch.credentials } } : {}),
    ...(patch.used ? { used: [...new Set([...(approved.used ?? []), ...patch.used])] } : {}),
  };
}

/** Only the parts of `now` that differ from `approved` and are weaker: what a proposal asks for. */
export function weakerPart(approved: SecurityState, now: SecurityState): SecurityState {
  const diffs = compareStates(approved, now).filter((d) => d.weaker);
  const has = (field: string) => diffs.some((d) => d.field === field);
  const pick = <T>(m: Readonly<Record<string, T>> | undefined, prefix: string) => {
    const e = Object.entries(m ?? {}).filter(([k]) => has(`${prefix} ${k}`));
    return e.length > 0 ? Object.fromEntries(e) : undefined;
  };
  const columns = pick(now.columns, 'column');
  const onDetect = pick(now.onDetect, 'on_detect');
  const principals = pick(now.principals, 'principal');
  const listeners = (now.listeners ?? []).filter((l) => has(`listen ${l.address}`));
  return {
    ...(has('k') ? { k: now.k as number } : {}),
    ...(columns ? { columns } : {}),
    ...(onDetect ? { onDetect } : {}),
    ...(listeners.length > 0
      ? {
          listeners: [
            ...(approved.listeners ?? []).filter((a) => !listeners.some((l) => l.address === a.address)),
            ...listeners,
          ],
        }
      : {}),
    ...(has('probe') ? { probeSeconds: now.probeSeconds ?? null } : {}),
    ...(has('alert webhook') ? { alertWebhook: now.alertWebhook ?? null } : {}),
    ...(now.policy && diffs.some((d) => /^(policy |custom_detector |soft_delete |retention )/.test(d.field))
      ? { policy: now.policy }
      : {}),
    ...(principals ? { principals } : {}),
  };
}
