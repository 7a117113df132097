// A deployment under differential privacy, as the DP end-to-end files start from: a synced demo
// store, two admins (alice, bob), the demo policy with a privacy section sealed by one admin (a
// stronger setting), synced under it; and the budget-paying reader `serve` builds over it.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { AuditLog } from '../../src/audit/index.ts';
import { duckdb, openMetricsReader } from '../../src/engines/index.ts';
import { PrivacyBudget, readMetricsFile } from '../../src/metrics/index.ts';
import { runCli } from './cli.ts';
import { addAdminsByCli } from './enroll.ts';
import { DEMO_METRICS, DEMO_POLICY, type SyncedStore, syncedStore } from './synced-store.ts';

/** ε 4 a day, 1 per answer, at most 5 rows and 1 group per person and period. */
export const DP_PRIVACY = `privacy:
  model: differential_privacy
  epsilon: 4
  epsilon_per_answer: 1
  window: day
  max_rows: 5
  max_groups: 1
`;

export interface DpDeployment {
  readonly s: SyncedStore;
  readonly state: string;
  /** The demo policy with DP_PRIVACY, sealed and synced under. */
  readonly dpPolicy: string;
  /** The admins' passwords by name. */
  readonly pw: Record<string, string>;
  /** The latest day of connection events, YYYY-MM-DD. */
  readonly lastDay: string;
}

export async function dpDeployment(opts: {
  users: number;
  days: number;
  seed: number;
}): Promise<DpDeployment> {
  const s = await syncedStore(opts);
  const state = join(s.dir, 'state');
  const pw = await addAdminsByCli(state);
  const dpPolicy = join(s.dir, 'dp.policy.yaml');
  writeFileSync(dpPolicy, readFileSync(DEMO_POLICY, 'utf8').replace(/^tables:/m, `${DP_PRIVACY}tables:`));
  // Turning differential privacy on is stronger: one admin's seal records it.
  const sealed = await runCli(
    ['approvals', 'seal', '--policy', dpPolicy, '--state-dir', state, '--user', 'alice'],
    {
      env: { FLEETVAULT_PASSWORD: pw.alice ?? '' },
    },
  );
  expect(sealed.code, sealed.stderr).toBe(0);
  const r = await runCli([
    'sync',
    '--source',
    s.db.url,
    '--policy',
    dpPolicy,
    '--store',
    s.store,
    '--key-file',
    s.keyFile,
    '--state-dir',
    state,
  ]);
  expect(r.code, r.stderr).toBe(0);
  const engine = await duckdb.openReader(s.store);
  const last = await engine.latestDay(readMetricsFile(DEMO_METRICS).metrics.get('connection_attempts')!);
  engine.close();
  return { s, state, dpPolicy, pw, lastDay: String(last) };
}

/** The reader `serve` builds over the deployment: it pays answers from the state's budget file. */
export async function budgetedReader(d: Pick<DpDeployment, 's' | 'state'>) {
  const audit = new AuditLog(join(d.state, 'audit.jsonl'));
  const budget = new PrivacyBudget(join(d.state, 'privacy-budget.json'), (e) =>
    audit.append({ actor: e.principal, action: 'privacy.spend', outcome: 'ok', detail: { ...e } }),
  );
  const reader = await openMetricsReader(d.s.store, readMetricsFile(DEMO_METRICS), { budget });
  return { audit, reader };
}
