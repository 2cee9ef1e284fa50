import assert from 'node:assert/strict';
import type { ApiServer } from '../../lab/apiserver/index.js';
import { raw, RawWatch, reportRequests, startTestApiServer, waitFor, type Json } from '../helpers/apiserver.js';

// Transport, discovery, errors and the smaller kinds (fidelity spec §1–§5, §7, §11).
describe('apiserver emulator: HTTP, discovery and errors', () => {
  let api: ApiServer;
  before(async () => {
    api = await startTestApiServer();
  });
  after(async () => {
    reportRequests(api, 'http');
    await api.stop();
  });

  it('answers /version, /api and /apis as a v1.31 server, listing only served groups', async () => {
    const v = await raw(api, 'GET', '/version');
    assert.equal(v.json.gitVersion, 'v1.31.0');
    assert.equal(v.headers['content-type'], 'application/json');
    const a = await raw(api, 'GET', '/api');
    assert.deepEqual(a.json, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${api.port}` }] });
    const g = await raw(api, 'GET', '/apis');
    assert.equal(g.json.kind, 'APIGroupList');
    const groups = (g.json.groups as Json[]).map((x) => x.name);
    for (const n of ['coordination.k8s.io', 'discovery.k8s.io', 'events.k8s.io', 'rbac.authorization.k8s.io']) assert.ok(groups.includes(n), n);
    for (const grp of g.json.groups as Json[]) {
      const gv = grp.preferredVersion.groupVersion as string;
      const list = await raw(api, 'GET', `/apis/${gv}`);
      assert.equal(list.status, 200, `every listed group-version is served: ${gv}`);
      assert.equal(list.json.groupVersion, gv);
    }
    const core = await raw(api, 'GET', '/api/v1');
    const svc = (core.json.resources as Json[]).find((r) => r.name === 'services')!;
    assert.deepEqual(svc.shortNames, ['svc']);
    assert.deepEqual(svc.verbs, ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']);
    assert.deepEqual((core.json.resources as Json[]).find((r) => r.name === 'services/status'), { name: 'services/status', singularName: '', namespaced: true, kind: 'Service', verbs: ['get', 'patch', 'update'] });
  });

  const errorRows: { name: string; method: string; path: string; body?: unknown; contentType?: string; code: number; reason?: string; message?: string | RegExp; details?: Json }[] = [
    { name: 'an unknown path is a 404 with empty details', method: 'GET', path: '/api/v1/widgets', code: 404, reason: 'NotFound', message: 'the server could not find the requested resource', details: {} },
    { name: 'OpenAPI v2 is not served (kubectl reads v3)', method: 'GET', path: '/openapi/v2', code: 404 },
    { name: 'POST on a status subresource is a 405', method: 'POST', path: '/api/v1/namespaces/default/services/x/status', body: {}, code: 405, reason: 'MethodNotAllowed' },
    { name: 'DELETE on a subresource is a 405', method: 'DELETE', path: '/api/v1/namespaces/default/services/x/status', code: 405 },
    { name: 'a protobuf body is a 415', method: 'POST', path: '/api/v1/namespaces/default/configmaps', body: Buffer.from([0x6b, 0x38, 0x73, 0]), contentType: 'application/vnd.kubernetes.protobuf', code: 415, reason: 'UnsupportedMediaType', message: '415: Unsupported Media Type' },
    { name: 'an unknown body type is a 415 listing the accepted ones', method: 'POST', path: '/api/v1/namespaces/default/configmaps', body: 'x', contentType: 'text/plain', code: 415, reason: 'UnsupportedMediaType', message: 'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf' },
    { name: 'an unknown patch type is a 415', method: 'PATCH', path: '/api/v1/namespaces/default/configmaps/x', body: {}, contentType: 'text/plain', code: 415, reason: 'UnsupportedMediaType' },
    { name: 'an apply patch without fieldManager is a 422', method: 'PATCH', path: '/api/v1/namespaces/default/configmaps/x', body: 'metadata: {name: x}', contentType: 'application/apply-patch+yaml', code: 422, message: /fieldManager: Required value: is required for apply patch/ },
    { name: 'a create in a missing namespace is a 404 naming it', method: 'POST', path: '/api/v1/namespaces/nons/configmaps', body: { metadata: { name: 'x' } }, code: 404, message: 'namespaces "nons" not found', details: { name: 'nons', kind: 'namespaces' } },
    { name: 'a name that differs from the URL is a 400', method: 'PUT', path: '/api/v1/namespaces/default/configmaps/web', body: { metadata: { name: 'other' } }, code: 400, message: 'the name of the object (other) does not match the name on the URL (web)' },
    { name: 'a namespace that differs from the URL is a 400', method: 'POST', path: '/api/v1/namespaces/default/configmaps', body: { metadata: { name: 'x', namespace: 'kube-system' } }, code: 400, message: 'the namespace of the provided object does not match the namespace sent on the request' },
    { name: 'a wrong kind is a 400', method: 'POST', path: '/api/v1/namespaces/default/configmaps', body: { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'x' } }, code: 400 },
    { name: 'a create carrying a resourceVersion is refused', method: 'POST', path: '/api/v1/namespaces/default/configmaps', body: { metadata: { name: 'x', resourceVersion: '5' } }, code: 500, message: 'resourceVersion should not be set on objects to be created' },
    { name: 'a bad object name is a 422 on metadata.name', method: 'POST', path: '/api/v1/namespaces/default/configmaps', body: { metadata: { name: 'Bad_Name' } }, code: 422, reason: 'Invalid' },
    { name: 'a Service name must be an RFC 1123 label (v1.37; a leading digit is fine)', method: 'POST', path: '/api/v1/namespaces/default/services', body: { metadata: { name: 'web.1' }, spec: { ports: [{ port: 80 }] } }, code: 422, message: /^Service "web\.1" is invalid: metadata\.name: Invalid value: "web\.1": a lowercase RFC 1123 label/ },
    { name: 'PUT on a missing ConfigMap is a 404', method: 'PUT', path: '/api/v1/namespaces/default/configmaps/ghost', body: { metadata: { name: 'ghost' } }, code: 404, message: 'configmaps "ghost" not found' },
    { name: 'a too large list resourceVersion is a 504', method: 'GET', path: '/api/v1/namespaces/default/configmaps?resourceVersion=999999', code: 504, reason: 'Timeout', message: /^Timeout: Too large resource version: 999999, current: \d+$/ },
    { name: 'a GET of a missing grouped object names the group', method: 'GET', path: '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/x', code: 404, message: 'endpointslices.discovery.k8s.io "x" not found', details: { name: 'x', group: 'discovery.k8s.io', kind: 'endpointslices' } },
    { name: 'a Secret with bad base64 is a 400', method: 'POST', path: '/api/v1/namespaces/default/secrets', body: { metadata: { name: 'bad' }, data: { k: 'not base64!' } }, code: 400 },
    { name: 'a TLS Secret needs tls.crt and tls.key', method: 'POST', path: '/api/v1/namespaces/default/secrets', body: { metadata: { name: 'tls' }, type: 'kubernetes.io/tls', data: {} }, code: 422, message: /data\[tls\.crt\]: Required value/ },
    { name: 'an EndpointSlice address must match its type', method: 'POST', path: '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', body: { metadata: { name: 's' }, addressType: 'IPv4', endpoints: [{ addresses: ['2001:db8::1'] }] }, code: 422, message: /endpoints\[0\]\.addresses: Invalid value: "2001:db8::1": must be an IPv4 address/ },
    { name: 'Endpoints may not hold loopback addresses', method: 'POST', path: '/api/v1/namespaces/default/endpoints', body: { metadata: { name: 'e' }, subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ port: 80 }] }] }, code: 422, message: /loopback/ },
    { name: 'a Lease duration must be positive', method: 'POST', path: '/apis/coordination.k8s.io/v1/namespaces/default/leases', body: { metadata: { name: 'l' }, spec: { leaseDurationSeconds: 0 } }, code: 422, message: /spec\.leaseDurationSeconds/ },
    { name: 'events.k8s.io requires its fields', method: 'POST', path: '/apis/events.k8s.io/v1/namespaces/default/events', body: { metadata: { name: 'ev' }, note: 'x' }, code: 422, message: /eventTime: Required value/ },
  ];
  for (const row of errorRows) {
    it(row.name, async () => {
      const r = await raw(api, row.method, row.path, { ...(row.body !== undefined ? { body: row.body } : {}), ...(row.contentType ? { contentType: row.contentType } : {}) });
      assert.equal(r.status, row.code, `${row.method} ${row.path}: ${r.text}`);
      assert.equal(r.json.kind, 'Status');
      assert.equal(r.json.code, row.code);
      if (row.reason) assert.equal(r.json.reason, row.reason);
      if (typeof row.message === 'string') assert.equal(r.json.message, row.message);
      else if (row.message) assert.match(r.json.message, row.message);
      if (row.details) assert.deepEqual(r.json.details, row.details);
    });
  }

  it('lists and watches in a missing namespace answer 200 and nothing', async () => {
    const l = await raw(api, 'GET', '/api/v1/namespaces/nons/configmaps');
    assert.equal(l.status, 200);
    assert.deepEqual(l.json.items, []);
  });

  it('answers 409 AlreadyExists for a second create', async () => {
    await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { body: { metadata: { name: 'twice' } } });
    const r = await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { body: { metadata: { name: 'twice' } } });
    assert.equal(r.status, 409);
    assert.equal(r.json.reason, 'AlreadyExists');
    assert.equal(r.json.message, 'configmaps "twice" already exists');
    assert.deepEqual(r.json.details, { name: 'twice', kind: 'configmaps' });
  });

  it('generates names from generateName with five characters of the real alphabet', async () => {
    const r = await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { body: { metadata: { generateName: 'gen-' } } });
    assert.equal(r.status, 201);
    assert.match(r.json.metadata.name, /^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });

  it('sets uid and creationTimestamp once, ignoring client values', async () => {
    const r = await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { body: { metadata: { name: 'meta', uid: 'mine', creationTimestamp: '2000-01-01T00:00:00Z' } } });
    assert.notEqual(r.json.metadata.uid, 'mine');
    assert.match(r.json.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const put = await raw(api, 'PUT', '/api/v1/namespaces/default/configmaps/meta', { body: { ...r.json, metadata: { ...r.json.metadata, uid: 'other', creationTimestamp: '2000-01-01T00:00:00Z' }, data: { a: '1' } } });
    assert.equal(put.json.metadata.uid, r.json.metadata.uid);
    assert.equal(put.json.metadata.creationTimestamp, r.json.metadata.creationTimestamp);
  });

  it('PUT on a missing Service, Lease or Endpoints creates it (201)', async () => {
    const s = await raw(api, 'PUT', '/api/v1/namespaces/default/services/put-made', { body: { metadata: { name: 'put-made' }, spec: { ports: [{ port: 80 }] } } });
    assert.equal(s.status, 201);
    const l = await raw(api, 'PUT', '/apis/coordination.k8s.io/v1/namespaces/default/leases/put-made', { body: { metadata: { name: 'put-made' }, spec: {} } });
    assert.equal(l.status, 201);
  });

  it('bumps generation on EndpointSlice changes and label changes, not on other metadata', async () => {
    const s = await raw(api, 'POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', { body: { metadata: { name: 'gen' }, addressType: 'IPv4', endpoints: [] } });
    assert.equal(s.json.metadata.generation, 1);
    const a = await raw(api, 'PATCH', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/gen', { body: { metadata: { annotations: { a: 'b' } } }, contentType: 'application/merge-patch+json' });
    assert.equal(a.json.metadata.generation, 1);
    const m = await raw(api, 'PATCH', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/gen', { body: { metadata: { labels: { a: 'b' } } }, contentType: 'application/merge-patch+json' });
    assert.equal(m.json.metadata.generation, 2);
    const e = await raw(api, 'PATCH', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/gen', { body: { endpoints: [{ addresses: ['198.51.100.1'] }] }, contentType: 'application/merge-patch+json' });
    assert.equal(e.json.metadata.generation, 3);
  });

  it('dryRun=All validates and answers without storing', async () => {
    const r = await raw(api, 'POST', '/api/v1/namespaces/default/configmaps?dryRun=All', { body: { metadata: { name: 'dry' } } });
    assert.equal(r.status, 201);
    assert.equal((await raw(api, 'GET', '/api/v1/namespaces/default/configmaps/dry')).status, 404);
  });

  it('folds Secret stringData into data and never returns it; the type is immutable', async () => {
    const s = await raw(api, 'POST', '/api/v1/namespaces/default/secrets', { body: { metadata: { name: 'sd' }, stringData: { user: 'admin' } } });
    assert.deepEqual(s.json.data, { user: Buffer.from('admin').toString('base64') });
    assert.equal(s.json.stringData, undefined);
    assert.equal(s.json.type, 'Opaque');
    const t = await raw(api, 'PUT', '/api/v1/namespaces/default/secrets/sd', { body: { ...s.json, type: 'kubernetes.io/basic-auth' } });
    assert.equal(t.status, 422);
    const f = await raw(api, 'GET', '/api/v1/namespaces/default/secrets?fieldSelector=type%3DOpaque');
    assert.ok((f.json.items as Json[]).some((x) => x.metadata.name === 'sd'));
  });

  it('shows one Event store in two shapes: core/v1 and events.k8s.io/v1', async () => {
    const core = await raw(api, 'POST', '/api/v1/namespaces/default/events', { body: { metadata: { name: 'shape' }, involvedObject: { kind: 'Service', name: 'web', namespace: 'default' }, reason: 'Test', message: 'hello', type: 'Normal' } });
    assert.equal(core.status, 201);
    assert.equal(core.json.eventTime, null);
    assert.equal(core.json.reportingComponent, '');
    assert.equal(core.json.reportingInstance, '');
    const v1 = await raw(api, 'GET', '/apis/events.k8s.io/v1/namespaces/default/events/shape');
    assert.equal(v1.json.apiVersion, 'events.k8s.io/v1');
    assert.equal(v1.json.note, 'hello');
    assert.deepEqual(v1.json.regarding, { kind: 'Service', name: 'web', namespace: 'default' });
    const made = await raw(api, 'POST', '/apis/events.k8s.io/v1/namespaces/default/events', { body: { metadata: { name: 'v1made' }, eventTime: '2026-01-01T00:00:00.000001Z', reportingController: 'fulcrum-lb.io/allocator', reportingInstance: 'a-1', action: 'Allocate', reason: 'IPAllocated', type: 'Normal', note: 'n', regarding: { kind: 'Service', name: 'web', namespace: 'default' } } });
    assert.equal(made.status, 201, made.text);
    const asCore = await raw(api, 'GET', '/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dweb,reason%3DIPAllocated');
    assert.deepEqual((asCore.json.items as Json[]).map((e) => [e.metadata.name, e.message, e.reportingComponent]), [['v1made', 'n', 'fulcrum-lb.io/allocator']]);
  });

  it('ends a watch cleanly after timeoutSeconds, with a BOOKMARK first when asked', async () => {
    const w = new RawWatch(api, '/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1&allowWatchBookmarks=true&resourceVersion=0');
    await w.ended;
    assert.equal(w.status, 200);
    assert.equal(w.headers['content-type'], 'application/json');
    assert.equal(w.headers['transfer-encoding'], 'chunked');
    const types = w.events.map((e) => e.type);
    assert.equal(types[types.length - 1], 'BOOKMARK');
    assert.ok(types.slice(0, -1).every((t) => t === 'ADDED'), 'resourceVersion=0 starts with synthetic ADDED events');
  });

  it('deletes a collection by label', async () => {
    for (const n of ['dc-1', 'dc-2', 'dc-keep']) await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { body: { metadata: { name: n, labels: { dc: n === 'dc-keep' ? 'keep' : 'drop' } } } });
    const r = await raw(api, 'DELETE', '/api/v1/namespaces/default/configmaps?labelSelector=dc%3Ddrop');
    assert.equal(r.status, 200);
    const left = await raw(api, 'GET', '/api/v1/namespaces/default/configmaps?labelSelector=dc');
    assert.deepEqual((left.json.items as Json[]).map((c) => c.metadata.name), ['dc-keep']);
  });

  it('checks DeleteOptions preconditions', async () => {
    const c = await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { body: { metadata: { name: 'pre' } } });
    const bad = await raw(api, 'DELETE', '/api/v1/namespaces/default/configmaps/pre', { body: { preconditions: { uid: 'nope' } } });
    assert.equal(bad.status, 409);
    const good = await raw(api, 'DELETE', '/api/v1/namespaces/default/configmaps/pre', { body: { preconditions: { uid: c.json.metadata.uid, resourceVersion: c.json.metadata.resourceVersion } } });
    assert.equal(good.status, 200);
  });

  it('merges an apply patch into the object and creates a missing one', async () => {
    const made = await raw(api, 'PATCH', '/api/v1/namespaces/default/configmaps/applied?fieldManager=test', { body: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied}\ndata: {a: "1"}\n', contentType: 'application/apply-patch+yaml' });
    assert.equal(made.status, 201);
    const merged = await raw(api, 'PATCH', '/api/v1/namespaces/default/configmaps/applied?fieldManager=test', { body: 'data: {b: "2"}\n', contentType: 'application/apply-patch+yaml' });
    assert.equal(merged.status, 200);
    assert.deepEqual(merged.json.data, { a: '1', b: '2' });
  });

  it('removes a Pod marked with a grace period once it is deleted with gracePeriodSeconds=0', async () => {
    await raw(api, 'POST', '/api/v1/namespaces/default/pods', { body: { metadata: { name: 'graceful' }, spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'x' }] } } });
    const marked = await raw(api, 'DELETE', '/api/v1/namespaces/default/pods/graceful');
    assert.ok(marked.json.metadata.deletionTimestamp);
    assert.equal(marked.json.metadata.deletionGracePeriodSeconds, 30);
    assert.equal((await raw(api, 'GET', '/api/v1/namespaces/default/pods/graceful')).status, 200, 'still there during the grace period');
    const gone = await raw(api, 'DELETE', '/api/v1/namespaces/default/pods/graceful?gracePeriodSeconds=0');
    assert.equal(gone.status, 200);
    assert.equal((await raw(api, 'GET', '/api/v1/namespaces/default/pods/graceful')).status, 404);
  });
  it('deleting a namespace deletes its content, then the namespace', async () => {
    await raw(api, 'POST', '/api/v1/namespaces', { body: { metadata: { name: 'doomed' } } });
    await raw(api, 'POST', '/api/v1/namespaces/doomed/configmaps', { body: { metadata: { name: 'c' } } });
    await raw(api, 'POST', '/api/v1/namespaces/doomed/services', { body: { metadata: { name: 's' }, spec: { selector: { a: 'b' }, ports: [{ port: 80 }] } } });
    const del = await raw(api, 'DELETE', '/api/v1/namespaces/doomed');
    assert.equal(del.json.status.phase, 'Terminating');
    await waitFor('the namespace to go', async () => (await raw(api, 'GET', '/api/v1/namespaces/doomed')).status === 404);
    assert.deepEqual((await raw(api, 'GET', '/api/v1/namespaces/doomed/configmaps')).json.items, []);
    assert.deepEqual((await raw(api, 'GET', '/api/v1/namespaces/doomed/services')).json.items, []);
  });

  it('keeps a Node\'s status from create, merges kubelet heartbeats by condition type, and ignores status in main writes', async () => {
    const made = await raw(api, 'POST', '/api/v1/nodes', { body: { metadata: { name: 'node-a', labels: { zone: 'a' } }, status: { addresses: [{ type: 'InternalIP', address: '192.0.2.11' }], conditions: [{ type: 'Ready', status: 'False', lastHeartbeatTime: '2026-01-01T00:00:00Z' }] } } });
    assert.equal(made.status, 201, made.text);
    assert.equal(made.json.status.addresses[0].address, '192.0.2.11', 'a node registers with its status');
    const hb = await raw(api, 'PATCH', '/api/v1/nodes/node-a/status', { body: { status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2026-01-01T00:00:10Z' }] } }, contentType: 'application/strategic-merge-patch+json' });
    assert.equal(hb.status, 200, hb.text);
    assert.deepEqual(hb.json.status.conditions.map((c: Json) => [c.type, c.status]), [['Ready', 'True']]);
    assert.equal(hb.json.status.addresses[0].address, '192.0.2.11', 'addresses survive a conditions patch');
    const main = await raw(api, 'PATCH', '/api/v1/nodes/node-a', { body: { status: { conditions: [] }, spec: { unschedulable: true } }, contentType: 'application/merge-patch+json' });
    assert.equal(main.json.status.conditions.length, 1, 'status in a main write is dropped');
    const sel = await raw(api, 'GET', '/api/v1/nodes?fieldSelector=spec.unschedulable%3Dtrue');
    assert.deepEqual((sel.json.items as Json[]).map((x) => x.metadata.name), ['node-a']);
    const del = await raw(api, 'DELETE', '/api/v1/nodes/node-a');
    assert.equal(del.json.kind, 'Status');
  });
});
