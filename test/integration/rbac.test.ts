import assert from 'node:assert/strict';
import { k8s, kubeConfigFor, raw, reportRequests, waitFor, type Json } from '../helpers/apiserver.js';
import { apiServerName, startTestTarget, type TestApiServer } from '../helpers/api-target.js';

// Authentication and RBAC evaluated from the Role/Binding objects in the emulator's store. On the
// real server the same requests meet its authenticators and its RBAC authorizer, which reads the
// objects through an informer: a binding made a moment ago is waited for (milliseconds).
describe(`${apiServerName()}: authentication and RBAC`, () => {
  let api: TestApiServer;
  let readerToken: string;

  before(async () => {
    api = await startTestTarget();
    const post = async (path: string, body: Json): Promise<void> => {
      const r = await raw(api, 'POST', path, { body });
      assert.equal(r.status, 201, r.text);
    };
    await post('/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'reader' } });
    await post('/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', { metadata: { name: 'read-only' }, rules: [{ apiGroups: [''], resources: ['services', 'configmaps'], verbs: ['get', 'list', 'watch'] }] });
    await post('/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings', { metadata: { name: 'reader' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-only' }, subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: 'default' }] });
    await post('/api/v1/namespaces/default/services', { metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } });
    readerToken = await api.serviceAccountToken('default', 'reader');
    await waitFor('the reader Role to take effect', async () => (await raw(api, 'GET', '/api/v1/namespaces/default/services', { token: readerToken })).status === 200, 15_000);
  });
  after(async () => {
    reportRequests(api, 'rbac');
    await api.close();
  });

  it('answers 401 to a forged token; without a token the anonymous user gets 403, except for /version and the health paths', async () => {
    for (const token of ['not-a-token', `${readerToken.slice(0, -2)}xx`]) {
      const r = await raw(api, 'GET', '/api/v1/namespaces/default/services', { token });
      assert.equal(r.status, 401, `token ${token}`);
      assert.deepEqual(r.json, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    }
    const anonymous = await raw(api, 'GET', '/api/v1/namespaces/default/services', { token: null });
    assert.equal(anonymous.status, 403);
    assert.equal(anonymous.json.message, 'services is forbidden: User "system:anonymous" cannot list resource "services" in API group "" in the namespace "default"');
    const discovery = await raw(api, 'GET', '/api', { token: null });
    assert.deepEqual([discovery.status, discovery.json.message], [403, 'forbidden: User "system:anonymous" cannot get path "/api"']);
    for (const path of ['/version', '/healthz', '/readyz', '/livez']) assert.equal((await raw(api, 'GET', path, { token: null })).status, 200, path);
  });

  it('a service-account token stops working when its ServiceAccount is deleted (the real server: within its 10 s token cache)', async function () {
    this.timeout(20_000);
    await raw(api, 'POST', '/api/v1/namespaces/default/serviceaccounts', { body: { metadata: { name: 'short-lived' } } });
    const token = await api.serviceAccountToken('default', 'short-lived');
    assert.equal((await raw(api, 'GET', '/api', { token })).status, 200);
    await raw(api, 'DELETE', '/api/v1/namespaces/default/serviceaccounts/short-lived');
    // kube-apiserver caches a successful token authentication for 10 s (TokenSuccessCacheTTL).
    await waitFor('the token to be refused', async () => (await raw(api, 'GET', '/api', { token })).status === 401, 15_000, 200);
    // The real TokenRequest API mints no token for an account that does not exist.
    if (api.kind === 'emulator') assert.equal((await raw(api, 'GET', '/api', { token: await api.serviceAccountToken('default', 'never-made') })).status, 401);
  });

  it('every namespace gets a ServiceAccount "default", which has no permissions', async function () {
    this.timeout(45_000); // the real controller-manager makes it late on a loaded machine (seen: over 5 s)
    await raw(api, 'POST', '/api/v1/namespaces', { body: { metadata: { name: 'fresh' } } });
    // The real server's serviceaccount controller makes it a moment later; the emulator at once.
    await waitFor('ServiceAccount fresh/default', async () => (await raw(api, 'GET', '/api/v1/namespaces/fresh/serviceaccounts/default')).status === 200, 30_000);
    const r = await raw(api, 'GET', '/api/v1/namespaces/fresh/configmaps', { token: await api.serviceAccountToken('fresh', 'default') });
    assert.equal(r.status, 403);
  });

  it('lets a read-only Role read in its namespace', async () => {
    assert.equal((await raw(api, 'GET', '/api/v1/namespaces/default/services', { token: readerToken })).status, 200);
    assert.equal((await raw(api, 'GET', '/api/v1/namespaces/default/services/web', { token: readerToken })).status, 200);
    assert.equal((await raw(api, 'GET', '/api/v1/namespaces/default/configmaps?watch=true', { token: readerToken, headersOnly: true })).status, 200);
    assert.equal((await raw(api, 'GET', '/api', { token: readerToken })).status, 200, 'discovery is open to every authenticated user');
  });

  const denied: { name: string; method: string; path: string; body?: Json; contentType?: string; message: string }[] = [
    { name: 'a create is forbidden', method: 'POST', path: '/api/v1/namespaces/default/services', body: { metadata: { name: 'x' }, spec: { ports: [{ port: 1 }] } }, message: 'services is forbidden: User "system:serviceaccount:default:reader" cannot create resource "services" in API group "" in the namespace "default"' },
    { name: 'an update of the status subresource is forbidden', method: 'PUT', path: '/api/v1/namespaces/default/services/web/status', body: {}, message: 'services "web" is forbidden: User "system:serviceaccount:default:reader" cannot update resource "services/status" in API group "" in the namespace "default"' },
    { name: 'a patch is forbidden', method: 'PATCH', path: '/api/v1/namespaces/default/services/web', body: {}, contentType: 'application/merge-patch+json', message: 'services "web" is forbidden: User "system:serviceaccount:default:reader" cannot patch resource "services" in API group "" in the namespace "default"' },
    { name: 'a delete is forbidden', method: 'DELETE', path: '/api/v1/namespaces/default/services/web', message: 'services "web" is forbidden: User "system:serviceaccount:default:reader" cannot delete resource "services" in API group "" in the namespace "default"' },
    { name: 'reading in another namespace is forbidden', method: 'GET', path: '/api/v1/namespaces/kube-system/services', message: 'services is forbidden: User "system:serviceaccount:default:reader" cannot list resource "services" in API group "" in the namespace "kube-system"' },
    { name: 'a list across namespaces is forbidden', method: 'GET', path: '/api/v1/services', message: 'services is forbidden: User "system:serviceaccount:default:reader" cannot list resource "services" in API group "" at the cluster scope' },
    { name: 'a grouped resource names its group', method: 'GET', path: '/apis/coordination.k8s.io/v1/namespaces/default/leases/x', message: 'leases.coordination.k8s.io "x" is forbidden: User "system:serviceaccount:default:reader" cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "default"' },
  ];
  for (const row of denied) {
    it(`read-only Role: ${row.name} (403 with the real message)`, async () => {
      const r = await raw(api, row.method, row.path, { token: readerToken, ...(row.body ? { body: row.body } : {}), ...(row.contentType ? { contentType: row.contentType } : {}) });
      assert.equal(r.status, 403, `${row.method} ${row.path}: ${r.text}`);
      assert.equal(r.json.reason, 'Forbidden');
      assert.equal(r.json.message, row.message);
    });
  }

  it('a denied write through client-node is an error with code 403, and the object is unchanged', async () => {
    const core = kubeConfigFor(api, readerToken).makeApiClient(k8s.CoreV1Api);
    const svc = await core.readNamespacedService({ name: 'web', namespace: 'default' });
    await assert.rejects(core.patchNamespacedService({ name: 'web', namespace: 'default', body: [{ op: 'add', path: '/metadata/labels', value: { x: 'y' } }] }), (err: Json) => err.code === 403);
    const after = await core.readNamespacedService({ name: 'web', namespace: 'default' });
    assert.equal(after.metadata?.resourceVersion, svc.metadata?.resourceVersion);
  });

  it('a binding created at run time takes effect (at once on the emulator, within milliseconds on the real server), and removing it revokes', async () => {
    const token = await api.userToken('jane', ['devs']);
    const path = '/api/v1/namespaces/default/configmaps';
    const status = async () => (await raw(api, 'GET', path, { token })).status;
    assert.equal(await status(), 403);
    await raw(api, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', { body: { metadata: { name: 'devs-read' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view-cm' }, subjects: [{ kind: 'Group', name: 'devs' }] } });
    await raw(api, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { body: { metadata: { name: 'view-cm' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }] } });
    await waitFor('the binding to allow the list', async () => (await status()) === 200, 15_000);
    await raw(api, 'DELETE', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/devs-read');
    await waitFor('the deleted binding to stop allowing it', async () => (await status()) === 403, 15_000);
  });

  it('resourceNames limit a rule to the named objects', async () => {
    await raw(api, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', { body: { metadata: { name: 'one-cm' }, rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['allowed'], verbs: ['get'] }] } });
    await raw(api, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings', { body: { metadata: { name: 'one-cm' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'one-cm' }, subjects: [{ kind: 'User', name: 'sam' }] } });
    const token = await api.userToken('sam');
    await waitFor('the Role to take effect', async () => (await raw(api, 'GET', '/api/v1/namespaces/default/configmaps/allowed', { token })).status === 404, 15_000);
    assert.equal((await raw(api, 'GET', '/api/v1/namespaces/default/configmaps/other', { token })).status, 403);
  });
});
