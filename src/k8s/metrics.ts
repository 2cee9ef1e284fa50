import { counter, gauge } from '../metrics.js';

/** Metrics of the k8s client layer. Labels are bounded: resource names, HTTP codes, reasons. */
export const k8sMetrics = {
  watchRestarts: counter(
    'fulcrum_k8s_watch_restarts_total',
    'Watches started again after they ended, by informer and why the previous one ended',
    ['informer', 'reason'] as const,
  ),
  relists: counter('fulcrum_k8s_relists_total', 'Full lists made by informers, by informer and reason', [
    'informer',
    'reason',
  ] as const),
  apiErrors: counter(
    'fulcrum_k8s_api_errors_total',
    'Failed API requests by HTTP status code ("network" when no response came back)',
    ['code'] as const,
  ),
  informerSynced: gauge('fulcrum_k8s_informer_synced', '1 once an informer has listed at least once', [
    'informer',
  ] as const),
  informerObjects: gauge('fulcrum_k8s_informer_objects', 'Objects in an informer cache', ['informer'] as const),
  leader: gauge('fulcrum_k8s_leader', '1 while this process holds the leader Lease', ['lease'] as const),
  leaderTransitions: counter(
    'fulcrum_k8s_leader_transitions_total',
    'Leadership changes seen by this process, by lease and what happened',
    ['lease', 'event'] as const,
  ),
  statusWrites: counter('fulcrum_k8s_status_writes_total', 'Service status writes by result', ['result'] as const),
  conflicts: counter('fulcrum_k8s_conflicts_total', '409 Conflict answers retried by a writer', ['writer'] as const),
  events: counter('fulcrum_k8s_events_total', 'Events recorded, by what was done with them', ['result'] as const),
  queueAdds: counter('fulcrum_k8s_workqueue_adds_total', 'Keys added to a work queue', ['queue'] as const),
  queueDepth: gauge('fulcrum_k8s_workqueue_depth', 'Keys waiting in a work queue', ['queue'] as const),
  queueResults: counter('fulcrum_k8s_workqueue_results_total', 'Reconcile results by kind', [
    'queue',
    'result',
  ] as const),
  aliveLeaseRenewals: counter(
    'fulcrum_k8s_alive_lease_renewals_total',
    'Renewals of a node alive Lease, by result',
    ['result'] as const,
  ),
};
