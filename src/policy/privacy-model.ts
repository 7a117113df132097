/** How answers are protected: k-anonymity (the default) or differential privacy. */
export const PRIVACY_MODELS = ['k_anonymity', 'differential_privacy'] as const;
export type PrivacyModelName = (typeof PRIVACY_MODELS)[number];

export const BUDGET_WINDOWS = ['day', 'week'] as const;
export type BudgetWindow = (typeof BUDGET_WINDOWS)[number];

/**
 * Differential privacy as the policy configures it. Each principal may spend `epsilon` (and
 * `delta`) per window; each answer spends `epsilonPerAnswer`. Each privacy unit contributes at
 * most `maxRows` rows to a group of one period and to at most `maxGroups` groups of a period;
 * summed or averaged columns are clamped into `clamp` bounds first (a column without bounds
 * cannot be summed under differential privacy).
 */
export interface DifferentialPrivacy {
  readonly model: 'differential_privacy';
  readonly epsilon: number;
  readonly delta: number;
  readonly window: BudgetWindow;
  readonly epsilonPerAnswer: number;
  readonly maxRows: number;
  readonly maxGroups: number;
  /** `table.column` → [low, high]. */
  readonly clamp: Readonly<Record<string, readonly [number, number]>>;
}

export type PrivacyModel = { readonly model: 'k_anonymity' } | DifferentialPrivacy;

const KEYS = ['model', 'epsilon', 'delta', 'window', 'epsilon_per_answer', 'max_rows', 'max_groups', 'clamp'];

/**
 * Reads a policy's `privacy:` section (its YAML value as plain data); every problem goes to
 * `problem(path, message)`. Absent: k-anonymity.
 *
 * @example
 * loadPrivacyModel({ model: 'differential_privacy', epsilon: 1 }, report);
 */
export function loadPrivacyModel(
  raw: unknown,
  problem: (path: string, message: string) => void,
): PrivacyModel | undefined {
  if (raw === undefined || raw === null) return { model: 'k_anonymity' };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    problem('privacy', 'privacy is a map such as { model: differential_privacy, epsilon: 1 }');
    return undefined;
  }
  const r = raw as Record<string, unknown>;
  const before = { n: 0 };
  const report = (path: string, message: string) => {
    before.n += 1;
    problem(`privacy.${path}`, message);
  };
  for (const key of Object.keys(r))
    if (!KEYS.includes(key)) report(key, `unknown key; allowed here: ${KEYS.join(', ')}`);
  const model = r.model ?? 'k_anonymity';
  if (!PRIVACY_MODELS.includes(model as PrivacyModelName)) {
    report('model', `model is ${PRIVACY_MODELS.join(' or ')}`);
    return undefined;
  }
  if (model === 'k_anonymity') {
    const extra = Object.keys(r).filter((k) => k !== 'model');
    if (extra.length > 0) report(extra[0] as string, 'only differential_privacy takes budget and bounds');
    return before.n === 0 ? { model: 'k_anonymity' } : undefined;
  }
  const positive = (key: string, fallback: number | undefined, max: number): number => {
    const v = r[key] ?? fallback;
    if (typeof v !== 'number' || !(v > 0) || v > max)
      report(key, `${key} is a number above 0, at most ${max}`);
    return Number(v);
  };
  const whole = (key: string, fallback: number): number => {
    const v = r[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1000)
      report(key, `${key} is a whole number from 1 to 1000`);
    return Number(v);
  };
  const epsilon = positive('epsilon', undefined, 100);
  const delta = positive('delta', 1e-6, 1e-3);
  // A bad epsilon is one problem, not also one for the per-answer share derived from it.
  const epsilonPerAnswer = positive('epsilon_per_answer', epsilon > 0 ? epsilon / 10 : 0.1, 100);
  if (epsilon > 0 && epsilonPerAnswer > epsilon)
    report('epsilon_per_answer', 'epsilon_per_answer is at most epsilon');
  const window = r.window ?? 'day';
  if (!BUDGET_WINDOWS.includes(window as BudgetWindow))
    report('window', `window is ${BUDGET_WINDOWS.join(' or ')}`);
  const clamp: Record<string, readonly [number, number]> = {};
  const rawClamp = r.clamp ?? {};
  if (typeof rawClamp !== 'object' || Array.isArray(rawClamp) || rawClamp === null) {
    report('clamp', 'clamp maps table.column to [low, high]');
  } else {
    for (const [col, b] of Object.entries(rawClamp as Record<string, unknown>)) {
      const ok =
        /^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$]*$/.test(col) &&
        Array.isArray(b) &&
        b.length === 2 &&
        b.every((x) => typeof x === 'number' && Number.isFinite(x)) &&
        (b[0] as number) < (b[1] as number);
      if (ok) clamp[col] = [b[0] as number, b[1] as number];
      else report(`clamp.${col}`, 'a clamp is table.column: [low, high] with low < high');
    }
  }
  const dp: DifferentialPrivacy = {
    model: 'differential_privacy',
    epsilon,
    delta,
    window: window as BudgetWindow,
    epsilonPerAnswer,
    maxRows: whole('max_rows', 1),
    maxGroups: whole('max_groups', 1),
    clamp,
  };
  return before.n === 0 ? dp : undefined;
}
