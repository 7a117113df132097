import { type Static, Type } from '@sinclair/typebox';

export const SqlBody = Type.Object(
  { sql: Type.String({ minLength: 1, maxLength: 20_000 }) },
  { additionalProperties: false },
);

/** A guarded statement's rows: any JSON value per cell (wide integers as strings). */
export const SqlAnswer = Type.Object({
  columns: Type.Array(Type.String()),
  rows: Type.Array(Type.Array(Type.Unknown())),
  truncated: Type.Boolean(),
});

export type SqlBody = Static<typeof SqlBody>;
export type SqlAnswer = Static<typeof SqlAnswer>;
