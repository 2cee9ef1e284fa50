import { hostname } from 'node:os';
import { createApiClients } from '../src/k8s/client.js';
import { EventRecorder } from '../src/k8s/events.js';
import { reuseConnections } from '../src/k8s/keep-alive.js';
import { loadKubeConfig } from '../src/k8s/kubeconfig.js';
import { LeaderElector } from '../src/k8s/leader-election.js';
import { componentLogger } from '../src/log.js';
import { collectProcessMetrics } from '../src/metrics.js';
import { startMetricsServer, type MetricsServer } from '../src/metrics-server.js';
import { AllocatorController } from './controller.js';
import { MemberlistSecretKeeper } from './memberlist-secret.js';

export interface AllocatorProgramOptions {
  kubeconfig: string | undefined;
  namespace: string;
  configName: string;
  lbClass: string | undefined;
  metrics: { host: string; port: number } | undefined;
  /** The speakers' membership key Secret the leader creates when missing (in `namespace`); undefined: never. */
  memberlistSecret?: string | undefined;
  leaderElection: { enabled: boolean; leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  identity: string;
}

export const ALLOCATOR_LEASE = 'fulcrum-allocator';

export function defaultIdentity(): string {
  return process.env.POD_NAME || `${hostname()}-${process.pid}`;
}

/** A running allocator: `stop()` steps down (releasing the Lease) and closes everything. */
export interface AllocatorProgram {
  readonly controller: AllocatorController;
  readonly metricsServer: MetricsServer | undefined;
  stop(): Promise<void>;
}

/**
 * Wires the allocator: API clients, the controller's caches (on every replica, so a standby is
 * warm), Lease leader election (only the leader reconciles), events, metrics and probes.
 */
export async function startAllocator(o: AllocatorProgramOptions): Promise<AllocatorProgram> {
  const log = componentLogger('allocator', { identity: o.identity });
  const { kubeConfig, source } = loadKubeConfig(o.kubeconfig);
  const clients = createApiClients(reuseConnections(kubeConfig));
  collectProcessMetrics();
  const events = new EventRecorder({ clients, component: 'fulcrum-allocator', host: o.identity, logger: log });
  const controller = new AllocatorController({
    clients,
    configNamespace: o.namespace,
    configName: o.configName,
    lbClass: o.lbClass,
    events,
    logger: log,
  });
  const metricsServer = o.metrics
    ? await startMetricsServer({
        ...o.metrics,
        ready: () => (controller.isSynced() ? { ready: true } : { ready: false, reason: 'caches not synced yet' }),
      })
    : undefined;
  log.info({ event: 'starting', kubeconfig: source, namespace: o.namespace, config: o.configName, lbClass: o.lbClass ?? null, metrics: metricsServer?.address ?? null }, 'allocator starting');
  await controller.start();
  log.info({ event: 'synced' }, 'caches synced');

  const memberlist = o.memberlistSecret ? new MemberlistSecretKeeper({ clients, namespace: o.namespace, name: o.memberlistSecret, logger: log }) : undefined;
  let elector: LeaderElector | undefined;
  if (o.leaderElection.enabled) {
    elector = new LeaderElector({
      clients,
      namespace: o.namespace,
      name: ALLOCATOR_LEASE,
      identity: o.identity,
      leaseDurationMs: o.leaderElection.leaseDurationMs,
      renewDeadlineMs: o.leaderElection.renewDeadlineMs,
      retryPeriodMs: o.leaderElection.retryPeriodMs,
      logger: log,
      callbacks: {
        onStartedLeading: () => {
          memberlist?.start();
          controller.startLeading().catch((err: unknown) => log.error({ event: 'startLeadingFailed', err }, 'could not start leading'));
        },
        onStoppedLeading: () => {
          memberlist?.stop();
          void controller.stopLeading();
        },
        onNewLeader: (identity) => log.info({ event: 'newLeader', leader: identity }, identity ? `leader is ${identity}` : 'lease released'),
      },
    }).start();
  } else {
    memberlist?.start();
    await controller.startLeading();
  }

  return {
    controller,
    metricsServer,
    async stop() {
      // Stop writing first, then release the Lease so the standby takes over at once.
      memberlist?.stop();
      await controller.stopLeading();
      await elector?.stop();
      await events.stop();
      await controller.stop();
      await metricsServer?.close();
      log.info({ event: 'stopped' }, 'allocator stopped');
    },
  };
}
