import { type TSchema, Type } from '@sinclair/typebox';

/**
 * A string from a closed list, as JSON Schema `enum` (TypeBox's own union of literals would make
 * validation messages speak of `anyOf`): the message a client sees stays "must be equal to one
 * of the allowed values".
 */
export const StringEnum = <const T extends readonly string[]>(values: T) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values] });

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const ROLE = StringEnum(['viewer', 'analyst', 'admin'] as const);

/** Every refusal: a stable `FV_…` code, a message naming what, never a value, and the request id. */
export const ErrorBody = Type.Object(
  {
    error: Type.Object(
      { code: Type.String(), message: Type.String(), requestId: Type.Optional(Type.String()) },
      { additionalProperties: true },
    ),
  },
  { additionalProperties: true },
);

export const OkAnswer = Type.Object({ ok: Type.Boolean() });
export const HealthAnswer = Type.Object({ status: Type.Literal('ok') });
