import { type Static, Type } from '@sinclair/typebox';
import { BUDGET_WINDOWS } from '../../policy/privacy-model.ts';
import { StringEnum } from './common.ts';

/** A principal's privacy budget in the current window (differential privacy). */
export const BudgetReceipt = Type.Object({
  /** ε this answer spent (0 when it repeated an answer already given in the window). */
  spent: Type.Number(),
  remaining: Type.Number(),
  epsilon: Type.Number(),
  window: StringEnum(BUDGET_WINDOWS),
  /** When the window renews (ISO time, UTC). */
  renewsAt: Type.String(),
  cached: Type.Boolean(),
});

/** What a differentially private answer was computed with, what it cost the asker, what is left. */
export const PrivacyInfo = Type.Object({
  model: Type.Literal('differential_privacy'),
  epsilon: Type.Number(),
  delta: Type.Number(),
  confidence: Type.Number(),
  budget: Type.Optional(BudgetReceipt),
});

/**
 * GET /api/v1/privacy/budget: `k_anonymity` alone when answers are not differentially private;
 * otherwise the asker's budget (every receipt field).
 */
export const PrivacyBudgetAnswer = Type.Object({
  model: StringEnum(['k_anonymity', 'differential_privacy'] as const),
  ...Type.Partial(BudgetReceipt).properties,
});

export type BudgetReceipt = Static<typeof BudgetReceipt>;
export type PrivacyInfo = Static<typeof PrivacyInfo>;
export type PrivacyBudgetAnswer = Static<typeof PrivacyBudgetAnswer>;
