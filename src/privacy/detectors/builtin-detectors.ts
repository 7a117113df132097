import type { Detector } from './detector.ts';
import { emailDetector, ipv4Detector, ipv6Detector, macDetector } from './network-detectors.ts';
import {
  cardDetector,
  coordinatesDetector,
  ibanDetector,
  phoneDetector,
  ssnDetector,
} from './number-detectors.ts';
import { personNameDetector } from './person-name-detector.ts';
import { jwtDetector, tokenDetector, urlCredentialsDetector } from './secret-detectors.ts';

export {
  cardDetector,
  coordinatesDetector,
  emailDetector,
  ibanDetector,
  ipv4Detector,
  ipv6Detector,
  jwtDetector,
  macDetector,
  personNameDetector,
  phoneDetector,
  ssnDetector,
  tokenDetector,
  urlCredentialsDetector,
};

/**
 * The detector registry: every built-in detector, most specific first (a credentialed URL is
 * reported as such before its host's address; an SSN before the phone number it resembles). The
 * sync, change capture, ingest, `scan`, `policy suggest` and the exposure probe all scan with
 * this list through `piiScanner`.
 */
export const BUILTIN_DETECTORS: readonly Detector[] = [
  urlCredentialsDetector,
  emailDetector,
  jwtDetector,
  macDetector,
  ipv4Detector,
  ipv6Detector,
  ibanDetector,
  cardDetector,
  ssnDetector,
  coordinatesDetector,
  phoneDetector,
  tokenDetector,
  personNameDetector,
];
