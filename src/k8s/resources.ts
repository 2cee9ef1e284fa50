import type {
  KubernetesListObject,
  KubernetesObject,
  V1ConfigMap,
  V1EndpointSlice,
  V1Endpoints,
  V1Lease,
  V1Namespace,
  V1Node,
  V1Pod,
  V1Secret,
  V1Service,
} from '@kubernetes/client-node';
import type { ApiClients } from './client.js';

/** The query every list and watch of an informer carries. */
export interface ListQuery {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/**
 * One kind of object an informer can follow: how to list it with the typed client (so objects
 * are deserialised the same way as everywhere else) and which path to watch.
 */
export interface ResourceKind<T extends KubernetesObject> {
  /** Lower-case plural as in the URL, e.g. `services`; also the informer's default name. */
  readonly plural: string;
  readonly kind: string;
  /** client-node model name, used to deserialise watch events like list items (`V1Service`). */
  readonly model: string;
  readonly namespaced: boolean;
  /** URL prefix: `/api/v1` or `/apis/GROUP/VERSION`. */
  readonly prefix: string;
  list(clients: ApiClients, q: ListQuery): Promise<KubernetesListObject<T>>;
}

/** The watch path of a kind, in one namespace or (namespace undefined) across all of them. */
export function watchPath(r: ResourceKind<KubernetesObject>, namespace?: string): string {
  if (r.namespaced && namespace) return `${r.prefix}/namespaces/${encodeURIComponent(namespace)}/${r.plural}`;
  return `${r.prefix}/${r.plural}`;
}

type Sel = { labelSelector?: string; fieldSelector?: string };
const sel = (q: ListQuery): Sel => ({ labelSelector: q.labelSelector, fieldSelector: q.fieldSelector });

export const services: ResourceKind<V1Service> = {
  plural: 'services',
  kind: 'Service',
  model: 'V1Service',
  namespaced: true,
  prefix: '/api/v1',
  list: (c, q) =>
    q.namespace
      ? c.core.listNamespacedService({ namespace: q.namespace, ...sel(q) })
      : c.core.listServiceForAllNamespaces(sel(q)),
};

export const endpointSlices: ResourceKind<V1EndpointSlice> = {
  plural: 'endpointslices',
  kind: 'EndpointSlice',
  model: 'V1EndpointSlice',
  namespaced: true,
  prefix: '/apis/discovery.k8s.io/v1',
  list: (c, q) =>
    q.namespace
      ? c.discovery.listNamespacedEndpointSlice({ namespace: q.namespace, ...sel(q) })
      : c.discovery.listEndpointSliceForAllNamespaces(sel(q)),
};

/** core/v1 Endpoints (deprecated in 1.33 in favour of EndpointSlices, still served). */
export const endpoints: ResourceKind<V1Endpoints> = {
  plural: 'endpoints',
  kind: 'Endpoints',
  model: 'V1Endpoints',
  namespaced: true,
  prefix: '/api/v1',
  list: (c, q) =>
    q.namespace
      ? c.core.listNamespacedEndpoints({ namespace: q.namespace, ...sel(q) })
      : c.core.listEndpointsForAllNamespaces(sel(q)),
};

export const nodes: ResourceKind<V1Node> = {
  plural: 'nodes',
  kind: 'Node',
  model: 'V1Node',
  namespaced: false,
  prefix: '/api/v1',
  list: (c, q) => c.core.listNode(sel(q)),
};

export const configMaps: ResourceKind<V1ConfigMap> = {
  plural: 'configmaps',
  kind: 'ConfigMap',
  model: 'V1ConfigMap',
  namespaced: true,
  prefix: '/api/v1',
  list: (c, q) =>
    q.namespace
      ? c.core.listNamespacedConfigMap({ namespace: q.namespace, ...sel(q) })
      : c.core.listConfigMapForAllNamespaces(sel(q)),
};

export const secrets: ResourceKind<V1Secret> = {
  plural: 'secrets',
  kind: 'Secret',
  model: 'V1Secret',
  namespaced: true,
  prefix: '/api/v1',
  list: (c, q) =>
    q.namespace
      ? c.core.listNamespacedSecret({ namespace: q.namespace, ...sel(q) })
      : c.core.listSecretForAllNamespaces(sel(q)),
};

export const pods: ResourceKind<V1Pod> = {
  plural: 'pods',
  kind: 'Pod',
  model: 'V1Pod',
  namespaced: true,
  prefix: '/api/v1',
  list: (c, q) =>
    q.namespace
      ? c.core.listNamespacedPod({ namespace: q.namespace, ...sel(q) })
      : c.core.listPodForAllNamespaces(sel(q)),
};

export const leases: ResourceKind<V1Lease> = {
  plural: 'leases',
  kind: 'Lease',
  model: 'V1Lease',
  namespaced: true,
  prefix: '/apis/coordination.k8s.io/v1',
  list: (c, q) =>
    q.namespace
      ? c.coordination.listNamespacedLease({ namespace: q.namespace, ...sel(q) })
      : c.coordination.listLeaseForAllNamespaces(sel(q)),
};

export const namespaces: ResourceKind<V1Namespace> = {
  plural: 'namespaces',
  kind: 'Namespace',
  model: 'V1Namespace',
  namespaced: false,
  prefix: '/api/v1',
  list: (c, q) => c.core.listNamespace(sel(q)),
};

/**
 * An object of a custom resource, as the API sends it (no client-node model: plain JSON, the
 * same from lists and watches). `spec` is read by the pure config parser, never here.
 */
export interface CustomObject extends KubernetesObject {
  spec?: unknown;
}

/**
 * A namespaced custom resource listed through client-node's CustomObjectsApi. Items get their
 * `apiVersion` and `kind` filled in when the server left them out, so they read like the
 * manifests a user applies. When the CRD is not installed the list is a 404; an informer with
 * `optional: true` takes that as "none".
 */
function customResource(group: string, version: string, plural: string, kind: string): ResourceKind<CustomObject> {
  const apiVersion = `${group}/${version}`;
  return {
    plural,
    kind,
    // 'any' is one of client-node's primitives: watch events are kept as sent, like list items.
    model: 'any',
    namespaced: true,
    prefix: `/apis/${apiVersion}`,
    list: async (c, q) => {
      const list = (q.namespace
        ? await c.custom.listNamespacedCustomObject({ group, version, plural, namespace: q.namespace, ...sel(q) })
        : await c.custom.listClusterCustomObject({ group, version, plural, ...sel(q) })) as KubernetesListObject<CustomObject>;
      return { ...list, items: (list.items ?? []).map((o) => ({ ...o, apiVersion: o.apiVersion ?? apiVersion, kind: o.kind ?? kind })) };
    },
  };
}

/** MetalLB's address pools (`metallb.io/v1beta1`, a CRD): read in the config namespace only, as MetalLB does. */
export const ipAddressPools = customResource('metallb.io', 'v1beta1', 'ipaddresspools', 'IPAddressPool');

/** MetalLB's layer 2 advertisements (`metallb.io/v1beta1`, a CRD): which nodes and interfaces announce which pools. */
export const l2Advertisements = customResource('metallb.io', 'v1beta1', 'l2advertisements', 'L2Advertisement');

/** `namespace/name` for namespaced objects, `name` for cluster-scoped ones: the cache key. */
export function objectKey(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}
