import { ANY, flat, kindOf, listOf, struct, type FieldSpec } from './fields.js';

/**
 * Field tables of the served kinds, with kube-apiserver v1.31's field names (k8s.io/api). Depth:
 * - deep (every level): ObjectMeta, Service (spec and status), ConfigMap, Secret, Endpoints,
 *   EndpointSlice, Lease, ServiceAccount, both Event shapes, the RBAC kinds, Namespace spec;
 * - Pod spec and Deployment/DaemonSet templates: PodSpec's fields, each container's fields and
 *   its `ports` and `env` entries; deeper (probes, volumes, affinity, securityContext…) unchecked;
 * - shallow (top level and metadata): Node and Pod status, Deployment/DaemonSet strategy and status.
 */

const objectReference = flat('kind', 'namespace', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath');

export const OBJECT_META: FieldSpec = struct({
  name: ANY, generateName: ANY, namespace: ANY, selfLink: ANY, uid: ANY, resourceVersion: ANY, generation: ANY,
  creationTimestamp: ANY, deletionTimestamp: ANY, deletionGracePeriodSeconds: ANY, labels: ANY, annotations: ANY,
  ownerReferences: listOf(flat('apiVersion', 'kind', 'name', 'uid', 'controller', 'blockOwnerDeletion')),
  finalizers: ANY,
  managedFields: listOf(flat('manager', 'operation', 'apiVersion', 'time', 'fieldsType', 'fieldsV1', 'subresource')),
});

const condition = flat('type', 'status', 'observedGeneration', 'lastTransitionTime', 'reason', 'message');

const service = kindOf(OBJECT_META, {
  spec: struct({
    ports: listOf(flat('name', 'protocol', 'appProtocol', 'port', 'targetPort', 'nodePort')),
    selector: ANY, clusterIP: ANY, clusterIPs: ANY, type: ANY, externalIPs: ANY, sessionAffinity: ANY,
    loadBalancerIP: ANY, loadBalancerSourceRanges: ANY, externalName: ANY, externalTrafficPolicy: ANY,
    healthCheckNodePort: ANY, publishNotReadyAddresses: ANY,
    sessionAffinityConfig: struct({ clientIP: flat('timeoutSeconds') }),
    ipFamilies: ANY, ipFamilyPolicy: ANY, allocateLoadBalancerNodePorts: ANY, loadBalancerClass: ANY,
    internalTrafficPolicy: ANY, trafficDistribution: ANY,
  }),
  status: struct({
    loadBalancer: struct({ ingress: listOf(struct({ ip: ANY, hostname: ANY, ipMode: ANY, ports: listOf(flat('port', 'protocol', 'error')) })) }),
    conditions: listOf(condition),
  }),
});

const CONTAINER_FIELDS = [
  'name', 'image', 'command', 'args', 'workingDir', 'envFrom', 'resources', 'resizePolicy', 'restartPolicy',
  'volumeMounts', 'volumeDevices', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle',
  'terminationMessagePath', 'terminationMessagePolicy', 'imagePullPolicy', 'securityContext', 'stdin', 'stdinOnce', 'tty',
];
const container = struct({
  ...flatFields(CONTAINER_FIELDS),
  ports: listOf(flat('name', 'hostPort', 'containerPort', 'protocol', 'hostIP')),
  env: listOf(flat('name', 'value', 'valueFrom')),
});

const POD_SPEC_FIELDS = [
  'volumes', 'ephemeralContainers', 'restartPolicy', 'terminationGracePeriodSeconds', 'activeDeadlineSeconds',
  'dnsPolicy', 'nodeSelector', 'serviceAccountName', 'serviceAccount', 'automountServiceAccountToken', 'nodeName',
  'hostNetwork', 'hostPID', 'hostIPC', 'shareProcessNamespace', 'securityContext', 'imagePullSecrets', 'hostname',
  'subdomain', 'affinity', 'schedulerName', 'tolerations', 'hostAliases', 'priorityClassName', 'priority', 'dnsConfig',
  'readinessGates', 'runtimeClassName', 'enableServiceLinks', 'preemptionPolicy', 'overhead',
  'topologySpreadConstraints', 'setHostnameAsFQDN', 'os', 'hostUsers', 'schedulingGates', 'resourceClaims',
];
const podSpec = struct({ ...flatFields(POD_SPEC_FIELDS), initContainers: listOf(container), containers: listOf(container) });
const podTemplate = struct({ metadata: OBJECT_META, spec: podSpec });

const policyRule = flat('verbs', 'apiGroups', 'resources', 'resourceNames', 'nonResourceURLs');
const binding = kindOf(OBJECT_META, { subjects: listOf(flat('kind', 'apiGroup', 'name', 'namespace')), roleRef: flat('apiGroup', 'kind', 'name') });

const endpointAddress = struct({ ip: ANY, hostname: ANY, nodeName: ANY, targetRef: objectReference });
const eventSource = flat('component', 'host');
const eventSeries = flat('count', 'lastObservedTime');

function flatFields(names: readonly string[]): Record<string, FieldSpec> {
  return Object.fromEntries(names.map((n) => [n, ANY]));
}

/** By `apiVersion|kind`, as the wire shape (events.k8s.io/v1 has its own). */
// JSONSchemaProps: the fields of one schema node; below it (items, properties…) nothing is checked
const jsonSchemaProps = flat(
  'id', '$schema', '$ref', 'description', 'type', 'format', 'title', 'default', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum',
  'maxLength', 'minLength', 'pattern', 'maxItems', 'minItems', 'uniqueItems', 'multipleOf', 'enum', 'maxProperties', 'minProperties', 'required',
  'items', 'allOf', 'oneOf', 'anyOf', 'not', 'properties', 'additionalProperties', 'patternProperties', 'dependencies', 'additionalItems',
  'definitions', 'externalDocs', 'example', 'nullable', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string', 'x-kubernetes-list-map-keys', 'x-kubernetes-list-type', 'x-kubernetes-map-type', 'x-kubernetes-validations',
);

const crdNames = flat('plural', 'singular', 'shortNames', 'kind', 'listKind', 'categories');

const customResourceDefinition = kindOf(OBJECT_META, {
  spec: struct({
    group: ANY, names: crdNames, scope: ANY, preserveUnknownFields: ANY,
    conversion: struct({ strategy: ANY, webhook: struct({ clientConfig: flat('url', 'service', 'caBundle'), conversionReviewVersions: ANY }) }),
    versions: listOf(struct({
      name: ANY, served: ANY, storage: ANY, deprecated: ANY, deprecationWarning: ANY,
      schema: struct({ openAPIV3Schema: jsonSchemaProps }),
      subresources: struct({ status: ANY, scale: flat('specReplicasPath', 'statusReplicasPath', 'labelSelectorPath') }),
      additionalPrinterColumns: listOf(flat('name', 'type', 'format', 'description', 'priority', 'jsonPath')),
      selectableFields: listOf(flat('jsonPath')),
    })),
  }),
  status: struct({ conditions: listOf(condition), acceptedNames: crdNames, storedVersions: ANY }),
});

const KINDS: ReadonlyMap<string, FieldSpec> = new Map<string, FieldSpec>([
  ['apiextensions.k8s.io/v1|CustomResourceDefinition', customResourceDefinition],
  ['v1|Service', service],
  ['v1|ConfigMap', kindOf(OBJECT_META, { data: ANY, binaryData: ANY, immutable: ANY })],
  ['v1|Secret', kindOf(OBJECT_META, { data: ANY, stringData: ANY, type: ANY, immutable: ANY })],
  ['v1|Namespace', kindOf(OBJECT_META, { spec: flat('finalizers'), status: ANY })],
  ['v1|Endpoints', kindOf(OBJECT_META, {
    subsets: listOf(struct({ addresses: listOf(endpointAddress), notReadyAddresses: listOf(endpointAddress), ports: listOf(flat('name', 'port', 'protocol', 'appProtocol')) })),
  })],
  ['v1|Node', kindOf(OBJECT_META, { spec: flat('podCIDR', 'podCIDRs', 'providerID', 'unschedulable', 'taints', 'configSource', 'externalID'), status: ANY })],
  ['v1|Pod', kindOf(OBJECT_META, { spec: podSpec, status: ANY })],
  ['v1|ServiceAccount', kindOf(OBJECT_META, { secrets: listOf(objectReference), imagePullSecrets: listOf(flat('name')), automountServiceAccountToken: ANY })],
  ['v1|Event', kindOf(OBJECT_META, {
    involvedObject: objectReference, reason: ANY, message: ANY, source: eventSource, firstTimestamp: ANY, lastTimestamp: ANY,
    count: ANY, type: ANY, eventTime: ANY, series: eventSeries, action: ANY, related: objectReference,
    reportingComponent: ANY, reportingInstance: ANY,
  })],
  ['events.k8s.io/v1|Event', kindOf(OBJECT_META, {
    eventTime: ANY, series: eventSeries, reportingController: ANY, reportingInstance: ANY, action: ANY, reason: ANY,
    regarding: objectReference, related: objectReference, note: ANY, type: ANY, deprecatedSource: eventSource,
    deprecatedFirstTimestamp: ANY, deprecatedLastTimestamp: ANY, deprecatedCount: ANY,
  })],
  ['discovery.k8s.io/v1|EndpointSlice', kindOf(OBJECT_META, {
    addressType: ANY,
    endpoints: listOf(struct({
      addresses: ANY, conditions: flat('ready', 'serving', 'terminating'), hostname: ANY, targetRef: objectReference,
      nodeName: ANY, zone: ANY, hints: ANY, deprecatedTopology: ANY,
    })),
    ports: listOf(flat('name', 'protocol', 'port', 'appProtocol')),
  })],
  ['coordination.k8s.io/v1|Lease', kindOf(OBJECT_META, {
    spec: flat('holderIdentity', 'leaseDurationSeconds', 'acquireTime', 'renewTime', 'leaseTransitions', 'strategy', 'preferredHolder'),
  })],
  ['apps/v1|Deployment', kindOf(OBJECT_META, {
    spec: struct({ replicas: ANY, selector: ANY, template: podTemplate, strategy: ANY, minReadySeconds: ANY, revisionHistoryLimit: ANY, paused: ANY, progressDeadlineSeconds: ANY }),
    status: ANY,
  })],
  ['apps/v1|DaemonSet', kindOf(OBJECT_META, {
    spec: struct({ selector: ANY, template: podTemplate, updateStrategy: ANY, minReadySeconds: ANY, revisionHistoryLimit: ANY }),
    status: ANY,
  })],
  ['rbac.authorization.k8s.io/v1|Role', kindOf(OBJECT_META, { rules: listOf(policyRule) })],
  ['rbac.authorization.k8s.io/v1|ClusterRole', kindOf(OBJECT_META, { rules: listOf(policyRule), aggregationRule: flat('clusterRoleSelectors') })],
  ['rbac.authorization.k8s.io/v1|RoleBinding', binding],
  ['rbac.authorization.k8s.io/v1|ClusterRoleBinding', binding],
]);

/** The field table of a served kind in its wire shape; every served kind has one (asserted by a test). */
export function kindFields(apiVersion: string, kind: string): FieldSpec | undefined {
  return KINDS.get(`${apiVersion}|${kind}`);
}
