export {
  addQuarantine,
  type BatchInput,
  type BatchOutput,
  type BatchRefusal,
  type BatchWrite,
  batchPipeline,
} from './batch-pipeline.ts';
export { type CdcOptions, type CdcResult, type CdcTableCount, runCdc } from './cdc-sync.ts';
export { parentTables } from './deletions.ts';
export { erasedAmong, eraseLateArrivals, type PseudonymizerCache } from './erased-among.ts';
export { type ForgetResult, forget } from './forget.ts';
export { rowTransformer, type TransformedRow } from './row-transformer.ts';
export { checkSyncSettings, runSync, SYNC_BATCH, type SyncOptions } from './run-sync.ts';
export { SyncMetrics } from './sync-metrics.ts';
export type { ColumnReport, QuarantineCount, SyncResult, TableResult, TableStatus } from './sync-result.ts';
export { quarantinedRows, rowsAddUp, totalRows } from './sync-result.ts';
export type { TableProgress } from './sync-table.ts';
export { planTable, type TablePlan } from './table-plan.ts';
export { translateTombstones } from './translate-tombstones.ts';
