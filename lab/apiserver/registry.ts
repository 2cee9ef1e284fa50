import { randomUUID } from 'node:crypto';
import { ApiStatusError, alreadyExists, badRequest, cause, conflict, invalid, invalidResource, namespaceNotFound, notFound, preconditionFailed, qualified, type Obj } from './status.js';
import { findResource, storeDef, type ResourceDef } from './resources.js';
import type { Store } from './store.js';
import { clone, deepEqual } from './patch.js';
import { rfc3339 } from './kinds/common.js';
import { prepareOtherCreate, prepareOtherStatus, prepareOtherUpdate, validateName } from './kinds/others.js';
import { prepareService, prepareServiceStatus, releaseService, type ServiceNetwork } from './kinds/service.js';

export interface WriteOptions {
  readonly dryRun?: boolean;
}

export interface UpdateOptions extends WriteOptions {
  readonly subresource?: 'status';
}

export interface DeleteOptions extends WriteOptions {
  readonly gracePeriodSeconds?: number;
  readonly preconditions?: { uid?: string; resourceVersion?: string };
}

/** What a DELETE did: removed at once, or only marked (finalizers, pod grace, namespace). */
export type DeleteResult = { kind: 'removed'; object: Obj } | { kind: 'marked'; object: Obj };

export type UpdateResult = { kind: 'created'; object: Obj } | { kind: 'updated'; object: Obj } | { kind: 'unchanged'; object: Obj };

// Kinds whose strategy forbids an update without metadata.resourceVersion (AllowUnconditionalUpdate false).
const REQUIRE_RESOURCE_VERSION = new Set(['leases.coordination.k8s.io']);
// EndpointSlices bump metadata.generation when their labels change too (kube's endpointslice strategy).
const GENERATION_FOLLOWS_LABELS = new Set(['endpointslices.discovery.k8s.io']);

const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const ENDPOINTS_DEF = findResource('v1', 'endpoints')!;

function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)];
  return s;
}

/** Everything outside metadata and status: what bumps metadata.generation. */
function specPart(o: Obj): Obj {
  const { metadata: _m, status: _s, kind: _k, apiVersion: _a, ...rest } = o;
  return rest;
}

/**
 * The write rules of the API (fidelity spec §4–§6) on stored-shape objects: create, update
 * (PUT, patch results and /status), delete with finalizers. No HTTP here; the caller converts
 * API shapes and checks permissions.
 */
export class Registry {
  readonly #store: Store;
  readonly #net: ServiceNetwork;
  readonly #now: () => Date;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** The custom resources served now (deleted with their namespace). */
  customDefs: () => readonly ResourceDef[] = () => [];

  constructor(store: Store, net: ServiceNetwork, now: () => Date = () => new Date()) {
    this.#store = store;
    this.#net = net;
    this.#now = now;
  }

  get store(): Store {
    return this.#store;
  }

  get(def: ResourceDef, ns: string, name: string): Obj {
    const o = this.#store.get(def.storeKey, def.namespaced ? ns : '', name);
    if (!o) throw notFound(def, name);
    return o;
  }

  #checkKind(def: ResourceDef, body: Obj): void {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: the body is not a JSON object`);
    if (body.kind !== undefined && body.kind !== def.kind) throw badRequest(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: the object provided is of kind "${body.kind}", not ${def.kind}`);
    if (body.apiVersion !== undefined && body.apiVersion !== def.apiVersion) throw badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${def.apiVersion})`);
  }

  #checkNamespace(def: ResourceDef, ns: string, body: Obj): void {
    if (!def.namespaced) {
      delete body.metadata.namespace;
      return;
    }
    if (body.metadata.namespace !== undefined && body.metadata.namespace !== '' && body.metadata.namespace !== ns) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    body.metadata.namespace = ns;
  }

  /** POST. `body` is the client's object in stored shape; it is copied, never kept. */
  create(def: ResourceDef, ns: string, body0: Obj, opts: WriteOptions = {}): Obj {
    this.#checkKind(def, body0);
    const o = clone(body0);
    // stored without kind/apiVersion: the wire adds them to objects and events, never to list items
    delete o.kind;
    delete o.apiVersion;
    const md: Obj = (o.metadata ??= {});
    if (md.resourceVersion) throw new ApiStatusError(500, 'InternalError', 'resourceVersion should not be set on objects to be created', { causes: [{ message: 'resourceVersion should not be set on objects to be created' }] });
    this.#checkNamespace(def, ns, o);
    if (def.namespaced) {
      const nsObj = this.#store.get('namespaces', '', ns);
      if (!nsObj) throw namespaceNotFound(ns);
      if (nsObj.metadata.deletionTimestamp) {
        throw new ApiStatusError(403, 'Forbidden', `${qualified(def)} "${md.name ?? md.generateName ?? ''}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`, {
          causes: [{ reason: 'NamespaceTerminating', message: `namespace ${ns} is being terminated`, field: 'metadata.namespace' }],
          name: md.name ?? '',
          kind: def.resource,
        });
      }
    }
    if (!md.name && md.generateName) {
      do md.name = `${md.generateName}${randomSuffix()}`;
      while (this.#store.get(def.storeKey, def.namespaced ? ns : '', md.name));
    }
    if (!md.name) throw invalid(def.kind, '', def, [cause.required('metadata.name', 'name or generateName is required')]);
    const nameErrs = validateName(def, md.name);
    if (nameErrs.length) throw invalid(def.kind, md.name, def, nameErrs);
    const now = this.#now();
    md.uid = randomUUID();
    md.creationTimestamp = rfc3339(now);
    delete md.deletionTimestamp;
    delete md.deletionGracePeriodSeconds;
    delete md.selfLink;
    delete md.managedFields;
    if (def.generation) md.generation = 1;
    else delete md.generation;
    if (this.#store.get(def.storeKey, def.namespaced ? ns : '', md.name)) throw alreadyExists(def, md.name);
    if (def.strategy) def.strategy.create(def, o);
    else if (def.storeKey === 'services') {
      if (opts.dryRun) {
        prepareServiceDry(o, this.#net, def);
      } else prepareService(o, undefined, this.#net, def);
    } else prepareOtherCreate(def, o);
    if (opts.dryRun) return o; // never stored: no resourceVersion, as kube-apiserver answers
    const stored = this.#store.put(def.storeKey, o);
    if (def.storeKey === 'namespaces') this.#ensureDefaultServiceAccount(md.name);
    return stored;
  }

  /** The service-account controller's job: every namespace has a ServiceAccount "default". */
  #ensureDefaultServiceAccount(ns: string): void {
    if (this.#store.get('serviceaccounts', ns, 'default')) return;
    this.#store.put('serviceaccounts', { metadata: { name: 'default', namespace: ns, uid: randomUUID(), creationTimestamp: rfc3339(this.#now()) } });
  }

  /** PUT, a patch result, or a /status write. `body` is stored shape. */
  update(def: ResourceDef, ns: string, name: string, body0: Obj, opts: UpdateOptions = {}): UpdateResult {
    this.#checkKind(def, body0);
    const body = clone(body0);
    delete body.kind;
    delete body.apiVersion;
    body.metadata ??= {};
    if (body.metadata.name !== undefined && body.metadata.name !== name) {
      throw badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
    }
    this.#checkNamespace(def, ns, body);
    const old = this.#store.get(def.storeKey, def.namespaced ? ns : '', name);
    if (!old) {
      if (def.putCreates && !opts.subresource) {
        const { resourceVersion: _rv, ...md } = body.metadata;
        return { kind: 'created', object: this.create(def, ns, { ...body, metadata: { ...md, name } }, opts) };
      }
      throw notFound(def, name);
    }
    const rv = body.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== old.metadata.resourceVersion) throw conflict(def, name);
    if (!opts.subresource && (rv === undefined || rv === '') && REQUIRE_RESOURCE_VERSION.has(def.storeKey)) {
      throw invalidResource(def, name, [cause.invalid('metadata.resourceVersion', 0, 'must be specified for an update')]);
    }
    let next: Obj;
    if (opts.subresource === 'status') {
      next = { ...clone(old), status: body.status };
      next.metadata.labels = body.metadata.labels;
      next.metadata.annotations = body.metadata.annotations;
      if (next.metadata.labels === undefined) delete next.metadata.labels;
      if (next.metadata.annotations === undefined) delete next.metadata.annotations;
    } else {
      next = body;
      if (def.statusSubresource) {
        if (old.status === undefined) delete next.status;
        else next.status = clone(old.status);
      }
    }
    const md = next.metadata;
    for (const k of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'generateName']) {
      if (old.metadata[k] === undefined) delete md[k];
      else md[k] = old.metadata[k];
    }
    md.name = name;
    delete md.managedFields;
    delete md.selfLink;
    md.resourceVersion = old.metadata.resourceVersion;
    if (old.metadata.deletionTimestamp) {
      const had = new Set<string>(old.metadata.finalizers ?? []);
      const added = (md.finalizers ?? []).filter((f: string) => !had.has(f));
      if (added.length > 0) {
        throw invalid(def.kind, name, def, [cause.forbidden('metadata.finalizers', `no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f: string) => JSON.stringify(f)).join(', ')}}`)]);
      }
    }
    if (def.strategy) {
      if (opts.subresource === 'status') def.strategy.status(def, next, old);
      else def.strategy.update(def, next, old);
    } else if (opts.subresource === 'status') {
      if (def.storeKey === 'services') prepareServiceStatus(next, def);
      else prepareOtherStatus(def, next);
    } else if (def.storeKey === 'services') {
      if (!opts.dryRun) prepareService(next, old, this.#net, def);
    } else prepareOtherUpdate(def, next, old);
    if (md.finalizers !== undefined && md.finalizers.length === 0 && old.metadata.finalizers === undefined) delete md.finalizers;
    if (def.generation && (!deepEqual(specPart(next), specPart(old)) || (GENERATION_FOLLOWS_LABELS.has(def.storeKey) && !deepEqual(md.labels, old.metadata.labels)))) {
      md.generation = (old.metadata.generation ?? 0) + 1;
    }
    if (deepEqual(next, old)) return { kind: 'unchanged', object: old };
    if (opts.dryRun) return { kind: 'updated', object: next };
    if (old.metadata.deletionTimestamp && (md.finalizers ?? []).length === 0 && !this.#gracePending(def, old)) {
      const gone = this.#store.remove(def.storeKey, def.namespaced ? ns : '', name, old)!;
      this.#afterRemove(def, old);
      return { kind: 'updated', object: { ...next, metadata: { ...md, resourceVersion: gone.metadata.resourceVersion } } };
    }
    return { kind: 'updated', object: this.#store.put(def.storeKey, next) };
  }

  /** A pod marked with a grace period waits for it (or a gracePeriodSeconds=0 delete) even once its finalizers are gone. */
  #gracePending(def: ResourceDef, old: Obj): boolean {
    return def.storeKey === 'pods' && (old.metadata.deletionGracePeriodSeconds ?? 0) > 0;
  }

  delete(def: ResourceDef, ns: string, name: string, opts: DeleteOptions = {}): DeleteResult {
    const key = def.namespaced ? ns : '';
    const old = this.#store.get(def.storeKey, key, name);
    if (!old) throw notFound(def, name);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== old.metadata.uid) {
      throw preconditionFailed(def, name, `the UID in the precondition (${pre.uid}) does not match the UID in record (${old.metadata.uid}). The object might have been deleted and then recreated`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw preconditionFailed(def, name, `the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${old.metadata.resourceVersion}). The object might have been modified`);
    }
    const finalizers: string[] = old.metadata.finalizers ?? [];
    const now = this.#now();
    if (opts.dryRun) return { kind: finalizers.length ? 'marked' : 'removed', object: old };
    if (def.storeKey === 'pods' && old.spec?.nodeName && !old.metadata.deletionTimestamp && opts.gracePeriodSeconds !== 0) {
      const grace = opts.gracePeriodSeconds ?? old.spec?.terminationGracePeriodSeconds ?? 30;
      const marked = clone(old);
      marked.metadata.deletionTimestamp = rfc3339(new Date(now.getTime() + grace * 1000));
      marked.metadata.deletionGracePeriodSeconds = grace;
      const stored = this.#store.put(def.storeKey, marked);
      this.#later(grace * 1000, () => this.#removeIfMarked(def, key, name, stored.metadata.uid));
      return { kind: 'marked', object: stored };
    }
    if (def.storeKey === 'namespaces' && !old.metadata.deletionTimestamp) {
      const marked = clone(old);
      marked.metadata.deletionTimestamp = rfc3339(now); // a namespace gets no deletionGracePeriodSeconds
      marked.status = { ...(marked.status ?? {}), phase: 'Terminating' };
      const stored = this.#store.put(def.storeKey, marked);
      this.#later(0, () => this.#finishNamespace(name));
      return { kind: 'marked', object: stored };
    }
    if (old.metadata.deletionTimestamp) {
      const graceDone = def.storeKey === 'pods' && opts.gracePeriodSeconds === 0;
      if (!graceDone || finalizers.length > 0) return { kind: 'marked', object: old };
      const marked = { ...clone(old) };
      marked.metadata.deletionGracePeriodSeconds = 0;
      const object = this.#store.remove(def.storeKey, key, name, marked)!;
      this.#afterRemove(def, old);
      return { kind: 'removed', object };
    }
    const marked = def.strategy?.markForDeletion?.(clone(old), now);
    if (marked) return { kind: 'marked', object: this.#store.put(def.storeKey, marked) };
    if (finalizers.length > 0) {
      const marked = clone(old);
      marked.metadata.deletionTimestamp = rfc3339(now);
      marked.metadata.deletionGracePeriodSeconds = 0;
      return { kind: 'marked', object: this.#store.put(def.storeKey, marked) };
    }
    const object = this.#store.remove(def.storeKey, key, name)!;
    this.#afterRemove(def, old);
    return { kind: 'removed', object };
  }

  #removeIfMarked(def: ResourceDef, ns: string, name: string, uid: string): void {
    const cur = this.#store.get(def.storeKey, ns, name);
    if (!cur || cur.metadata.uid !== uid || !cur.metadata.deletionTimestamp) return;
    if ((cur.metadata.finalizers ?? []).length > 0) return;
    this.#store.remove(def.storeKey, ns, name);
    this.#afterRemove(def, cur);
  }

  /** The namespace controller's job: delete the content, then the namespace. */
  #finishNamespace(name: string): void {
    const ns = this.#store.get('namespaces', '', name);
    if (!ns || !ns.metadata.deletionTimestamp) return;
    for (const key of ['services', 'endpoints', 'pods', 'configmaps', 'secrets', 'serviceaccounts', 'events', 'endpointslices.discovery.k8s.io', 'leases.coordination.k8s.io', 'deployments.apps', 'daemonsets.apps', 'roles.rbac.authorization.k8s.io', 'rolebindings.rbac.authorization.k8s.io']) {
      this.#emptyNamespace(storeDef(key), name);
    }
    for (const def of this.customDefs()) if (def.namespaced) this.#emptyNamespace(def, name);
    if ((ns.metadata.finalizers ?? []).length === 0) this.#store.remove('namespaces', '', name);
  }

  #emptyNamespace(def: ResourceDef, name: string): void {
    const key = def.storeKey;
    for (const o of this.#store.list(key, name)) {
      const stripped = clone(o);
      delete stripped.metadata.finalizers;
      this.#store.remove(key, name, o.metadata.name, o.metadata.finalizers ? o : undefined);
      this.#afterRemove(def, stripped);
    }
  }

  #afterRemove(def: ResourceDef, old: Obj): void {
    if (def.storeKey === 'services') {
      releaseService(old, this.#net);
      const ns = old.metadata.namespace;
      if (this.#store.get('endpoints', ns, old.metadata.name)) {
        this.#store.remove(ENDPOINTS_DEF.storeKey, ns, old.metadata.name);
      }
    }
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.#timers.add(t);
  }

  /** Cancels pending grace-period removals (tests that drop the emulator). */
  dispose(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}

/** dryRun=All for a Service: validate against the live ranges without keeping anything. */
function prepareServiceDry(o: Obj, net: ServiceNetwork, def: ResourceDef): void {
  prepareService(o, undefined, net, def);
  releaseService(o, net);
}
