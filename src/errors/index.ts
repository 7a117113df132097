export { type CatalogEntry, ERROR_CATALOG, type FvCode, httpStatusFor } from './catalog.ts';
export { asFvError, FvError, isFvError } from './fv-error.ts';
