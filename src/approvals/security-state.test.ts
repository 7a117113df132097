import { describe, expect, it } from 'vitest';
import {
  type ColumnProtection,
  compareStates,
  mergeState,
  type SecurityState,
  weakerPart,
} from './security-state.ts';

const col = (c: Partial<ColumnProtection>): ColumnProtection => ({
  class: 'attribute',
  action: 'keep',
  transform: null,
  detail: null,
  aggregateOnly: false,
  ...c,
});
const day = col({
  class: 'time',
  action: 'generalize',
  transform: 'day',
  detail: { family: 'time', levels: [3] },
});
const hour = col({
  class: 'time',
  action: 'generalize',
  transform: 'hour',
  detail: { family: 'time', levels: [4] },
});

const weaker = (a: SecurityState, b: SecurityState) =>
  compareStates(a, b)
    .filter((d) => d.weaker)
    .map((d) => d.field);

describe('security state comparison', () => {
  it('names every weakening and nothing stronger', () => {
    const approved: SecurityState = {
      k: 10,
      columns: {
        'u.email': col({ class: 'personal', action: 'drop' }),
        'u.id': col({ class: 'identifier', action: 'pseudonymize' }),
        'd.t': day,
      },
      onDetect: { u: 'block' },
      listeners: [{ address: '0.0.0.0:8443', tls: true }],
      probeSeconds: 300,
      principals: { 'user:a': 'admin', 'token:t': 'analyst' },
    };
    expect(weaker(approved, approved)).toEqual([]);
    expect(
      weaker(approved, {
        k: 5,
        columns: {
          'u.email': col({ class: 'personal', action: 'keep' }),
          'u.id': col({ class: 'identifier', action: 'keep' }),
          'd.t': hour,
          'u.phone': col({
            class: 'personal',
            action: 'generalize',
            transform: 'x',
            detail: { family: 'x', levels: [] },
          }),
          'u.country': col({ class: 'attribute', action: 'keep' }),
        },
        onDetect: { u: 'quarantine' },
        listeners: [
          { address: '0.0.0.0:8443', tls: false },
          { address: '10.0.0.5:80', tls: true },
        ],
        probeSeconds: null,
        principals: { 'user:a': 'admin', 'token:t': 'admin', 'user:new': 'analyst', 'token:v': 'viewer' },
      }).sort(),
    ).toEqual(
      [
        'k',
        'column u.email',
        'column u.id',
        'column d.t',
        'column u.phone',
        'on_detect u',
        'listen 0.0.0.0:8443',
        'listen 10.0.0.5:80',
        'probe',
        'principal token:t',
        'principal user:new',
      ].sort(),
    );
    // Stronger in every part: no approval needed.
    expect(
      weaker(approved, {
        k: 20,
        columns: {
          'u.email': col({ class: 'personal', action: 'never_read' }),
          'd.t': { ...day, transform: 'month', detail: { family: 'time', levels: [1] } },
        },
        onDetect: { u: 'block' },
        listeners: [],
        probeSeconds: 60,
        principals: { 'user:a': 'admin' },
      }),
    ).toEqual([]);
  });

  it('a proposal carries only the weaker part, and approving it merges that part', () => {
    const approved: SecurityState = { k: 10, probeSeconds: 300, columns: { 'd.t': day } };
    const part = weakerPart(approved, { k: 5, probeSeconds: 60, columns: { 'd.t': hour } });
    expect(part).toEqual({ k: 5, columns: { 'd.t': hour } });
    expect(mergeState(approved, part)).toEqual({ k: 5, probeSeconds: 300, columns: { 'd.t': hour } });
  });

  it('parts never recorded are not differences (they are sealed when first seen)', () => {
    expect(compareStates({}, { k: 2, probeSeconds: null, principals: { 'user:x': 'admin' } })).toEqual([]);
  });
  it('policy fields and the alert webhook: only provably stronger changes are not weaker', () => {
    const view = {
      schema: 'public',
      privacyUnit: 'user',
      customDetectors: { badge: '/B-[0-9]{6}/' },
      tables: { t: { softDelete: 'deleted_at', retention: { column: 'ts', days: 400 } } },
    };
    const approved: SecurityState = { policy: view, alertWebhook: 'https://a.example/hook' };
    expect(weaker(approved, { policy: view, alertWebhook: 'https://a.example/hook' })).toEqual([]);
    expect(
      weaker(approved, {
        policy: {
          ...view,
          customDetectors: { badge: '/B-[0-9]{6}/', more: '/x/' },
          tables: { t: { softDelete: 'deleted_at', retention: { column: 'ts', days: 30 } } },
        },
      }),
    ).toEqual([]);
    expect(
      weaker(approved, {
        policy: {
          schema: 'other',
          privacyUnit: 'device',
          customDetectors: {},
          tables: { t: { softDelete: null, retention: { column: 'ts', days: 500 } } },
        },
        alertWebhook: null,
      }),
    ).toEqual([
      'policy schema',
      'policy privacy_unit',
      'custom_detector badge',
      'soft_delete t',
      'retention t',
      'alert webhook',
    ]);
    expect(
      weaker(
        { columns: { 'd.id': col({ class: 'identifier', action: 'pseudonymize', domain: 'device' }) } },
        {
          columns: { 'd.id': col({ class: 'identifier', action: 'pseudonymize', domain: 'user' }) },
        },
      ),
    ).toEqual(['column d.id']);
  });
});

describe('the privacy model in the security state', () => {
  const dp = {
    model: 'differential_privacy' as const,
    epsilon: 1,
    delta: 1e-6,
    window: 'day' as const,
    epsilonPerAnswer: 0.1,
    maxRows: 2,
    maxGroups: 2,
    clamp: { 'connection_events.duration_ms': [0, 60000] as const },
  };
  const view = (privacy?: typeof dp | Record<string, unknown>): SecurityState => ({
    policy: {
      schema: 'public',
      privacyUnit: 'user',
      ...(privacy ? { privacy: privacy as typeof dp } : {}),
      customDetectors: {},
      tables: {},
    },
  });

  it('turning differential privacy off, or spending or bounding more, is weaker', () => {
    expect(weaker(view(dp), view())).toEqual(['policy privacy']);
    for (const change of [
      { epsilon: 2 },
      { epsilonPerAnswer: 0.2 },
      { delta: 1e-5 },
      { maxRows: 3 },
      { maxGroups: 3 },
      { clamp: { 'connection_events.duration_ms': [0, 120000] } },
      { clamp: {} },
    ]) {
      expect(weaker(view(dp), view({ ...dp, ...change }))).toEqual(['policy privacy']);
    }
    expect(weakerPart(view(dp), view()).policy?.privacy).toBeUndefined();
    expect(weakerPart(view(dp), view()).policy).toBeDefined();
  });

  it('turning it on, spending less or renewing less often is stronger', () => {
    expect(weaker(view(), view(dp))).toEqual([]);
    expect(compareStates(view(), view(dp))).toHaveLength(1);
    expect(weaker(view(dp), view({ ...dp, epsilon: 0.5, maxRows: 1, window: 'week' }))).toEqual([]);
  });
});
