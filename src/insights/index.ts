export { type RegressionAlert, RegressionWatch, type RegressionWatchOptions } from './regression-watch.ts';
export {
  DEFAULT_SCANS,
  detectRegressions,
  findRegressions,
  REGRESSION_METHOD,
  REGRESSION_RULES,
  type Regression,
  type RegressionComparison,
  type RegressionReport,
  type RegressionScan,
  type RegressionSource,
  regressionId,
} from './regressions.ts';
export { benjaminiHochberg, normalUpperTail } from './statistics.ts';
