import { type Static, Type } from '@sinclair/typebox';
import { Nullable, ROLE } from './common.ts';

export const LoginBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64 }),
    password: Type.String({ minLength: 1, maxLength: 200 }),
  },
  { additionalProperties: false },
);

export const SessionUser = Type.Object({ name: Type.String(), role: ROLE });

/** Who is signed in and the CSRF token to send with every state-changing request (null for a bearer). */
export const SessionAnswer = Type.Object({ user: SessionUser, csrfToken: Nullable(Type.String()) });

export type LoginBody = Static<typeof LoginBody>;
export type SessionUser = Static<typeof SessionUser>;
export type SessionAnswer = Static<typeof SessionAnswer>;
