import type { Obj } from './status.js';
import type { FieldSpec } from './schema/fields.js';
import type { Printer } from './table.js';
import { crdStrategy } from './crd/definition.js';

/** Extracts the string a field selector compares, e.g. `spec.nodeName` of a Pod. */
export type FieldGetter = (o: Obj) => string;

/**
 * One served resource. Everything a handler needs is resolved here once, so the request path
 * only reads (fastify's "context built at registration").
 */
export interface ResourceDef {
  readonly group: string; // '' for the core group
  readonly version: string;
  readonly apiVersion: string; // 'v1' or 'group/version'
  readonly resource: string; // plural, as in URLs and RBAC rules
  readonly singular: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly statusSubresource: boolean;
  /** Field selectors besides metadata.name and metadata.namespace. */
  readonly fieldSelectors: Readonly<Record<string, FieldGetter>>;
  /** DELETE answers with the object (Service, Pod, Namespace) rather than a Success Status. */
  readonly deleteReturnsObject: boolean;
  /** PUT on a missing name creates it (Service, Endpoints, Lease, Event). */
  readonly putCreates: boolean;
  /** metadata.generation is kept and bumped on every change outside metadata and status. */
  readonly generation: boolean;
  /** Objects live in the store under this key: both event APIs share `events`. */
  readonly storeKey: string;
  /** Strategic-merge keys of lists, by dotted path from the object root ('' key = set of primitives). */
  readonly mergeKeys: Readonly<Record<string, string>>;
  /** Converts between the stored shape and this API's shape (events.k8s.io/v1). */
  readonly view?: { toWire(stored: Obj): Obj; fromWire(wire: Obj): Obj };
  /** Its own write preparation (CRDs, custom resources) instead of kinds/' rules. */
  readonly strategy?: KindStrategy;
  /** Its field table, when it is not in schema/kinds.ts (custom resources: from the CRD's schema). */
  readonly fields?: FieldSpec;
  /** Server-side printing, when not table.ts' own (custom resources: additionalPrinterColumns). */
  readonly printer?: Printer;
  /** Discovery verbs, in the order the server lists them (default RESOURCE_VERBS). */
  readonly verbs?: readonly string[];
  readonly categories?: readonly string[];
  /** Served from a CustomResourceDefinition: unstructured (keys sorted on the wire), no strategic merge patch. */
  readonly custom?: true;
}

/**
 * What a kind does to a write beyond the generic rules of registry.ts: defaulting and
 * validation (throwing ApiStatusError), on stored-shape copies it may change.
 */
export interface KindStrategy {
  create(def: ResourceDef, o: Obj): void;
  update(def: ResourceDef, next: Obj, old: Obj): void;
  status(def: ResourceDef, next: Obj, old: Obj): void;
  /** A DELETE of an unmarked object: the marked object to store (kept until a controller finishes), or undefined to delete as usual. */
  markForDeletion?(o: Obj, now: Date): Obj | undefined;
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] as const;
export const RESOURCE_VERBS: readonly string[] = VERBS;

const COMMON_MERGE_KEYS: Record<string, string> = {
  'metadata.finalizers': '',
  'metadata.ownerReferences': 'uid',
};

function str(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

interface DefInput {
  group?: string;
  version?: string;
  resource: string;
  singular: string;
  kind: string;
  namespaced?: boolean;
  shortNames?: string[];
  status?: boolean;
  fieldSelectors?: Record<string, FieldGetter>;
  deleteReturnsObject?: boolean;
  putCreates?: boolean;
  generation?: boolean;
  storeKey?: string;
  mergeKeys?: Record<string, string>;
  view?: ResourceDef['view'];
  strategy?: KindStrategy;
  fields?: FieldSpec;
  printer?: Printer;
  verbs?: readonly string[];
  categories?: readonly string[];
  custom?: true;
}

export function def(d: DefInput): ResourceDef {
  const group = d.group ?? '';
  const version = d.version ?? 'v1';
  return {
    group,
    version,
    apiVersion: group ? `${group}/${version}` : version,
    resource: d.resource,
    singular: d.singular,
    kind: d.kind,
    namespaced: d.namespaced ?? true,
    shortNames: d.shortNames ?? [],
    statusSubresource: d.status ?? false,
    fieldSelectors: d.fieldSelectors ?? {},
    deleteReturnsObject: d.deleteReturnsObject ?? false,
    putCreates: d.putCreates ?? false,
    generation: d.generation ?? false,
    storeKey: d.storeKey ?? (group ? `${d.resource}.${group}` : d.resource),
    mergeKeys: { ...COMMON_MERGE_KEYS, ...(d.mergeKeys ?? {}) },
    ...(d.view ? { view: d.view } : {}),
    ...(d.strategy ? { strategy: d.strategy } : {}),
    ...(d.fields ? { fields: d.fields } : {}),
    ...(d.printer ? { printer: d.printer } : {}),
    ...(d.verbs ? { verbs: d.verbs } : {}),
    ...(d.categories ? { categories: d.categories } : {}),
    ...(d.custom ? { custom: d.custom } : {}),
  };
}

const podSpecKeys = (prefix: string): Record<string, string> => ({
  [`${prefix}.containers`]: 'name',
  [`${prefix}.initContainers`]: 'name',
  [`${prefix}.containers[].ports`]: 'containerPort',
  [`${prefix}.containers[].env`]: 'name',
  [`${prefix}.containers[].volumeMounts`]: 'mountPath',
  [`${prefix}.volumes`]: 'name',
  [`${prefix}.tolerations`]: '',
  [`${prefix}.imagePullSecrets`]: 'name',
});

/** events.k8s.io/v1 shows the core Event store with renamed fields (fidelity spec §3). */
const eventsV1View: NonNullable<ResourceDef['view']> = {
  toWire(o: Obj): Obj {
    const { message, involvedObject, source, firstTimestamp, lastTimestamp, count, reportingComponent, reportingInstance, related, ...rest } = o;
    const w: Obj = { ...rest };
    if (message !== undefined) w.note = message;
    if (involvedObject !== undefined) w.regarding = involvedObject;
    if (related !== undefined) w.related = related;
    if (reportingComponent) w.reportingController = reportingComponent;
    if (reportingInstance) w.reportingInstance = reportingInstance;
    // Go zero values: an empty source and null times are served, a zero count is omitted
    w.deprecatedSource = source ?? {};
    w.deprecatedFirstTimestamp = firstTimestamp ?? null;
    w.deprecatedLastTimestamp = lastTimestamp ?? null;
    if (count) w.deprecatedCount = count;
    return w;
  },
  fromWire(w: Obj): Obj {
    const { note, regarding, reportingController, deprecatedSource, deprecatedFirstTimestamp, deprecatedLastTimestamp, deprecatedCount, ...rest } = w;
    const o: Obj = { ...rest };
    if (note !== undefined) o.message = note;
    if (regarding !== undefined) o.involvedObject = regarding;
    if (reportingController !== undefined) o.reportingComponent = reportingController;
    if (deprecatedSource !== undefined) o.source = deprecatedSource;
    if (deprecatedFirstTimestamp !== undefined) o.firstTimestamp = deprecatedFirstTimestamp;
    if (deprecatedLastTimestamp !== undefined) o.lastTimestamp = deprecatedLastTimestamp;
    if (deprecatedCount !== undefined) o.count = deprecatedCount;
    return o;
  },
};

const eventFieldSelectors: Record<string, FieldGetter> = {
  'involvedObject.kind': (o) => str(o.involvedObject?.kind),
  'involvedObject.namespace': (o) => str(o.involvedObject?.namespace),
  'involvedObject.name': (o) => str(o.involvedObject?.name),
  'involvedObject.uid': (o) => str(o.involvedObject?.uid),
  'involvedObject.apiVersion': (o) => str(o.involvedObject?.apiVersion),
  'involvedObject.resourceVersion': (o) => str(o.involvedObject?.resourceVersion),
  'involvedObject.fieldPath': (o) => str(o.involvedObject?.fieldPath),
  reason: (o) => str(o.reason),
  reportingComponent: (o) => str(o.reportingComponent),
  type: (o) => str(o.type),
  source: (o) => str(o.source?.component),
};

export const RESOURCES: readonly ResourceDef[] = [
  def({ resource: 'namespaces', singular: 'namespace', kind: 'Namespace', namespaced: false, shortNames: ['ns'], status: true, deleteReturnsObject: true, fieldSelectors: { 'status.phase': (o) => str(o.status?.phase) } }),
  def({ resource: 'services', singular: 'service', kind: 'Service', shortNames: ['svc'], status: true, deleteReturnsObject: true, putCreates: true, mergeKeys: { 'spec.ports': 'port' }, fieldSelectors: { 'spec.clusterIP': (o) => str(o.spec?.clusterIP), 'spec.type': (o) => str(o.spec?.type) } }),
  def({ resource: 'endpoints', singular: 'endpoints', kind: 'Endpoints', shortNames: ['ep'], putCreates: true }),
  def({ resource: 'nodes', singular: 'node', kind: 'Node', namespaced: false, shortNames: ['no'], status: true, fieldSelectors: { 'spec.unschedulable': (o) => String(o.spec?.unschedulable === true) }, mergeKeys: { 'status.addresses': 'type', 'status.conditions': 'type', 'spec.taints': 'key' } }),
  def({ resource: 'pods', singular: 'pod', kind: 'Pod', shortNames: ['po'], status: true, deleteReturnsObject: true, fieldSelectors: { 'spec.nodeName': (o) => str(o.spec?.nodeName), 'status.phase': (o) => str(o.status?.phase), 'status.podIP': (o) => str(o.status?.podIP), 'spec.serviceAccountName': (o) => str(o.spec?.serviceAccountName) }, mergeKeys: { ...podSpecKeys('spec'), 'status.conditions': 'type', 'status.podIPs': 'ip' } }),
  def({ resource: 'configmaps', singular: 'configmap', kind: 'ConfigMap', shortNames: ['cm'] }),
  def({ resource: 'secrets', singular: 'secret', kind: 'Secret', fieldSelectors: { type: (o) => str(o.type) } }),
  def({ resource: 'serviceaccounts', singular: 'serviceaccount', kind: 'ServiceAccount', shortNames: ['sa'], mergeKeys: { secrets: 'name', imagePullSecrets: 'name' } }),
  def({ resource: 'events', singular: 'event', kind: 'Event', shortNames: ['ev'], putCreates: true, fieldSelectors: eventFieldSelectors }),
  def({ group: 'events.k8s.io', resource: 'events', singular: 'event', kind: 'Event', shortNames: ['ev'], putCreates: true, storeKey: 'events', view: eventsV1View, fieldSelectors: eventFieldSelectors }),
  def({ group: 'discovery.k8s.io', resource: 'endpointslices', singular: 'endpointslice', kind: 'EndpointSlice', generation: true }),
  def({ group: 'coordination.k8s.io', resource: 'leases', singular: 'lease', kind: 'Lease', putCreates: true }),
  def({ group: 'apps', resource: 'deployments', singular: 'deployment', kind: 'Deployment', shortNames: ['deploy'], status: true, generation: true, mergeKeys: podSpecKeys('spec.template.spec') }),
  def({ group: 'apps', resource: 'daemonsets', singular: 'daemonset', kind: 'DaemonSet', shortNames: ['ds'], status: true, generation: true, mergeKeys: podSpecKeys('spec.template.spec') }),
  def({ group: 'rbac.authorization.k8s.io', resource: 'roles', singular: 'role', kind: 'Role' }),
  def({ group: 'rbac.authorization.k8s.io', resource: 'clusterroles', singular: 'clusterrole', kind: 'ClusterRole', namespaced: false }),
  def({ group: 'rbac.authorization.k8s.io', resource: 'rolebindings', singular: 'rolebinding', kind: 'RoleBinding' }),
  def({ group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', singular: 'clusterrolebinding', kind: 'ClusterRoleBinding', namespaced: false }),
  def({ group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', singular: 'customresourcedefinition', kind: 'CustomResourceDefinition', namespaced: false, shortNames: ['crd', 'crds'], categories: ['api-extensions'], status: true, generation: true, strategy: crdStrategy, mergeKeys: { 'spec.versions': 'name' } }),
];

/** Served group-versions in discovery order; the core group is served under /api. */
export const GROUP_VERSIONS: readonly { group: string; version: string }[] = (() => {
  const seen = new Map<string, { group: string; version: string }>();
  for (const r of RESOURCES) if (r.group && !seen.has(r.apiVersion)) seen.set(r.apiVersion, { group: r.group, version: r.version });
  return [...seen.values()].sort((a, b) => a.group.localeCompare(b.group));
})();

const byPath = new Map<string, ResourceDef>();
const byStoreKey = new Map<string, ResourceDef>();
for (const r of RESOURCES) {
  byPath.set(`${r.apiVersion}|${r.resource}`, r);
  if (!r.view) byStoreKey.set(r.storeKey, r);
}

/** The resource served at /api/v1/R or /apis/G/V/R, if any. */
export function findResource(apiVersion: string, resource: string): ResourceDef | undefined {
  return byPath.get(`${apiVersion}|${resource}`);
}

/** The canonical (stored-shape) definition of a store key. */
export function storeDef(storeKey: string): ResourceDef {
  const d = byStoreKey.get(storeKey);
  if (!d) throw new Error(`incoherent state: no resource stored under "${storeKey}"`);
  return d;
}

export function resourceByKind(apiVersion: string, kind: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.apiVersion === apiVersion && r.kind === kind);
}
