export type { GuardedResult, SandboxLimits, SqlLimits } from './guarded-sql.ts';
export { ingestedRows, ingestedRowsError, ingestedRowsMeta } from './ingested-rows.ts';
export {
  aggregateName,
  type RollupAggregate,
  type RollupSpec,
  type RollupWhere,
  rollupSpec,
} from './rollup-spec.ts';
export type {
  HeldLink,
  StagedText,
  Store,
  StoreColumn,
  StoreTableSpec,
  TableState,
  TableWriter,
  WriteMode,
} from './store.ts';
export {
  rowChecker,
  type ValueCheck,
  type ValueLimits,
  type ValueProblem,
} from './value-limits.ts';
