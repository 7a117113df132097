export { ERROR_CATALOG, type ErrorCode } from './catalog.ts';
export { FvError, isFvError } from './fv-error.ts';
