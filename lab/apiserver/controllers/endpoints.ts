import { componentLogger } from '../../../src/log.js';
import { errorMessage } from '../../../src/errors.js';
import { findResource } from '../resources.js';
import type { Registry } from '../registry.js';
import { mapSelectorMatches } from '../selectors.js';
import type { Change } from '../store.js';
import type { Obj } from '../status.js';
import { computeServiceEndpoints, type DesiredSlice } from './endpoints-compute.js';
import { deepEqual } from '../patch.js';

const SLICES = findResource('discovery.k8s.io/v1', 'endpointslices')!;
const ENDPOINTS = findResource('v1', 'endpoints')!;
// The slice controller stamps the time of the last Service or Pod change that moved the slice.
const TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';

/** kube's trigger time: the latest of the Service's creation and each Pod's creation or Ready transition. */
function lastChangeTriggerTime(svc: Obj, pods: readonly Obj[]): string {
  let latest: string = svc.metadata.creationTimestamp;
  for (const p of pods) {
    const ready = (p.status?.conditions ?? []).find((c: Obj) => c.type === 'Ready')?.lastTransitionTime;
    for (const t of [p.metadata.creationTimestamp, ready]) if (typeof t === 'string' && Date.parse(t) > Date.parse(latest)) latest = t;
  }
  return latest;
}
export const MANAGED_BY = 'endpointslice-controller.k8s.io';

/**
 * What kube-controller-manager's EndpointSlice and Endpoints controllers do, for the lab:
 * Services with a selector get slices (one per family and port set) and an Endpoints object
 * from the Pods they select. Level-triggered by service key: changes only mark keys dirty and
 * one setImmediate batch reconciles each dirty key once.
 */
export class EndpointsController {
  readonly #registry: Registry;
  readonly #dirty = new Set<string>();
  /** Services with a selector, by namespace: which keys a Pod change can touch. */
  readonly #selectors = new Map<string, Map<string, Record<string, string>>>();
  /** Slices this controller manages, by service key: a reconcile never scans the namespace's slices. */
  readonly #slicesByService = new Map<string, Set<string>>();
  readonly #unsubscribe: (() => void)[] = [];
  #scheduled: NodeJS.Immediate | undefined = undefined;
  readonly #log = componentLogger('apiserver', { controller: 'endpoints' });

  constructor(registry: Registry) {
    this.#registry = registry;
    const store = registry.store;
    this.#unsubscribe.push(store.subscribe('services', { onChange: (c) => this.#onService(c) }));
    this.#unsubscribe.push(store.subscribe('pods', { onChange: (c) => this.#onPod(c) }));
    this.#unsubscribe.push(store.subscribe(SLICES.storeKey, { onChange: (c) => this.#onSlice(c) }));
  }

  #onSlice(c: Change): void {
    const svcOf = (o: Obj | undefined): string | undefined =>
      o?.metadata.labels?.['endpointslice.kubernetes.io/managed-by'] === MANAGED_BY ? o.metadata.labels?.['kubernetes.io/service-name'] : undefined;
    const ns = c.object.metadata.namespace;
    const name = c.object.metadata.name;
    const before = c.type === 'ADDED' ? undefined : svcOf(c.old);
    const after = c.type === 'DELETED' ? undefined : svcOf(c.object);
    if (before !== undefined && before !== after) this.#slicesByService.get(`${ns}/${before}`)?.delete(name);
    if (after !== undefined) {
      const key = `${ns}/${after}`;
      let set = this.#slicesByService.get(key);
      if (!set) this.#slicesByService.set(key, (set = new Set()));
      set.add(name);
    }
  }

  #onService(c: Change): void {
    const ns = c.object.metadata.namespace;
    const name = c.object.metadata.name;
    let m = this.#selectors.get(ns);
    if (!m) this.#selectors.set(ns, (m = new Map()));
    const sel = c.object.spec?.selector;
    if (c.type !== 'DELETED' && sel && Object.keys(sel).length > 0) m.set(name, sel);
    else m.delete(name);
    if (c.type === 'MODIFIED' && deepEqual(c.old?.spec, c.object.spec) && deepEqual(c.old?.metadata.labels, c.object.metadata.labels)) return;
    this.#enqueue(`${ns}/${name}`);
  }

  #onPod(c: Change): void {
    const ns = c.object.metadata.namespace;
    const m = this.#selectors.get(ns);
    if (!m) return;
    for (const [svc, sel] of m) {
      if (mapSelectorMatches(sel, c.object.metadata.labels) || (c.old && mapSelectorMatches(sel, c.old.metadata.labels))) this.#enqueue(`${ns}/${svc}`);
    }
  }

  #enqueue(key: string): void {
    this.#dirty.add(key);
    this.#scheduled ??= setImmediate(() => this.#drain());
  }

  #drain(): void {
    this.#scheduled = undefined;
    const keys = [...this.#dirty];
    this.#dirty.clear();
    for (const key of keys) {
      const [ns, name] = key.split('/') as [string, string];
      try {
        this.#reconcile(ns, name);
      } catch (err) {
        this.#log.warn({ event: 'reconcileFailed', service: key, err: errorMessage(err) }, 'endpoints reconcile failed');
      }
    }
  }

  #reconcile(ns: string, name: string): void {
    const store = this.#registry.store;
    const svc = store.get('services', ns, name);
    const existing: Obj[] = [];
    for (const sliceName of [...(this.#slicesByService.get(`${ns}/${name}`) ?? [])].sort()) {
      const s = store.get(SLICES.storeKey, ns, sliceName);
      if (s) existing.push(s);
    }
    const selector = svc?.spec?.selector;
    if (!svc || !selector || Object.keys(selector).length === 0) {
      for (const s of existing) this.#registry.delete(SLICES, ns, s.metadata.name);
      return;
    }
    const pods = store.list('pods', ns).filter((p) => mapSelectorMatches(selector, p.metadata.labels));
    const desired = computeServiceEndpoints(svc, pods);
    this.#applySlices(svc, existing, desired.slices, lastChangeTriggerTime(svc, pods));
    this.#applyEndpoints(svc, desired.subsets, lastChangeTriggerTime(svc, pods));
  }

  #applySlices(svc: Obj, existing: Obj[], desired: readonly DesiredSlice[], triggerTime: string): void {
    const ns = svc.metadata.namespace;
    const labels = { ...(svc.metadata.labels ?? {}), 'kubernetes.io/service-name': svc.metadata.name, 'endpointslice.kubernetes.io/managed-by': MANAGED_BY };
    const owner = [{ apiVersion: 'v1', kind: 'Service', name: svc.metadata.name, uid: svc.metadata.uid, controller: true, blockOwnerDeletion: true }];
    const unused = [...existing];
    for (const d of desired) {
      const i = unused.findIndex((s) => s.addressType === d.addressType);
      const annotations = { [TRIGGER_TIME]: triggerTime };
      const body: Obj = { metadata: { labels, annotations, ownerReferences: owner }, addressType: d.addressType, endpoints: d.endpoints, ports: d.ports };
      if (i >= 0) {
        const cur = unused.splice(i, 1)[0]!;
        body.metadata = { ...cur.metadata, labels, annotations: { ...(cur.metadata.annotations ?? {}), ...annotations }, ownerReferences: owner };
        this.#registry.update(SLICES, ns, cur.metadata.name, body);
      } else {
        body.metadata.generateName = `${svc.metadata.name}-`;
        this.#registry.create(SLICES, ns, body);
      }
    }
    for (const s of unused) this.#registry.delete(SLICES, ns, s.metadata.name);
  }

  #applyEndpoints(svc: Obj, subsets: Obj[], triggerTime: string): void {
    const ns = svc.metadata.namespace;
    const name = svc.metadata.name;
    const labels: Record<string, string> = { ...(svc.metadata.labels ?? {}), 'endpoints.kubernetes.io/managed-by': 'endpoint-controller' };
    if (svc.spec.clusterIP === 'None') labels['service.kubernetes.io/headless'] = '';
    const annotations = { [TRIGGER_TIME]: triggerTime };
    const body: Obj = { metadata: { name, namespace: ns, labels, annotations } };
    if (subsets.length > 0) body.subsets = subsets;
    const cur = this.#registry.store.get('endpoints', ns, name);
    if (cur) {
      body.metadata = { ...cur.metadata, labels, annotations: { ...(cur.metadata.annotations ?? {}), ...annotations } };
      this.#registry.update(ENDPOINTS, ns, name, body);
    } else this.#registry.create(ENDPOINTS, ns, body);
  }

  dispose(): void {
    for (const u of this.#unsubscribe) u();
    if (this.#scheduled) clearImmediate(this.#scheduled);
  }
}

