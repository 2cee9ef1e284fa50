import type { V1ConfigMap, V1Namespace } from '@kubernetes/client-node';
import { METALLB_API_VERSION } from '../src/config/metallb.js';
import { readConfigSource, type ConfigSourceRead, type SourceObjectRef } from '../src/config/source.js';
import type { ApiClients } from '../src/k8s/client.js';
import { Informer } from '../src/k8s/informer.js';
import { configMaps, ipAddressPools, l2Advertisements, namespaces, type CustomObject } from '../src/k8s/resources.js';
import type { Logger } from '../src/log.js';
import type { NamespaceLabels } from '../src/ipam/types.js';

/**
 * The allocator's view of its config sources: the pool ConfigMap and MetalLB's `IPAddressPool`
 * and `L2Advertisement` objects, all in the config namespace (MetalLB too reads only its own
 * namespace). The MetalLB informers are `optional`: without the CRDs their list is a 404, which
 * means "no resources", so a cluster with only the ConfigMap works as before. Which source is in
 * force is decided by the pure `readConfigSource`.
 */
export class ConfigWatch {
  readonly #configMaps: Informer<V1ConfigMap>;
  readonly #pools: Informer<CustomObject>;
  readonly #advertisements: Informer<CustomObject>;
  readonly #namespace: string;
  readonly #name: string;

  constructor(o: { clients: ApiClients; namespace: string; name: string; logger: Logger }) {
    const base = { clients: o.clients, logger: o.logger, namespace: o.namespace };
    this.#namespace = o.namespace;
    this.#name = o.name;
    this.#configMaps = new Informer({ ...base, resource: configMaps, fieldSelector: `metadata.name=${o.name}` });
    this.#pools = new Informer({ ...base, resource: ipAddressPools, optional: true });
    this.#advertisements = new Informer({ ...base, resource: l2Advertisements, optional: true });
  }

  /** `namespace/name` of the ConfigMap. */
  get configMapName(): string {
    return `${this.#namespace}/${this.#name}`;
  }

  /** Calls `fn` on every change of either source. */
  onChange(fn: () => void): void {
    for (const i of this.#all()) i.onKey(() => fn());
  }

  start(): Promise<void> {
    for (const i of this.#all()) i.start();
    return this.synced();
  }

  async synced(): Promise<void> {
    await Promise.all(this.#all().map((i) => i.synced));
  }

  hasSynced(): boolean {
    return this.#all().every((i) => i.hasSynced());
  }

  async stop(): Promise<void> {
    await Promise.all(this.#all().map((i) => i.stop()));
  }

  /** The source rule over the caches; `lastVersion`: the version of the config in force. */
  read(lastVersion: string | undefined): ConfigSourceRead {
    return readConfigSource({
      configMap: this.#configMaps.list()[0],
      configMapName: this.configMapName,
      ipAddressPools: this.#pools.list(),
      l2Advertisements: this.#advertisements.list(),
      lastVersion,
    });
  }

  /** The IPAddressPool named `name`, for an Event on it (it may be gone: then without uid). */
  poolRef(name: string): SourceObjectRef {
    const o = this.#pools.get(`${this.#namespace}/${name}`);
    return { apiVersion: METALLB_API_VERSION, kind: 'IPAddressPool', namespace: this.#namespace, name, uid: o?.metadata?.uid };
  }

  #all(): Informer<V1ConfigMap | CustomObject>[] {
    return [this.#configMaps, this.#pools, this.#advertisements] as Informer<V1ConfigMap | CustomObject>[];
  }
}

/**
 * The labels of every namespace (`NamespaceLabels` for `serviceAllocation.namespaceSelectors`),
 * kept up to date by a Namespace informer. A namespace whose labels change is reported to
 * `onLabelsChanged`, so that its Services are reconciled again.
 */
export class NamespaceLabelCache {
  readonly #informer: Informer<V1Namespace>;
  readonly #labels = new Map<string, Readonly<Record<string, string>>>();

  constructor(o: { clients: ApiClients; logger: Logger; onLabelsChanged: (namespace: string) => void }) {
    this.#informer = new Informer({ clients: o.clients, resource: namespaces, logger: o.logger });
    const set = (ns: V1Namespace): void => {
      const name = ns.metadata?.name ?? '';
      const labels = ns.metadata?.labels ?? {};
      const before = this.#labels.get(name);
      this.#labels.set(name, labels);
      if (before !== undefined && !sameLabels(before, labels)) o.onLabelsChanged(name);
    };
    this.#informer.on({ add: set, update: set, delete: (ns) => this.#labels.delete(ns.metadata?.name ?? '') });
  }

  /** What `Allocator.assign`/`adopt` read; the map is updated in place as namespaces change. */
  get labels(): NamespaceLabels {
    return this.#labels;
  }

  start(): Promise<void> {
    this.#informer.start();
    return this.#informer.synced;
  }

  get synced(): Promise<void> {
    return this.#informer.synced;
  }

  hasSynced(): boolean {
    return this.#informer.hasSynced();
  }

  stop(): Promise<void> {
    return this.#informer.stop();
  }
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}
