import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ApiServer } from '../../lab/apiserver/index.js';
import { GROUP_VERSIONS, RESOURCES } from '../../lab/apiserver/resources.js';
import { raw, reportRequests, startTestApiServer, type Json } from '../helpers/apiserver.js';

/**
 * kubectl's check, in TypeScript (k8s.io/cli-runtime resource/query_param_verifier_v3.go,
 * supportsQueryParamV3): the first PATCH operation whose x-kubernetes-group-version-kind is the
 * object's must list the parameter by name. True → kubectl leaves validation to the server.
 */
function supportsQueryParam(doc: Json, gvk: { group: string; version: string; kind: string }, param: string): boolean {
  for (const item of Object.values(doc.paths as Record<string, Json>)) {
    const op = item.patch as Json | undefined;
    if (!op) continue;
    const g = op['x-kubernetes-group-version-kind'] as Json | undefined;
    if (!g || g.group !== gvk.group || g.version !== gvk.version || g.kind !== gvk.kind) continue;
    return (op.parameters as Json[]).some((p) => p.name === param);
  }
  return false;
}

// OpenAPI v3 as kube-apiserver serves it (kube-openapi handler3), and what kubectl reads there.
describe('apiserver emulator: OpenAPI v3', () => {
  let api: ApiServer;
  let root: Json;

  before(async () => {
    api = await startTestApiServer();
    const r = await raw(api, 'GET', '/openapi/v3');
    assert.equal(r.status, 200, r.text);
    root = r.json;
  });
  after(async () => {
    reportRequests(api, 'openapi');
    await api.stop();
  });

  it('lists one document per served group-version, with a hash in its URL', () => {
    const want = ['api/v1', ...GROUP_VERSIONS.map((gv) => `apis/${gv.group}/${gv.version}`)].sort();
    assert.deepEqual(Object.keys(root.paths).sort(), want);
    for (const [gv, entry] of Object.entries(root.paths as Record<string, Json>)) {
      assert.match(entry.serverRelativeURL, new RegExp(`^/openapi/v3/${gv.replace(/\./g, '\\.')}\\?hash=[0-9A-F]{128}$`), gv);
    }
  });

  it('every served kind passes kubectl\'s fieldValidation check, in its own group-version document', async () => {
    const docs = new Map<string, Json>();
    for (const def of RESOURCES) {
      const gv = def.group ? `apis/${def.group}/${def.version}` : `api/${def.version}`;
      if (!docs.has(gv)) docs.set(gv, (await raw(api, 'GET', root.paths[gv].serverRelativeURL)).json);
      const doc = docs.get(gv)!;
      assert.ok(supportsQueryParam(doc, { group: def.group, version: def.version, kind: def.kind }, 'fieldValidation'), `${def.apiVersion} ${def.kind}`);
      assert.ok(!supportsQueryParam(doc, { group: def.group, version: def.version, kind: `${def.kind}X` }, 'fieldValidation'), 'an unknown kind is not supported');
    }
  });

  it('a document serves create, replace and patch of each resource with the parameter and the patch types', async () => {
    const doc = (await raw(api, 'GET', root.paths['api/v1'].serverRelativeURL)).json;
    const item = doc.paths['/api/v1/namespaces/{namespace}/services/{name}'];
    for (const verb of ['put', 'patch']) assert.ok(item[verb].parameters.some((p: Json) => p.name === 'fieldValidation' && p.in === 'query'), verb);
    assert.deepEqual(Object.keys(item.patch.requestBody.content).sort(), ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json']);
    assert.equal(item.patch.operationId, 'patchCoreV1NamespacedService');
    assert.ok(doc.paths['/api/v1/namespaces/{namespace}/services'].post.parameters.some((p: Json) => p.name === 'fieldValidation'));
    assert.equal(doc.paths['/api/v1/namespaces/{namespace}/services/{name}/status'].patch['x-kubernetes-group-version-kind'].kind, 'Service');
    assert.equal(doc.paths['/api/v1/nodes/{name}'].patch.operationId, 'patchCoreV1Node');
    assert.equal(doc.paths['/api/v1/services'].get.operationId, 'listCoreV1ServiceForAllNamespaces');
  });

  it('component schemas name the fields but carry no group-version-kind (kubectl apply keeps its compiled-in merge keys)', async () => {
    const doc = (await raw(api, 'GET', root.paths['api/v1'].serverRelativeURL)).json;
    const svc = doc.components.schemas['io.k8s.api.core.v1.Service'];
    assert.ok(svc.properties.spec.properties.ports.items.properties.targetPort, 'spec.ports[].targetPort');
    for (const [name, s] of Object.entries(doc.components.schemas as Record<string, Json>)) assert.equal(s['x-kubernetes-group-version-kind'], undefined, name);
  });

  it('the hash is the SHA-512 of the document; ETag, 304, immutable caching and 301 for a stale hash', async () => {
    const url = root.paths['apis/apps/v1'].serverRelativeURL as string;
    const hash = url.split('hash=')[1]!;
    const r = await raw(api, 'GET', url);
    assert.equal(createHash('sha512').update(r.text).digest('hex').toUpperCase(), hash);
    assert.equal(r.headers.etag, `"${hash}"`);
    assert.equal(r.headers['cache-control'], 'public, immutable');
    assert.ok(Date.parse(String(r.headers.expires)) > Date.now() + 300 * 86_400_000, 'expires in a year');
    assert.equal((await raw(api, 'GET', url, { headers: { 'If-None-Match': `"${hash}"` } })).status, 304);
    const stale = await raw(api, 'GET', '/openapi/v3/apis/apps/v1?hash=0123');
    assert.deepEqual([stale.status, stale.headers.location], [301, url]);
    const plain = await raw(api, 'GET', '/openapi/v3/apis/apps/v1');
    assert.deepEqual([plain.status, plain.headers['cache-control'], plain.headers.etag], [200, undefined, `"${hash}"`]);
    const rootAgain = await raw(api, 'GET', '/openapi/v3', { headers: { 'If-None-Match': String((await raw(api, 'GET', '/openapi/v3')).headers.etag) } });
    assert.equal(rootAgain.status, 304);
  });

  it('protobuf only → 406; an unserved group-version and /openapi/v2 → 404; a token is needed', async () => {
    const url = root.paths['api/v1'].serverRelativeURL as string;
    assert.equal((await raw(api, 'GET', url, { headers: { Accept: 'application/com.github.proto-openapi.spec.v3.v1.0+protobuf' } })).status, 406);
    assert.equal((await raw(api, 'GET', url, { headers: { Accept: 'application/com.github.proto-openapi.spec.v3.v1.0+protobuf, application/json;q=0.5' } })).status, 200);
    assert.equal((await raw(api, 'GET', '/openapi/v3/apis/batch/v1')).status, 404);
    assert.equal((await raw(api, 'GET', '/openapi/v2')).status, 404);
    assert.equal((await raw(api, 'GET', '/openapi/v3', { token: null })).status, 403, 'the anonymous user may not read it, as on kube-apiserver');
    assert.equal((await raw(api, 'GET', '/openapi/v3', { token: api.userToken('someone') })).status, 200, 'system:discovery covers /openapi/*');
  });
});
