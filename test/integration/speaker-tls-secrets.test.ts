import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Secret } from '@kubernetes/client-node';
import { applyManifest, rbacManifests } from '../../lab/components.js';
import { resolveTlsSecrets } from '../../speaker/plan/tls-secrets.js';
import { SpeakerCaches, TLS_SECRETS_SELECTOR } from '../../speaker/caches.js';
import { createApiClients, type ApiClients } from '../../src/k8s/client.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { rootLogger } from '../../src/log.js';
import { raw, RawWatch, reportRequests, type Json } from '../helpers/apiserver.js';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { makePair } from '../../lab/x509.js';
import { suiteTitle } from '../helpers/api-target.js';

const CONFIG_DIR = fileURLToPath(new URL('../../../config/', import.meta.url));
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const tls = (pair: { certPem: string; keyPem: string }): Record<string, string> => ({ 'tls.crt': b64(pair.certPem), 'tls.key': b64(pair.keyPem) });

// The speaker's Secret cache against the API emulator, as the speaker's own ServiceAccount (the
// RBAC of config/): only kubernetes.io/tls Secrets are listed and watched, cluster-wide or in the
// namespaces it is told, and a rotated Secret reaches the cache and the resolver.
describe(suiteTitle('the speaker reads kubernetes.io/tls Secrets (fieldSelector type=kubernetes.io/tls)'), function () {
  this.timeout(15_000);
  let cluster: TestCluster;
  let speaker: ApiClients;
  const caches: SpeakerCaches[] = [];
  const a = makePair('ec', { dns: ['a.example.com'] });
  const a2 = makePair('ec', { dns: ['a.example.com'] });
  const b = makePair('ec', { dns: ['b.example.com'] });

  async function create(namespace: string, name: string, body: Partial<V1Secret>): Promise<void> {
    await cluster.clients.core.createNamespacedSecret({ namespace, body: { metadata: { name, namespace }, ...body } });
  }

  before(async () => {
    cluster = await startTestCluster();
    const target = { url: cluster.api.url, token: cluster.api.adminToken };
    for (const m of rbacManifests(CONFIG_DIR)) await applyManifest(target, m);
    const kc = join(cluster.dir, 'speaker.kubeconfig');
    await cluster.api.writeKubeconfig(kc, { token: await cluster.api.serviceAccountToken('fulcrum-system', 'fulcrum-speaker') });
    speaker = createApiClients(loadKubeConfig(kc).kubeConfig);
    await cluster.clients.core.createNamespace({ body: { metadata: { name: 'shop' } } });
    await create('shop', 'web-tls', { type: 'kubernetes.io/tls', data: tls(a) });
    await create('shop', 'basic', { type: 'kubernetes.io/basic-auth', stringData: { username: 'u', password: 'p' } });
    await create('shop', 'opaque', { data: { 'tls.crt': b64(a.certPem), 'tls.key': b64(a.keyPem) } });
    await create('default', 'other-tls', { type: 'kubernetes.io/tls', data: tls(b) });
  });
  after(async () => {
    for (const c of caches) await c.stop();
    reportRequests(cluster.api, 'speaker-tls-secrets');
    await cluster.close();
  });

  it('the API server filters lists and watches of every namespace by type (field selector type=kubernetes.io/tls)', async () => {
    const list = await raw(cluster.api, 'GET', `/api/v1/secrets?fieldSelector=${encodeURIComponent(TLS_SECRETS_SELECTOR)}`);
    assert.equal(list.status, 200, list.text);
    assert.deepEqual((list.json.items as Json[]).map((s) => `${s.metadata.namespace}/${s.metadata.name}`).sort(), ['default/other-tls', 'shop/web-tls']);
    const watch = new RawWatch(cluster.api, `/api/v1/secrets?watch=true&resourceVersion=${list.json.metadata.resourceVersion}&fieldSelector=${encodeURIComponent(TLS_SECRETS_SELECTOR)}`);
    try {
      await create('shop', 'later-opaque', { data: { k: b64('v') } });
      await create('shop', 'later-tls', { type: 'kubernetes.io/tls', data: tls(b) });
      const events = await watch.waitForEvents(1);
      assert.deepEqual(events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED later-tls']);
    } finally {
      watch.close();
    }
    const negated = await raw(cluster.api, 'GET', `/api/v1/namespaces/shop/secrets?fieldSelector=${encodeURIComponent('type!=kubernetes.io/tls')}`);
    assert.deepEqual((negated.json.items as Json[]).map((s) => s.metadata.name).sort(), ['basic', 'later-opaque', 'opaque']);
  });

  it('caches only TLS Secrets, cluster-wide, and a rotated Secret reaches new resolutions', async () => {
    const c = new SpeakerCaches({ clients: speaker, namespace: 'fulcrum-system', configName: 'config', logger: rootLogger });
    caches.push(c);
    await c.start();
    assert.ok(c.tlsSecret('shop', 'web-tls'));
    assert.ok(c.tlsSecret('default', 'other-tls'));
    assert.equal(c.tlsSecret('shop', 'opaque'), undefined, 'an Opaque Secret is never cached, whatever its keys');
    assert.equal(c.tlsSecret('shop', 'basic'), undefined);
    assert.equal(c.secrets.length, 1);

    const lookup = c.tlsSecret.bind(c);
    const first = resolveTlsSecrets({ namespace: 'shop', names: ['web-tls', 'opaque'], lookup, lastGood: new Map(), nowMs: Date.now() });
    assert.deepEqual(first.certificates.map((x) => x.certPem), [a.certPem]);
    assert.deepEqual(first.problems.map((p) => `${p.secret} ${p.code}`), ['opaque notFound']);

    const current = await cluster.clients.core.readNamespacedSecret({ namespace: 'shop', name: 'web-tls' });
    await cluster.clients.core.replaceNamespacedSecret({ namespace: 'shop', name: 'web-tls', body: { ...current, data: tls(a2) } });
    await waitFor('the rotated Secret in the cache', () => c.tlsSecret('shop', 'web-tls')?.data?.['tls.crt'] === b64(a2.certPem));
    const rotated = resolveTlsSecrets({ namespace: 'shop', names: ['web-tls'], lookup, lastGood: first.lastGood, nowMs: Date.now() });
    assert.deepEqual(rotated.certificates.map((x) => x.certPem), [a2.certPem]);

    await cluster.clients.core.deleteNamespacedSecret({ namespace: 'shop', name: 'web-tls' });
    await waitFor('the deletion in the cache', () => c.tlsSecret('shop', 'web-tls') === undefined);
    const deleted = resolveTlsSecrets({ namespace: 'shop', names: ['web-tls'], lookup, lastGood: rotated.lastGood, nowMs: Date.now() });
    assert.deepEqual(deleted.certificates.map((x) => x.certPem), [a2.certPem], 'the last good pair stays');
    assert.deepEqual(deleted.problems.map((p) => `${p.code} ${p.serving}`), ['notFound lastGood']);
  });

  it('with secretNamespaces, reads those namespaces only', async () => {
    const c = new SpeakerCaches({ clients: speaker, namespace: 'fulcrum-system', configName: 'config', logger: rootLogger, secretNamespaces: ['default'] });
    caches.push(c);
    await c.start();
    assert.deepEqual(c.secrets.map((i) => i.name), ['default/tls-secrets']);
    assert.ok(c.tlsSecret('default', 'other-tls'));
    assert.equal(c.tlsSecret('shop', 'later-tls'), undefined, 'not a namespace it reads');
  });
});
