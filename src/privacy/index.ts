export { BUILTIN_DETECTORS } from './detectors/builtin-detectors.ts';
export {
  type ColumnEvidence,
  columnEvidence,
  type TextShape,
  textShape,
} from './detectors/column-evidence.ts';
export type { Detector } from './detectors/detector.ts';
export { normalizeForDetection } from './detectors/normalize-text.ts';
export {
  detectorMatches,
  type PiiScanner,
  piiScanner,
  SCAN_LIMIT,
  TOO_LARGE_TO_SCAN,
} from './detectors/pii-scanner.ts';
export {
  commitNextKey,
  createKeyFile,
  keyFromBytes,
  loadKeyFile,
  loadPreviousKey,
  type MasterKey,
  nextKey,
  retirePreviousKey,
} from './key-file.ts';
export { PseudonymHasher, pseudonymThread } from './pseudonym-hasher.ts';
export { hmacPseudonymizer, type Pseudonymizer, pseudonymToUuid, uuidToPseudonym } from './pseudonymizer.ts';
export { type SealedBox, sealedBox } from './sealed-box.ts';
export { readSecret, type SecretSource, secretInUrl } from './secret-source.ts';
