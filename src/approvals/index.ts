export { Approvals, type ProposalView } from './approvals.ts';
export { ApprovedState } from './approved-state.ts';
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
