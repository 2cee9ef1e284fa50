import assert from 'node:assert/strict';
import type { ApiServer } from '../../lab/apiserver/index.js';
import { k8s, kubeConfigFor, plain, reportRequests, startTestApiServer, waitFor, type Json } from '../helpers/apiserver.js';

// client-node 1.4 against the emulator over HTTP: the calls the allocator, speakers and the
// informer layer make, through the real generated clients.
describe('apiserver emulator with @kubernetes/client-node', () => {
  let api: ApiServer;
  let core: k8s.CoreV1Api;
  let discovery: k8s.DiscoveryV1Api;
  let coordination: k8s.CoordinationV1Api;
  let kc: k8s.KubeConfig;

  before(async () => {
    api = await startTestApiServer();
    kc = kubeConfigFor(api);
    core = kc.makeApiClient(k8s.CoreV1Api);
    discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
    coordination = kc.makeApiClient(k8s.CoordinationV1Api);
  });

  after(async () => {
    reportRequests(api, 'client-node');
    await api.stop();
  });

  const lbService = (name: string, extra: Json = {}): k8s.V1Service => ({
    metadata: { name, labels: { app: name } },
    spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 'http' as unknown as k8s.IntOrString }], ...extra },
  });

  it('creates, gets, lists, updates and deletes a Service with server-side defaults', async () => {
    const created = await core.createNamespacedService({ namespace: 'default', body: lbService('crud') });
    assert.equal(created.spec?.type, 'LoadBalancer');
    assert.match(created.spec?.clusterIP ?? '', /^203\.0\.113\.\d+$/);
    assert.deepEqual(created.spec?.ipFamilies, ['IPv4']);
    assert.equal(created.spec?.externalTrafficPolicy, 'Cluster');
    assert.equal(created.spec?.ports?.[0]?.protocol, 'TCP');
    const np = created.spec?.ports?.[0]?.nodePort ?? 0;
    assert.ok(np >= 30000 && np <= 32767, `nodePort ${np} in range`);
    assert.match(created.metadata?.uid ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(typeof created.metadata?.resourceVersion, 'string');

    const got = await core.readNamespacedService({ name: 'crud', namespace: 'default' });
    assert.equal(got.metadata?.resourceVersion, created.metadata?.resourceVersion);

    const list = await core.listNamespacedService({ namespace: 'default', labelSelector: 'app=crud' });
    assert.deepEqual(list.items.map((s) => s.metadata?.name), ['crud']);
    assert.equal(typeof list.metadata?.resourceVersion, 'string');

    got.metadata!.annotations = { note: 'updated' };
    const updated = await core.replaceNamespacedService({ name: 'crud', namespace: 'default', body: got });
    assert.equal(updated.metadata?.annotations?.note, 'updated');
    assert.ok(Number(updated.metadata?.resourceVersion) > Number(created.metadata?.resourceVersion));

    const deleted = await core.deleteNamespacedService({ name: 'crud', namespace: 'default' });
    assert.equal((deleted as Json).kind, 'Service', 'DELETE of a Service answers with the object');
    await assert.rejects(core.readNamespacedService({ name: 'crud', namespace: 'default' }), (err: Json) => err.code === 404);
  });

  it('writes Service status through /status and keeps spec', async () => {
    const svc = await core.createNamespacedService({ namespace: 'default', body: lbService('status') });
    svc.status = { loadBalancer: { ingress: [{ ip: '192.0.2.10', ipMode: 'Proxy' }] } };
    svc.spec!.sessionAffinity = 'ClientIP';
    const out = await core.replaceNamespacedServiceStatus({ name: 'status', namespace: 'default', body: svc });
    assert.deepEqual(plain(out.status?.loadBalancer?.ingress), [{ ip: '192.0.2.10', ipMode: 'Proxy' }]);
    assert.equal(out.spec?.sessionAffinity, 'None', 'spec in a /status write is ignored');
  });

  it('patches with JSON patch by default and with merge and strategic merge on request', async () => {
    await core.createNamespacedService({ namespace: 'default', body: lbService('patch') });
    const jp = await core.patchNamespacedService({ name: 'patch', namespace: 'default', body: [{ op: 'add', path: '/metadata/labels/tier', value: 'front' }] });
    assert.equal(jp.metadata?.labels?.tier, 'front');
    await assert.rejects(
      core.patchNamespacedService({ name: 'patch', namespace: 'default', body: { metadata: { labels: { x: 'y' } } } }),
      (err: Json) => err.code === 400,
      'a merge-style body under the default content type is a JSON patch error, not a merge',
    );
    const mp = await core.patchNamespacedService(
      { name: 'patch', namespace: 'default', body: { metadata: { labels: { tier: null } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    assert.equal(mp.metadata?.labels?.tier, undefined);
    const sp = await core.patchNamespacedServiceStatus(
      { name: 'patch', namespace: 'default', body: { status: { loadBalancer: { ingress: [{ ip: '192.0.2.11' }] } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
    assert.deepEqual(plain(sp.status?.loadBalancer?.ingress), [{ ip: '192.0.2.11', ipMode: 'VIP' }]);
  });

  it('maintains EndpointSlices and Endpoints from Pods matching the selector', async () => {
    await core.createNamespacedService({ namespace: 'default', body: lbService('eps') });
    const pod = await core.createNamespacedPod({
      namespace: 'default',
      body: { metadata: { name: 'eps-1', labels: { app: 'eps' } }, spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 8080 }] }] } },
    });
    pod.status = { phase: 'Running', podIP: '198.51.100.7', podIPs: [{ ip: '198.51.100.7' }], conditions: [{ type: 'Ready', status: 'True' }] };
    await core.replaceNamespacedPodStatus({ name: 'eps-1', namespace: 'default', body: pod });
    const slice = await waitFor('a slice with the pod', async () => {
      const l = await discovery.listNamespacedEndpointSlice({ namespace: 'default', labelSelector: 'kubernetes.io/service-name=eps' });
      return l.items.find((s) => (s.endpoints ?? []).length === 1);
    });
    assert.match(slice.metadata?.name ?? '', /^eps-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.equal(slice.addressType, 'IPv4');
    assert.deepEqual(slice.endpoints[0]?.addresses, ['198.51.100.7']);
    assert.deepEqual(plain(slice.endpoints[0]?.conditions), { ready: true, serving: true, terminating: false });
    assert.equal(slice.endpoints[0]?.nodeName, 'node-a');
    assert.deepEqual(plain(slice.ports), [{ name: 'http', port: 8080, protocol: 'TCP' }], 'named targetPort resolved from the container port');
    const ep = await core.readNamespacedEndpoints({ name: 'eps', namespace: 'default' });
    assert.equal(ep.subsets?.[0]?.addresses?.[0]?.ip, '198.51.100.7');
  });

  it('serves Leases with MicroTime and rejects a Date with three fraction digits', async () => {
    const now = new k8s.V1MicroTime();
    const lease = await coordination.createNamespacedLease({
      namespace: 'fulcrum-system',
      body: { metadata: { name: 'l1' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaseTransitions: 0 } },
    });
    assert.equal(lease.spec?.holderIdentity, 'a');
    await assert.rejects(
      coordination.createNamespacedLease({ namespace: 'fulcrum-system', body: { metadata: { name: 'l2' }, spec: { holderIdentity: 'a', renewTime: '2026-01-01T00:00:00.123Z' as unknown as Date } } }),
      (err: Json) => err.code === 400,
    );
  });

  it('supports a client-go style election: create on 404, renew with the read RV, a stale takeover conflicts, release', async () => {
    const ns = 'fulcrum-system';
    const name = 'election';
    await assert.rejects(coordination.readNamespacedLease({ namespace: ns, name }), (err: Json) => err.code === 404);
    const t0 = new k8s.V1MicroTime();
    await coordination.createNamespacedLease({ namespace: ns, body: { metadata: { name }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: t0, renewTime: t0, leaseTransitions: 0 } } });
    const seenByB = await coordination.readNamespacedLease({ namespace: ns, name });
    const seenByA = await coordination.readNamespacedLease({ namespace: ns, name });
    seenByA.spec!.renewTime = new k8s.V1MicroTime() as unknown as Date;
    const renewed = await coordination.replaceNamespacedLease({ namespace: ns, name, body: seenByA });
    assert.equal(renewed.spec?.acquireTime as unknown as string, seenByA.spec?.acquireTime as unknown as string, 'a renew keeps acquireTime');
    assert.match(String(renewed.spec?.renewTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    seenByB.spec = { ...seenByB.spec, holderIdentity: 'b', acquireTime: new k8s.V1MicroTime() as unknown as Date, leaseTransitions: 1 };
    await assert.rejects(coordination.replaceNamespacedLease({ namespace: ns, name, body: seenByB }), (err: Json) => err.code === 409, 'a takeover from a stale read conflicts');
    const release = await coordination.readNamespacedLease({ namespace: ns, name });
    const now = new k8s.V1MicroTime() as unknown as Date;
    release.spec = { ...release.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now };
    const released = await coordination.replaceNamespacedLease({ namespace: ns, name, body: release });
    assert.equal(released.spec?.holderIdentity, '');
  });

  it('delivers watch events through client-node Watch', async () => {
    const list = await core.listNamespacedConfigMap({ namespace: 'default' });
    const seen: string[] = [];
    const watch = new k8s.Watch(kc);
    const req = await watch.watch('/api/v1/namespaces/default/configmaps', { resourceVersion: list.metadata?.resourceVersion }, (type, obj: Json) => seen.push(`${type} ${obj.metadata.name}`), () => undefined);
    try {
      await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'w1' }, data: { a: '1' } } });
      await core.patchNamespacedConfigMap({ name: 'w1', namespace: 'default', body: [{ op: 'replace', path: '/data/a', value: '2' }] });
      await core.deleteNamespacedConfigMap({ name: 'w1', namespace: 'default' });
      await waitFor('three events', () => seen.length >= 3);
      assert.deepEqual(seen, ['ADDED w1', 'MODIFIED w1', 'DELETED w1']);
    } finally {
      req.abort();
    }
  });

  it('feeds a client-node informer (makeInformer) with adds, updates and deletes', async () => {
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/fulcrum-system/configmaps', () => core.listNamespacedConfigMap({ namespace: 'fulcrum-system' }));
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    await informer.start();
    try {
      await core.createNamespacedConfigMap({ namespace: 'fulcrum-system', body: { metadata: { name: 'inf' }, data: { a: '1' } } });
      await core.patchNamespacedConfigMap({ name: 'inf', namespace: 'fulcrum-system', body: [{ op: 'add', path: '/data/b', value: '2' }] });
      await core.deleteNamespacedConfigMap({ name: 'inf', namespace: 'fulcrum-system' });
      await waitFor('informer events', () => seen.length >= 3);
      assert.deepEqual(seen, ['add inf', 'update inf', 'delete inf']);
    } finally {
      await informer.stop();
    }
  });
});
