import { type Static, Type } from '@sinclair/typebox';
import { Nullable } from './common.ts';

export const Finding = Type.Object({ kind: Type.String(), where: Type.String(), detail: Type.String() });

/** The signed state's chain: the dashboard raises the alarm when it goes back or forks. */
export const StateChain = Type.Object({
  id: Type.String(),
  version: Type.Integer(),
  digests: Type.Array(Type.String()),
});

/** Store freshness and coverage (each engine may add facts of its own), the probe, the chain. */
export const StatusAnswer = Type.Object(
  {
    k: Type.Integer(),
    lastSync: Type.Optional(Nullable(Type.String())),
    freshnessSeconds: Type.Optional(Nullable(Type.Number())),
    coverage: Type.Optional(Type.Record(Type.String(), Type.Number())),
    tables: Type.Optional(
      Type.Array(
        Type.Object(
          // null under differential privacy: an exact row count would answer around the budget.
          { name: Type.String(), rows: Type.Union([Type.Number(), Type.Null()]) },
          { additionalProperties: true },
        ),
      ),
    ),
    exposure: Type.Optional(
      Type.Object({
        checkedAt: Nullable(Type.String()),
        runs: Type.Integer(),
        findings: Type.Array(Finding),
      }),
    ),
    state: Type.Optional(StateChain),
  },
  { additionalProperties: true },
);

export type Finding = Static<typeof Finding>;
export type StateChain = Static<typeof StateChain>;
export type StatusAnswer = Static<typeof StatusAnswer>;
