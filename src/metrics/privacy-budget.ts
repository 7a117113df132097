import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { FvError } from '../errors/index.ts';
import type { BudgetWindow, DifferentialPrivacy } from '../policy/index.ts';
import { FileLock } from './file-lock.ts';

/** What an answer cost its principal, and what is left in the window. */
export interface BudgetReceipt {
  /** ε this answer spent (0 when it repeated an answer already given in the window). */
  readonly spent: number;
  readonly remaining: number;
  readonly epsilon: number;
  readonly window: BudgetWindow;
  /** When the window renews (ISO time, UTC). */
  readonly renewsAt: string;
  readonly cached: boolean;
}

/** One principal's window: what it spent and the noised answers it was given (never exact values). */
interface WindowRecord {
  readonly window: string;
  spent: number;
  readonly answers: Record<string, unknown>;
}

interface BudgetFile {
  readonly version: 1;
  readonly principals: Record<string, WindowRecord>;
}

/** Who spent what on which question: one audit event per spend (privacy-budget's onSpend). */
export interface SpendEvent {
  readonly principal: string;
  readonly query: string;
  readonly metric: string;
  readonly epsilon: number;
  readonly remaining: number;
  readonly window: string;
}

const DAY = 86_400_000;
/** Answers kept per principal and window; an evicted question costs again when asked again. */
const ANSWERS_KEPT = 500;
/** Spends are sums of per-answer shares: compare with room for their rounding. */
const SLACK = 1e-9;

/** The window holding `t`: its first day (UTC; weeks start on Monday) and when the next starts. */
function windowOf(t: number, w: BudgetWindow): { id: string; next: number } {
  const day = Math.floor(t / DAY) * DAY;
  const start = w === 'week' ? day - ((new Date(day).getUTCDay() + 6) % 7) * DAY : day;
  return { id: new Date(start).toISOString().slice(0, 10), next: start + (w === 'week' ? 7 : 1) * DAY };
}

/**
 * Each principal's differential-privacy budget per window, durable in one JSON file (mode 0600,
 * replaced atomically under a lock file shared by every process on the state folder; it holds
 * spends and the noised answers already given, never an exact value). An answer's ε is recorded
 * before the answer is returned, so a crash can waste budget but never hand out an unpaid answer.
 * The same question again in the same window gets the same noised answer and spends nothing:
 * asking twice cannot average the noise away (across processes too: the first answer written wins).
 *
 * @example
 * const budget = new PrivacyBudget('.fleetvault/state/privacy-budget.json', (e) => audit.append(…));
 * const { answer, receipt } = await budget.answer('token:ab12', settings, query, () => compute());
 */
export class PrivacyBudget {
  private readonly pending = new Map<string, Promise<unknown>>();
  /** Spends are read, checked and written under `<path>.lock`: one file, any number of processes. */
  private readonly lock: FileLock;

  constructor(
    readonly path: string,
    private readonly onSpend: (e: SpendEvent) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {
    this.lock = new FileLock(path);
  }

  private read(): BudgetFile {
    if (!existsSync(this.path)) return { version: 1, principals: {} };
    try {
      const f = JSON.parse(readFileSync(this.path, 'utf8')) as BudgetFile;
      if (f.version !== 1 || typeof f.principals !== 'object') throw new Error('shape');
      return f;
    } catch {
      throw new FvError('FV_STATE_CORRUPT', `privacy budget file ${this.path} is not valid`);
    }
  }

  private write(f: BudgetFile): void {
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(f)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.path);
  }

  /** What a principal has left now, without spending. */
  remaining(principal: string, s: DifferentialPrivacy): BudgetReceipt {
    const w = windowOf(this.now(), s.window);
    const rec = this.read().principals[principal];
    const spent = rec?.window === w.id ? rec.spent : 0;
    return this.receipt(s, w, 0, spent, false);
  }

  private receipt(
    s: DifferentialPrivacy,
    w: { next: number },
    spent: number,
    total: number,
    cached: boolean,
  ) {
    return {
      spent,
      remaining: Math.max(0, s.epsilon - total),
      epsilon: s.epsilon,
      window: s.window,
      renewsAt: new Date(w.next).toISOString(),
      cached,
    };
  }

  /**
   * The answer to `question` for `principal`: the one already given in this window, or a new one
   * from `compute` paid with `s.epsilonPerAnswer`. Refused with FV_PRIVACY_BUDGET_SPENT when the
   * window's budget cannot pay it.
   */
  async answer<T>(
    principal: string,
    s: DifferentialPrivacy,
    question: { readonly metric: string },
    compute: () => Promise<T>,
  ): Promise<{ answer: T; receipt: BudgetReceipt }> {
    const key = createHash('sha256').update(JSON.stringify(question)).digest('hex').slice(0, 32);
    const slot = `${principal}\n${key}`;
    const inflight = this.pending.get(slot);
    if (inflight) {
      await inflight.catch(() => {});
    }
    const w = windowOf(this.now(), s.window);
    const file = this.read();
    const rec = file.principals[principal]?.window === w.id ? file.principals[principal] : undefined;
    const given = rec?.answers[key];
    if (rec && given !== undefined)
      return { answer: given as T, receipt: this.receipt(s, w, 0, rec.spent, true) };
    const spent = rec?.spent ?? 0;
    if (spent + s.epsilonPerAnswer > s.epsilon + SLACK) {
      throw new FvError(
        'FV_PRIVACY_BUDGET_SPENT',
        `the privacy budget of ε ${s.epsilon} per ${s.window} is spent (${spent.toFixed(3)} used; an answer costs ${s.epsilonPerAnswer}); it renews at ${new Date(w.next).toISOString()}`,
      );
    }
    const run = compute();
    this.pending.set(slot, run);
    try {
      const answer = await run;
      // Under the lock, re-read: another request, here or in another process on this state folder
      // (a second server, the CLI), may have spent or answered this question meanwhile; the spend
      // is written before returning.
      return await this.lock.hold(() => {
        const now = this.read();
        const cur = now.principals[principal]?.window === w.id ? now.principals[principal] : undefined;
        const theirs = cur?.answers[key];
        if (cur && theirs !== undefined)
          return { answer: theirs as T, receipt: this.receipt(s, w, 0, cur.spent, true) };
        const next: WindowRecord = cur ?? { window: w.id, spent: 0, answers: {} };
        if (next.spent + s.epsilonPerAnswer > s.epsilon + SLACK) {
          throw new FvError(
            'FV_PRIVACY_BUDGET_SPENT',
            `the privacy budget of ε ${s.epsilon} per ${s.window} is spent; it renews at ${new Date(w.next).toISOString()}`,
          );
        }
        next.spent += s.epsilonPerAnswer;
        next.answers[key] = answer;
        const keys = Object.keys(next.answers);
        for (const old of keys.slice(0, Math.max(0, keys.length - ANSWERS_KEPT))) delete next.answers[old];
        this.write({ version: 1, principals: { ...now.principals, [principal]: next } });
        this.onSpend({
          principal,
          query: key,
          metric: question.metric,
          epsilon: s.epsilonPerAnswer,
          remaining: Math.max(0, s.epsilon - next.spent),
          window: w.id,
        });
        return { answer, receipt: this.receipt(s, w, s.epsilonPerAnswer, next.spent, false) };
      });
    } finally {
      this.pending.delete(slot);
    }
  }
}
