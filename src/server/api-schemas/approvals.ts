import { type Static, Type } from '@sinclair/typebox';
import { StringEnum } from './common.ts';

export const ProposalId = Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{10}$' }) });

export const ProposalBody = Type.Object(
  {
    reason: Type.String({ minLength: 3, maxLength: 500 }),
    hours: Type.Optional(Type.Integer({ minimum: 1, maximum: 168 })),
    principal: Type.Optional(
      Type.Object(
        {
          type: StringEnum(['token', 'user'] as const),
          role: StringEnum(['analyst', 'admin'] as const),
          name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9 ._-]+$' }),
        },
        { additionalProperties: false },
      ),
    ),
    settings: Type.Optional(
      Type.Object(
        {
          k: Type.Optional(Type.Integer({ minimum: 2, maximum: 1000 })),
          probeSeconds: Type.Optional(
            Type.Union([Type.Integer({ minimum: 1, maximum: 86_400 }), Type.Null()]),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/**
 * A proposal as the reviewer sees it. The stored proposal's signed parts (target state,
 * signatures) belong to the approvals module and pass through whole.
 */
export const ProposalView = Type.Object({
  proposal: Type.Object(
    {
      id: Type.String(),
      kind: StringEnum(['settings', 'principal', 'exact'] as const),
      status: StringEnum(['pending', 'approved', 'rejected', 'applied', 'expired'] as const),
      reason: Type.String(),
      proposedBy: Type.String(),
      proposedAt: Type.String(),
      expiresAt: Type.String(),
    },
    { additionalProperties: true },
  ),
  differences: Type.Array(
    Type.Object({
      field: Type.String(),
      approved: Type.String(),
      configured: Type.String(),
      weaker: Type.Boolean(),
    }),
  ),
});
export const ProposalList = Type.Object({ proposals: Type.Array(ProposalView) });

export type ProposalBody = Static<typeof ProposalBody>;
export type ProposalView = Static<typeof ProposalView>;
export type ProposalList = Static<typeof ProposalList>;
export type ProposalId = Static<typeof ProposalId>;
