import assert from 'node:assert/strict';
import type { ApiServer } from '../../lab/apiserver/index.js';
import { computeServiceEndpoints } from '../../lab/apiserver/controllers/endpoints-compute.js';
import { raw, reportRequests, startTestApiServer, waitFor, type Json } from '../helpers/apiserver.js';

const svc = (spec: Json = {}): Json => ({ metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ipFamilies: ['IPv4'], ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }], ...spec } });
const pod = (name: string, over: { ip?: string | string[]; ready?: boolean; phase?: string; deleting?: boolean; node?: string; port?: number | null } = {}): Json => {
  const ips = over.ip === undefined ? ['198.51.100.1'] : typeof over.ip === 'string' ? [over.ip] : over.ip;
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: { app: 'web' }, ...(over.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
    spec: { nodeName: over.node ?? 'node-a', containers: [{ name: 'c', ports: over.port === null ? [] : [{ name: 'http', containerPort: over.port ?? 8080, protocol: 'TCP' }] }] },
    status: { phase: over.phase ?? 'Running', podIPs: ips.map((ip) => ({ ip })), conditions: [{ type: 'Ready', status: over.ready === false ? 'False' : 'True' }] },
  };
};

// The pure part of the EndpointSlice/Endpoints controller, table-driven.
describe('apiserver emulator: computeServiceEndpoints', () => {
  const rows: { name: string; svc?: Json; pods: Json[]; check: (r: ReturnType<typeof computeServiceEndpoints>) => void }[] = [
    { name: 'no pods gives one empty slice per family and no subsets', pods: [], check: (r) => {
      assert.deepEqual(r.slices, [{ addressType: 'IPv4', endpoints: [], ports: [] }]);
      assert.deepEqual(r.subsets, []);
    } },
    { name: 'a ready pod is ready and serving, with its node and named port resolved', pods: [pod('a')], check: (r) => {
      assert.deepEqual(r.slices[0]!.endpoints[0], { addresses: ['198.51.100.1'], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'uid-a' }, nodeName: 'node-a' });
      assert.deepEqual(r.slices[0]!.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
      assert.equal(r.subsets[0]!.addresses[0].ip, '198.51.100.1');
    } },
    { name: 'a terminating pod stays in slices as terminating and leaves Endpoints', pods: [pod('a', { deleting: true })], check: (r) => {
      assert.deepEqual(r.slices[0]!.endpoints[0]!.conditions, { ready: false, serving: true, terminating: true });
      assert.deepEqual(r.subsets, []);
    } },
    { name: 'a pod that is not ready is neither ready nor serving, and a notReadyAddress', pods: [pod('a', { ready: false })], check: (r) => {
      assert.deepEqual(r.slices[0]!.endpoints[0]!.conditions, { ready: false, serving: false, terminating: false });
      assert.equal(r.subsets[0]!.notReadyAddresses[0].ip, '198.51.100.1');
    } },
    { name: 'pods without an IP and finished pods are left out', pods: [pod('a', { ip: [] }), pod('b', { phase: 'Succeeded' }), pod('c', { phase: 'Failed' })], check: (r) => {
      assert.deepEqual(r.slices[0]!.endpoints, []);
    } },
    { name: 'a dual-stack Service gets one slice per family; Endpoints hold the primary family', svc: svc({ ipFamilies: ['IPv6', 'IPv4'] }), pods: [pod('a', { ip: ['198.51.100.1', '2001:db8::1'] })], check: (r) => {
      assert.deepEqual(r.slices.map((s) => [s.addressType, s.endpoints[0]!.addresses[0]]), [['IPv6', '2001:db8::1'], ['IPv4', '198.51.100.1']]);
      assert.equal(r.subsets[0]!.addresses[0].ip, '2001:db8::1');
    } },
    { name: 'pods resolving a named port differently land in different slices', pods: [pod('a', { port: 8080 }), pod('b', { port: 9090, ip: '198.51.100.2' })], check: (r) => {
      assert.deepEqual(r.slices.map((s) => s.ports[0]!.port).sort(), [8080, 9090]);
    } },
    { name: 'a pod without the named port is an endpoint with no ports for it', pods: [pod('a', { port: null })], check: (r) => {
      assert.deepEqual(r.slices[0]!.ports, []);
    } },
    { name: 'more than 100 endpoints are split into slices of at most 100', pods: Array.from({ length: 150 }, (_, i) => pod(`p${String(i).padStart(3, '0')}`, { ip: `198.51.100.${i % 250}` })), check: (r) => {
      assert.deepEqual(r.slices.map((s) => s.endpoints.length), [100, 50]);
    } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const s = row.svc ?? svc();
      const before = JSON.stringify([s, row.pods]);
      row.check(computeServiceEndpoints(s, row.pods));
      assert.equal(JSON.stringify([s, row.pods]), before, 'inputs are not mutated');
    });
  }
});

// The controller running inside the emulator, through the API.
describe('apiserver emulator: EndpointSlice and Endpoints controller', () => {
  let api: ApiServer;
  before(async () => {
    api = await startTestApiServer();
  });
  after(async () => {
    reportRequests(api, 'endpoints');
    await api.stop();
  });

  const slicesOf = async (name: string): Promise<Json[]> =>
    (await raw(api, 'GET', `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D${name}`)).json.items as Json[];

  async function runningPod(name: string, labels: Json, ips: string[]): Promise<void> {
    const p = await raw(api, 'POST', '/api/v1/namespaces/default/pods', { body: { metadata: { name, labels }, spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 8080 }] }] } } });
    assert.equal(p.status, 201, p.text);
    const st = await raw(api, 'PUT', `/api/v1/namespaces/default/pods/${name}/status`, { body: { ...p.json, status: { phase: 'Running', podIP: ips[0], podIPs: ips.map((ip) => ({ ip })), conditions: [{ type: 'Ready', status: 'True' }] } } });
    assert.equal(st.status, 200, st.text);
  }

  it('follows a dual-stack Service, a terminating pod, a selector change and the Service deletion', async () => {
    await raw(api, 'POST', '/api/v1/namespaces/default/services', { body: { metadata: { name: 'ds' }, spec: { ipFamilyPolicy: 'RequireDualStack', selector: { app: 'ds' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } } });
    await runningPod('ds-1', { app: 'ds' }, ['198.51.100.11', '2001:db8::11']);
    await runningPod('ds-2', { app: 'ds' }, ['198.51.100.12', '2001:db8::12']);
    await waitFor('two endpoints in each family', async () => {
      const s = await slicesOf('ds');
      return s.length === 2 && s.every((x) => (x.endpoints ?? []).length === 2) ? s : undefined;
    });
    const names = (await slicesOf('ds')).map((s) => s.metadata.name);
    for (const n of names) assert.match(n, /^ds-[bcdfghjklmnpqrstvwxz2456789]{5}$/);

    await raw(api, 'DELETE', '/api/v1/namespaces/default/pods/ds-1');
    const terminating = await waitFor('ds-1 terminating', async () => {
      const s = await slicesOf('ds');
      const ep = s.find((x) => x.addressType === 'IPv4')?.endpoints.find((e: Json) => e.targetRef.name === 'ds-1');
      return ep?.conditions.terminating ? ep : undefined;
    });
    assert.deepEqual(terminating.conditions, { ready: false, serving: true, terminating: true });
    const eps = await waitFor('Endpoints without ds-1', async () => {
      const e = (await raw(api, 'GET', '/api/v1/namespaces/default/endpoints/ds')).json;
      return e.subsets?.[0]?.addresses?.length === 1 ? e : undefined;
    });
    assert.equal(eps.subsets[0].addresses[0].ip, '198.51.100.12');

    await raw(api, 'PATCH', '/api/v1/namespaces/default/pods/ds-2', { body: { metadata: { labels: { app: 'other' } } }, contentType: 'application/merge-patch+json' });
    await waitFor('ds-2 gone from the slices', async () => (await slicesOf('ds')).every((s) => !(s.endpoints ?? []).some((e: Json) => e.targetRef.name === 'ds-2')));
    assert.deepEqual((await slicesOf('ds')).map((s) => s.metadata.name).sort(), [...names].sort(), 'the same slices are updated, not replaced');

    await raw(api, 'DELETE', '/api/v1/namespaces/default/services/ds');
    await waitFor('slices deleted with the Service', async () => (await slicesOf('ds')).length === 0);
    assert.equal((await raw(api, 'GET', '/api/v1/namespaces/default/endpoints/ds')).status, 404);
  });

  it('leaves Services without a selector and their hand-written Endpoints alone', async () => {
    await raw(api, 'POST', '/api/v1/namespaces/default/services', { body: { metadata: { name: 'manual' }, spec: { ports: [{ port: 80 }] } } });
    const ep = await raw(api, 'POST', '/api/v1/namespaces/default/endpoints', { body: { metadata: { name: 'manual' }, subsets: [{ addresses: [{ ip: '198.51.100.99' }], ports: [{ port: 80 }] }] } });
    assert.equal(ep.status, 201);
    // a later selector Service makes the controller run; the manual one must stay as written
    await raw(api, 'POST', '/api/v1/namespaces/default/services', { body: { metadata: { name: 'auto' }, spec: { selector: { app: 'auto' }, ports: [{ port: 80 }] } } });
    await waitFor('the auto Service slice', async () => (await slicesOf('auto')).length === 1);
    assert.deepEqual(await slicesOf('manual'), []);
    const again = await raw(api, 'GET', '/api/v1/namespaces/default/endpoints/manual');
    assert.equal(again.json.metadata.resourceVersion, ep.json.metadata.resourceVersion);
  });

  it('re-writing identical pod status causes no slice write', async () => {
    await raw(api, 'POST', '/api/v1/namespaces/default/services', { body: { metadata: { name: 'quiet' }, spec: { selector: { app: 'quiet' }, ports: [{ port: 80 }] } } });
    await runningPod('quiet-1', { app: 'quiet' }, ['198.51.100.21']);
    const slice = await waitFor('the slice', async () => (await slicesOf('quiet')).find((s) => (s.endpoints ?? []).length === 1));
    const p = (await raw(api, 'GET', '/api/v1/namespaces/default/pods/quiet-1')).json;
    await raw(api, 'PATCH', '/api/v1/namespaces/default/pods/quiet-1', { body: { metadata: { annotations: { touched: 'yes' } } }, contentType: 'application/merge-patch+json' });
    await raw(api, 'PUT', '/api/v1/namespaces/default/pods/quiet-1/status', { body: p });
    // a marker write after those: once the marker's slice exists, the controller has drained
    await raw(api, 'POST', '/api/v1/namespaces/default/services', { body: { metadata: { name: 'marker' }, spec: { selector: { app: 'marker' }, ports: [{ port: 80 }] } } });
    await waitFor('the marker slice', async () => (await slicesOf('marker')).length === 1);
    const now = (await slicesOf('quiet'))[0]!;
    assert.equal(now.metadata.resourceVersion, slice.metadata.resourceVersion);
  });
});
