import assert from 'node:assert/strict';
import type { ApiServer } from '../../lab/apiserver/index.js';
import { raw, RawWatch, reportRequests, startTestApiServer, type Json } from '../helpers/apiserver.js';

// One test per "where naive emulators diverge" item of K8S-API-FIDELITY.md §12 (the item
// number leads each title). Raw HTTP, so the exact codes and bodies are asserted.
describe('apiserver emulator: fidelity points of §12', () => {
  let api: ApiServer;
  const svcPath = (ns = 'default') => `/api/v1/namespaces/${ns}/services`;
  const lb = (name: string, spec: Json = {}): Json => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, labels: { app: name } }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }], ...spec } });
  const create = async (path: string, body: Json): Promise<Json> => {
    const r = await raw(api, 'POST', path, { body });
    assert.equal(r.status, 201, `POST ${path}: ${r.text}`);
    return r.json;
  };

  before(async () => {
    api = await startTestApiServer();
  });
  after(async () => {
    reportRequests(api, 'fidelity §12');
    await api.stop();
  });

  it('1: status in a main-resource write and spec in a /status write are dropped silently', async () => {
    const svc = await create(svcPath(), lb('drop-status'));
    const put = await raw(api, 'PUT', `${svcPath()}/drop-status`, { body: { ...svc, status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } } });
    assert.equal(put.status, 200);
    assert.deepEqual(put.json.status, { loadBalancer: {} }, 'PUT on the main resource keeps the old status');
    const patch = await raw(api, 'PATCH', `${svcPath()}/drop-status`, { body: { status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } }, contentType: 'application/merge-patch+json' });
    assert.equal(patch.status, 200);
    assert.deepEqual(patch.json.status, { loadBalancer: {} }, 'PATCH on the main resource keeps the old status');
    const st = await raw(api, 'PUT', `${svcPath()}/drop-status/status`, { body: { ...put.json, spec: { ...put.json.spec, sessionAffinity: 'ClientIP' }, status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } } });
    assert.equal(st.status, 200);
    assert.equal(st.json.spec.sessionAffinity, 'None', 'spec in a /status write is ignored');
    assert.equal(st.json.status.loadBalancer.ingress[0].ip, '192.0.2.1');
    const get = await raw(api, 'GET', `${svcPath()}/drop-status/status`);
    assert.equal(get.json.kind, 'Service', 'GET …/status returns the whole object');
    assert.equal(get.json.spec.type, 'LoadBalancer');
  });

  it('2: resourceVersion is a string in objects, lists, watch events and bookmarks', async () => {
    const cm = await create('/api/v1/namespaces/default/configmaps', { metadata: { name: 'rv-string' } });
    assert.equal(typeof cm.metadata.resourceVersion, 'string');
    const list = await raw(api, 'GET', '/api/v1/namespaces/default/configmaps');
    assert.equal(typeof list.json.metadata.resourceVersion, 'string');
    const w = new RawWatch(api, `/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion=${list.json.metadata.resourceVersion}`);
    await create('/api/v1/namespaces/default/configmaps', { metadata: { name: 'rv-string-2' } });
    await w.ended;
    assert.deepEqual(w.events.map((e) => e.type), ['ADDED', 'BOOKMARK']);
    for (const e of w.events) assert.equal(typeof e.object.metadata.resourceVersion, 'string', `${e.type} RV`);
    assert.deepEqual(w.events[1]!.object, { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: w.events[1]!.object.metadata.resourceVersion, creationTimestamp: null } });
  });

  it('3: a stale resourceVersion on PUT, on a patch carrying one and on /status is a 409 Conflict; of two racing writers exactly one wins', async () => {
    const svc = await create(svcPath(), lb('stale'));
    const fresh = await raw(api, 'PUT', `${svcPath()}/stale`, { body: { ...svc, metadata: { ...svc.metadata, labels: { v: '2' } } } });
    assert.equal(fresh.status, 200);
    const message = 'Operation cannot be fulfilled on services "stale": the object has been modified; please apply your changes to the latest version and try again';
    const cases: [string, Promise<Json>][] = [
      ['PUT', raw(api, 'PUT', `${svcPath()}/stale`, { body: svc })],
      ['merge patch with an RV', raw(api, 'PATCH', `${svcPath()}/stale`, { body: { metadata: { resourceVersion: svc.metadata.resourceVersion, labels: { v: '3' } } }, contentType: 'application/merge-patch+json' })],
      ['PUT /status', raw(api, 'PUT', `${svcPath()}/stale/status`, { body: svc })],
    ];
    for (const [what, p] of cases) {
      const r = await p;
      assert.equal(r.status, 409, `${what}: ${r.text}`);
      assert.equal(r.json.reason, 'Conflict', what);
      assert.equal(r.json.message, message, what);
      assert.deepEqual(r.json.details, { name: 'stale', kind: 'services' }, what);
    }
    const cm = await create('/apis/coordination.k8s.io/v1/namespaces/default/leases', { metadata: { name: 'race' }, spec: { holderIdentity: 'x' } });
    const [a, b] = await Promise.all(['a', 'b'].map((holder) => raw(api, 'PUT', '/apis/coordination.k8s.io/v1/namespaces/default/leases/race', { body: { ...cm, spec: { holderIdentity: holder } } })));
    assert.deepEqual([a!.status, b!.status].sort(), [200, 409]);
  });

  it('4: a watch from a list RV gets every later change in RV order, including writes made between the list and the watch', async () => {
    const list = await raw(api, 'GET', '/api/v1/namespaces/default/configmaps?labelSelector=race%3Dlist');
    const rv = list.json.metadata.resourceVersion as string;
    // writes after the list, before the watch opens
    for (let i = 0; i < 5; i++) await create('/api/v1/namespaces/default/configmaps', { metadata: { name: `lw-${i}`, labels: { race: 'list' } } });
    const w = new RawWatch(api, `/api/v1/namespaces/default/configmaps?watch=true&labelSelector=race%3Dlist&resourceVersion=${rv}`);
    for (let i = 5; i < 8; i++) await create('/api/v1/namespaces/default/configmaps', { metadata: { name: `lw-${i}`, labels: { race: 'list' } } });
    const events = await w.waitForEvents(8);
    w.close();
    assert.deepEqual(events.map((e) => e.object.metadata.name), ['lw-0', 'lw-1', 'lw-2', 'lw-3', 'lw-4', 'lw-5', 'lw-6', 'lw-7']);
    const rvs = events.map((e) => Number(e.object.metadata.resourceVersion));
    assert.deepEqual(rvs, [...rvs].sort((x, y) => x - y), 'RV order');
    assert.ok(rvs[0]! > Number(rv), 'the list RV is exclusive');
  });

  it('5: a too-old RV on watch is HTTP 200 with one ERROR 410 Expired event, then the end', async () => {
    const before = await raw(api, 'GET', '/api/v1/namespaces/default/configmaps');
    await create('/api/v1/namespaces/default/configmaps', { metadata: { name: 'expire-me' } });
    api.compact();
    const w = new RawWatch(api, `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${before.json.metadata.resourceVersion}`);
    await w.ended;
    assert.equal(w.status, 200);
    assert.equal(w.events.length, 1);
    const e = w.events[0]!;
    assert.equal(e.type, 'ERROR');
    assert.equal(e.object.code, 410);
    assert.equal(e.object.reason, 'Expired');
    assert.equal(e.object.kind, 'Status');
    assert.match(e.object.message, new RegExp(`^too old resource version: ${before.json.metadata.resourceVersion} \\(\\d+\\)$`));
  });

  it('6: a selector watch turns "started matching" into ADDED and "stopped matching" into DELETED with the old state and the new RV', async () => {
    const cm = await create('/api/v1/namespaces/default/configmaps', { metadata: { name: 'sel', labels: { tier: 'back' } } });
    const w = new RawWatch(api, `/api/v1/namespaces/default/configmaps?watch=true&labelSelector=tier%3Dfront&resourceVersion=${cm.metadata.resourceVersion}`);
    const toFront = await raw(api, 'PATCH', '/api/v1/namespaces/default/configmaps/sel', { body: { metadata: { labels: { tier: 'front' } } }, contentType: 'application/merge-patch+json' });
    const edit = await raw(api, 'PATCH', '/api/v1/namespaces/default/configmaps/sel', { body: { data: { a: '1' } }, contentType: 'application/merge-patch+json' });
    const toBack = await raw(api, 'PATCH', '/api/v1/namespaces/default/configmaps/sel', { body: { metadata: { labels: { tier: 'back' } } }, contentType: 'application/merge-patch+json' });
    const events = await w.waitForEvents(3);
    w.close();
    assert.deepEqual(events.map((e) => e.type), ['ADDED', 'MODIFIED', 'DELETED']);
    assert.equal(events[0]!.object.metadata.resourceVersion, toFront.json.metadata.resourceVersion);
    assert.equal(events[1]!.object.metadata.resourceVersion, edit.json.metadata.resourceVersion);
    assert.equal(events[2]!.object.metadata.labels.tier, 'front', 'DELETED carries the last matching state');
    assert.equal(events[2]!.object.metadata.resourceVersion, toBack.json.metadata.resourceVersion, '… with the RV of the write that made it stop matching');
  });

  it('7: DELETE answers the object for Service, Pod and Namespace, a Success Status for the rest, a 404 Status when missing', async () => {
    await create(svcPath(), lb('del-svc'));
    const svc = await raw(api, 'DELETE', `${svcPath()}/del-svc`, { body: { propagationPolicy: 'Background' } });
    assert.equal(svc.status, 200);
    assert.equal(svc.json.kind, 'Service');
    await create('/api/v1/namespaces/default/pods', { metadata: { name: 'del-pod' }, spec: { containers: [{ name: 'c', image: 'x' }] } });
    const pod = await raw(api, 'DELETE', '/api/v1/namespaces/default/pods/del-pod');
    assert.equal(pod.json.kind, 'Pod');
    await create('/api/v1/namespaces', { metadata: { name: 'del-ns' } });
    const ns = await raw(api, 'DELETE', '/api/v1/namespaces/del-ns');
    assert.equal(ns.json.kind, 'Namespace');
    assert.equal(ns.json.status.phase, 'Terminating');
    const cm = await create('/api/v1/namespaces/default/configmaps', { metadata: { name: 'del-cm' } });
    const st = await raw(api, 'DELETE', '/api/v1/namespaces/default/configmaps/del-cm', { body: {} });
    assert.deepEqual(st.json, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: 'del-cm', kind: 'configmaps', uid: cm.metadata.uid } });
    const lease = await create('/apis/coordination.k8s.io/v1/namespaces/default/leases', { metadata: { name: 'del-lease' }, spec: {} });
    const ls = await raw(api, 'DELETE', '/apis/coordination.k8s.io/v1/namespaces/default/leases/del-lease');
    assert.deepEqual(ls.json.details, { name: 'del-lease', group: 'coordination.k8s.io', kind: 'leases', uid: lease.metadata.uid });
    const missing = await raw(api, 'DELETE', '/apis/coordination.k8s.io/v1/namespaces/default/leases/del-lease');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.message, 'leases.coordination.k8s.io "del-lease" not found');
    assert.deepEqual(missing.json.details, { name: 'del-lease', group: 'coordination.k8s.io', kind: 'leases' });
  });

  it('7: finalizers keep a deleted object, with deletionTimestamp, until the write that empties them deletes it', async () => {
    const cm = await create('/api/v1/namespaces/default/configmaps', { metadata: { name: 'fin', finalizers: ['fulcrum-lb.io/test'] } });
    const w = new RawWatch(api, `/api/v1/namespaces/default/configmaps?watch=true&fieldSelector=metadata.name%3Dfin&resourceVersion=${cm.metadata.resourceVersion}`);
    const del = await raw(api, 'DELETE', '/api/v1/namespaces/default/configmaps/fin');
    assert.equal(del.status, 200);
    assert.equal(del.json.kind, 'ConfigMap', 'a kept object is returned even for a kind that answers a Status');
    assert.ok(del.json.metadata.deletionTimestamp);
    assert.equal(del.json.metadata.deletionGracePeriodSeconds, 0);
    const again = await raw(api, 'DELETE', '/api/v1/namespaces/default/configmaps/fin');
    assert.equal(again.status, 200);
    assert.equal(again.json.metadata.resourceVersion, del.json.metadata.resourceVersion, 'a second DELETE changes nothing');
    const addFin = await raw(api, 'PATCH', '/api/v1/namespaces/default/configmaps/fin', { body: { metadata: { finalizers: ['fulcrum-lb.io/test', 'new'] } }, contentType: 'application/merge-patch+json' });
    assert.equal(addFin.status, 422);
    assert.match(addFin.json.message, /no new finalizers can be added if the object is being deleted/);
    const upd = await raw(api, 'PATCH', '/api/v1/namespaces/default/configmaps/fin', { body: { data: { still: 'writable' } }, contentType: 'application/merge-patch+json' });
    assert.equal(upd.status, 200);
    const empty = await raw(api, 'PATCH', '/api/v1/namespaces/default/configmaps/fin', { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' });
    assert.equal(empty.status, 200);
    assert.equal((await raw(api, 'GET', '/api/v1/namespaces/default/configmaps/fin')).status, 404);
    const events = await w.waitForEvents(3);
    w.close();
    assert.deepEqual(events.map((e) => e.type), ['MODIFIED', 'MODIFIED', 'DELETED']);
    const last = events[2]!.object;
    assert.deepEqual(last.metadata.finalizers, ['fulcrum-lb.io/test'], 'DELETED shows the last stored state');
    assert.ok(Number(last.metadata.resourceVersion) > Number(upd.json.metadata.resourceVersion), 'with a new RV');
  });

  it('8: DELETED events carry the RV of the delete, and list items have no kind or apiVersion', async () => {
    const cm = await create('/api/v1/namespaces/default/configmaps', { metadata: { name: 'del-rv' } });
    const w = new RawWatch(api, `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${cm.metadata.resourceVersion}`);
    await raw(api, 'DELETE', '/api/v1/namespaces/default/configmaps/del-rv');
    const after = await raw(api, 'GET', '/api/v1/namespaces/default/configmaps');
    const [e] = await w.waitForEvents(1);
    w.close();
    assert.equal(e!.type, 'DELETED');
    assert.ok(Number(e!.object.metadata.resourceVersion) > Number(cm.metadata.resourceVersion));
    assert.equal(e!.object.metadata.resourceVersion, after.json.metadata.resourceVersion, 'the delete was the last write');
    assert.equal(e!.object.kind, 'ConfigMap', 'watch objects carry kind');
    assert.equal(after.json.kind, 'ConfigMapList');
    for (const item of after.json.items as Json[]) {
      assert.equal(item.kind, undefined);
      assert.equal(item.apiVersion, undefined);
    }
  });

  it('9: a write that changes nothing keeps the RV and emits no event', async () => {
    const svc = await create(svcPath(), lb('noop'));
    const st = await raw(api, 'PUT', `${svcPath()}/noop/status`, { body: { ...svc, status: { loadBalancer: { ingress: [{ ip: '192.0.2.5', ipMode: 'Proxy' }] } } } });
    const w = new RawWatch(api, `${svcPath()}?watch=true&resourceVersion=${st.json.metadata.resourceVersion}`);
    const writes = [
      raw(api, 'PUT', `${svcPath()}/noop/status`, { body: st.json }),
      raw(api, 'PUT', `${svcPath()}/noop`, { body: st.json }),
      raw(api, 'PATCH', `${svcPath()}/noop`, { body: { metadata: { labels: { app: 'noop' } } }, contentType: 'application/strategic-merge-patch+json' }),
      raw(api, 'PATCH', `${svcPath()}/noop/status`, { body: [{ op: 'replace', path: '/status/loadBalancer/ingress/0/ip', value: '192.0.2.5' }], contentType: 'application/json-patch+json' }),
    ];
    for (const r of await Promise.all(writes)) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.metadata.resourceVersion, st.json.metadata.resourceVersion);
    }
    // a real change afterwards is the first event the watch sees
    const change = await raw(api, 'PATCH', `${svcPath()}/noop`, { body: { metadata: { labels: { changed: 'yes' } } }, contentType: 'application/merge-patch+json' });
    const [first] = await w.waitForEvents(1);
    w.close();
    assert.equal(first!.object.metadata.resourceVersion, change.json.metadata.resourceVersion);
  });

  it('10: MicroTime with 3 fraction digits is a 400; ipMode without ip is a 422; an ip without ipMode is stored as VIP', async () => {
    const lease = await raw(api, 'POST', '/apis/coordination.k8s.io/v1/namespaces/default/leases', { body: { metadata: { name: 'micro' }, spec: { renewTime: '2026-01-01T00:00:00.123Z' } } });
    assert.equal(lease.status, 400);
    assert.match(lease.json.message, /^Lease in version "v1" cannot be handled as a Lease: parsing time "2026-01-01T00:00:00.123Z" as "2006-01-02T15:04:05.000000Z07:00"/);
    const ok = await raw(api, 'POST', '/apis/coordination.k8s.io/v1/namespaces/default/leases', { body: { metadata: { name: 'micro' }, spec: { renewTime: '2026-01-01T01:00:00.123456+01:00' } } });
    assert.equal(ok.json.spec.renewTime, '2026-01-01T00:00:00.123456Z', 'offsets are normalised to Z');
    const ev = await raw(api, 'POST', '/api/v1/namespaces/default/events', { body: { metadata: { name: 'micro-ev' }, involvedObject: { kind: 'Service', name: 'x', namespace: 'default' }, eventTime: '2026-01-01T00:00:00Z' } });
    assert.equal(ev.status, 400);
    const svc = await create(svcPath(), lb('ipmode'));
    const noIp = await raw(api, 'PUT', `${svcPath()}/ipmode/status`, { body: { ...svc, status: { loadBalancer: { ingress: [{ hostname: 'lb.example.com', ipMode: 'Proxy' }] } } } });
    assert.equal(noIp.status, 422);
    assert.equal(noIp.json.details.causes[0].field, 'status.loadBalancer.ingress[0].ipMode');
    assert.match(noIp.json.message, /may not be specified when `ip` is not set/);
    const vip = await raw(api, 'PUT', `${svcPath()}/ipmode/status`, { body: { ...svc, status: { loadBalancer: { ingress: [{ ip: '192.0.2.9' }] } } } });
    assert.deepEqual(vip.json.status.loadBalancer.ingress, [{ ip: '192.0.2.9', ipMode: 'VIP' }]);
  });

  it('11: nodePorts are allocated and unique, skipped with allocateLoadBalancerNodePorts false; loadBalancerClass and clusterIP are immutable', async () => {
    const a = await create(svcPath(), lb('np-a', { ports: [{ name: 'a', port: 80 }, { name: 'b', port: 443 }] }));
    const b = await create(svcPath(), lb('np-b'));
    const ports = [...a.spec.ports, ...b.spec.ports].map((p: Json) => p.nodePort as number);
    assert.equal(new Set(ports).size, 3);
    for (const p of ports) assert.ok(p >= 30000 && p <= 32767, `${p} in range`);
    const none = await create(svcPath(), lb('np-none', { allocateLoadBalancerNodePorts: false }));
    assert.equal(none.spec.ports[0].nodePort, undefined);
    const taken = await raw(api, 'POST', svcPath(), { body: lb('np-taken', { ports: [{ port: 80, nodePort: ports[0] }] }) });
    assert.equal(taken.status, 422);
    assert.equal(taken.json.message, `Service "np-taken" is invalid: spec.ports[0].nodePort: Invalid value: ${ports[0]}: provided port is already allocated`);
    const cls = await create(svcPath(), lb('cls', { loadBalancerClass: 'fulcrum-lb.io/lb' }));
    const clsChange = await raw(api, 'PUT', `${svcPath()}/cls`, { body: { ...cls, spec: { ...cls.spec, loadBalancerClass: 'other.io/x' } } });
    assert.equal(clsChange.status, 422);
    assert.match(clsChange.json.message, /spec\.loadBalancerClass: Invalid value: "other\.io\/x": may not change once set/);
    const ipChange = await raw(api, 'PATCH', `${svcPath()}/cls`, { body: { spec: { clusterIP: '203.0.113.250', clusterIPs: ['203.0.113.250'] } }, contentType: 'application/merge-patch+json' });
    assert.equal(ipChange.status, 422);
    assert.match(ipChange.json.message, /may not change once set/);
  });

  it('12: strategic merge replaces status.loadBalancer.ingress whole and merges spec.ports by port', async () => {
    const svc = await create(svcPath(), lb('smp', { ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] }));
    await raw(api, 'PUT', `${svcPath()}/smp/status`, { body: { ...svc, status: { loadBalancer: { ingress: [{ ip: '192.0.2.20' }, { ip: '2001:db8::20' }] } } } });
    const st = await raw(api, 'PATCH', `${svcPath()}/smp/status`, { body: { status: { loadBalancer: { ingress: [{ ip: '192.0.2.21' }] } } }, contentType: 'application/strategic-merge-patch+json' });
    assert.deepEqual(st.json.status.loadBalancer.ingress, [{ ip: '192.0.2.21', ipMode: 'VIP' }]);
    const sp = await raw(api, 'PATCH', `${svcPath()}/smp`, { body: { spec: { ports: [{ port: 443, name: 'tls' }] } }, contentType: 'application/strategic-merge-patch+json' });
    assert.deepEqual(sp.json.spec.ports.map((p: Json) => `${p.name}:${p.port}`), ['http:80', 'tls:443']);
    const jp = await raw(api, 'PATCH', `${svcPath()}/smp`, { body: [{ op: 'test', path: '/spec/type', value: 'ClusterIP' }], contentType: 'application/json-patch+json' });
    assert.equal(jp.status, 422, 'a failed test op');
    assert.equal(jp.json.message, 'the server rejected our request due to an error in our request');
  });

  it('15: an unknown field selector and a bad label selector are 400, never "match all"', async () => {
    const f = await raw(api, 'GET', '/api/v1/namespaces/default/configmaps?fieldSelector=spec.type%3DLoadBalancer');
    assert.equal(f.status, 400);
    assert.equal(f.json.message, '"spec.type" is not a known field selector: only "metadata.name", "metadata.namespace"');
    const svc = await raw(api, 'GET', '/api/v1/namespaces/default/services?fieldSelector=spec.type%3DLoadBalancer,spec.clusterIP!%3DNone');
    assert.equal(svc.status, 200, 'Services know spec.type and spec.clusterIP (kube-apiserver v1.37)');
    const l = await raw(api, 'GET', '/api/v1/namespaces/default/services?labelSelector=a%20in%20(b');
    assert.equal(l.status, 400);
    assert.match(l.json.message, /^unable to parse requirement/);
    const w = await raw(api, 'GET', '/api/v1/pods?watch=true&fieldSelector=spec.bogus%3Dx');
    assert.equal(w.status, 400, 'watches validate selectors too');
    const ok = await raw(api, 'GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a,status.phase!%3DFailed');
    assert.equal(ok.status, 200, 'pods know spec.nodeName and status.phase');
  });
});
