import type { DifferentialPrivacy } from '../policy/index.ts';

/** One weakening or strengthening of the privacy model, as compareStates lists it. */
interface PrivacyDifference {
  readonly field: string;
  readonly approved: string;
  readonly configured: string;
  readonly weaker: boolean;
}

const show = (p: DifferentialPrivacy | undefined): string =>
  p
    ? `differential privacy, ε ${p.epsilon}/${p.window} (${p.epsilonPerAnswer} per answer), δ ${p.delta}, ${p.maxRows} rows × ${p.maxGroups} groups per unit, clamps ${JSON.stringify(p.clamp)}`
    : 'k-anonymity';

/** Fewer days per window renew the budget sooner: a day is weaker than a week. */
const WINDOW_DAYS = { day: 1, week: 7 } as const;

/**
 * Whether the configured privacy model spends more than the approved one can: differential
 * privacy turned off, any budget, per-answer spend, δ or contribution bound raised, a window
 * shortened, a clamp widened or removed. Turning it on (from k-anonymity) is stronger.
 */
export function privacyWeaker(
  a: DifferentialPrivacy | undefined,
  n: DifferentialPrivacy | undefined,
): boolean {
  if (!a) return false;
  if (!n) return true;
  if (n.epsilon > a.epsilon || n.epsilonPerAnswer > a.epsilonPerAnswer || n.delta > a.delta) return true;
  if (n.maxRows > a.maxRows || n.maxGroups > a.maxGroups) return true;
  if (WINDOW_DAYS[n.window] < WINDOW_DAYS[a.window]) return true;
  for (const [col, [lo, hi]] of Object.entries(a.clamp)) {
    const now = n.clamp[col];
    if (!now || now[0] < lo || now[1] > hi) return true;
  }
  return false;
}

/** The difference between two privacy models, if any (policy.privacy in the security state). */
export function comparePrivacy(
  a: DifferentialPrivacy | undefined,
  n: DifferentialPrivacy | undefined,
): PrivacyDifference[] {
  if (JSON.stringify(a ?? null) === JSON.stringify(n ?? null)) return [];
  return [{ field: 'policy privacy', approved: show(a), configured: show(n), weaker: privacyWeaker(a, n) }];
}
