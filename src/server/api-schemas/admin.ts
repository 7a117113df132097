import { type Static, Type } from '@sinclair/typebox';
import { Nullable, ROLE } from './common.ts';

const APPROVAL = Type.String({ pattern: '^[0-9a-f]{10}$' });

export const TokenCreateBody = Type.Object(
  {
    role: ROLE,
    name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9 ._-]+$' }),
    days: Type.Optional(Type.Integer({ minimum: 1, maximum: 366 })),
    approval: Type.Optional(APPROVAL),
  },
  { additionalProperties: false },
);

/** The secret is in this answer only; the server keeps its hash. */
export const TokenCreated = Type.Object({
  token: Type.String(),
  id: Type.String(),
  role: ROLE,
  expiresAt: Nullable(Type.String()),
});

/** A token as listed: never its secret or hash. */
export const TokenView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: ROLE,
  createdAt: Type.String(),
  expiresAt: Nullable(Type.String()),
  revokedAt: Nullable(Type.String()),
});
export const TokenList = Type.Object({ tokens: Type.Array(TokenView) });

export const TokenId = Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{12}$' }) });
export const TokenRevoked = Type.Object({ id: Type.String(), revokedAt: Nullable(Type.String()) });

export const UserCreateBody = Type.Object(
  {
    role: ROLE,
    name: Type.String({ minLength: 2, maxLength: 63, pattern: '^[a-z0-9][a-z0-9._-]+$' }),
    approval: Type.Optional(APPROVAL),
  },
  { additionalProperties: false },
);

/** The initial password is in this answer only. */
export const UserCreated = Type.Object({ name: Type.String(), role: ROLE, password: Type.String() });

/** An account as listed: never its password hash. */
export const UserView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: ROLE,
  createdAt: Type.String(),
  disabledAt: Nullable(Type.String()),
});
export const UserList = Type.Object({ users: Type.Array(UserView) });

export type TokenCreateBody = Static<typeof TokenCreateBody>;
export type TokenCreated = Static<typeof TokenCreated>;
export type TokenView = Static<typeof TokenView>;
export type TokenList = Static<typeof TokenList>;
export type UserCreateBody = Static<typeof UserCreateBody>;
export type UserCreated = Static<typeof UserCreated>;
export type UserView = Static<typeof UserView>;
export type UserList = Static<typeof UserList>;
export type TokenId = Static<typeof TokenId>;
