/** Every source column carries exactly one of these classes. */
export const CLASSES = [
  'secret',
  'identifier',
  'personal',
  'sensitive',
  'attribute',
  'measure',
  'time',
] as const;
export type ColumnClass = (typeof CLASSES)[number];

/** What happens to a column's values on the way to the store. */
export const ACTIONS = ['never_read', 'drop', 'pseudonymize', 'generalize', 'keep'] as const;
export type ColumnAction = (typeof ACTIONS)[number];

/** What a PII hit inside a kept text value does. */
export const ON_DETECT = ['block', 'quarantine'] as const;
export type OnDetect = (typeof ON_DETECT)[number];

interface ClassRule {
  readonly defaultAction: ColumnAction;
  readonly allowed: readonly ColumnAction[];
  readonly meaning: string;
}

/** The safe default and the short list of allowed alternatives for each class. */
export const CLASS_RULES: Readonly<Record<ColumnClass, ClassRule>> = {
  secret: { defaultAction: 'never_read', allowed: ['never_read'], meaning: 'never selected from the source' },
  identifier: {
    defaultAction: 'pseudonymize',
    allowed: ['pseudonymize', 'drop'],
    meaning: 'keyed pseudonym',
  },
  personal: { defaultAction: 'drop', allowed: ['drop', 'generalize'], meaning: 'dropped or coarsened' },
  sensitive: {
    defaultAction: 'drop',
    allowed: ['drop', 'generalize', 'keep'],
    meaning: 'dropped unless admitted for aggregate-only use',
  },
  attribute: {
    defaultAction: 'keep',
    allowed: ['keep', 'drop', 'generalize'],
    meaning: 'copied, text scanned for PII',
  },
  measure: { defaultAction: 'keep', allowed: ['keep', 'drop', 'generalize'], meaning: 'copied' },
  time: { defaultAction: 'keep', allowed: ['keep', 'drop', 'generalize'], meaning: 'copied' },
};

/** How a value is represented between the source reader and the store writer. */
export const VALUE_KINDS = [
  'integer',
  'bigint',
  'float',
  'decimal',
  'boolean',
  'text',
  'uuid',
  'date',
  'timestamp',
  'timestamptz',
] as const;
export type ValueKind = (typeof VALUE_KINDS)[number];

/**
 * A value in flight: numbers for integer/float/date (days since epoch), bigint for bigint and
 * timestamps (microseconds since epoch), strings for text, uuid and decimal (PostgreSQL's exact
 * numeric text, stored as an exact decimal).
 */
export type Value = string | number | bigint | boolean | null;
