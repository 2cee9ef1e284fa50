import type { V1Service } from '@kubernetes/client-node';
import type { Complaint, SourceObjectRef } from '../src/config/source.js';
import type { Config, ConfigSource } from '../src/config/types.js';
import { Allocator } from '../src/ipam/allocator.js';
import { serviceRequest } from '../src/ipam/request.js';
import { asServiceKey, type ServiceKey } from '../src/service/key.js';
import type { ApiClients } from '../src/k8s/client.js';
import { Informer } from '../src/k8s/informer.js';
import { services } from '../src/k8s/resources.js';
import { patchServiceAnnotations, writeServiceLoadBalancerStatus } from '../src/k8s/status-writer.js';
import { done, WorkQueue, type ReconcileResult } from '../src/k8s/workqueue.js';
import type { Logger } from '../src/log.js';
import { ALLOCATED_POOL_ANNOTATION } from '../src/service/annotations.js';
import { ingressIps } from '../src/service/ingress.js';
import { keyOf } from '../src/service/key.js';
import { responsibility } from '../src/service/ours.js';
import { ConfigWatch, NamespaceLabelCache } from './config-watch.js';
import { desiredStatus, poolAnnotationPatch } from './desired.js';
import { holdingRequest } from '../src/ipam/request.js';
import type { EventRecorder, EventType } from '../src/k8s/events.js';
import { allocatorMetrics as m } from './metrics.js';

export interface AllocatorControllerOptions {
  clients: ApiClients;
  /**
   * Namespace and name of the pool ConfigMap (data key `config`). MetalLB's IPAddressPools and
   * L2Advertisements are read in the same namespace; only one of the two sources may exist.
   */
  configNamespace: string;
  configName: string;
  /** KEP-1959 class this allocator serves; unset: Services without a class. */
  lbClass: string | undefined;
  events: EventRecorder;
  logger: Logger;
  /** Service reconciles running at once (never the same Service twice). */
  concurrency?: number;
}

/** Before the first good config: no pools, so nothing can be assigned or adopted. */
const EMPTY_CONFIG: Config = { pools: [] };

/** The state of the pool config, as users see it in events and metrics. */
type ConfigState =
  /** `refused`: a source exists but was refused (the config is stale: there is one to fix). */
  | { kind: 'none'; reason: string; refused: boolean }
  | { kind: 'loaded'; config: Config; source: ConfigSource; version: string; stale: false }
  | { kind: 'loaded'; config: Config; source: ConfigSource; version: string; stale: true; reason: string };

const NOT_READ: ConfigState = { kind: 'none', reason: 'the pool config has not been read yet', refused: false };

/**
 * The allocator's loop: Services, the config sources (the pool ConfigMap or MetalLB's
 * resources) and Namespaces are watched into caches on every replica (a standby is warm); only
 * the leader reconciles. On becoming leader it rebuilds the
 * address book from what Service statuses already say (adopt, assigned Services first), and
 * only then assigns new addresses, so a restart or a hand-over never reshuffles.
 */
export class AllocatorController {
  readonly #o: AllocatorControllerOptions;
  readonly #log: Logger;
  readonly #services: Informer<V1Service>;
  readonly #source: ConfigWatch;
  readonly #namespaces: NamespaceLabelCache;
  #ipam = new Allocator(EMPTY_CONFIG);
  #config: ConfigState = NOT_READ;
  #queue: WorkQueue<ServiceKey> | undefined;
  /** Why an address found in a status was not adopted; told in the event when it is replaced. */
  #notAdopted = new Map<ServiceKey, string>();

  constructor(opts: AllocatorControllerOptions) {
    this.#o = opts;
    this.#log = opts.logger;
    this.#services = new Informer({ clients: opts.clients, resource: services, logger: opts.logger });
    this.#source = new ConfigWatch({ clients: opts.clients, namespace: opts.configNamespace, name: opts.configName, logger: opts.logger });
    this.#namespaces = new NamespaceLabelCache({ clients: opts.clients, logger: opts.logger, onLabelsChanged: (ns) => this.#enqueueNamespace(ns) });
    this.#services.onKey((key) => this.#queue?.add(asServiceKey(key)));
    this.#source.onChange(() => this.#onConfigChange());
  }

  /** Starts the caches (every replica). Resolves once all are synced. */
  async start(): Promise<void> {
    this.#services.start();
    await Promise.all([this.#services.synced, this.#source.start(), this.#namespaces.start()]);
  }

  isSynced(): boolean {
    return this.#services.hasSynced() && this.#source.hasSynced() && this.#namespaces.hasSynced();
  }

  isLeading(): boolean {
    return this.#queue !== undefined;
  }

  /** Called when this replica becomes leader: adopt everything, then reconcile every Service. */
  async startLeading(): Promise<void> {
    await Promise.all([this.#services.synced, this.#source.synced(), this.#namespaces.synced]);
    m.leader.set(1);
    this.#ipam = new Allocator(EMPTY_CONFIG);
    this.#config = NOT_READ;
    this.#queue = new WorkQueue<ServiceKey>({
      name: 'services',
      reconcile: (key) => this.#reconcileTimed(key),
      concurrency: this.#o.concurrency ?? 4,
      logger: this.#log,
    });
    const t0 = performance.now();
    const queue = this.#queue;
    this.#loadConfig();
    this.#log.info({ event: 'startedLeading', services: this.#services.keys().length }, 'leading: reconciling every Service');
    void queue.idle().then(() => {
      if (this.#queue === queue) this.#log.info({ event: 'reconciledAll', ms: Math.round(performance.now() - t0) }, 'every Service reconciled');
    });
  }

  /** Called when leadership is lost or on shutdown: stop writing at once. */
  async stopLeading(): Promise<void> {
    const q = this.#queue;
    this.#queue = undefined;
    m.leader.set(0);
    if (q) await q.shutdown();
  }

  async stop(): Promise<void> {
    await this.stopLeading();
    await Promise.all([this.#services.stop(), this.#source.stop(), this.#namespaces.stop()]);
  }

  /** Resolves when no reconcile is queued or running (tests, benchmarks). */
  async idle(): Promise<void> {
    await this.#queue?.idle();
  }

  // ---- config -------------------------------------------------------------------------------

  #onConfigChange(): void {
    if (this.#queue) this.#loadConfig();
  }

  /**
   * Reads the config sources from the caches (src/config/source.ts: the ConfigMap or MetalLB's
   * resources, never both) and applies the config if it is valid and releases no address in use;
   * otherwise the last good config stays in force and the objects concerned get a Warning. After
   * a change every Service is reconciled again.
   */
  #loadConfig(): void {
    const read = this.#source.read(this.#config.kind === 'loaded' ? this.#config.version : undefined);
    if (read.kind === 'unchanged') {
      // The sources are back to exactly the config in force (e.g. the second source was removed).
      if (this.#config.kind === 'loaded' && this.#config.stale) {
        this.#setConfigState({ kind: 'loaded', config: this.#config.config, source: this.#config.source, version: this.#config.version, stale: false });
        this.#log.info({ event: 'configRestored', version: this.#config.version }, 'the config in force is the sources\' again');
      }
      return;
    }
    if (read.kind === 'missing') {
      if (this.#config.kind === 'loaded') {
        this.#setConfigState({ ...this.#config, stale: true, reason: `${read.message}; the last good config stays in force` });
        this.#log.warn({ event: 'configDeleted', configMap: this.#source.configMapName }, 'pool config deleted: keeping the last good config, nothing is released');
      } else {
        this.#setConfigState({ kind: 'none', reason: `${read.message}: no pools, so no address is assigned`, refused: false });
        this.#log.warn({ event: 'noConfig', configMap: this.#source.configMapName }, 'no pool config: nothing is assigned until there is one');
      }
      this.#enqueueAll();
      return;
    }
    if (read.kind === 'refused') {
      this.#refuseConfig(read.complaints, read.message);
      return;
    }
    for (const w of read.warnings) this.#log.warn({ event: 'configWarning', from: read.from }, w);
    const firstLoad = this.#config.kind === 'none';
    const result = this.#ipam.setConfig(read.config);
    if (result.kind === 'refused') {
      const holders = result.holders.map((h) => `${h.service} holds ${h.address} (pool "${h.pool}")`);
      const reason = `config refused: it removes addresses still in use: ${holders.join('; ')}`;
      // MetalLB's resources: on each pool that would lose them (it may be the one just deleted).
      const on = read.source === 'metallb' ? [...new Set(result.holders.map((h) => h.pool))].map((p) => this.#source.poolRef(p)) : read.changed;
      this.#refuseConfig(on.map((object) => ({ object, message: reason })), reason);
      return;
    }
    this.#setConfigState({ kind: 'loaded', config: read.config, source: read.source, version: read.version, stale: false });
    this.#log.info({ event: 'configLoaded', from: read.from, pools: read.config.pools.length, version: read.version }, 'pool config loaded');
    for (const o of read.changed) this.#event(o, 'Normal', 'ConfigLoaded', `loaded ${read.config.pools.length} pool(s) from ${read.from}`);
    if (firstLoad) this.#adoptAll();
    this.#enqueueAll();
  }

  #refuseConfig(complaints: readonly Complaint[], reason: string): void {
    if (this.#config.kind === 'loaded') {
      this.#setConfigState({ ...this.#config, stale: true, reason });
    } else {
      this.#setConfigState({ kind: 'none', reason, refused: true });
    }
    this.#log.error({ event: 'configRefused', reason }, 'pool config refused: the last good config stays in force');
    for (const c of complaints) this.#event(c.object, 'Warning', 'InvalidConfig', c.message);
    this.#enqueueAll();
  }

  #setConfigState(s: ConfigState): void {
    this.#config = s;
    m.configLoaded.set(s.kind === 'loaded' ? 1 : 0);
    m.configStale.set((s.kind === 'loaded' && s.stale) || (s.kind === 'none' && s.refused) ? 1 : 0);
    this.#updateCounts();
  }

  /**
   * Restart without reshuffle: every address already written in a status is adopted before
   * any new assignment, so a Service listed before the ConfigMap arrived can never be given an
   * address that another Service already shows. A Service whose request is invalid (two
   * annotation prefixes that disagree, a bad spec) keeps what it shows, as it would without the
   * restart: it holds its addresses, after every valid Service, until it is fixed.
   */
  #adoptAll(): void {
    let adopted = 0;
    const invalid: { key: ServiceKey; svc: V1Service; addresses: string[] }[] = [];
    for (const svc of this.#services.list()) {
      const addresses = ingressIps(svc);
      if (addresses.length === 0 || responsibility(svc, this.#o.lbClass).kind !== 'ours') continue;
      const req = serviceRequest(svc, { loadBalancerClass: this.#o.lbClass });
      const key = keyOf(svc);
      if (req.kind !== 'request') {
        if (req.kind === 'invalid') invalid.push({ key, svc, addresses });
        else this.#notAdopted.set(key, req.message);
        continue;
      }
      const r = this.#ipam.adopt(key, addresses, req.request, this.#namespaces.labels);
      if (r.kind === 'assigned') adopted++;
      else this.#notAdopted.set(key, r.message);
    }
    let held = 0;
    for (const { key, svc, addresses } of invalid) {
      const r = this.#ipam.adopt(key, addresses, holdingRequest(svc, addresses), this.#namespaces.labels);
      if (r.kind === 'assigned') held++;
      else this.#notAdopted.set(key, r.message);
    }
    this.#log.info({ event: 'adopted', adopted, heldForInvalid: held, refused: this.#notAdopted.size }, 'adopted addresses from Service status');
  }

  #enqueueAll(): void {
    const q = this.#queue;
    if (!q) return;
    for (const key of this.#services.keys()) q.add(asServiceKey(key));
  }

  /** A namespace's labels changed: its Services may now be served by other pools (`namespaceSelectors`). */
  #enqueueNamespace(namespace: string): void {
    const q = this.#queue;
    if (!q) return;
    const prefix = `${namespace}/`;
    for (const key of this.#services.keys()) if (key.startsWith(prefix)) q.add(asServiceKey(key));
  }

  #updateCounts(): void {
    m.addressesTotal.reset();
    m.addressesInUse.reset();
    for (const c of this.#ipam.counts()) {
      m.addressesTotal.set({ pool: c.pool, family: c.family }, Number(c.total));
      m.addressesInUse.set({ pool: c.pool, family: c.family }, c.inUse);
    }
  }

  // ---- reconcile ----------------------------------------------------------------------------

  async #reconcileTimed(key: ServiceKey): Promise<ReconcileResult> {
    const end = m.reconcileSeconds.startTimer();
    try {
      const r = await this.#reconcile(key);
      return r;
    } catch (err) {
      m.reconcileErrors.inc();
      throw err;
    } finally {
      end();
    }
  }

  async #reconcile(key: ServiceKey): Promise<ReconcileResult> {
    const svc = this.#services.get(key);
    if (!svc) {
      // Deleted: the address goes back to the pool; there is no object left to write.
      if (this.#ipam.release(key).kind === 'released') this.#updateCounts();
      m.reconciles.inc({ result: 'deleted' });
      return done;
    }
    const who = responsibility(svc, this.#o.lbClass);
    if (who.kind !== 'ours') return this.#letGo(key, svc, who.reason);
    if (this.#config.kind === 'none') {
      // Fail static: without any config nothing is assigned and nothing already shown is taken away.
      if (ingressIps(svc).length === 0) this.#serviceEvent(svc, 'Warning', 'AllocationFailed', this.#config.reason);
      m.reconciles.inc({ result: 'noConfig' });
      return done;
    }
    const req = serviceRequest(svc, { loadBalancerClass: svc.spec?.loadBalancerClass });
    if (req.kind !== 'request') {
      m.allocationFailures.inc({ reason: req.kind === 'invalid' ? req.reason : 'ignored' });
      this.#serviceEvent(svc, 'Warning', 'AllocationFailed', req.message);
      m.reconciles.inc({ result: 'invalid' });
      return done;
    }
    const shown = ingressIps(svc);
    const result = this.#ipam.assign(key, req.request, this.#namespaces.labels);
    this.#updateCounts();
    if (result.kind === 'failed') {
      // The Service asks for something it cannot have: what it held is given back, as MetalLB does.
      this.#ipam.release(key);
      this.#updateCounts();
      m.allocationFailures.inc({ reason: result.reason });
      this.#serviceEvent(svc, 'Warning', 'AllocationFailed', `Failed to allocate IP for "${key}": ${result.message}`);
      if (shown.length > 0) {
        await this.#writeStatus(svc, [], null);
        this.#serviceEvent(svc, 'Warning', 'ClearAssignment', `cleared ${shown.join(', ')}: ${result.message}`);
      }
      m.reconciles.inc({ result: 'failed' });
      return done;
    }
    const replaced = shown.filter((ip) => !result.addresses.includes(ip));
    if (replaced.length > 0) {
      const why = this.#notAdopted.get(key) ?? 'no longer allowed by the Service or the config';
      this.#serviceEvent(svc, 'Warning', 'ClearAssignment', `address ${replaced.join(', ')} cleared: ${why}`);
    }
    this.#notAdopted.delete(key);
    await this.#writeStatus(svc, result.addresses, result.pool);
    if (result.changed || replaced.length > 0 || shown.length === 0) {
      this.#serviceEvent(svc, 'Normal', 'IPAllocated', `Assigned IP ${JSON.stringify(result.addresses)}`);
    }
    m.reconciles.inc({ result: result.changed ? 'assigned' : 'unchanged' });
    return done;
  }

  /** The Service is no longer ours: release its address and clear what Fulcrum wrote. */
  async #letGo(key: ServiceKey, svc: V1Service, reason: string): Promise<ReconcileResult> {
    const released = this.#ipam.release(key);
    if (released.kind === 'released') this.#updateCounts();
    // Ours only by our own annotation: a MetalLB-written pool says nothing about who holds it now.
    const ours = released.kind === 'released' || svc.metadata?.annotations?.[ALLOCATED_POOL_ANNOTATION] !== undefined;
    if (ours && reason !== 'deleting') {
      // The API server already cleared the status on a type change; a class change leaves it.
      const freed = released.kind === 'released' ? released.addresses : ingressIps(svc);
      await this.#writeStatus(svc, [], null);
      if (freed.length > 0) {
        const why = reason === 'otherClass' ? 'the Service is of another load-balancer class' : 'the Service is no longer of type LoadBalancer';
        this.#serviceEvent(svc, 'Normal', 'ClearAssignment', `released ${freed.join(', ')}: ${why}`);
      }
    }
    m.reconciles.inc({ result: 'released' });
    return done;
  }

  #event(ref: SourceObjectRef, type: EventType, reason: string, message: string): void {
    this.#o.events.record(ref, type, reason, message);
  }

  #serviceEvent(svc: V1Service, type: EventType, reason: string, message: string): void {
    const md = svc.metadata ?? {};
    this.#event({ kind: 'Service', apiVersion: 'v1', namespace: md.namespace, name: md.name ?? '', uid: md.uid }, type, reason, message);
  }

  /** Status first, then the pool annotation; `addresses` undefined leaves the status alone. */
  async #writeStatus(svc: V1Service, addresses: readonly string[] | undefined, pool: string | null): Promise<void> {
    const ref = { namespace: svc.metadata?.namespace ?? 'default', name: svc.metadata?.name ?? '' };
    if (addresses !== undefined) {
      const r = await writeServiceLoadBalancerStatus(this.#o.clients, ref, desiredStatus(svc, addresses), { current: svc, logger: this.#log });
      m.statusWrites.inc({ kind: r.kind });
      if (r.kind === 'notFound') return;
    }
    const patch = poolAnnotationPatch(svc, pool);
    if (patch) await patchServiceAnnotations(this.#o.clients, ref, patch);
  }
}
