import { type Static, Type } from '@sinclair/typebox';
import { GRAINS } from '../../metrics/metric-definition.ts';
import { Nullable, StringEnum } from './common.ts';
import { PrivacyInfo } from './privacy.ts';

const FORMAT = StringEnum(['count', 'ratio', 'seconds', 'number'] as const);
const DAY = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' });
const NumberOrNull = Nullable(Type.Number());

export const MetricParams = Type.Object(
  { name: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }) },
  { additionalProperties: true },
);

export const MetricQuerystring = Type.Object(
  {
    grain: Type.Optional(StringEnum(GRAINS)),
    by: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.,]{0,200}$' })),
    from: Type.Optional(DAY),
    to: Type.Optional(DAY),
    filter: Type.Optional(
      Type.Union([
        Type.String({ maxLength: 500 }),
        Type.Array(Type.String({ maxLength: 500 }), { maxItems: 10 }),
      ]),
    ),
    /** Under differential privacy: the approval of an exact answer to exactly this query. */
    exact: Type.Optional(Type.String({ pattern: '^[0-9a-f]{10}$' })),
  },
  { additionalProperties: false },
);

/**
 * One cell of an answer, after the k gate (or, under differential privacy, noised): a suppressed
 * cell carries nulls, never its value; `not_released` is a group partition selection withheld.
 */
export const Group = Type.Object({
  period: Type.String(),
  dims: Type.Array(Nullable(Type.String())),
  values: Type.Record(Type.String(), NumberOrNull),
  /** The users behind the value (a ratio: its smaller side); null when suppressed. */
  units: NumberOrNull,
  /** A ratio's users per side (`numerator`, `denominator`). */
  sides: Type.Optional(Type.Record(Type.String(), NumberOrNull)),
  suppressed: StringEnum(['none', 'below_k', 'complement', 'not_released'] as const),
  /** Under differential privacy: each value's 95 % interval (null when not released). */
  intervals: Type.Optional(Type.Record(Type.String(), Nullable(Type.Tuple([Type.Number(), Type.Number()])))),
});

export const Answer = Type.Object({
  metric: Type.String(),
  description: Type.String(),
  format: FORMAT,
  grain: StringEnum(GRAINS),
  by: Type.Array(Type.String()),
  from: Type.String(),
  to: Type.String(),
  k: Type.Integer(),
  outputs: Type.Array(Type.String()),
  groups: Type.Array(Group),
  totals: Type.Array(Group),
  /** Under differential privacy: ε and δ of the answer and the asker's budget. */
  privacy: Type.Optional(PrivacyInfo),
  /** An exact answer under differential privacy: the approval it was seen under. */
  exact: Type.Optional(Type.Object({ approval: Type.String() })),
});

export const MetricInfo = Type.Object({
  name: Type.String(),
  description: Type.String(),
  outputs: Type.Array(Type.String()),
  format: FORMAT,
  dimensions: Type.Array(Type.String()),
});

export const Catalogue = Type.Object({ k: Type.Integer(), metrics: Type.Array(MetricInfo) });

export const RegressionComparison = Type.Object({
  against: StringEnum(['baseline', 'siblings'] as const),
  expected: Type.Number(),
  referenceUsers: Type.Number(),
  rise: Type.Number(),
  z: Type.Number(),
  p: Type.Number(),
  q: Type.Number(),
});

export const Regression = Type.Object({
  metric: Type.String(),
  description: Type.String(),
  format: FORMAT,
  output: Type.String(),
  by: Type.Array(Type.String()),
  dims: Type.Array(Nullable(Type.String())),
  period: Type.String(),
  value: Type.Number(),
  users: Type.Number(),
  comparisons: Type.Array(RegressionComparison),
});

/** What changed: every k-anonymous group compared, and the significant rises. */
export const RegressionReport = Type.Object({
  grain: Type.Literal('week'),
  period: Nullable(Type.String()),
  k: Type.Integer(),
  rules: Type.Object(
    {
      fdr: Type.Number(),
      minUsers: Type.Number(),
      minExpected: Type.Number(),
      minRise: Type.Number(),
      minRateRise: Type.Number(),
    },
    { additionalProperties: true },
  ),
  method: Type.Array(Type.String()),
  scans: Type.Array(Type.Object({ metric: Type.String(), by: Type.Array(Type.String()) })),
  groups: Type.Object({ tested: Type.Number(), suppressed: Type.Number(), tooSmall: Type.Number() }),
  tests: Type.Number(),
  regressions: Type.Array(Regression),
});

export type Group = Static<typeof Group>;
export type Answer = Static<typeof Answer>;
export type MetricInfo = Static<typeof MetricInfo>;
export type Catalogue = Static<typeof Catalogue>;
export type MetricQuerystring = Static<typeof MetricQuerystring>;
export type RegressionComparison = Static<typeof RegressionComparison>;
export type Regression = Static<typeof Regression>;
export type RegressionReport = Static<typeof RegressionReport>;

/**
 * POST /api/v1/privacy/exact: one admin asks for the exact answer to one query (the metric route's
 * parameters, with its range given in full), for a second admin to approve.
 */
export const ExactRequest = Type.Object(
  {
    metric: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }),
    ...Type.Omit(MetricQuerystring, ['exact']).properties,
    reason: Type.String({ minLength: 3, maxLength: 500 }),
    hours: Type.Optional(Type.Integer({ minimum: 1, maximum: 168 })),
  },
  { additionalProperties: false },
);

export type ExactRequest = Static<typeof ExactRequest>;
