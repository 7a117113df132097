export { type BulkLoader, type PgliteLike, pgLoader, pgliteLoader } from './bulk-loader.ts';
export { DEMO_TABLES } from './demo-schema.ts';
export {
  type Canaries,
  canaryValues,
  DEFAULT_END_DATE,
  type SimulateOptions,
  type SimulateResult,
  simulate,
} from './simulator.ts';
