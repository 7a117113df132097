export { AdminKeys, publicKeyText, type Signer } from './admin-key.ts';
export { Approvals, type PrincipalGrant, type ProposalView } from './approvals.ts';
export {
  ApprovedState,
  type AuditHead,
  adminsOf,
  type StateDoc,
  verifyTransition,
} from './approved-state.ts';
export { type Account, enrollAccount } from './enroll-account.ts';
export { describeExact, type ExactGrant, type ExactQuery } from './exact-grant.ts';
export {
  type PrincipalRequest,
  type Proposal,
  type ProposalStatus,
  ProposalStore,
} from './proposal-store.ts';
export {
  type ColumnProtection,
  compareStates,
  type Difference,
  type Listener,
  mergeState,
  policyState,
  type SecurityState,
  weakerPart,
} from './security-state.ts';
export { guardSeen, seenFile } from './seen-state.ts';
export {
  BINDING_META,
  bindingFor,
  checkStoreBinding,
  readBinding,
  requireAuditAnchors,
  requireNoLaterState,
  type StoreBinding,
} from './store-binding.ts';
