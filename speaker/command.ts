import { applyLogLevelFlag, durationFlag, EXIT_OK, intFlag, listenFlag, parseCommandArgs, type Command } from '../src/command.js';
import { CONFIGMAP_NAME, CONFIGMAP_NAMESPACE } from '../src/config/types.js';
import { UsageError } from '../src/errors.js';
import { startSpeaker, type SpeakerTimings } from './program.js';
import { configureProcessLimits } from './proxy/process-limits.js';

const usage = `Usage: fulcrum speaker [options]

Runs on every node (a DaemonSet on the host network). Elects, with the other speakers and
without talking to them, the owner of every Service address; the owner puts the address on lo,
terminates its ports with Fulcrum's proxy, answers ARP/NDP for it and announces it on takeover.
Peers probe each other over the node network (UDP, SWIM with Lifeguard) to fail over in well
under a second, at about 40 datagrams per second per node whatever the cluster size. On a
takeover from an owner that is still running, open connections are forwarded to it while it
drains (nftables; without nft they are reset). /readyz is ok once every peer was heard from.
The membership datagrams are authenticated with the key of the Secret "memberlist" in
--namespace (data "secretkey"); without it the speaker waits and does not join its peers.

Options:
  --node-name NAME         this node (default: $NODE_NAME; required)
  --kubeconfig PATH        API access (default: $KUBECONFIG, else in-cluster)
  --namespace NS           namespace of the pool config (the ConfigMap, or MetalLB's
                           IPAddressPools and L2Advertisements: one of the two) and the alive
                           Leases (default: fulcrum-system, or $FULCRUM_NAMESPACE)
  --config-name NAME       pool ConfigMap name (default: config)
  --interfaces LIST        comma-separated interfaces to announce on (default: the interface
                           holding the node's InternalIP)
  --lb-class CLASS         serve Services with this spec.loadBalancerClass instead of those
                           without one
  --metrics HOST:PORT      /metrics, /healthz, /readyz, /stats (HTML) and /stats.json
                           (default: 0.0.0.0:7473; "off" disables)
  --probe-port PORT        UDP port of the membership probes (default 7946)
  --probe-interval D       membership round: each node probes one peer per round; the probe
                           timeouts scale with it (default 50ms)
  --fail-after D           a peer that answers no probe this long is down once others confirm
                           it (probe timeout + accusation grace + suspicion; default 240ms; at
                           least 3 probe intervals)
  --lease-renew D          alive Lease renew period (default 5s; expires after 3 periods)
  --coalesce D             wait this long to batch cache events (default 20ms)
  --handover D             on SIGTERM, keep serving this long after telling peers (default 1500ms)
  --drain-timeout D        then give open connections this long (default 10s); a new owner
                           forwards them here for --handover + --drain-timeout + 1s
  --maxconn N              open TCP/HTTP client connections of the whole proxy (default: from
                           the descriptor limit, (ulimit -n - reserve - UDP sockets) / 2)
  --max-udp-flows N        UDP flow sockets of the whole proxy (default: a quarter of the
                           usable descriptors, at most 65536)
  --data-plane-kernel auto|off
                           kernel mode for Services annotated fulcrum-lb.io/data-plane: kernel
                           (nftables DNAT; held connections survive a takeover;
                           speaker/kernel/README.md). auto (default): run it when nft works and
                           nf_conntrack_tcp_loose is or can be set to 1, else say why once; the
                           table is loaded with the first kernel-mode port. off: annotated
                           ports stay in the proxy with a Warning
  --log-level LEVEL        trace|debug|info|warn|error|fatal|silent (default: info)
  -h, --help
`;

export const command: Command = {
  name: 'speaker',
  summary: 'announce owned addresses (ARP/NDP) and proxy their traffic on this node',
  usage,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      'node-name': { type: 'string' },
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      'config-name': { type: 'string' },
      interfaces: { type: 'string' },
      'lb-class': { type: 'string' },
      metrics: { type: 'string' },
      'probe-port': { type: 'string' },
      'probe-interval': { type: 'string' },
      'fail-after': { type: 'string' },
      'lease-renew': { type: 'string' },
      coalesce: { type: 'string' },
      handover: { type: 'string' },
      'drain-timeout': { type: 'string' },
      maxconn: { type: 'string' },
      'max-udp-flows': { type: 'string' },
      'log-level': { type: 'string' },
      'data-plane-kernel': { type: 'string' },
    });
    applyLogLevelFlag(values['log-level']);
    const nodeName = values['node-name'] ?? process.env.NODE_NAME;
    if (!nodeName) throw new UsageError('the node name is required: --node-name or $NODE_NAME');
    const metrics = values.metrics === 'off' ? undefined : listenFlag('metrics', values.metrics, { host: '0.0.0.0', port: 7473 });
    const interfaces = (values.interfaces ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const timings: SpeakerTimings = {
      leaseRenewMs: durationFlag('lease-renew', values['lease-renew'], 5_000),
      probeIntervalMs: durationFlag('probe-interval', values['probe-interval'], 50),
      failAfterMs: durationFlag('fail-after', values['fail-after'], 240),
      coalesceMs: durationFlag('coalesce', values.coalesce, 20),
      handoverMs: durationFlag('handover', values.handover, 1_500),
      drainTimeoutMs: durationFlag('drain-timeout', values['drain-timeout'], 10_000),
    };
    if (timings.probeIntervalMs < 10) throw new UsageError(`--probe-interval: ${timings.probeIntervalMs} ms is below 10 ms`);
    if (timings.failAfterMs < 3 * timings.probeIntervalMs) {
      throw new UsageError(`--fail-after (${timings.failAfterMs} ms) must be at least 3 times --probe-interval (${timings.probeIntervalMs} ms): it holds the probe timeout, the accusation grace and the suspicion`);
    }
    if (timings.leaseRenewMs < 1000) throw new UsageError(`--lease-renew: ${timings.leaseRenewMs} ms is below 1s`);
    // Process-wide bounds of the proxy (README "Limits and protection"); absent: derived from RLIMIT_NOFILE.
    configureProcessLimits({
      ...(values.maxconn !== undefined ? { maxconn: intFlag('maxconn', values.maxconn, 0, 1, 10_000_000) } : {}),
      ...(values['max-udp-flows'] !== undefined ? { udpFlowSockets: intFlag('max-udp-flows', values['max-udp-flows'], 0, 1, 10_000_000) } : {}),
    });
    const kernelMode = values['data-plane-kernel'] ?? 'auto';
    if (kernelMode !== 'auto' && kernelMode !== 'off') throw new UsageError(`--data-plane-kernel: "${kernelMode}" is not auto or off`);
    const program = await startSpeaker({
      kernelMode,
      nodeName,
      kubeconfig: values.kubeconfig,
      namespace: values.namespace ?? process.env.FULCRUM_NAMESPACE ?? CONFIGMAP_NAMESPACE,
      configName: values['config-name'] ?? CONFIGMAP_NAME,
      lbClass: values['lb-class'],
      interfaces,
      metrics,
      probePort: intFlag('probe-port', values['probe-port'], 7946, 1, 65535),
      timings,
    });
    await new Promise<void>((resolve) => {
      const onSignal = () => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        resolve();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    });
    await program.stop();
    return EXIT_OK;
  },
};
