import { applyLogLevelFlag, durationFlag, EXIT_OK, listenFlag, parseCommandArgs, untilStopSignal, type Command } from '../src/command.js';
import { CONFIGMAP_NAME, CONFIGMAP_NAMESPACE } from '../src/config/types.js';
import { UsageError } from '../src/errors.js';
import { MEMBERLIST_SECRET_NAME } from '../src/memberlist-secret.js';
import { defaultIdentity, startAllocator } from './program.js';

const usage = `Usage: fulcrum allocator [options]

Assigns an address from the pools (the pool ConfigMap, or MetalLB's IPAddressPool and
L2Advertisement resources in the same namespace; both at once are refused) to every
LoadBalancer Service and writes it to status.loadBalancer.ingress (ipMode: Proxy). Run as a Deployment with 2 replicas: one leads
(Lease fulcrum-allocator), the other waits warm and takes over when the Lease expires, or at
once when the leader stops cleanly (SIGTERM).

Options:
  --kubeconfig PATH        API access (default: $KUBECONFIG, else in-cluster)
  --namespace NS           namespace of the pool config (ConfigMap or MetalLB resources) and
                           the Lease (default: fulcrum-system, or $FULCRUM_NAMESPACE)
  --config-name NAME       pool ConfigMap name (default: config; data key "config")
  --lb-class CLASS         serve Services with this spec.loadBalancerClass instead of those
                           without one (KEP-1959)
  --memberlist-secret NAME the speakers' membership key Secret in --namespace: the leader
                           creates it with a random key when it is missing, and never changes
                           one that exists (default: memberlist; "off": leave it to you)
  --metrics HOST:PORT      /metrics, /healthz, /readyz (default: 0.0.0.0:7472; "off" disables)
  --identity NAME          leader-election identity (default: $POD_NAME, else host-pid)
  --no-leader-elect        act as leader at once (a single replica, tests)
  --lease-duration D       (default 15s)   leader election timings, as client-go
  --renew-deadline D       (default 10s)
  --retry-period D         (default 2s)
  --log-level LEVEL        trace|debug|info|warn|error|fatal|silent (default: info)
  -h, --help
`;

export const command: Command = {
  name: 'allocator',
  summary: 'assign addresses to LoadBalancer Services (leader-elected)',
  usage,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      'config-name': { type: 'string' },
      'lb-class': { type: 'string' },
      metrics: { type: 'string' },
      'memberlist-secret': { type: 'string' },
      identity: { type: 'string' },
      'no-leader-elect': { type: 'boolean' },
      'lease-duration': { type: 'string' },
      'renew-deadline': { type: 'string' },
      'retry-period': { type: 'string' },
      'log-level': { type: 'string' },
    });
    applyLogLevelFlag(values['log-level']);
    const metrics = values.metrics === 'off' ? undefined : listenFlag('metrics', values.metrics, { host: '0.0.0.0', port: 7472 });
    const leaseDurationMs = durationFlag('lease-duration', values['lease-duration'], 15_000);
    const renewDeadlineMs = durationFlag('renew-deadline', values['renew-deadline'], 10_000);
    const retryPeriodMs = durationFlag('retry-period', values['retry-period'], 2_000);
    if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > retryPeriodMs)) {
      throw new UsageError(`leader election needs --lease-duration (${leaseDurationMs} ms) > --renew-deadline (${renewDeadlineMs} ms) > --retry-period (${retryPeriodMs} ms)`);
    }
    const program = await startAllocator({
      kubeconfig: values.kubeconfig,
      namespace: values.namespace ?? process.env.FULCRUM_NAMESPACE ?? CONFIGMAP_NAMESPACE,
      configName: values['config-name'] ?? CONFIGMAP_NAME,
      lbClass: values['lb-class'],
      metrics,
      memberlistSecret: values['memberlist-secret'] === 'off' ? undefined : (values['memberlist-secret'] ?? MEMBERLIST_SECRET_NAME),
      identity: values.identity ?? defaultIdentity(),
      leaderElection: { enabled: !values['no-leader-elect'], leaseDurationMs, renewDeadlineMs, retryPeriodMs },
    });
    await untilStopSignal();
    await program.stop();
    return EXIT_OK;
  },
};
