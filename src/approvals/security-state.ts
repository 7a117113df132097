import {
  CLASS_RULES,
  type ColumnAction,
  type ColumnClass,
  type OnDetect,
  type Policy,
} from '../policy/index.ts';
import { ROLES, type Role } from '../server/token-store.ts';

/** How one column travels, as far as protection goes. */
export interface ColumnProtection {
  readonly class: ColumnClass;
  readonly action: ColumnAction;
  /** The transform's own description, e.g. `truncated to the day (UTC)`; null when none. */
  readonly transform: string | null;
  /** How much detail the transform keeps (see `Transform.detail`); null when none. */
  readonly detail: { readonly family: string; readonly levels: readonly number[] } | null;
  readonly aggregateOnly: boolean;
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
  for (const t of policy.tables.values()) {
    onDetect[t.name] = t.onDetect;
    for (const c of t.columns.values()) {
      columns[`${t.name}.${c.name}`] = {
        class: c.class,
        action: c.action,
        transform: c.transform ? c.transform.describe() : null,
        detail: c.transform ? c.transform.detail : null,
        aggregateOnly: c.aggregateOnly,
      };
    }
  }
  return { k: policy.k, columns, onDetect };
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
    ...(patch.principals ? { principals: { ...(approved.principals ?? {}), ...patch.principals } } : {}),
    ...(patch.keys ? { keys: { ...(approved.keys ?? {}), ...patch.keys } } : {}),
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
    ...(principals ? { principals } : {}),
  };
}
