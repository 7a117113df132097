import { type Static, Type } from '@sinclair/typebox';
import { StringEnum } from './common.ts';

export const AuditQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) },
  { additionalProperties: false },
);

/** One chained record; `detail` names what was asked, never result data. */
export const AuditRecord = Type.Object({
  seq: Type.Integer(),
  ts: Type.String(),
  prev: Type.String(),
  hash: Type.String(),
  actor: Type.String(),
  action: Type.String(),
  outcome: StringEnum(['ok', 'refused', 'failed'] as const),
  detail: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export const AuditRecords = Type.Object({ records: Type.Array(AuditRecord) });

export const AuditVerdict = Type.Object({
  ok: Type.Boolean(),
  records: Type.Integer(),
  firstBad: Type.Optional(Type.Object({ line: Type.Integer(), reason: Type.String() })),
});

export type AuditRecord = Static<typeof AuditRecord>;
export type AuditRecords = Static<typeof AuditRecords>;
export type AuditVerdict = Static<typeof AuditVerdict>;
export type AuditQuery = Static<typeof AuditQuery>;
