/**
 * The Kubernetes client layer: what the allocator and the speaker import. See src/k8s/README.md.
 */
export { loadKubeConfig, type KubeConfigSource } from './kubeconfig.js';
export { createApiClients, mergePatchOptions, timeoutOptions, type ApiClients, type ApiClientsOptions } from './client.js';
export { classifyApiError, describeApiFailure, isConflict, isNotFound, type ApiFailure } from './api-error.js';
export { realClock, ManualClock, type Clock, type TimerHandle } from './clock.js';
export { backoffDelayMs, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
export { Informer, type InformerHandlers, type InformerOptions, type InformerState, type InformerStats } from './informer.js';
export {
  configMaps,
  endpoints,
  endpointSlices,
  ipAddressPools,
  l2Advertisements,
  leases,
  namespaces,
  nodes,
  objectKey,
  pods,
  secrets,
  services,
  watchPath,
  type ListQuery,
  type ResourceKind,
} from './resources.js';
export { done, requeueAfter, WorkQueue, type Reconcile, type ReconcileResult, type WorkQueueOptions } from './workqueue.js';
export {
  patchServiceAnnotations,
  sameLoadBalancerStatus,
  writeServiceLoadBalancerStatus,
  type ServiceRef,
  type StatusWriteOptions,
  type StatusWriteResult,
} from './status-writer.js';
export { EventRecorder, type EventRecorderOptions, type EventType, type ObjectRef } from './events.js';
export { LeaderElector, type LeaderCallbacks, type LeaderElectionOptions } from './leader-election.js';
export { microTime, planLease, type LeasePlan } from './lease-record.js';
export {
  ALIVE_LEASE_LABEL,
  ALIVE_LEASE_SELECTOR,
  aliveLeaseName,
  isPeerLeaseFresh,
  listPeerLeases,
  NodeAliveLease,
  peerFromLease,
  type NodeAliveLeaseOptions,
  type PeerLease,
} from './alive-lease.js';
export { k8sMetrics } from './metrics.js';
