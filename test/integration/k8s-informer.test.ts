import assert from 'node:assert/strict';
import type { V1ConfigMap, V1Service } from '@kubernetes/client-node';
import { mergePatchOptions } from '../../src/k8s/client.js';
import { Informer } from '../../src/k8s/informer.js';
import { configMaps, services } from '../../src/k8s/resources.js';
import { FAST_BACKOFF, startEmulator, waitFor, type Emulator } from './k8s-harness.js';
import { apiServerName } from '../helpers/api-target.js';

type Seen = { type: 'add' | 'update' | 'delete'; key: string; value: string | undefined };

function recordInto(seen: Seen[]) {
  const v = (o: V1ConfigMap) => o.data?.v;
  const key = (o: V1ConfigMap) => `${o.metadata?.namespace}/${o.metadata?.name}`;
  return {
    add: (o: V1ConfigMap) => seen.push({ type: 'add', key: key(o), value: v(o) }),
    update: (o: V1ConfigMap) => seen.push({ type: 'update', key: key(o), value: v(o) }),
    delete: (o: V1ConfigMap) => seen.push({ type: 'delete', key: key(o), value: v(o) }),
  };
}

describe(`k8s Informer against ${apiServerName()}`, function () {
  this.timeout(20_000);
  let emu: Emulator;
  const informers: { stop(): Promise<void> }[] = [];
  const track = <T extends { stop(): Promise<void> }>(i: T): T => (informers.push(i), i);

  before(async () => {
    emu = await startEmulator();
  });
  afterEach(async () => {
    for (const i of informers.splice(0)) await i.stop();
  });
  after(async () => {
    await emu?.close();
  });

  const cm = (name: string, v: string, labels?: Record<string, string>, namespace = 'default'): V1ConfigMap => ({
    metadata: { name, namespace, labels },
    data: { v },
  });

  it('lists existing objects, then sees create, update and delete in order', async () => {
    const core = emu.clients.core;
    await core.createNamespacedConfigMap({ namespace: 'default', body: cm('pre', '0') });
    const seen: Seen[] = [];
    const inf = track(new Informer<V1ConfigMap>({ clients: emu.clients, resource: configMaps, namespace: 'default', backoff: FAST_BACKOFF }));
    inf.on(recordInto(seen));
    inf.start();
    await inf.synced;
    assert.deepEqual(seen, [{ type: 'add', key: 'default/pre', value: '0' }]);
    assert.ok(inf.get('default/pre'), 'get(namespace/name) after sync');

    await core.createNamespacedConfigMap({ namespace: 'default', body: cm('x', '1') });
    await core.patchNamespacedConfigMap({ namespace: 'default', name: 'x', body: { data: { v: '2' } } }, mergePatchOptions);
    await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'x' });
    await waitFor('the delete of x', () => seen.some((s) => s.type === 'delete' && s.key === 'default/x'));
    assert.deepEqual(
      seen.filter((s) => s.key === 'default/x'),
      [
        { type: 'add', key: 'default/x', value: '1' },
        { type: 'update', key: 'default/x', value: '2' },
        { type: 'delete', key: 'default/x', value: '2' },
      ],
    );
    assert.equal(inf.get('default/x'), undefined, 'deleted objects leave the cache');
    assert.deepEqual(inf.keys().sort(), ['default/pre']);
    await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'pre' });
  });

  it('a label selector keeps only matching objects, and one that stops matching is deleted', async () => {
    const core = emu.clients.core;
    const seen: Seen[] = [];
    const inf = track(new Informer<V1ConfigMap>({ clients: emu.clients, resource: configMaps, namespace: 'default', labelSelector: 'team=a', backoff: FAST_BACKOFF }));
    inf.on(recordInto(seen));
    inf.start();
    await inf.synced;
    await core.createNamespacedConfigMap({ namespace: 'default', body: cm('la', '1', { team: 'a' }) });
    await core.createNamespacedConfigMap({ namespace: 'default', body: cm('lb', '1', { team: 'b' }) });
    await core.patchNamespacedConfigMap({ namespace: 'default', name: 'la', body: { metadata: { labels: { team: 'b' } } } }, mergePatchOptions);
    await waitFor('la to stop matching', () => seen.some((s) => s.type === 'delete'));
    assert.deepEqual(seen.map((s) => `${s.type} ${s.key}`), ['add default/la', 'delete default/la']);
    assert.equal(inf.list().length, 0);
  });

  it('a namespace-scoped informer ignores other namespaces; an all-namespace one sees both', async () => {
    const core = emu.clients.core;
    const inNs = track(new Informer<V1ConfigMap>({ clients: emu.clients, resource: configMaps, namespace: 'kube-public', backoff: FAST_BACKOFF }));
    const all = track(new Informer<V1ConfigMap>({ clients: emu.clients, resource: configMaps, fieldSelector: 'metadata.name=scoped', backoff: FAST_BACKOFF }));
    inNs.start();
    all.start();
    await Promise.all([inNs.synced, all.synced]);
    await core.createNamespacedConfigMap({ namespace: 'default', body: cm('scoped', '1') });
    await core.createNamespacedConfigMap({ namespace: 'kube-public', body: cm('scoped', '1', undefined, 'kube-public') });
    await waitFor('both objects in the all-namespace informer', () => all.list().length === 2);
    await waitFor('the kube-public one in the scoped informer', () => inNs.get('kube-public/scoped'));
    assert.equal(inNs.get('default/scoped'), undefined);
    assert.deepEqual(all.keys().sort(), ['default/scoped', 'kube-public/scoped']);
  });

  it('objects are deserialised the same way from the list and from the watch', async () => {
    const core = emu.clients.core;
    await core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'listed' }, spec: { ports: [{ port: 80 }] } } });
    const inf = track(new Informer<V1Service>({ clients: emu.clients, resource: services, namespace: 'default', backoff: FAST_BACKOFF }));
    inf.start();
    await inf.synced;
    await core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'watched' }, spec: { ports: [{ port: 80 }] } } });
    const watched = await waitFor('the watched service', () => inf.get('default/watched'));
    const listed = inf.get('default/listed');
    assert.ok(listed?.metadata?.creationTimestamp instanceof Date, 'list item creationTimestamp is a Date');
    assert.ok(watched.metadata?.creationTimestamp instanceof Date, 'watch object creationTimestamp is a Date');
    assert.equal(watched.spec?.ports?.[0]?.protocol, 'TCP');
  });

  it('a handler added after sync receives the cached objects as adds; resync re-delivers updates', async () => {
    const core = emu.clients.core;
    await core.createNamespacedConfigMap({ namespace: 'kube-system', body: cm('late', '1', undefined, 'kube-system') });
    const inf = track(new Informer<V1ConfigMap>({ clients: emu.clients, resource: configMaps, namespace: 'kube-system', resyncMs: 50, backoff: FAST_BACKOFF }));
    inf.start();
    await inf.synced;
    const seen: Seen[] = [];
    inf.on(recordInto(seen));
    // The real kube-system holds the apiserver's own ConfigMaps too: look for ours among the adds.
    assert.ok(seen.length > 0 && seen.every((s) => s.type === 'add'), 'the cache is delivered as adds at once');
    assert.deepEqual(seen.find((s) => s.key === 'kube-system/late'), { type: 'add', key: 'kube-system/late', value: '1' });
    await waitFor('a resync update', () => seen.some((s) => s.type === 'update' && s.key === 'kube-system/late'));
    const before = emu.server.requestCount();
    await waitFor('two more resyncs', () => seen.filter((s) => s.type === 'update').length >= 3);
    assert.equal(emu.server.requestCount(), before, 'a resync makes no API request');
  });
});
