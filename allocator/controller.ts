import type { V1ConfigMap, V1Service } from '@kubernetes/client-node';
import { readConfigMap } from '../src/config/configmap.js';
import type { Config } from '../src/config/types.js';
import { Allocator } from '../src/ipam/allocator.js';
import { serviceRequest } from '../src/ipam/request.js';
import { asServiceKey, type ServiceKey } from '../src/service/key.js';
import type { ApiClients } from '../src/k8s/client.js';
import { Informer } from '../src/k8s/informer.js';
import { configMaps, services } from '../src/k8s/resources.js';
import { patchServiceAnnotations, writeServiceLoadBalancerStatus } from '../src/k8s/status-writer.js';
import { done, WorkQueue, type ReconcileResult } from '../src/k8s/workqueue.js';
import type { Logger } from '../src/log.js';
import { ALLOCATED_POOL_ANNOTATION } from '../src/service/annotations.js';
import { ingressIps } from '../src/service/ingress.js';
import { keyOf } from '../src/service/key.js';
import { responsibility } from '../src/service/ours.js';
import { desiredStatus, holdingRequest, poolAnnotationPatch } from './desired.js';
import type { EventRecorder, EventType } from '../src/k8s/events.js';
import { allocatorMetrics as m } from './metrics.js';

export interface AllocatorControllerOptions {
  clients: ApiClients;
  /** Namespace and name of the pool ConfigMap (data key `config`). */
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
  /** `refused`: a ConfigMap exists but was refused (the config is stale: there is one to fix). */
  | { kind: 'none'; reason: string; refused: boolean }
  | { kind: 'loaded'; config: Config; resourceVersion: string; stale: false }
  | { kind: 'loaded'; config: Config; resourceVersion: string; stale: true; reason: string };

/**
 * The allocator's loop: Services and the pool ConfigMap are watched into caches on every
 * replica (a standby is warm); only the leader reconciles. On becoming leader it rebuilds the
 * address book from what Service statuses already say (adopt, assigned Services first), and
 * only then assigns new addresses, so a restart or a hand-over never reshuffles.
 */
export class AllocatorController {
  readonly #o: AllocatorControllerOptions;
  readonly #log: Logger;
  readonly #services: Informer<V1Service>;
  readonly #configMaps: Informer<V1ConfigMap>;
  #ipam = new Allocator(EMPTY_CONFIG);
  #config: ConfigState = { kind: 'none', reason: 'the ConfigMap has not been read yet', refused: false };
  #queue: WorkQueue<ServiceKey> | undefined;
  /** Why an address found in a status was not adopted; told in the event when it is replaced. */
  #notAdopted = new Map<ServiceKey, string>();

  constructor(opts: AllocatorControllerOptions) {
    this.#o = opts;
    this.#log = opts.logger;
    this.#services = new Informer({ clients: opts.clients, resource: services, logger: opts.logger });
    this.#configMaps = new Informer({
      clients: opts.clients,
      resource: configMaps,
      namespace: opts.configNamespace,
      fieldSelector: `metadata.name=${opts.configName}`,
      logger: opts.logger,
    });
    this.#services.onKey((key) => this.#queue?.add(asServiceKey(key)));
    this.#configMaps.onKey(() => this.#onConfigMapChange());
  }

  /** Starts the caches (every replica). Resolves once both are synced. */
  async start(): Promise<void> {
    this.#services.start();
    this.#configMaps.start();
    await Promise.all([this.#services.synced, this.#configMaps.synced]);
  }

  isSynced(): boolean {
    return this.#services.hasSynced() && this.#configMaps.hasSynced();
  }

  isLeading(): boolean {
    return this.#queue !== undefined;
  }

  /** Called when this replica becomes leader: adopt everything, then reconcile every Service. */
  async startLeading(): Promise<void> {
    await Promise.all([this.#services.synced, this.#configMaps.synced]);
    m.leader.set(1);
    this.#ipam = new Allocator(EMPTY_CONFIG);
    this.#config = { kind: 'none', reason: 'the ConfigMap has not been read yet', refused: false };
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
    await Promise.all([this.#services.stop(), this.#configMaps.stop()]);
  }

  /** Resolves when no reconcile is queued or running (tests, benchmarks). */
  async idle(): Promise<void> {
    await this.#queue?.idle();
  }

  // ---- config -------------------------------------------------------------------------------

  #onConfigMapChange(): void {
    if (this.#queue) this.#loadConfig();
  }

  /**
   * Reads the ConfigMap from the cache and applies it if it is valid and releases no address
   * in use; otherwise the last good config stays in force and the ConfigMap gets a Warning.
   * After a change every Service is reconciled again.
   */
  #loadConfig(): void {
    const cm = this.#configMaps.list()[0];
    const where = `${this.#o.configNamespace}/${this.#o.configName}`;
    if (!cm) {
      if (this.#config.kind === 'loaded') {
        this.#setConfigState({ ...this.#config, stale: true, reason: `ConfigMap ${where} was deleted; the last good config stays in force` });
        this.#log.warn({ event: 'configDeleted', configMap: where }, 'pool ConfigMap deleted: keeping the last good config, nothing is released');
      } else {
        this.#setConfigState({ kind: 'none', reason: `ConfigMap ${where} not found: no pools, so no address is assigned`, refused: false });
        this.#log.warn({ event: 'noConfig', configMap: where }, 'no pool ConfigMap: nothing is assigned until it exists');
      }
      this.#enqueueAll();
      return;
    }
    const parsed = readConfigMap(cm, this.#config.kind === 'loaded' ? this.#config.resourceVersion : undefined);
    if (parsed.kind === 'unchanged' || parsed.kind === 'missing') return;
    if (parsed.kind === 'invalid') {
      this.#refuseConfig(cm, `invalid config, ${parsed.errors.length} error(s): ${parsed.errors.join('; ')}`);
      return;
    }
    const rv = parsed.resourceVersion;
    for (const w of parsed.warnings) this.#log.warn({ event: 'configWarning', configMap: where }, w);
    const firstLoad = this.#config.kind === 'none';
    const result = this.#ipam.setConfig(parsed.config);
    if (result.kind === 'refused') {
      const holders = result.holders.map((h) => `${h.service} holds ${h.address} (pool "${h.pool}")`);
      this.#refuseConfig(cm, `config refused: it removes addresses still in use: ${holders.join('; ')}`);
      return;
    }
    this.#setConfigState({ kind: 'loaded', config: parsed.config, resourceVersion: rv, stale: false });
    this.#log.info({ event: 'configLoaded', configMap: where, pools: parsed.config.pools.length, resourceVersion: rv }, 'pool config loaded');
    this.#event('ConfigMap', cm, 'Normal', 'ConfigLoaded', `loaded ${parsed.config.pools.length} pool(s)`);
    if (firstLoad) this.#adoptAll();
    this.#enqueueAll();
  }

  #refuseConfig(cm: V1ConfigMap, reason: string): void {
    if (this.#config.kind === 'loaded') {
      this.#setConfigState({ ...this.#config, stale: true, reason });
    } else {
      this.#setConfigState({ kind: 'none', reason, refused: true });
    }
    this.#log.error({ event: 'configRefused', reason }, 'pool config refused: the last good config stays in force');
    this.#event('ConfigMap', cm, 'Warning', 'InvalidConfig', reason);
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
      const r = this.#ipam.adopt(key, addresses, req.request);
      if (r.kind === 'assigned') adopted++;
      else this.#notAdopted.set(key, r.message);
    }
    let held = 0;
    for (const { key, svc, addresses } of invalid) {
      const r = this.#ipam.adopt(key, addresses, holdingRequest(svc, addresses));
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
      if (ingressIps(svc).length === 0) this.#event('Service', svc, 'Warning', 'AllocationFailed', this.#config.reason);
      m.reconciles.inc({ result: 'noConfig' });
      return done;
    }
    const req = serviceRequest(svc, { loadBalancerClass: svc.spec?.loadBalancerClass });
    if (req.kind !== 'request') {
      m.allocationFailures.inc({ reason: req.kind === 'invalid' ? req.reason : 'ignored' });
      this.#event('Service', svc, 'Warning', 'AllocationFailed', req.message);
      m.reconciles.inc({ result: 'invalid' });
      return done;
    }
    const shown = ingressIps(svc);
    const result = this.#ipam.assign(key, req.request);
    this.#updateCounts();
    if (result.kind === 'failed') {
      // The Service asks for something it cannot have: what it held is given back, as MetalLB does.
      this.#ipam.release(key);
      this.#updateCounts();
      m.allocationFailures.inc({ reason: result.reason });
      this.#event('Service', svc, 'Warning', 'AllocationFailed', `Failed to allocate IP for "${key}": ${result.message}`);
      if (shown.length > 0) {
        await this.#writeStatus(svc, [], null);
        this.#event('Service', svc, 'Warning', 'ClearAssignment', `cleared ${shown.join(', ')}: ${result.message}`);
      }
      m.reconciles.inc({ result: 'failed' });
      return done;
    }
    const replaced = shown.filter((ip) => !result.addresses.includes(ip));
    if (replaced.length > 0) {
      const why = this.#notAdopted.get(key) ?? 'no longer allowed by the Service or the config';
      this.#event('Service', svc, 'Warning', 'ClearAssignment', `address ${replaced.join(', ')} cleared: ${why}`);
    }
    this.#notAdopted.delete(key);
    await this.#writeStatus(svc, result.addresses, result.pool);
    if (result.changed || replaced.length > 0 || shown.length === 0) {
      this.#event('Service', svc, 'Normal', 'IPAllocated', `Assigned IP ${JSON.stringify(result.addresses)}`);
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
        this.#event('Service', svc, 'Normal', 'ClearAssignment', `released ${freed.join(', ')}: ${why}`);
      }
    }
    m.reconciles.inc({ result: 'released' });
    return done;
  }

  #event(kind: 'Service' | 'ConfigMap', obj: V1Service | V1ConfigMap, type: EventType, reason: string, message: string): void {
    const md = obj.metadata ?? {};
    this.#o.events.record({ kind, apiVersion: 'v1', namespace: md.namespace, name: md.name ?? '', uid: md.uid }, type, reason, message);
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
