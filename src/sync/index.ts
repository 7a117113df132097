export { type CdcOptions, type CdcResult, type CdcTableCount, runCdc } from './cdc-sync.ts';
export { type ForgetResult, forget } from './forget.ts';
export { rowTransformer, type TransformedRow } from './row-transformer.ts';
export { runSync, type SyncOptions } from './run-sync.ts';
export type { ColumnReport, QuarantineCount, SyncResult, TableResult, TableStatus } from './sync-result.ts';
export { totalRows } from './sync-result.ts';
export type { TableProgress } from './sync-table.ts';
export { planTable, type TablePlan } from './table-plan.ts';
export { translateTombstones } from './translate-tombstones.ts';
