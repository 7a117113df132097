import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Policy, parsePolicy } from '../policy/index.ts';
import { shardColumn } from './table-plan.ts';

const policyOf = (text: string, file = 'p.yaml'): Policy => {
  const { policy, problems } = parsePolicy(text, file);
  if (!policy) throw new Error(JSON.stringify(problems));
  return policy;
};
const routing = (policy: Policy) =>
  Object.fromEntries([...policy.tables.values()].map((t) => [t.name, shardColumn(policy, t)]));

describe('shardColumn', () => {
  it("puts the demo's rows with the rows they point to: devices with their events, users with their integrations", () => {
    const demo = policyOf(readFileSync('examples/demo/fleetvault.policy.yaml', 'utf8'), 'demo');
    expect(routing(demo)).toEqual({
      users: 'id',
      devices: 'id',
      device_shares: 'device_id',
      app_sessions: 'user_id',
      integrations: 'user_id',
      connection_events: 'device_id',
      scale_measurements: 'user_id',
    });
  });

  it('prefers the most specific parent, and the owner when no table is keyed by what a table points to', () => {
    const p = policyOf(`version: 1
reviewed: true
tables:
  accounts:
    primary_key: id
    columns:
      id: { class: identifier, domain: account }
  sensors:
    primary_key: sid
    columns:
      sid: { class: identifier, domain: sensor }
      account_id: { class: identifier, domain: account }
  readings:
    primary_key: rid
    columns:
      rid: { class: identifier, domain: reading }
      account_id: { class: identifier, domain: account }
      sensor_id: { class: identifier, domain: sensor }
  audits:
    primary_key: aid
    columns:
      aid: { class: identifier, domain: audit }
      operator: { class: identifier, domain: operator }
      note: { class: attribute }
  plain:
    primary_key: n
    columns:
      n: { class: attribute }
`);
    expect(routing(p)).toEqual({
      accounts: 'id',
      sensors: 'sid',
      readings: 'sensor_id',
      // Nothing points to audits and no table is keyed by operator: the owner at the top.
      audits: 'operator',
      plain: undefined,
    });
  });
});
