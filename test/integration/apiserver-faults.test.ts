import assert from 'node:assert/strict';
import type { ApiServer } from '../../lab/apiserver/index.js';
import { k8s, kubeConfigFor, raw, RawWatch, reportRequests, startTestApiServer, waitFor, type Json } from '../helpers/apiserver.js';

// The emulator's fault knobs, and what real clients do about them (fidelity spec §12 items 5
// and 14: relist only on 410; otherwise re-watch from the last RV).
describe('apiserver emulator: faults and recovery', () => {
  let api: ApiServer;
  let core: k8s.CoreV1Api;
  let kc: k8s.KubeConfig;

  before(async () => {
    api = await startTestApiServer();
    kc = kubeConfigFor(api);
    core = kc.makeApiClient(k8s.CoreV1Api);
  });
  after(async () => {
    reportRequests(api, 'faults');
    await api.stop();
  });

  const cm = (ns: string, name: string): Promise<unknown> => core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name } } });

  async function informerOn(ns: string): Promise<{ informer: k8s.Informer<k8s.V1ConfigMap>; seen: string[] }> {
    const informer = k8s.makeInformer(kc, `/api/v1/namespaces/${ns}/configmaps`, () => core.listNamespacedConfigMap({ namespace: ns }));
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    await informer.start();
    return { informer, seen };
  }

  it('dropWatches ends every open stream cleanly', async () => {
    const w = new RawWatch(api, '/api/v1/namespaces/default/configmaps?watch=true');
    await waitFor('the watch to be open', () => w.status === 200);
    api.faults.dropWatches();
    await w.ended;
    assert.equal(w.status, 200);
  });

  it('14: after a dropped watch an informer re-watches from its last RV without relisting and loses nothing', async () => {
    await core.createNamespace({ body: { metadata: { name: 'drop' } } });
    const { informer, seen } = await informerOn('drop');
    try {
      await cm('drop', 'before');
      await waitFor('the first add', () => seen.includes('add before'));
      const counts = api.requestCounts();
      api.faults.dropWatches();
      await waitFor('a new watch', () => (api.requestCounts()['watch configmaps'] ?? 0) > (counts['watch configmaps'] ?? 0));
      await cm('drop', 'after');
      await waitFor('the add after the drop', () => seen.includes('add after'));
      assert.equal(api.requestCounts()['list configmaps'], counts['list configmaps'], 'no relist');
      assert.deepEqual(seen, ['add before', 'add after']);
    } finally {
      await informer.stop();
    }
  });

  it('5: after compaction the informer gets 410 Expired, relists, and reports no deletion for objects that still exist', async () => {
    await core.createNamespace({ body: { metadata: { name: 'expire' } } });
    const { informer, seen } = await informerOn('expire');
    try {
      await cm('expire', 'kept');
      await waitFor('the add', () => seen.includes('add kept'));
      const lists = api.requestCounts()['list configmaps'] ?? 0;
      // writes elsewhere move the global RV past the informer's, then history is dropped
      await cm('default', 'elsewhere-1');
      api.compact();
      api.faults.dropWatches();
      await waitFor('a relist', () => (api.requestCounts()['list configmaps'] ?? 0) > lists);
      await cm('expire', 'new');
      await waitFor('the add after the relist', () => seen.includes('add new'));
      assert.ok(!seen.some((s) => s.startsWith('delete')), `no deletion reported: ${seen.join(', ')}`);
    } finally {
      await informer.stop();
    }
  });

  it('a list with resourceVersionMatch=Exact at a compacted RV is a 410 Expired', async () => {
    const old = (await raw(api, 'GET', '/api/v1/namespaces/default/configmaps')).json.metadata.resourceVersion as string;
    await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { body: { metadata: { generateName: 'exact-' } } });
    api.compact();
    const r = await raw(api, 'GET', `/api/v1/namespaces/default/configmaps?resourceVersion=${old}&resourceVersionMatch=Exact`);
    assert.equal(r.status, 410);
    assert.equal(r.json.reason, 'Expired');
    const notOlder = await raw(api, 'GET', `/api/v1/namespaces/default/configmaps?resourceVersion=${old}&resourceVersionMatch=NotOlderThan`);
    assert.equal(notOlder.status, 200, 'NotOlderThan is served from the latest state');
  });

  it('stop() and start() keep the store and the port; a watch resumes from the RV current at the stop, an older one gets 410 (as a restarted kube-apiserver)', async () => {
    const port = api.port;
    const older = (await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { body: { metadata: { name: 'before-survivor' } } })).json.metadata.resourceVersion as string;
    const made = (await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { body: { metadata: { name: 'survivor' } } })).json;
    await api.stop();
    await assert.rejects(raw(api, 'GET', '/version'), /ECONNREFUSED|socket hang up|ECONNRESET/);
    await api.start();
    assert.equal(api.port, port);
    const got = await raw(api, 'GET', '/api/v1/namespaces/default/configmaps/survivor');
    assert.equal(got.json.metadata.uid, made.metadata.uid);
    await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { body: { metadata: { name: 'after-restart' } } });
    const w = new RawWatch(api, `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${made.metadata.resourceVersion}`);
    const [e] = await w.waitForEvents(1);
    w.close();
    assert.equal(e!.type, 'ADDED');
    assert.equal(e!.object.metadata.name, 'after-restart');
    const expired = new RawWatch(api, `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${older}`);
    const [gone] = await expired.waitForEvents(1);
    expired.close();
    assert.deepEqual([gone!.type, gone!.object.code, gone!.object.reason], ['ERROR', 410, 'Expired']);
  });

  it('stop() ends open watches', async () => {
    const w = new RawWatch(api, '/api/v1/namespaces/default/configmaps?watch=true');
    await waitFor('the watch to be open', () => w.status === 200);
    await api.stop();
    await w.ended;
    await api.start();
  });

  const failRows: { name: string; code: 500 | 429; reason: string }[] = [
    { name: 'failNext(2, 500) answers the next two requests with an InternalError Status', code: 500, reason: 'InternalError' },
    { name: 'failNext(2, 429) answers the next two requests with TooManyRequests and Retry-After', code: 429, reason: 'TooManyRequests' },
  ];
  for (const row of failRows) {
    it(row.name, async () => {
      api.faults.failNext(2, row.code);
      const replies: Json[] = [];
      for (let i = 0; i < 3; i++) replies.push(await raw(api, 'GET', '/api/v1/namespaces/default/configmaps'));
      assert.deepEqual(replies.map((r) => r.status), [row.code, row.code, 200]);
      assert.equal(replies[0]!.json.kind, 'Status');
      assert.equal(replies[0]!.json.reason, row.reason);
      assert.equal(replies[0]!.json.code, row.code);
      if (row.code === 429) assert.equal(replies[0]!.headers['retry-after'], '1');
    });
  }

  it('client-node sees an injected 500 as an error with that code', async () => {
    api.faults.failNext(1, 500);
    await assert.rejects(core.readNamespace({ name: 'default' }), (err: Json) => err.code === 500);
    assert.equal((await core.readNamespace({ name: 'default' })).metadata?.name, 'default');
  });

  it('pause(ms) holds requests and watch deliveries until it ends', async () => {
    const w = new RawWatch(api, `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${(await raw(api, 'GET', '/api/v1/namespaces/default/configmaps')).json.metadata.resourceVersion}`);
    await waitFor('the watch to be open', () => w.status === 200);
    const start = Date.now();
    api.faults.pause(300);
    const created = await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { body: { metadata: { name: 'paused' } } });
    assert.equal(created.status, 201);
    assert.ok(Date.now() - start >= 250, 'the request was held by the pause');
    const [e] = await w.waitForEvents(1);
    w.close();
    assert.equal(e!.object.metadata.name, 'paused');
  });

  it('counts requests by verb and resource', async () => {
    const before = api.requestCounts()['update leases'] ?? 0;
    const lease = (await raw(api, 'POST', '/apis/coordination.k8s.io/v1/namespaces/default/leases', { body: { metadata: { name: 'counted' }, spec: {} } })).json;
    await raw(api, 'PUT', '/apis/coordination.k8s.io/v1/namespaces/default/leases/counted', { body: { ...lease, spec: { holderIdentity: 'a' } } });
    await raw(api, 'PUT', '/apis/coordination.k8s.io/v1/namespaces/default/leases/counted', { body: { ...lease, spec: { holderIdentity: 'b' } } });
    assert.equal(api.requestCounts()['update leases'], before + 2);
    assert.ok(api.requestCount() >= Object.values(api.requestCounts()).reduce((a, b) => a + b, 0));
  });
});
