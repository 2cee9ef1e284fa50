import { networkInterfaces } from 'node:os';
import { FulcrumError } from '../src/errors.js';
import { NodeAliveLease } from '../src/k8s/alive-lease.js';
import { internalIps } from '../src/k8s/nodes.js';
import { createApiClients } from '../src/k8s/client.js';
import { EventRecorder } from '../src/k8s/events.js';
import { reuseConnections } from '../src/k8s/keep-alive.js';
import { loadKubeConfig } from '../src/k8s/kubeconfig.js';
import { componentLogger } from '../src/log.js';
import { collectProcessMetrics } from '../src/metrics.js';
import { startMetricsServer, type MetricsServer, type Readiness } from '../src/metrics-server.js';
import { Announcer } from './announce/responder.js';
import { canonicalIp } from './announce/addr.js';
import { SpeakerCaches } from './caches.js';
import { SpeakerController } from './controller.js';
import { awaitMemberlistKeys, MembershipFeed } from './membership-feed.js';
import { MembershipTransport } from './membership-transport.js';
import { statsPages } from './stats/http.js';
import { SpeakerStats } from './stats/speaker-stats.js';
import { speakerMembershipOptions } from './membership/options.js';
import { startKernelMode, type KernelModeFlag } from './kernel/start.js';
import { EngineProxy } from './proxy-port.js';
import { speakerReadiness } from './plan/readiness.js';
import { ConnectionHandoff } from './vip/handoff.js';
import { VipPlumbing } from './vip/plumbing.js';

export interface SpeakerTimings {
  /** Alive Lease renew period: about one API write per node per period. */
  readonly leaseRenewMs: number;
  /** Membership probe round: every node probes one peer per round (all timings scale with it). */
  readonly probeIntervalMs: number;
  /** A peer answering no probe this long is down, once others confirm (probe timeout + grace + suspicion). */
  readonly failAfterMs: number;
  /** Cache events are coalesced this long before re-planning. */
  readonly coalesceMs: number;
  /** On SIGTERM, keep serving this long after telling peers, while the new owner announces. */
  readonly handoverMs: number;
  /** Then open connections get this long before they are cut. */
  readonly drainTimeoutMs: number;
}

export interface SpeakerProgramOptions {
  readonly nodeName: string;
  readonly kubeconfig: string | undefined;
  readonly namespace: string;
  readonly configName: string;
  readonly lbClass: string | undefined;
  /** Empty: the interface holding the node's InternalIP. */
  readonly interfaces: readonly string[];
  readonly metrics: { host: string; port: number } | undefined;
  readonly probePort: number;
  readonly timings: SpeakerTimings;
  /** `--data-plane-kernel`: auto (default) runs kernel mode when nft and conntrack allow it; off never. */
  readonly kernelMode?: KernelModeFlag;
}

export interface SpeakerProgram {
  readonly controller: SpeakerController;
  readonly interfaces: readonly string[];
  readonly metricsServer: MetricsServer | undefined;
  /** Clean stop: tell peers, hand over, stop answering, drain, remove the VIPs. */
  stop(): Promise<void>;
}

/** A previous owner keeps serving for the handover, then drains: forward it its connections that long, and a second more. */
export function handoffMs(t: SpeakerTimings): number {
  return t.handoverMs + t.drainTimeoutMs + 1_000;
}

/** The interface that holds one of `addresses` on this host. */
export function interfaceHolding(addresses: readonly string[]): string | undefined {
  const want = new Set(addresses.map(canonicalIp));
  for (const [name, infos] of Object.entries(networkInterfaces())) {
    if (infos?.some((i) => want.has(canonicalIp(i.address)))) return name;
  }
  return undefined;
}

/**
 * Wires the speaker: caches, the alive Lease, membership (SWIM probes + Leases), the
 * controller and its appliers (VIP plumbing, announcer, proxy), events and metrics.
 */
export async function startSpeaker(o: SpeakerProgramOptions): Promise<SpeakerProgram> {
  const log = componentLogger('speaker', { node: o.nodeName });
  const { kubeConfig, source } = loadKubeConfig(o.kubeconfig);
  const clients = createApiClients(reuseConnections(kubeConfig));
  collectProcessMetrics();
  const events = new EventRecorder({ clients, component: 'fulcrum-speaker', host: o.nodeName, logger: log });
  const caches = new SpeakerCaches({ clients, namespace: o.namespace, configName: o.configName, logger: log });
  let interfaces = [...o.interfaces];
  // Set once the first plan is applied: from then on /readyz asks the membership.
  let running: MembershipTransport | undefined;
  // Set while the memberlist Secret is missing or invalid at start: the speaker does not join.
  let keyProblem: string | undefined;
  const ready = (): Readiness => keyProblem !== undefined ? { ready: false, reason: keyProblem } : speakerReadiness({ synced: caches.hasSynced(), membership: running && { unheard: running.unheardPeers(), view: running.view(), applied: controller.followsMembership() } });
  // The stats page (/stats on the metrics port) learns ownership and the proxy model through wrapped ports.
  const stats = new SpeakerStats(o.nodeName);
  const metricsServer = o.metrics ? await startMetricsServer({ ...o.metrics, ready, pages: statsPages(stats) }) : undefined;
  log.info({ event: 'starting', kubeconfig: source, namespace: o.namespace, lbClass: o.lbClass ?? null, metrics: metricsServer?.address ?? null }, 'speaker starting');
  await caches.start();
  log.info({ event: 'synced' }, 'caches synced');
  // No membership without its key: peers would refuse our datagrams, and we theirs.
  const keys = await awaitMemberlistKeys(caches, o.namespace, (problem) => {
    keyProblem = problem && `not joining the membership: ${problem}`;
    if (!problem) return;
    log.error({ event: 'membershipKeyMissing', err: problem }, 'waiting for the memberlist Secret: this speaker does not join its peers and serves nothing until it exists');
    events.record({ kind: 'Node', name: o.nodeName }, 'Warning', 'MembershipKeyMissing', keyProblem!);
  });

  if (interfaces.length === 0) {
    const me = caches.nodes.get(o.nodeName);
    const addresses = me ? internalIps(me) : [];
    const found = interfaceHolding(addresses);
    if (!found) {
      await caches.stop();
      await metricsServer?.close();
      throw new FulcrumError('FUL_ERR_SPEAKER_INTERFACE', { node: o.nodeName, addresses: addresses.join(', ') || 'none in the Node object' });
    }
    interfaces = [found];
  }
  const vip = new VipPlumbing({ interfaces, logger: log.child({ part: 'vip' }) });
  await vip.prepareInterfaces();
  await vip.removeStale();
  const served = stats.served;
  const announcer = new Announcer({ interfaces, ownsAddress: served.ownsAddress, logger: log.child({ part: 'announcer' }) });
  const proxy = stats.proxy(new EngineProxy(log, o.timings.drainTimeoutMs));
  const handoff = new ConnectionHandoff({ logger: log.child({ part: 'handoff' }) });
  await handoff.start();
  const kernel = await startKernelMode(o.kernelMode ?? 'auto', log.child({ part: 'kernel' }));
  const controller = new SpeakerController({
    me: o.nodeName, lbClass: o.lbClass, interfaces, caches, events, logger: log, served,
    appliers: { vip, announcer, proxy, handoff: stats.handoff(handoff), ...(kernel.port ? { kernel: kernel.port } : {}) },
    kernel: kernel.availability,
    coalesceMs: o.timings.coalesceMs, handoffMs: handoffMs(o.timings), handoverMs: o.timings.handoverMs,
  });

  stats.followPlan(() => controller.plan());

  const lease = new NodeAliveLease({ clients, namespace: o.namespace, nodeName: o.nodeName, renewIntervalMs: o.timings.leaseRenewMs, logger: log });
  await lease.start();
  const liveness = new MembershipTransport({
    me: o.nodeName,
    port: o.probePort,
    keys,
    membership: speakerMembershipOptions(o.timings.probeIntervalMs, o.timings.failAfterMs),
    skewToleranceMs: 2_000,
    logger: log,
    onChange: (view) => controller.onLiveness(view),
    // Peers hold a node dead only after failAfterMs without an answer: a shorter stall cannot
    // have moved an address, and announcing again would only add gratuitous ARP to the network.
    onStall: (stalledMs) => {
      if (stalledMs >= o.timings.failAfterMs) controller.onStall();
    },
    onDeclaredDown: () => controller.onStall(),
    hurryLease: (ms) => lease.hurry(ms),
  });
  const feed = new MembershipFeed(caches, liveness, { namespace: o.namespace, keys, logger: log });
  feed.start();
  await liveness.start();
  controller.onLiveness(liveness.view());
  await controller.runNow();
  running = liveness;
  log.info({ event: 'started', interfaces, owned: controller.serving() }, 'speaker running');

  return {
    controller,
    interfaces,
    metricsServer,
    async stop() {
      log.info({ event: 'stopping' }, 'stopping: telling peers, then handing over');
      feed.stop();
      liveness.leave();
      await lease.stop();
      // Stop answering ARP/NDP now, so the next owner's announcements win at once, but keep accepting
      // on the addresses while clients that still have this node's MAC move over.
      const served = await controller.withdrawAll();
      if (served.length > 0) await new Promise((r) => setTimeout(r, o.timings.handoverMs));
      await controller.release(o.timings.drainTimeoutMs);
      await handoff.close();
      await kernel.port?.close();
      liveness.stop();
      announcer.close();
      await events.stop();
      await caches.stop();
      await metricsServer?.close();
      log.info({ event: 'stopped' }, 'speaker stopped');
    },
  };
}
