export { candidateHash, electOwner, rankCandidates, type Election, type NoCandidateReason } from './elect.js';
export {
  EXCLUDE_FROM_LB_LABEL,
  electServiceOwner,
  eligibleCandidates,
  nodeExcludedFromLoadBalancers,
  nodeReady,
  nodesWithLocalEndpoint,
  type CandidateSet,
  type ElectionInput,
  type EndpointSliceLike,
  type ExternalTrafficPolicy,
  type NodeLike,
} from './eligibility.js';
