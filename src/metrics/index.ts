export { columnRef, compileMetric, fromParts } from './compile-sql.ts';
export { type Cell, type SuppressedCell, type Suppression, suppress } from './k-anonymity.ts';
export { parseMetrics, readMetricsFile } from './load-metrics.ts';
export type { Grain, MetricDefinition, MetricsFile } from './metric-definition.ts';
export { GRAINS } from './metric-definition.ts';
export { type MetricAnswer, type MetricQuery, MetricsReader, periodStart } from './metrics-reader.ts';
export { type BudgetReceipt, PrivacyBudget, type SpendEvent } from './privacy-budget.ts';
