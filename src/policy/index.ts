export {
  ACTIONS,
  CLASS_RULES,
  CLASSES,
  type ColumnAction,
  type ColumnClass,
  ON_DETECT,
  type OnDetect,
  VALUE_KINDS,
  type Value,
  type ValueKind,
} from './classes.ts';
export { type LoadResult, parsePolicy, readPolicyFile } from './load-policy.ts';
export type { ColumnRule, CustomDetector, Policy, Position, TablePolicy } from './policy.ts';
export { DEFAULT_K, identifierColumns } from './policy.ts';
export {
  BUDGET_WINDOWS,
  type BudgetWindow,
  type DifferentialPrivacy,
  loadPrivacyModel,
  PRIVACY_MODELS,
  type PrivacyModel,
} from './privacy-model.ts';
export { formatProblems, hasErrors, type Problem } from './problem.ts';
export { readColumns, storedColumns } from './read-plan.ts';
export { resolveTransform, TRANSFORMS, type Transform, type TransformFactory } from './transforms/index.ts';
