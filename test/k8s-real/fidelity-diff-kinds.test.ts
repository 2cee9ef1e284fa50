import { bothServers, diffRows, stopSharedControlPlaneAfterAll, type DiffRow, type Recorder } from '../helpers/fidelity-diff.js';
import { raw, type Json } from '../helpers/apiserver.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The differential fidelity suite, part 2: the other kinds Fulcrum writes or reads (Leases, both
 * Event APIs, EndpointSlices, Secrets), the generic error answers, server-side Tables, and
 * anonymous access. Same rule as part 1 (fidelity-diff.test.ts): equal records on the emulator
 * and on the real kube-apiserver.
 */

const NS = 'fidelity-kinds';
const CM = `/api/v1/namespaces/${NS}/configmaps`;
const S = `/api/v1/namespaces/${NS}/services`;
const L = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;
const E = `/api/v1/namespaces/${NS}/events`;
const E2 = `/apis/events.k8s.io/v1/namespaces/${NS}/events`;
const ES = `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`;
const SEC = `/api/v1/namespaces/${NS}/secrets`;
const MERGE = 'application/merge-patch+json';
const TABLE = { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' };
const MICRO = '2026-01-01T00:00:00.123456Z';

type Row = DiffRow;

const leaseRows: Row[] = [
  { name: 'a Lease with MicroTimes is stored as sent; a renewal with its resourceVersion passes, a stale one is 409', steps: async (r) => {
    const c = (await r('POST', L, { body: { metadata: { name: 'l-a', labels: { a: 'b' } }, spec: { holderIdentity: 'x', leaseDurationSeconds: 15, acquireTime: MICRO, renewTime: MICRO, leaseTransitions: 0 } } })).json;
    await r('PUT', `${L}/l-a`, { body: { ...c, spec: { ...c.spec, renewTime: '2026-01-01T00:00:01.000000Z' } } });
    await r('PUT', `${L}/l-a`, { body: { ...c, spec: { ...c.spec, renewTime: '2026-01-01T00:00:02.000000Z' } } });
  } },
  { name: 'Lease MicroTimes: three fraction digits or none are 400, an offset is normalised to Z; a Lease without spec gets {} (fixed in the emulator)', steps: async (r) => {
    await r('POST', L, { body: { metadata: { name: 'l-ms' }, spec: { renewTime: '2026-01-01T00:00:00.123Z' } } });
    await r('POST', L, { body: { metadata: { name: 'l-s' }, spec: { renewTime: '2026-01-01T00:00:00Z' } } });
    await r('POST', L, { body: { metadata: { name: 'l-off' }, spec: { renewTime: '2026-01-01T01:00:00.123456+01:00' } } });
    await r('POST', L, { body: { metadata: { name: 'l-empty' } } });
  } },
  { name: 'an invalid Lease names the grouped kind, Lease.coordination.k8s.io (fixed in the emulator)', steps: async (r) => void (await r('POST', L, { body: { metadata: { name: 'l-bad' }, spec: { leaseDurationSeconds: 0, leaseTransitions: -1 } } })) },
  { name: 'a Lease delete with stale preconditions: 409 naming the kind (fixed in the emulator)', steps: async (r) => {
    await r('POST', L, { body: { metadata: { name: 'l-pre' } } });
    await r('DELETE', `${L}/l-pre`, { body: { preconditions: { resourceVersion: '1' } } });
    await r('DELETE', `${L}/l-pre`, { body: { preconditions: { uid: 'x' } } });
  } },
];

const event = (name: string, extra: Json = {}): Json => ({
  metadata: { name }, involvedObject: { kind: 'Service', namespace: NS, name: 'web', apiVersion: 'v1' }, reason: 'IPAllocated', message: 'Assigned IP', type: 'Normal',
  count: 1, firstTimestamp: '2026-01-01T00:00:00Z', lastTimestamp: '2026-01-01T00:00:00Z', source: { component: 'fulcrum-allocator', host: 'h' }, reportingComponent: 'fulcrum-allocator', reportingInstance: 'h', ...extra,
});
const eventsV1 = (name: string, extra: Json = {}): Json => ({
  metadata: { name }, eventTime: MICRO, reportingController: 'fulcrum-lb.io/allocator', reportingInstance: 'a-1', action: 'Allocate', reason: 'IPAllocated', type: 'Normal', note: 'n',
  regarding: { kind: 'Service', namespace: NS, name: 'web' }, ...extra,
});

const eventRows: Row[] = [
  { name: 'a core/v1 Event as the EventRecorder writes it, bumped by a strategic merge patch, seen through events.k8s.io/v1 and an involvedObject field selector', steps: async (r) => {
    await r('POST', E, { body: event('ev-rec') });
    await r('PATCH', `${E}/ev-rec`, { body: { count: 2, lastTimestamp: '2026-01-01T00:00:05Z' }, contentType: 'application/strategic-merge-patch+json' });
    await r('GET', `${E2}/ev-rec`);
    await r('GET', `${E}?fieldSelector=${encodeURIComponent('involvedObject.name=web,involvedObject.kind=Service,reason=IPAllocated')}`);
  } },
  { name: 'a bare core/v1 Event gets null times, an empty source and empty reporting fields (fixed in the emulator)', steps: async (r) => void (await r('POST', E, { body: { metadata: { name: 'ev-bare' }, involvedObject: { kind: 'Service', namespace: NS, name: 'web' }, reason: 'R', type: 'Bogus' } })) },
  { name: 'core/v1 Event validation: a foreign involvedObject namespace, and an eventTime without reportingInstance and action, are 422 (fixed in the emulator)', steps: async (r) => {
    await r('POST', E, { body: { metadata: { name: 'ev-ns' }, involvedObject: { kind: 'Service', namespace: 'other', name: 'web' }, reason: 'R', type: 'Normal' } });
    await r('POST', E, { body: { metadata: { name: 'ev-new' }, involvedObject: { kind: 'Service', name: 'web' }, reason: 'R', type: 'Normal', reportingComponent: 'x.io/c', eventTime: MICRO } });
  } },
  { name: 'an events.k8s.io/v1 Event: the deprecated fields are served empty, and the core view shows it (fixed in the emulator)', steps: async (r) => {
    await r('POST', E2, { body: eventsV1('ev2') });
    await r('GET', `${E}/ev2`);
  } },
  { name: 'events.k8s.io/v1 validation: a missing eventTime alone is reported, an unknown type as kube words it (fixed in the emulator)', steps: async (r) => {
    await r('POST', E2, { body: { metadata: { name: 'ev2-bare' }, reason: 'R', type: 'Normal' } });
    await r('POST', E2, { body: eventsV1('ev2-type', { type: 'Weird' }) });
  } },
];

const sliceRows: Row[] = [
  { name: 'an EndpointSlice listed by kubernetes.io/service-name; empty lists are served as null (fixed in the emulator)', steps: async (r) => {
    await r('POST', ES, { body: { metadata: { name: 'es-a', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', endpoints: [{ addresses: ['198.51.100.1'], conditions: { ready: true }, nodeName: 'n1' }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } });
    await r('POST', ES, { body: { metadata: { name: 'es-empty', labels: { 'kubernetes.io/service-name': 'other' } }, addressType: 'IPv4', endpoints: [] } });
    await r('GET', `${ES}?labelSelector=${encodeURIComponent('kubernetes.io/service-name=web')}`);
  } },
  { name: 'EndpointSlice validation: the wrong family, no addresses, a loopback address, an unknown addressType (fixed in the emulator)', steps: async (r) => {
    await r('POST', ES, { body: { metadata: { name: 'es-v6' }, addressType: 'IPv4', endpoints: [{ addresses: ['2001:db8::1'] }] } });
    await r('POST', ES, { body: { metadata: { name: 'es-none' }, addressType: 'IPv4', endpoints: [{ addresses: [] }] } });
    await r('POST', ES, { body: { metadata: { name: 'es-lo' }, addressType: 'IPv4', endpoints: [{ addresses: ['127.0.0.1'] }] } });
    await r('POST', ES, { body: { metadata: { name: 'es-type' }, addressType: 'Bogus', endpoints: [] } });
  } },
  { name: 'labels bump an EndpointSlice generation, annotations do not (fixed in the emulator)', steps: async (r) => {
    await r('POST', ES, { body: { metadata: { name: 'es-gen' }, addressType: 'IPv4', endpoints: [] } });
    await r('PATCH', `${ES}/es-gen`, { body: { metadata: { annotations: { a: 'b' } } }, contentType: MERGE });
    await r('PATCH', `${ES}/es-gen`, { body: { metadata: { labels: { a: 'b' } } }, contentType: MERGE });
  } },
  { name: 'the controllers give a selector Service without Pods one empty IPv4 EndpointSlice (owned by the Service) and an Endpoints object', steps: async (r) => {
    await r('POST', S, { body: { metadata: { name: 'ctl' }, spec: { selector: { app: 'none' }, ports: [{ name: 'http', port: 80 }] } } });
    const sel = `${ES}?labelSelector=${encodeURIComponent('kubernetes.io/service-name=ctl')}`;
    await waitFor('the controller-made EndpointSlice', async () => ((await raw(r.api, 'GET', sel)).json.items ?? []).length > 0, { timeoutMs: 20_000, intervalMs: 100 });
    await waitFor('the controller-made Endpoints', async () => (await raw(r.api, 'GET', `/api/v1/namespaces/${NS}/endpoints/ctl`)).status === 200, { timeoutMs: 20_000, intervalMs: 100 });
    await r('GET', sel);
    await r('GET', `/api/v1/namespaces/${NS}/endpoints/ctl`);
  } },
];

const secretRows: Row[] = [
  { name: 'Secrets: a TLS Secret needs both keys, bad base64 is 400 (message fixed in the emulator), stringData folds into data, the type is immutable, empty data is omitted', steps: async (r) => {
    await r('POST', SEC, { body: { metadata: { name: 'sec-tls' }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'YQ==' } } });
    await r('POST', SEC, { body: { metadata: { name: 'sec-b64' }, data: { a: '!!notb64' } } });
    await r('POST', SEC, { body: { metadata: { name: 'sec-str' }, stringData: { a: 'x' } } });
    await r('PATCH', `${SEC}/sec-str`, { body: { type: 'kubernetes.io/tls' }, contentType: MERGE });
    await r('POST', SEC, { body: { metadata: { name: 'sec-empty' }, data: {} } });
  } },
];

const errorRows: Row[] = [
  { name: 'DELETE answers the object for a Service, a Success Status for a ConfigMap, 404 for a missing object; finalizers keep an object marked', steps: async (r) => {
    await r('POST', S, { body: { metadata: { name: 'del' }, spec: { ports: [{ port: 80 }] } } });
    await r('DELETE', `${S}/del`);
    await r('POST', CM, { body: { metadata: { name: 'del' } } });
    await r('DELETE', `${CM}/del`);
    await r('DELETE', `${CM}/del`);
    await r('POST', CM, { body: { metadata: { name: 'fin', finalizers: ['fulcrum-lb.io/test'] } } });
    await r('DELETE', `${CM}/fin`);
    await r('PATCH', `${CM}/fin`, { body: { metadata: { finalizers: null } }, contentType: MERGE });
    await r('GET', `${CM}/fin`);
  } },
  { name: 'dryRun=All answers without a resourceVersion and stores nothing; another dryRun value is 422; generateName; a missing name (fixed in the emulator)', steps: async (r) => {
    await r('POST', `${CM}?dryRun=All`, { body: { metadata: { name: 'dry' } } });
    await r('GET', `${CM}/dry`);
    await r('POST', `${CM}?dryRun=Bogus`, { body: { metadata: { name: 'dry' } } });
    await r('POST', CM, { body: { metadata: { generateName: 'gen-' } } });
    await r('POST', CM, { body: { metadata: {} } });
  } },
  { name: 'an unknown path is 404, POST and DELETE on a status subresource are 405, an unknown body or patch type is 415 (fixed in the emulator)', steps: async (r) => {
    await r('GET', '/api/v1/widgets');
    await r('POST', `${S}/x/status`, { body: {} });
    await r('DELETE', `${S}/x/status`);
    await r('POST', CM, { body: 'x', contentType: 'text/plain' });
    await r('POST', CM, { body: { metadata: { name: 'mt' } } });
    await r('PATCH', `${CM}/mt`, { body: {}, contentType: 'application/bogus' });
  } },
  { name: 'JSON patches: a failed test and a missing path are 422 with empty details; replace of a missing key adds it; a merge patch that is not JSON is 400 (fixed in the emulator)', steps: async (r) => {
    const J = 'application/json-patch+json';
    await r('POST', CM, { body: { metadata: { name: 'jp' }, data: { a: '1' } } });
    await r('PATCH', `${CM}/jp`, { body: [{ op: 'test', path: '/data/a', value: '2' }, { op: 'replace', path: '/data/a', value: '3' }], contentType: J });
    await r('PATCH', `${CM}/jp`, { body: [{ op: 'remove', path: '/metadata/labels/x' }], contentType: J });
    await r('PATCH', `${CM}/jp`, { body: [{ op: 'replace', path: '/data/zz', value: 'x' }], contentType: J });
    await r('PATCH', `${CM}/jp`, { body: { not: 'a list' }, contentType: J });
    await r('PATCH', `${CM}/jp`, { body: '{bad', contentType: MERGE });
  } },
  { name: 'a create in a missing namespace is 404; in a terminating one 403 with a NamespaceTerminating cause (fixed in the emulator)', steps: async (r) => {
    await r('POST', '/api/v1/namespaces/nons/configmaps', { body: { metadata: { name: 'x' } } });
    await r('POST', '/api/v1/namespaces', { body: { metadata: { name: 'fidelity-held', finalizers: ['fulcrum-lb.io/hold'] } } });
    await r('DELETE', '/api/v1/namespaces/fidelity-held');
    await r('POST', '/api/v1/namespaces/fidelity-held/configmaps', { body: { metadata: { name: 'x' } } });
    await r('PATCH', '/api/v1/namespaces/fidelity-held', { body: { metadata: { finalizers: null } }, contentType: MERGE });
  } },
];

const tableRows: Row[] = [
  { name: 'kubectl get tables: Services (EXTERNAL-IP, ports with node ports), ConfigMaps, Secrets (fixed in the emulator), Leases', steps: async (r) => {
    const c = (await r('POST', S, { body: { metadata: { name: 'tb' }, spec: { type: 'LoadBalancer', selector: { app: 'x' }, ports: [{ name: 'h', port: 80 }, { name: 'd', port: 53, protocol: 'UDP' }] } } })).json;
    await r('PUT', `${S}/tb/status`, { body: { ...c, status: { loadBalancer: { ingress: [{ ip: '192.0.2.10', ipMode: 'Proxy' }] } } } });
    await r('POST', CM, { body: { metadata: { name: 'tcm' }, data: { a: '1', b: '2' } } });
    await r('POST', SEC, { body: { metadata: { name: 'tsec' }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'YQ==', 'tls.key': 'YQ==' } } });
    await r('POST', L, { body: { metadata: { name: 'tl' }, spec: { holderIdentity: 'me' } } });
    for (const path of [`${S}?fieldSelector=metadata.name%3Dtb`, `${CM}?fieldSelector=metadata.name%3Dtcm`, `${SEC}?fieldSelector=metadata.name%3Dtsec`, `${L}/tl`]) {
      const t = (await raw(r.api, 'GET', path, { headers: TABLE })).json;
      // descriptions (kube's come from its OpenAPI) and the allocated IP, node ports and age are masked
      r.note({ path, columns: (t.columnDefinitions as Json[]).map((c) => [c.name, c.type, c.format, c.priority]), cells: (t.rows as Json[]).map((row) => (row.cells as unknown[]).map((cell) => String(cell).replace(/203\.0\.113\.\d+/, '<ip>').replace(/:3\d{4}\//g, ':<nodePort>/').replace(/^\d+s$/, '<age>'))) });
    }
  } },
];

/** Cells of a Table with what two servers legitimately print differently masked: ages under two minutes, allocated IPs, node ports. */
function maskedCells(t: Json): string[][] {
  return (t.rows as Json[]).map((row) => (row.cells as unknown[]).map((cell) => String(cell).replace(/203\.0\.113\.\d+/, '<ip>').replace(/:3\d{4}\//g, ':<nodePort>/').replace(/^\d+s$/, '<age>')));
}

/** Objects made outside the record (raw): their create replies differ where the tables do not (admission defaults, controllers). */
async function made(r: Recorder, method: string, path: string, body: Json): Promise<Json> {
  const reply = await raw(r.api, method, path, { body });
  if (reply.status >= 300) throw new Error(`${method} ${path} on the ${r.api.kind}: ${reply.status} ${reply.text}`);
  return reply.json;
}

const tableKindRows: Row[] = [
  { name: 'kubectl get tables: Events (both APIs), Endpoints, EndpointSlices, Leases, Nodes and Pods, every column with the wide ones', steps: async (r) => {
    // kube-controller-manager makes each namespace's default ServiceAccount, which pod admission needs
    if (r.api.kind === 'real') await waitFor('ServiceAccount default', async () => (await raw(r.api, 'GET', `/api/v1/namespaces/${NS}/serviceaccounts/default`)).status === 200, { timeoutMs: 30_000, intervalMs: 100 });
    const heartbeat = new Date().toISOString();
    const node = await made(r, 'POST', '/api/v1/nodes', { metadata: { name: 'tb-node', labels: { 'node-role.kubernetes.io/worker': '', 'kubernetes.io/role': 'edge' } } });
    await made(r, 'PUT', '/api/v1/nodes/tb-node/status', { ...node, status: {
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ok', lastHeartbeatTime: heartbeat, lastTransitionTime: heartbeat }],
      addresses: [{ type: 'InternalIP', address: '192.0.2.11' }, { type: 'ExternalIP', address: '198.51.100.11' }],
      nodeInfo: { kubeletVersion: 'v1.31.0', osImage: 'Debian', kernelVersion: '6.1.0', architecture: 'amd64', containerRuntimeVersion: 'lab://1', machineID: 'm', systemUUID: 's', bootID: 'b', kubeProxyVersion: '', operatingSystem: 'linux' },
    } });
    await made(r, 'POST', `/api/v1/namespaces/${NS}/pods`, { metadata: { name: 'tb-pending' }, spec: { containers: [{ name: 'c', image: 'x' }], readinessGates: [{ conditionType: 'example.com/gate' }] } });
    const pod = await made(r, 'POST', `/api/v1/namespaces/${NS}/pods`, { metadata: { name: 'tb-pod' }, spec: { nodeName: 'tb-node', containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'x' }] } });
    await made(r, 'PUT', `/api/v1/namespaces/${NS}/pods/tb-pod/status`, { ...pod, status: {
      phase: 'Running', podIP: '198.51.100.34', podIPs: [{ ip: '198.51.100.34' }, { ip: '2001:db8:1::1:2' }], conditions: [{ type: 'Ready', status: 'False' }],
      containerStatuses: [
        { name: 'a', image: 'x', imageID: '', ready: true, restartCount: 3, state: { running: { startedAt: '2026-01-01T00:00:00Z' } }, lastState: { terminated: { exitCode: 137, reason: 'Error', finishedAt: '2026-01-01T00:00:00Z' } } },
        { name: 'b', image: 'x', imageID: '', ready: false, restartCount: 1, state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off' } } },
      ],
    } });
    await made(r, 'POST', `/api/v1/namespaces/${NS}/endpoints`, { metadata: { name: 'tb-ep' }, subsets: [{ addresses: [{ ip: '198.51.100.34' }, { ip: '2001:db8:1::1:2' }], ports: [{ name: 'h', port: 8080 }, { name: 'e', port: 5678 }] }] });
    await made(r, 'POST', `/api/v1/namespaces/${NS}/endpoints`, { metadata: { name: 'tb-ep-empty' } });
    await made(r, 'POST', ES, { metadata: { name: 'tb-slice' }, addressType: 'IPv4', ports: [{ name: 'a', port: 1 }, { name: 'b', port: 2 }, { name: 'c', port: 3 }, { name: 'd', port: 4 }], endpoints: [{ addresses: ['198.51.100.1'] }, { addresses: ['198.51.100.2'] }] });
    await made(r, 'POST', ES, { metadata: { name: 'tb-slice-empty' }, addressType: 'IPv6', endpoints: [] });
    await made(r, 'POST', L, { metadata: { name: 'tb-lease' }, spec: { holderIdentity: 'tb-node' } });
    await made(r, 'POST', E, event('tb-ev', { message: '  announcing  ', count: 4, source: { component: 'fulcrum-speaker', host: 'tb-node' }, involvedObject: { kind: 'Service', namespace: NS, name: 'web', apiVersion: 'v1', fieldPath: 'spec.ports{http}' } }));
    await made(r, 'POST', E2, eventsV1('tb-ev2', { series: { count: 5, lastObservedTime: MICRO } }));
    const paths = [
      `${E}?fieldSelector=metadata.name%3Dtb-ev`, `${E2}?fieldSelector=metadata.name%3Dtb-ev2`, `${E}/tb-ev2`,
      `/api/v1/namespaces/${NS}/endpoints?fieldSelector=metadata.name%3Dtb-ep`, `/api/v1/namespaces/${NS}/endpoints/tb-ep-empty`, `${ES}?fieldSelector=metadata.name%3Dtb-slice`, `${ES}/tb-slice-empty`, `${L}/tb-lease`,
      '/api/v1/nodes/tb-node', `/api/v1/namespaces/${NS}/pods/tb-pod`, `/api/v1/namespaces/${NS}/pods/tb-pending`,
    ];
    try {
      for (const path of paths) {
        const t = (await raw(r.api, 'GET', path, { headers: TABLE })).json;
        // descriptions (kube's come from its OpenAPI docs) are not compared
        r.note({ path, columns: (t.columnDefinitions as Json[]).map((c) => [c.name, c.type, c.format, c.priority]), cells: maskedCells(t) });
      }
    } finally {
      await raw(r.api, 'DELETE', '/api/v1/nodes/tb-node');
    }
  } },
];

const accessRows: Row[] = [
  { name: 'without credentials: /version and the health paths answer (health as plain "ok", fixed in the emulator); discovery and resources are 403 for system:anonymous (fixed in the emulator); a forged token is 401', steps: async (r) => {
    for (const path of ['/healthz', '/readyz', '/livez']) await r('GET', path, { token: null });
    r.note({ version: (await raw(r.api, 'GET', '/version', { token: null })).status });
    await r('GET', '/api', { token: null });
    await r('GET', S, { token: null });
    await r('GET', S, { token: 'not-a-token' });
  } },
];

describe('fidelity: the emulator and the real kube-apiserver answer alike (Leases, Events, EndpointSlices, Secrets, errors, tables, access)', function () {
  this.timeout(30_000);
  const both = bothServers(NS);

  for (const [group, rows] of [['Leases', leaseRows], ['Events', eventRows], ['EndpointSlices', sliceRows], ['Secrets', secretRows], ['errors', errorRows], ['tables', tableRows], ['tables of more kinds', tableKindRows], ['access', accessRows]] as const) {
    describe(group, () => {
      diffRows(both, rows);
    });
  }
});

stopSharedControlPlaneAfterAll();
