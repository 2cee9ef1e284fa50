import type { V1Node } from '@kubernetes/client-node';
import { parseConfig } from '../src/config/index.js';
import type { Config } from '../src/config/types.js';
import { errorMessage } from '../src/errors.js';
import { peerFromLease } from '../src/k8s/alive-lease.js';
import type { EventRecorder } from '../src/k8s/events.js';
import type { Logger } from '../src/log.js';
import { counter, gauge, histogram } from '../src/metrics.js';
import type { Ownership } from './announce/decide.js';
import type { SpeakerCaches } from './controller-caches.js';
import { nodeReady } from './election/index.js';
import { indexEndpoints } from './plan-endpoints.js';
import type { MemberLease, LivenessView } from './membership/liveness.js';
import { buildNodeProxyModel, type NodeProxyModel } from './plan-proxy.js';
import { planSpeaker, type SpeakerPlan } from './plan.js';
import type { BuildWarning } from './proxy/build.js';
import type { ProxyPort } from './proxy-port.js';
import type { HandoffEntry, HandoffPort } from './vip/handoff.js';

const m = {
  owned: gauge('fulcrum_speaker_addresses_owned', 'Service addresses this node owns and announces'),
  elections: counter('fulcrum_speaker_elections_total', 'Owner changes seen for an address, by what they meant for this node', ['result']),
  peersAlive: gauge('fulcrum_speaker_peers_alive', 'Other speakers the membership says are alive'),
  isolated: gauge('fulcrum_speaker_isolated', '1 while this node is cut off from peers the API shows alive'),
  reconciles: counter('fulcrum_speaker_reconciles_total', 'Plan computations and applies', ['result']),
  reconcileSeconds: histogram('fulcrum_speaker_reconcile_seconds', 'Time to compute and apply the plan', [], [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]),
  configStale: gauge('fulcrum_speaker_config_stale', '1 while the ConfigMap is invalid and the last good config is in force'),
};

/** What the controller drives on the node; the program wires the real ones, tests may fake them. */
export interface SpeakerAppliers {
  readonly vip: { add(ip: string): Promise<void>; remove(ip: string): Promise<void> };
  readonly announcer: { announce(ip: string, iface: string): void; withdraw(ip: string): void };
  readonly proxy: ProxyPort;
  /** Forwards the open connections of an address taken over to its previous owner (absent: none are). */
  readonly handoff?: HandoffPort;
}

export interface SpeakerControllerOptions {
  readonly me: string;
  readonly lbClass: string | undefined;
  readonly interfaces: readonly string[];
  readonly caches: SpeakerCaches;
  readonly events: EventRecorder;
  readonly logger: Logger;
  /** Coalesce cache events for this long before re-planning (a peer going down skips it). */
  readonly coalesceMs: number;
  /** How long a new owner forwards the connections it does not know to a previous owner still running (its handover plus drain); 0: never. */
  readonly handoffMs?: number;
  /** After losing an address, keep accepting on it this long (ARP withdrawn at once): clients that have not heard the new owner's announcement yet still connect. */
  readonly handoverMs?: number;
}

/**
 * The speaker's loop: caches and membership in, `planSpeaker` in the middle, appliers out.
 * Level-triggered: every run computes the whole plan from the current caches and applies the
 * difference, so a missed or repeated trigger does no harm. Runs never overlap; triggers
 * during a run schedule exactly one more.
 *
 * Order on takeover: VIP on lo → proxy listening → answer ARP/NDP and send gratuitous ones;
 * on loss: stop answering → proxy drains → VIP off. The responder's `ownsAddress` reads
 * `#serving`, so it answers only for addresses whose proxy is ready.
 */
export class SpeakerController {
  readonly #o: SpeakerControllerOptions;
  readonly #log: Logger;
  #appliers: SpeakerAppliers | undefined;
  #view: LivenessView | undefined;
  /** The membership view of the last plan applied without error. */
  #appliedView: LivenessView | undefined;
  #config: Config = { pools: [] };
  #configRv: string | undefined;
  #plan: SpeakerPlan | undefined;
  /** Addresses whose proxy is ready, with the interfaces they are announced on. */
  readonly #serving = new Map<string, readonly string[]>();
  readonly #vips = new Set<string>();
  /**
   * Addresses lost while running whose VIP stays on lo until the proxy has drained them: the
   * new owner forwards their open connections here meanwhile. A token while draining, then DRAINED.
   */
  readonly #lingering = new Map<string, object>();
  /** Addresses lost while serving, whose frontends keep accepting until then (performance.now()). */
  readonly #handingOver = new Map<string, number>();
  #handoverTimer: NodeJS.Timeout | undefined;
  readonly #owners = new Map<string, string | undefined>();
  #leaseSeen = new Map<string, { renewTime: string; observedMs: number; member: MemberLease }>();
  #timer: NodeJS.Timeout | undefined;
  #timerDueMs = Infinity;
  #running: Promise<void> | undefined;
  #again = false;
  #stopping = false;
  /** Send the takeover announcements again for every served address at the next run. */
  #reannounce = false;

  constructor(o: SpeakerControllerOptions) {
    this.#o = o;
    this.#log = o.logger;
    const c = o.caches;
    const trigger = (): void => this.schedule(o.coalesceMs);
    for (const i of [c.services, c.slices, c.endpoints, c.nodes]) i.onKey(trigger);
    c.configMaps.onKey(() => {
      this.#loadConfig();
      trigger();
    });
  }

  /** Plugs the appliers in (after the announcer exists, which needs ownsAddress). */
  attach(appliers: SpeakerAppliers): void {
    this.#appliers = appliers;
  }

  /** The responder's question, read for every ARP request and solicitation. */
  readonly ownsAddress = (ip: string, iface: string): Ownership => {
    const ifaces = this.#serving.get(ip);
    if (!ifaces) return { announce: false, reason: 'notOwner' };
    return ifaces.includes(iface) ? { announce: true } : { announce: false, reason: 'notThisInterface' };
  };

  /** Membership changed: re-plan at once (failover speed is the point). */
  onLiveness(view: LivenessView): void {
    const before = this.#view;
    // A peer that comes back may have answered for our addresses while we could not see it:
    // announce ours again so clients that learned its MAC switch back at once.
    if (before && [...view.alive].some((n) => !before.alive.has(n))) this.#reannounce = true;
    this.#view = view;
    m.peersAlive.set(Math.max(0, view.alive.size - 1));
    m.isolated.set(view.isolated ? 1 : 0);
    this.schedule(0);
  }

  /** We were frozen, or a peer held us down: it may have taken our addresses over meanwhile; claim them loudly again. */
  onStall(): void {
    this.#reannounce = true;
    this.schedule(0);
  }

  /** Alive Leases, ours included, with when we saw each one change (for membership/liveness.ts). */
  memberLeases(): Map<string, MemberLease> {
    const next = new Map<string, { renewTime: string; observedMs: number; member: MemberLease }>();
    for (const lease of this.#o.caches.leases.list()) {
      const peer = peerFromLease(lease);
      if (!peer) continue;
      const renewTime = String(peer.renewTimeMs);
      const before = this.#leaseSeen.get(peer.node);
      const observedMs = before && before.renewTime === renewTime ? before.observedMs : performance.now();
      const durationMs = peer.leaseDurationSeconds * 1000;
      const expiresMs = peer.renewTimeMs === undefined ? undefined : peer.renewTimeMs + durationMs;
      // An alive Lease lasts three renew periods (src/k8s/alive-lease.ts).
      next.set(peer.node, { renewTime, observedMs, member: { expiresMs, observedMs, renewIntervalMs: durationMs / 3 } });
    }
    this.#leaseSeen = next;
    return new Map([...next].map(([k, v]) => [k, v.member]));
  }

  /** Node network addresses for the probes (each Node's InternalIP, IPv4 first), and whether each Node is Ready. */
  nodeAddresses(): { addresses: Map<string, string>; ready: Map<string, boolean> } {
    const addresses = new Map<string, string>();
    const ready = new Map<string, boolean>();
    for (const n of this.#o.caches.nodes.list()) {
      const name = n.metadata?.name;
      if (!name) continue;
      ready.set(name, nodeReady(n));
      const ip = internalIp(n);
      if (ip) addresses.set(name, ip);
    }
    return { addresses, ready };
  }

  plan(): SpeakerPlan | undefined {
    return this.#plan;
  }

  /** Whether the addresses served follow the latest membership view (false while a change is being applied). */
  followsMembership(): boolean {
    return this.#view !== undefined && this.#view === this.#appliedView;
  }

  serving(): string[] {
    return [...this.#serving.keys()].sort();
  }

  /** Runs the loop after `delayMs`, unless a run is already due sooner. */
  schedule(delayMs: number): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    const due = performance.now() + delayMs;
    if (this.#timer && this.#timerDueMs <= due) return;
    clearTimeout(this.#timer);
    this.#timerDueMs = due;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerDueMs = Infinity;
      void this.runNow();
    }, delayMs);
  }

  /** Runs the loop now (or waits for the current run, then runs once more). */
  async runNow(): Promise<void> {
    while (this.#running) {
      this.#again = true;
      await this.#running;
      if (!this.#again) return;
    }
    this.#again = false;
    this.#running = this.#reconcile().finally(() => {
      this.#running = undefined;
    });
    await this.#running;
    if (this.#again) this.schedule(0);
  }

  /** Clean stop, step 2 (after peers were told): stop answering, drain, take the VIPs off. */
  async release(drainTimeoutMs: number): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    while (this.#running) await this.#running;
    const a = this.#appliers;
    const served = [...this.#serving.keys()];
    this.#serving.clear(); // stop answering before anything else
    for (const ip of served) a?.announcer.withdraw(ip);
    m.owned.set(0);
    await a?.proxy.stop(drainTimeoutMs);
    this.#lingering.clear();
    this.#handingOver.clear();
    clearTimeout(this.#handoverTimer);
    for (const ip of [...this.#vips]) await this.#removeVip(ip);
  }

  #loadConfig(): void {
    const cm = this.#o.caches.configMaps.list()[0];
    if (!cm) return; // fail static: a deleted ConfigMap keeps the last good config
    const rv = cm.metadata?.resourceVersion;
    if (rv !== undefined && rv === this.#configRv) return;
    this.#configRv = rv;
    const parsed = cm.data?.config === undefined ? undefined : parseConfig(cm.data.config);
    if (!parsed?.ok) {
      m.configStale.set(1);
      this.#log.error({ event: 'configRefused', errors: parsed?.errors ?? ['data key "config" is missing'] }, 'invalid pool config: the last good one stays in force');
      return;
    }
    m.configStale.set(0);
    this.#config = parsed.config;
    this.#log.info({ event: 'configLoaded', pools: parsed.config.pools.length, resourceVersion: rv }, 'pool config loaded');
  }

  async #reconcile(): Promise<void> {
    const a = this.#appliers;
    const view = this.#view;
    if (!a || !view || this.#stopping) return;
    if (this.#configRv === undefined) this.#loadConfig();
    const end = m.reconcileSeconds.startTimer();
    const c = this.#o.caches;
    const services = c.services.list();
    const endpoints = indexEndpoints(c.slices.list(), c.endpoints.list());
    const snapshot = { me: this.#o.me, services, lbClass: this.#o.lbClass, endpoints, nodes: c.nodes.list(), config: this.#config, alive: view.alive, interfaces: this.#o.interfaces };
    const plan = planSpeaker(snapshot);
    this.#plan = plan;
    const previousOwners = new Map(this.#owners);
    if (previousOwners.size === 0 && plan.owned.length > 0) {
      // First plan of this process (a restart): the owners before we joined are those of the
      // same snapshot without us.
      const without = planSpeaker({ ...snapshot, alive: new Set([...view.alive].filter((n) => n !== this.#o.me)) });
      for (const [ip, a] of without.addresses) if (a.owner.kind === 'elected') previousOwners.set(ip, a.owner.node);
    }
    this.#countElections(plan);
    const owned = new Set(plan.owned);
    try {
      // Loss: stop answering first, so the new owner's announcements win at once; keep
      // accepting for the handover, for the clients that reach us before they hear it.
      const now = performance.now();
      const handoverMs = this.#o.handoverMs ?? 0;
      for (const ip of [...this.#serving.keys()]) {
        if (owned.has(ip)) continue;
        this.#serving.delete(ip);
        a.announcer.withdraw(ip);
        if (handoverMs > 0) this.#handingOver.set(ip, now + handoverMs);
      }
      for (const [ip, until] of this.#handingOver) if (owned.has(ip) || until <= now) this.#handingOver.delete(ip);
      this.#armHandoverEnd(now);
      const accepting = new Set([...owned, ...this.#handingOver.keys()]);
      const gained = plan.owned.filter((ip) => !this.#vips.has(ip));
      // Before the clients move here, their open connections are set to go on reaching the previous owner.
      const handoffs = plan.owned.filter((ip) => !this.#serving.has(ip)).map((ip) => this.#handoffOf(ip, previousOwners.get(ip), view)).filter((e) => e !== undefined);
      await Promise.all([
        ...gained.map(async (ip) => {
          await a.vip.add(ip);
          this.#vips.add(ip);
        }),
        handoffs.length > 0 ? a.handoff?.forward(handoffs, this.#o.handoffMs ?? 0) : undefined,
      ]);
      const proxy = buildNodeProxyModel({ me: this.#o.me, owned: accepting, services, endpoints, down: view.down });
      this.#warn(proxy.warnings);
      await a.proxy.apply(proxy.model);
      for (const ip of [...this.#vips]) await this.#releaseVip(a, ip, accepting);
      const reannounce = this.#reannounce;
      this.#reannounce = false;
      for (const ip of plan.owned) {
        const ifaces = plan.addresses.get(ip)!.interfaces;
        const before = this.#serving.get(ip);
        if (before && before.join() === ifaces.join() && !reannounce) continue;
        this.#serving.set(ip, ifaces);
        for (const iface of ifaces) a.announcer.announce(ip, iface);
        if (!before) this.#assigned(ip, plan);
      }
      m.owned.set(this.#serving.size);
      m.reconciles.inc({ result: 'ok' });
      this.#appliedView = view;
    } catch (err) {
      m.reconciles.inc({ result: 'error' });
      this.#log.error({ event: 'applyFailed', err: errorMessage(err) }, 'applying the plan failed; retrying');
      this.schedule(1000);
    } finally {
      end();
    }
  }

  #warned = new Set<string>();

  /** Each distinct problem of a Service's annotations is logged once, not at every run. */
  #warn(warnings: NodeProxyModel['warnings']): void {
    for (const w of warnings) {
      const key = `${w.service} ${JSON.stringify(w.warning)}`;
      if (this.#warned.has(key)) continue;
      this.#warned.add(key);
      this.#log.warn({ event: 'proxyModelWarning', service: w.service, ...w.warning }, 'Service proxy settings partly ignored');
      const svc = this.#o.caches.services.get(w.service);
      const md = svc?.metadata;
      if (md?.name) {
        this.#o.events.record({ kind: 'Service', apiVersion: 'v1', namespace: md.namespace, name: md.name, uid: md.uid }, 'Warning', 'ProxySettingIgnored', describeBuildWarning(w.warning));
      }
    }
  }

  /**
   * A previous owner still running (a clean stop draining, or a rebalance) keeps the address on
   * lo while it drains: forward it the connections this node does not know. Not to one that
   * crashed or is cut off: its clients get a reset here at once rather than a timeout.
   */
  #handoffOf(ip: string, previous: string | undefined, view: LivenessView): HandoffEntry | undefined {
    if (!this.#appliers?.handoff || (this.#o.handoffMs ?? 0) <= 0 || previous === undefined || previous === this.#o.me) return undefined;
    const state = view.peers.get(previous);
    if (state === 'down' || state === 'unreachable') return undefined;
    const node = this.#o.caches.nodes.get(previous);
    const to = node ? internalIps(node).find((x) => x.includes(':') === ip.includes(':')) : undefined;
    return to === undefined ? undefined : { address: ip, to };
  }

  /** Runs the loop again when the first handover ends (its frontends then stop accepting and drain). */
  #armHandoverEnd(now: number): void {
    clearTimeout(this.#handoverTimer);
    if (this.#handingOver.size === 0) return;
    const end = Math.min(...this.#handingOver.values());
    this.#handoverTimer = setTimeout(() => this.schedule(0), Math.max(0, end - now));
  }

  /** The VIP of an address no longer owned comes off lo once the proxy has drained it (see #lingering). */
  async #releaseVip(a: SpeakerAppliers, ip: string, owned: ReadonlySet<string>): Promise<void> {
    if (owned.has(ip)) {
      this.#lingering.delete(ip);
      return;
    }
    const state = this.#lingering.get(ip);
    if (state === undefined) {
      const token = {};
      this.#lingering.set(ip, token);
      void a.proxy.drained(ip).then(() => {
        if (this.#lingering.get(ip) !== token) return;
        this.#lingering.set(ip, DRAINED);
        this.schedule(0);
      });
      return;
    }
    if (state !== DRAINED) return;
    this.#lingering.delete(ip);
    await this.#removeVip(ip);
  }

  async #removeVip(ip: string): Promise<void> {
    await this.#appliers?.vip.remove(ip);
    this.#vips.delete(ip);
  }

  #assigned(ip: string, plan: SpeakerPlan): void {
    const a = plan.addresses.get(ip)!;
    this.#log.info({ event: 'addressOwned', ip, services: a.services }, `owning ${ip}`);
    for (const key of a.services) {
      const svc = this.#o.caches.services.get(key);
      const md = svc?.metadata;
      if (!md?.name) continue;
      // MetalLB's reason and message, word for word: `fulcrum status` parses it.
      this.#o.events.record({ kind: 'Service', apiVersion: 'v1', namespace: md.namespace, name: md.name, uid: md.uid }, 'Normal', 'nodeAssigned', `announcing from node "${this.#o.me}" with protocol "layer2"`);
    }
  }

  #countElections(plan: SpeakerPlan): void {
    for (const [ip, a] of plan.addresses) {
      const owner = a.owner.kind === 'elected' ? a.owner.node : undefined;
      const before = this.#owners.get(ip);
      if (this.#owners.has(ip) && before === owner) continue;
      this.#owners.set(ip, owner);
      const result = owner === this.#o.me ? 'won' : before === this.#o.me ? 'lost' : owner === undefined ? 'none' : 'other';
      m.elections.inc({ result });
      if (this.#log.debug()) this.#log.debug({ event: 'election', ip, owner: owner ?? null, before: before ?? null });
    }
    for (const ip of [...this.#owners.keys()]) if (!plan.addresses.has(ip)) this.#owners.delete(ip);
  }
}

const DRAINED = {};

function internalIps(n: V1Node): string[] {
  return (n.status?.addresses ?? []).filter((x) => x.type === 'InternalIP').map((x) => x.address);
}

export function internalIp(n: V1Node): string | undefined {
  const internal = internalIps(n);
  return internal.find((ip) => !ip.includes(':')) ?? internal[0];
}

/** One line for an Event: what was ignored, with the field and the value. */
export function describeBuildWarning(w: BuildWarning): string {
  switch (w.kind) {
    case 'badAnnotation':
      return `${w.annotation}: ${JSON.stringify(w.value)} ${w.reason}; the default is used`;
    case 'unsupportedProtocol':
      return `port ${w.port}: protocol ${JSON.stringify(w.protocol)} is not supported; the port is not served`;
    case 'badSourceRange':
      return `loadBalancerSourceRanges: ${JSON.stringify(w.value)} ${w.reason}; the entry is ignored (when every entry is bad, the port serves no one)`;
    case 'proxyProtocolOnUdp':
      return `port ${w.port}: the PROXY protocol is for TCP only; the UDP port is served without it`;
  }
}
