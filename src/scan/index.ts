export { type ColumnFinding, type ScanReport, scanDatabase } from './scan-database.ts';
export { duckDbTarget, pgTarget, type ScanColumn, type ScanTarget } from './scan-target.ts';
