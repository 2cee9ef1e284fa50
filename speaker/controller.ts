import { readConfigSource } from '../src/config/source.js';
import type { Config } from '../src/config/types.js';
import { realClock, type Clock } from '../src/k8s/clock.js';
import type { EventRecorder } from '../src/k8s/events.js';
import { done, requeueAfter, WorkQueue, type ReconcileResult } from '../src/k8s/workqueue.js';
import type { Logger } from '../src/log.js';
import { counter, gauge, histogram } from '../src/metrics.js';
import { indexEndpoints } from '../src/service/endpoints.js';
import type { SpeakerCaches } from './caches.js';
import { describeBuildWarning, nodeAssignedMessage } from './events.js';
import type { LivenessView } from './membership/liveness.js';
import type { KernelPortsPort } from './kernel/port.js';
import type { SpeakerPlan } from './plan/addresses.js';
import type { KernelAvailability } from './plan/kernel-candidates.js';
import type { NodeProxyModel } from './plan/proxy-model.js';
import { SecretMemory } from './plan/tls-secrets.js';
import { NOTHING_APPLIED, planTransition, type AppliedState, type Transition } from './plan/transition.js';
import type { ProxyPort } from './proxy-port.js';
import type { ServedAddresses } from './served.js';
import type { HandoffPort } from './vip/handoff.js';

const m = {
  owned: gauge('fulcrum_speaker_addresses_owned', 'Service addresses this node owns and announces'),
  elections: counter('fulcrum_speaker_elections_total', 'Owner changes seen for an address, by what they meant for this node', ['result']),
  peersAlive: gauge('fulcrum_speaker_peers_alive', 'Other speakers the membership says are alive'),
  isolated: gauge('fulcrum_speaker_isolated', '1 while this node is cut off from peers the API shows alive'),
  reconciles: counter('fulcrum_speaker_reconciles_total', 'Plan computations and applies', ['result']),
  reconcileSeconds: histogram('fulcrum_speaker_reconcile_seconds', 'Time to compute and apply the plan', [], [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]),
  configStale: gauge('fulcrum_speaker_config_stale', '1 while the config source is refused (invalid, or both the ConfigMap and MetalLB resources) and the last good config is in force'),
};

/** What the controller drives on the node; the program wires the real ones, tests may fake them. */
export interface SpeakerAppliers {
  readonly vip: { add(ip: string): Promise<void>; remove(ip: string): Promise<void> };
  readonly announcer: { announce(ip: string, iface: string): void; withdraw(ip: string): void };
  readonly proxy: ProxyPort;
  /** Forwards the open connections of an address taken over to its previous owner (absent: none are). */
  readonly handoff?: HandoffPort;
  /** Kernel mode's nftables (speaker/kernel/port.ts); absent: kernel mode is not run. */
  readonly kernel?: KernelPortsPort;
}

export interface SpeakerControllerOptions {
  readonly me: string;
  readonly lbClass: string | undefined;
  readonly interfaces: readonly string[];
  readonly caches: SpeakerCaches;
  readonly events: EventRecorder;
  readonly logger: Logger;
  /** The addresses answered for; the responder reads it, the controller writes it. */
  readonly served: ServedAddresses;
  readonly appliers: SpeakerAppliers;
  /** Coalesce cache events for this long before re-planning (a peer going down skips it). */
  readonly coalesceMs: number;
  /** How long a new owner forwards the connections it does not know to a previous owner still running (its handover plus drain); 0: never. */
  readonly handoffMs?: number;
  /** After losing an address, keep accepting on it this long (ARP withdrawn at once): clients that have not heard the new owner's announcement yet still connect. */
  readonly handoverMs?: number;
  readonly clock?: Clock;
  /** Kernel mode on this node (enabled only with `appliers.kernel`); absent: not considered. */
  readonly kernel?: KernelAvailability;
}

/** The one key of the speaker's work queue: the plan is computed for the whole node at once. */
const PLAN = 'node';

/** A failed apply is retried after this long (what it touched was recorded step by step). */
const RETRY = { initialMs: 1_000, maxMs: 1_000, factor: 1, jitter: 0 };

/**
 * The speaker's loop: caches and membership in, the pure transition (plan/transition.ts) in the
 * middle, appliers out. It only sequences: every run reads the current caches (level-triggered,
 * so a missed or repeated trigger does no harm), asks planTransition what to do, applies it in
 * its order and records each step that succeeded. Runs go through a work queue with one key, so
 * they never overlap and triggers during a run schedule exactly one more.
 */
export class SpeakerController {
  readonly #o: SpeakerControllerOptions;
  readonly #log: Logger;
  readonly #queue: WorkQueue<typeof PLAN>;
  readonly #clock: Clock;
  #view: LivenessView | undefined;
  /** The membership view of the last plan applied without error. */
  #appliedView: LivenessView | undefined;
  #config: Config = { pools: [] };
  /** The version (src/config/source.ts) of the config sources last read, good or refused. */
  #configVersion: string | undefined;
  #plan: SpeakerPlan | undefined;
  readonly #vips = new Set<string>();
  /** The addresses with a frontend in the proxy model last applied (the others' ports are all in kernel mode). */
  #proxied: ReadonlySet<string> = new Set();
  #handingOver: ReadonlyMap<string, number> = new Map();
  readonly #draining = new Map<string, 'draining' | 'drained'>();
  /** One token per drain followed, so a drain that ends after the address came back and went again frees nothing. */
  readonly #drainTokens = new Map<string, object>();
  #owners: ReadonlyMap<string, string | undefined> = new Map();
  #stopping = false;
  /** Send the takeover announcements again for every served address at the next run. */
  #reannounce = false;
  /** The last good certificate of every TLS Secret a Service names (a broken update keeps it served). */
  readonly #secrets = new SecretMemory();
  /** Each distinct problem of a Service's annotations is told once, not at every run. */
  readonly #warned = new Set<string>();

  constructor(o: SpeakerControllerOptions) {
    this.#o = o;
    this.#log = o.logger;
    this.#clock = o.clock ?? realClock;
    this.#queue = new WorkQueue({ name: 'speaker', reconcile: () => this.#reconcile(), backoff: RETRY, clock: this.#clock, logger: o.logger });
    const c = o.caches;
    const trigger = (): void => this.schedule(o.coalesceMs);
    for (const i of [c.services, c.slices, c.endpoints, c.nodes, ...c.secrets]) i.onKey(trigger);
    for (const i of [c.configMaps, c.ipAddressPools, c.l2Advertisements]) {
      i.onKey(() => {
        this.#loadConfig();
        trigger();
      });
    }
  }

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

  plan(): SpeakerPlan | undefined {
    return this.#plan;
  }

  /** Whether the addresses served follow the latest membership view (false while a change is being applied). */
  followsMembership(): boolean {
    return this.#view !== undefined && this.#view === this.#appliedView;
  }

  serving(): string[] {
    return this.#o.served.addresses();
  }

  /** Runs the loop after `delayMs`, unless a run is already due sooner. */
  schedule(delayMs: number): void {
    if (!this.#stopping) this.#queue.addAfter(PLAN, delayMs);
  }

  /** Runs the loop now (or after the current run), and waits for it. */
  async runNow(): Promise<void> {
    if (this.#stopping) return;
    this.#queue.add(PLAN);
    await this.#queue.idle();
  }

  /**
   * Clean stop, step 2 (after peers were told): stop planning and stop answering ARP/NDP at once,
   * keeping the VIPs and the listeners, so the new owner's announcements are the only ones on the
   * link while clients that still have this node's MAC keep connecting here (the handover).
   * An address with no port in the proxy (all in kernel mode) loses its VIP at once, as in a
   * transition (plan/transition.ts). Returns the addresses that were served.
   */
  async withdrawAll(): Promise<string[]> {
    this.#stopping = true;
    await this.#queue.shutdown();
    const served = this.#o.served.addresses();
    this.#o.served.clear();
    for (const ip of served) this.#o.appliers.announcer.withdraw(ip);
    m.owned.set(0);
    for (const ip of served) if (this.#vips.has(ip) && !this.#proxied.has(ip)) await this.#removeVip(ip);
    return served;
  }

  /** Clean stop, step 3 (after the handover): stop answering if not done yet, drain, take the VIPs off. */
  async release(drainTimeoutMs: number): Promise<void> {
    await this.withdrawAll();
    const a = this.#o.appliers;
    await a.proxy.stop(drainTimeoutMs);
    this.#draining.clear();
    this.#drainTokens.clear();
    this.#handingOver = new Map();
    for (const ip of [...this.#vips]) await this.#removeVip(ip);
  }

  /**
   * The shared source rule (src/config/source.ts): the ConfigMap or MetalLB's resources in the
   * config namespace. Fail static: none at all, an invalid one or both keep the last good config.
   */
  #loadConfig(): void {
    const c = this.#o.caches;
    const read = readConfigSource({
      configMap: c.configMaps.list()[0],
      configMapName: c.configMapName,
      ipAddressPools: c.ipAddressPools.list(),
      l2Advertisements: c.l2Advertisements.list(),
      lastVersion: this.#configVersion,
    });
    switch (read.kind) {
      case 'missing': // fail static: a deleted ConfigMap or last resource keeps the last good config
      case 'unchanged':
        return;
      case 'refused':
        this.#configVersion = read.version;
        m.configStale.set(1);
        this.#log.error({ event: 'configRefused', why: read.why, source: read.source, reason: read.message }, 'pool config refused: the last good one stays in force');
        return;
      case 'parsed':
        this.#configVersion = read.version;
        m.configStale.set(0);
        this.#config = read.config;
        this.#log.info({ event: 'configLoaded', from: read.from, pools: read.config.pools.length, version: read.version }, 'pool config loaded');
    }
  }

  #applied(): AppliedState {
    return { ...NOTHING_APPLIED, serving: this.#o.served.snapshot(), vips: new Set(this.#vips), handingOver: this.#handingOver, draining: new Map(this.#draining), owners: this.#owners };
  }

  async #reconcile(): Promise<ReconcileResult> {
    const view = this.#view;
    if (!view || this.#stopping) return done;
    if (this.#configVersion === undefined) this.#loadConfig();
    const end = m.reconcileSeconds.startTimer();
    const c = this.#o.caches;
    const snapshot = {
      me: this.#o.me, services: c.services.list(), lbClass: this.#o.lbClass, endpoints: indexEndpoints(c.slices.list(), c.endpoints.list()),
      nodes: c.nodes.list(), config: this.#config, alive: view.alive, interfaces: this.#o.interfaces,
    };
    const reannounce = this.#reannounce;
    this.#reannounce = false;
    const secrets = this.#secrets.run(c.tlsSecret.bind(c), Date.now());
    const t = planTransition({
      snapshot, view, applied: this.#applied(), nowMs: this.#clock.now(), reannounce, secrets,
      handoverMs: this.#o.handoverMs ?? 0, handoff: this.#o.appliers.handoff !== undefined && (this.#o.handoffMs ?? 0) > 0,
      ...(this.#o.kernel ? { kernel: this.#o.appliers.kernel || this.#o.kernel.kind !== 'enabled' ? this.#o.kernel : { kind: 'unavailable', reason: 'no kernel applier' } } : {}),
    });
    secrets.endRun();
    this.#plan = t.plan;
    this.#countElections(t);
    try {
      await this.#apply(t);
      m.reconciles.inc({ result: 'ok' });
      this.#appliedView = view;
      return t.wakeInMs === undefined ? done : requeueAfter(t.wakeInMs);
    } catch (err) {
      m.reconciles.inc({ result: 'error' });
      if (reannounce) this.#reannounce = true;
      throw err; // the queue logs it and runs again in a second
    } finally {
      end();
    }
  }

  /** Applies a transition in its order, recording each step that succeeded. */
  async #apply(t: Transition): Promise<void> {
    const a = this.#o.appliers;
    const served = this.#o.served;
    for (const ip of t.withdraw) {
      served.delete(ip);
      a.announcer.withdraw(ip);
    }
    this.#handingOver = t.handingOver;
    // Kernel-mode rules before any VIP: they act only where the VIP is local, and must be there when it is.
    if (t.kernel && a.kernel) await a.kernel.apply(t.kernel);
    await Promise.all([
      ...t.addVips.map(async (ip) => {
        await a.vip.add(ip);
        this.#vips.add(ip);
      }),
      t.handoffs.length > 0 ? a.handoff?.forward(t.handoffs, this.#o.handoffMs ?? 0) : undefined,
    ]);
    this.#warn(t.proxy.warnings);
    await a.proxy.apply(t.proxy.model);
    this.#proxied = new Set(t.proxy.model.frontends.map((f) => f.listen.address));
    for (const ip of t.forgetDrains) this.#forgetDrain(ip);
    for (const ip of t.drain) this.#followDrain(ip);
    for (const ip of t.releaseVips) {
      this.#forgetDrain(ip);
      await this.#removeVip(ip);
    }
    for (const { address, interfaces } of t.announce) {
      served.set(address, interfaces);
      for (const iface of interfaces) a.announcer.announce(address, iface);
    }
    for (const { address, services } of t.assigned) this.#assigned(address, services);
    m.owned.set(served.size);
  }

  /** The VIP stays on lo until the proxy has drained the address (the new owner forwards its open connections here meanwhile). */
  #followDrain(ip: string): void {
    const token = {};
    this.#drainTokens.set(ip, token);
    this.#draining.set(ip, 'draining');
    void this.#o.appliers.proxy.drained(ip).then(() => {
      if (this.#drainTokens.get(ip) !== token) return;
      this.#draining.set(ip, 'drained');
      this.schedule(0);
    });
  }

  #forgetDrain(ip: string): void {
    this.#drainTokens.delete(ip);
    this.#draining.delete(ip);
  }

  async #removeVip(ip: string): Promise<void> {
    await this.#o.appliers.vip.remove(ip);
    this.#vips.delete(ip);
  }

  #warn(warnings: NodeProxyModel['warnings']): void {
    for (const w of warnings) {
      const key = `${w.service} ${JSON.stringify(w.warning)}`;
      if (this.#warned.has(key)) continue;
      this.#warned.add(key);
      this.#log.warn({ event: 'proxyModelWarning', service: w.service, ...w.warning }, 'Service proxy settings partly ignored');
      this.#serviceEvent(w.service, 'Warning', 'ProxySettingIgnored', describeBuildWarning(w.warning));
    }
  }

  #assigned(ip: string, services: readonly string[]): void {
    this.#log.info({ event: 'addressOwned', ip, services }, `owning ${ip}`);
    for (const key of services) this.#serviceEvent(key, 'Normal', 'nodeAssigned', nodeAssignedMessage(this.#o.me));
  }

  #serviceEvent(key: string, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const md = this.#o.caches.services.get(key)?.metadata;
    if (md?.name) this.#o.events.record({ kind: 'Service', apiVersion: 'v1', namespace: md.namespace, name: md.name, uid: md.uid }, type, reason, message);
  }

  #countElections(t: Transition): void {
    this.#owners = t.owners;
    for (const e of t.elections) {
      m.elections.inc({ result: e.result });
      if (this.#log.debug()) this.#log.debug({ event: 'election', ip: e.address, owner: e.owner ?? null });
    }
  }
}
