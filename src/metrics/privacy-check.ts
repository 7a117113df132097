import { FvError } from '../errors/index.ts';
import type { MetricsFile } from './metric-definition.ts';

/** The store's record of the policy it was synced under (run-sync.ts writes both keys). */
export interface StoredClasses {
  /** The pseudonym domain k counts: the policy's privacy unit (people). */
  readonly privacyUnit: string;
  /** Identifier columns by table, each with its pseudonym domain ('' when it has none). */
  readonly identifiers: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

function resolve(ref: string, base: string): [string, string] {
  const [a, b] = ref.split('.') as [string, string | undefined];
  return b === undefined ? [base, a] : [a, b];
}

/**
 * A metrics file may not weaken k: every metric's unit must be a column pseudonymized in the
 * policy's privacy unit domain, so k always counts distinct people whatever the metric says, and
 * no dimension may be an identifier column (a pseudonym per group is a person per group). Every
 * problem is reported at once, each at its place in the file; nothing is served until it is fixed.
 *
 * @example
 * checkMetricsPrivacy(file, { privacyUnit: 'user', identifiers: { devices: { user_id: 'user' } } });
 */
export function checkMetricsPrivacy(file: MetricsFile, stored: StoredClasses): void {
  const problems: string[] = [];
  const where = (pos: string | undefined, path: string) => `${file.file}:${pos ?? '1:1'} ${path}`;
  if (file.privacyUnit !== stored.privacyUnit) {
    problems.push(
      `${where(file.privacyUnitAt, 'privacy_unit')}: the policy's privacy unit is ${stored.privacyUnit}; the metrics file cannot choose another`,
    );
  }
  for (const def of file.metrics.values()) {
    const [ut, uc] = resolve(def.unit, def.from);
    const domain = stored.identifiers[ut]?.[uc];
    if (domain !== stored.privacyUnit) {
      problems.push(
        `${where(def.at?.unit, `metrics.${def.name}.unit`)}: ${def.unit} is not a column pseudonymized in the privacy unit domain ${stored.privacyUnit}; k counts distinct ${stored.privacyUnit}s`,
      );
    }
    def.dimensions.forEach((d, i) => {
      const [t, c] = resolve(d, def.from);
      if (stored.identifiers[t]?.[c] !== undefined) {
        problems.push(
          `${where(def.at?.dimensions[i], `metrics.${def.name}.dimensions`)}: ${d} is an identifier column and cannot be a dimension`,
        );
      }
    });
  }
  if (problems.length > 0) {
    throw new FvError(
      'FV_METRICS_PRIVACY',
      `metrics file ${file.file} would weaken k-anonymity; nothing is served from it`,
      problems,
    );
  }
}

/** Reads the classes a store recorded at its last sync; a store never synced records none. */
export function storedClasses(meta: ReadonlyMap<string, string>): StoredClasses | undefined {
  const ids = meta.get('identifiers');
  if (ids === undefined) return undefined;
  return {
    privacyUnit: meta.get('privacy_unit') ?? 'user',
    identifiers: JSON.parse(ids) as StoredClasses['identifiers'],
  };
}
