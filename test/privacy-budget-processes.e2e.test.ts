// End to end: one state folder's privacy budget shared by several processes (two servers, or a
// server and a CLI). Real child processes spend from one `privacy-budget.json` at once: the total
// spent never exceeds the budget, no spend is lost, and a question answered in one process is the
// same answer, free, in the other.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const BUDGET_JS = fileURLToPath(new URL('../dist/src/metrics/privacy-budget.js', import.meta.url));
const EPSILON = 1;
const PER_ANSWER = 0.01;
/** Questions per process, four at a time: together far more than the budget pays for (100 answers). */
const QUESTIONS = 152;

/** One spender: asks its questions once stdin says go, prints what it was given and paid. */
const CHILD = `
import { PrivacyBudget } from ${JSON.stringify(pathToFileURL(BUDGET_JS).href)};
const [path, who, questions] = process.argv.slice(2);
const dp = { model: 'differential_privacy', epsilon: ${EPSILON}, delta: 1e-6, window: 'day',
  epsilonPerAnswer: ${PER_ANSWER}, maxRows: 1, maxGroups: 1, clamp: {} };
const budget = new PrivacyBudget(path);
await new Promise((go) => process.stdin.once('data', go));
const out = { paid: 0, free: 0, refused: 0, answers: {} };
// Several questions in flight at once inside the process too, as a server has them.
const ask = async (i) => {
  // Every third question is asked by both processes; the rest by this one only.
  const q = i % 3 === 0 ? 'shared-' + i : who + '-' + i;
  try {
    const { answer, receipt } = await budget.answer('viewers', dp, { metric: 'm', q }, async () => ({ by: who, q }));
    if (receipt.spent > 0) out.paid++;
    else out.free++;
    out.answers[q] = answer;
  } catch (e) {
    if (e.code !== 'FV_PRIVACY_BUDGET_SPENT') throw e;
    out.refused++;
  }
};
for (let i = 0; i < Number(questions); i += 4) await Promise.all([0, 1, 2, 3].map((k) => ask(i + k)));
process.stdout.write(JSON.stringify(out));
`;

interface Spent {
  paid: number;
  free: number;
  refused: number;
  answers: Record<string, { by: string; q: string }>;
}

function spender(script: string, path: string, who: string) {
  const child = spawn(process.execPath, [script, path, who, String(QUESTIONS)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const done = new Promise<Spent>((resolve, reject) =>
    child.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(stdout) as Spent)
        : reject(new Error(`${who} exited ${code}: ${stderr}`)),
    ),
  );
  return { go: () => child.stdin.end('go\n'), done };
}

describe('one privacy budget file, several processes', () => {
  it('two processes spending at once never exceed the budget and lose no spend', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fv-budget-procs-'));
    const script = join(dir, 'spender.mjs');
    writeFileSync(script, CHILD);
    const path = join(dir, 'privacy-budget.json');
    const a = spender(script, path, 'a');
    const b = spender(script, path, 'b');
    // Both loaded before either starts, so their spends overlap.
    a.go();
    b.go();
    const [ra, rb] = await Promise.all([a.done, b.done]);

    const file = JSON.parse(readFileSync(path, 'utf8')) as {
      principals: Record<string, { spent: number; answers: Record<string, unknown> }>;
    };
    const rec = file.principals.viewers;
    expect(rec).toBeDefined();
    const paid = ra.paid + rb.paid;
    // Never more than the budget, and every answer handed out paid for in the file.
    expect(rec?.spent ?? 0).toBeLessThanOrEqual(EPSILON + 1e-9);
    expect(rec?.spent ?? 0).toBeCloseTo(paid * PER_ANSWER, 9);
    expect(Object.keys(rec?.answers ?? {})).toHaveLength(paid);
    // More was asked than the budget pays for: it was spent to the last answer, then refused.
    expect(paid).toBe(Math.round(EPSILON / PER_ANSWER));
    expect(ra.refused + rb.refused).toBeGreaterThan(0);
    expect(ra.paid + ra.free + ra.refused).toBe(QUESTIONS);
    expect(rb.paid + rb.free + rb.refused).toBe(QUESTIONS);
    // A question both were given is one answer, computed and paid once.
    for (const [q, answer] of Object.entries(ra.answers))
      if (q in rb.answers) expect(rb.answers[q], q).toEqual(answer);
    expect(existsSync(`${path}.lock`), 'the lock is released').toBe(false);
  }, 120_000);
});
