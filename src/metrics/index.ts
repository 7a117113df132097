export {
  boundClickHouse,
  boundDuckDb,
  type ContributionBounds,
  clampOf,
  type PartKind,
  type PerUnitShape,
} from './contribution-bounds.ts';
export { type ExactGrants, type ExactQuestion, exactQuestion } from './exact-answer.ts';
export { type Cell, type SuppressedCell, type Suppression, suppress } from './k-anonymity.ts';
export { loadMetrics, type MetricsLoadResult, parseMetrics, readMetricsFile } from './load-metrics.ts';
export type {
  Aggregate,
  FirstAfter,
  Grain,
  Join,
  Measure,
  MetricDefinition,
  MetricsFile,
  Where,
} from './metric-definition.ts';
export { GRAINS } from './metric-definition.ts';
export { API_FILTER, CLI_FILTER, type FilterSyntax, parseFilters } from './metric-filter.ts';
export type { MetricRow, MetricRowsOptions, MetricsEngine } from './metrics-engine.ts';
export {
  type MetricAnswer,
  type MetricQuery,
  MetricsReader,
  nextPeriod,
  periodStart,
} from './metrics-reader.ts';
export { bucketComparisons, PERCENTILE_BUCKETS, percentileEdges } from './percentile-domain.ts';
export { type BudgetReceipt, PrivacyBudget, type SpendEvent } from './privacy-budget.ts';
export {
  aggregate,
  firstAfterAggregates,
  firstAfterRollup,
  firstStepColumns,
  metricAggregates,
  rollupEligible,
  rollupFor,
  rollupsAnswering,
  rollupsOf,
} from './rollups.ts';
