import { findResource, storeDef, type ResourceDef } from '../resources.js';
import type { Registry } from '../registry.js';
import type { Change, Subscriber } from '../store.js';
import type { Obj } from '../status.js';
import { CLEANUP_FINALIZER, CRD_STORE_KEY, establishedStatus } from './definition.js';
import { customResourceDef } from './custom-kind.js';

/** What the emulator does for the controller: end the watches on a deleted CRD's objects. */
export interface CustomResourceHost {
  closeWatches(storeKey: string): void;
}

/**
 * The custom resources one emulator serves, and the controllers of apiextensions-apiserver that
 * make them so: naming and establishing (a stored CRD gets `NamesAccepted` and `Established`,
 * then its resource is served), and the finalizer (a deleted CRD loses its objects, its watches
 * end, then it goes). They run after the write that triggered them (setImmediate), as the real
 * controllers do: a POST answers before the CRD is established. In memory, per emulator.
 */
export class CustomResources implements Subscriber {
  readonly #registry: Registry;
  readonly #host: CustomResourceHost;
  readonly #now: () => Date;
  readonly #byCrd = new Map<string, ResourceDef>();
  readonly #byPath = new Map<string, ResourceDef>();
  readonly #pending = new Set<string>();
  #defs: readonly ResourceDef[] = [];
  #scheduled: NodeJS.Immediate | undefined = undefined;
  readonly #unsubscribe: () => void;

  constructor(registry: Registry, host: CustomResourceHost, now: () => Date = () => new Date()) {
    this.#registry = registry;
    this.#host = host;
    this.#now = now;
    this.#unsubscribe = registry.store.subscribe(CRD_STORE_KEY, this);
  }

  /** The custom resource served at /apis/G/V/R, if its CRD is established. */
  find(apiVersion: string, resource: string): ResourceDef | undefined {
    return this.#byPath.get(`${apiVersion}|${resource}`);
  }

  /** Every served custom resource, sorted by group then resource; a new array after each change (openapi caches by it). */
  defs(): readonly ResourceDef[] {
    return this.#defs;
  }

  onChange(c: Change): void {
    this.#pending.add(c.object.metadata.name);
    this.#scheduled ??= setImmediate(() => this.#run());
  }

  #run(): void {
    this.#scheduled = undefined;
    const names = [...this.#pending];
    this.#pending.clear();
    for (const name of names) this.#reconcile(name);
  }

  #reconcile(name: string): void {
    const crdDef = storeDef(CRD_STORE_KEY);
    const crd = this.#registry.store.get(CRD_STORE_KEY, '', name);
    if (!crd) return this.#unserve(name);
    if (crd.metadata.deletionTimestamp) {
      this.#cleanUp(name, crd);
      const finalizers = (crd.metadata.finalizers as string[]).filter((f) => f !== CLEANUP_FINALIZER);
      this.#registry.update(crdDef, '', name, { ...crd, metadata: { ...crd.metadata, finalizers } });
      return;
    }
    const d = customResourceDef(crd);
    // a resource the emulator serves itself is never taken over (kube: NamesAccepted False)
    if (!d || findResource(d.apiVersion, d.resource)) return this.#unserve(name);
    this.#serve(name, d);
    if (!crd.status?.conditions?.some((c: Obj) => c.type === 'Established' && c.status === 'True')) {
      this.#registry.update(crdDef, '', name, { ...crd, status: establishedStatus(crd, this.#now()) }, { subresource: 'status' });
    }
  }

  /** The finalizer's work: every object of the resource is deleted (DELETED events), then its watches end. */
  #cleanUp(name: string, crd: Obj): void {
    const d = this.#byCrd.get(name) ?? customResourceDef(crd);
    this.#unserve(name);
    if (!d) return;
    const store = this.#registry.store;
    for (const o of store.list(d.storeKey, undefined)) store.remove(d.storeKey, o.metadata.namespace ?? '', o.metadata.name);
    this.#host.closeWatches(d.storeKey);
  }

  #serve(name: string, d: ResourceDef): void {
    const old = this.#byCrd.get(name);
    if (old) this.#byPath.delete(`${old.apiVersion}|${old.resource}`);
    this.#byCrd.set(name, d);
    this.#byPath.set(`${d.apiVersion}|${d.resource}`, d);
    this.#refresh();
  }

  #unserve(name: string): void {
    const old = this.#byCrd.get(name);
    if (!old) return;
    this.#byCrd.delete(name);
    this.#byPath.delete(`${old.apiVersion}|${old.resource}`);
    this.#refresh();
  }

  #refresh(): void {
    this.#defs = [...this.#byCrd.values()].sort((a, b) => a.group.localeCompare(b.group) || a.resource.localeCompare(b.resource));
  }

  dispose(): void {
    this.#unsubscribe();
    if (this.#scheduled) clearImmediate(this.#scheduled);
  }
}
