import { counter, gauge, histogram } from '../src/metrics.js';

/** The allocator's metrics (names documented in the README). */
export const allocatorMetrics = {
  addressesTotal: gauge('fulcrum_allocator_addresses_total', 'Assignable addresses per pool and family (a /64 is reported as 2^64).', ['pool', 'family']),
  addressesInUse: gauge('fulcrum_allocator_addresses_in_use', 'Addresses held by at least one Service, per pool and family.', ['pool', 'family']),
  configLoaded: gauge('fulcrum_config_loaded', '1 when a valid pool config is in force.'),
  configStale: gauge('fulcrum_config_stale', '1 when the pool config (the ConfigMap or MetalLB resources, or both at once) was refused and the last good one is still in force.'),
  reconciles: counter('fulcrum_allocator_reconciles_total', 'Service reconciles by result.', ['result']),
  reconcileErrors: counter('fulcrum_allocator_reconcile_errors_total', 'Service reconciles that threw (retried with backoff).'),
  reconcileSeconds: histogram('fulcrum_allocator_reconcile_duration_seconds', 'Time of one Service reconcile, API writes included.'),
  allocationFailures: counter('fulcrum_allocator_allocation_failures_total', 'Failed assignments by reason.', ['reason']),
  leader: gauge('fulcrum_allocator_leader', '1 while this replica is the active (leading) allocator.'),
  statusWrites: counter('fulcrum_allocator_status_writes_total', 'Service status writes by kind.', ['kind']),
};
