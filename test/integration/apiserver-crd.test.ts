import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { ApiServer } from '../../lab/apiserver/index.js';
import { k8s, kubeConfigFor, raw, RawWatch, reportRequests, startTestApiServer, waitFor, type Json } from '../helpers/apiserver.js';
import { Kubectl } from '../helpers/apiserver-kubectl.js';

// Custom resources served from applied CRDs (issue 16): MetalLB's IPAddressPool and
// L2Advertisement from config/01-crds-metallb.yaml, applied with the real kubectl, then used
// through client-node's CustomObjectsApi and Watch, raw HTTP and kubectl. Compared with the real
// kube-apiserver in test/k8s-real/fidelity-diff-crd.test.ts.

const CRDS = fileURLToPath(new URL('../../../config/01-crds-metallb.yaml', import.meta.url));
const G = 'metallb.io';
const V = 'v1beta1';
const NS = 'fulcrum-system';
const POOLS = `/apis/${G}/${V}/namespaces/${NS}/ipaddresspools`;
const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

/** A CRD with what MetalLB's lack: an enum, a minimum, short names, categories, no printer columns, cluster scope. */
const WIDGETS: Json = {
  apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.test.fulcrum-lb.io' },
  spec: {
    group: 'test.fulcrum-lb.io', scope: 'Cluster',
    names: { plural: 'widgets', kind: 'Widget', shortNames: ['wd'], categories: ['fulcrum'] },
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: {
      spec: { type: 'object', required: ['mode'], properties: {
        mode: { type: 'string', enum: ['fast', 'safe'] },
        size: { type: 'integer', minimum: 1, default: 3 },
        extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      } },
    } } } }],
  },
};

function pool(name: string, spec: Json = { addresses: ['192.0.2.0/28'] }, labels?: Record<string, string>): Json {
  return { apiVersion: `${G}/${V}`, kind: 'IPAddressPool', metadata: { name, namespace: NS, ...(labels ? { labels } : {}) }, spec };
}

async function established(api: ApiServer, name: string): Promise<void> {
  await waitFor(`CRD ${name} established`, async () => {
    const r = await raw(api, 'GET', `${CRD_PATH}/${name}`);
    return (r.json.status?.conditions ?? []).some((c: Json) => c.type === 'Established' && c.status === 'True');
  });
}

describe('the API emulator serves custom resources from applied CRDs', function () {
  this.timeout(60_000);
  let api: ApiServer;
  let k: Kubectl;
  let objects: k8s.CustomObjectsApi;

  before(async () => {
    api = await startTestApiServer();
    k = await Kubectl.create(api);
    const applied = await k.run(['apply', '-f', CRDS]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /customresourcedefinition\.apiextensions\.k8s\.io\/ipaddresspools\.metallb\.io created/);
    for (const n of ['ipaddresspools.metallb.io', 'l2advertisements.metallb.io']) await established(api, n);
    objects = kubeConfigFor(api).makeApiClient(k8s.CustomObjectsApi);
  });
  after(async () => {
    reportRequests(api, 'crd');
    await api.stop();
    await k.cleanup();
  });

  it('a CRD is established: NamesAccepted and Established True, acceptedNames, storedVersions; a second apply changes nothing', async () => {
    const crd = (await raw(api, 'GET', `${CRD_PATH}/ipaddresspools.metallb.io`)).json;
    assert.deepEqual(crd.status.conditions.map((c: Json) => [c.type, c.status, c.reason]), [['NamesAccepted', 'True', 'NoConflicts'], ['Established', 'True', 'InitialNamesAccepted']]);
    assert.deepEqual(crd.status.acceptedNames, { plural: 'ipaddresspools', singular: 'ipaddresspool', kind: 'IPAddressPool', listKind: 'IPAddressPoolList' });
    assert.deepEqual(crd.status.storedVersions, ['v1beta1']);
    assert.deepEqual(crd.spec.conversion, { strategy: 'None' });
    const again = await k.run(['apply', '-f', CRDS]);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /created|configured/);
  });

  it('discovery lists the group and its resources with the custom-resource verbs; short names and categories of a CRD that has them', async () => {
    const groups = (await raw(api, 'GET', '/apis')).json.groups as Json[];
    assert.deepEqual(groups.find((g) => g.name === G)?.preferredVersion, { groupVersion: `${G}/${V}`, version: V });
    const list = (await raw(api, 'GET', `/apis/${G}/${V}`)).json;
    assert.deepEqual(list.resources.map((r: Json) => r.name), ['ipaddresspools', 'ipaddresspools/status', 'l2advertisements', 'l2advertisements/status']);
    assert.deepEqual(list.resources[0].verbs, ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch']);
    assert.equal((await raw(api, 'POST', CRD_PATH, { body: WIDGETS })).status, 201);
    try {
      await established(api, WIDGETS.metadata.name);
      const w = (await raw(api, 'GET', '/apis/test.fulcrum-lb.io/v1')).json.resources[0];
      assert.deepEqual([w.name, w.namespaced, w.shortNames, w.categories], ['widgets', false, ['wd'], ['fulcrum']]);
      const names = (await k.run(['api-resources', '-o', 'name'])).stdout.split('\n');
      assert.ok(names.includes('ipaddresspools.metallb.io') && names.includes('widgets.test.fulcrum-lb.io'), names.join(' '));
    } finally {
      await raw(api, 'DELETE', `${CRD_PATH}/${WIDGETS.metadata.name}`);
    }
  });

  it('CustomObjectsApi: create with defaults, list by label selector and field selector, get; unknown fields pruned with a warning', async () => {
    const made = (await objects.createNamespacedCustomObject({ group: G, version: V, namespace: NS, plural: 'ipaddresspools', body: pool('front', { addresses: ['192.0.2.0/28'], bogus: 1 }, { tier: 'front' }) })) as Json;
    assert.deepEqual(made.spec, { addresses: ['192.0.2.0/28'], autoAssign: true, avoidBuggyIPs: false }, 'defaults filled, bogus pruned');
    assert.equal(made.metadata.generation, 1);
    await objects.createNamespacedCustomObject({ group: G, version: V, namespace: NS, plural: 'ipaddresspools', body: pool('back', { addresses: ['192.0.2.64/28'], autoAssign: false }, { tier: 'back' }) });
    try {
      const front = (await objects.listNamespacedCustomObject({ group: G, version: V, namespace: NS, plural: 'ipaddresspools', labelSelector: 'tier=front' })) as Json;
      assert.deepEqual([front.kind, front.items.map((i: Json) => i.metadata.name)], ['IPAddressPoolList', ['front']]);
      const all = (await objects.listClusterCustomObject({ group: G, version: V, plural: 'ipaddresspools', labelSelector: 'tier in (front,back)' })) as Json;
      assert.deepEqual(all.items.map((i: Json) => i.metadata.name), ['back', 'front']);
      assert.deepEqual((await raw(api, 'GET', `${POOLS}?fieldSelector=metadata.name%3Dback`)).json.items.map((i: Json) => i.spec.autoAssign), [false]);
      const bad = await raw(api, 'GET', `${POOLS}?fieldSelector=spec.autoAssign%3Dtrue`);
      assert.equal(bad.status, 400, 'only metadata.name and metadata.namespace, as the real server');
      const got = (await objects.getNamespacedCustomObject({ group: G, version: V, namespace: NS, plural: 'ipaddresspools', name: 'back' })) as Json;
      assert.equal(got.kind, 'IPAddressPool');
      const warned = await raw(api, 'POST', POOLS, { body: pool('warned', { addresses: [], zz: 1 }) });
      assert.equal(warned.headers.warning, '299 - "unknown field \\"spec.zz\\""');
      const strict = await raw(api, 'POST', `${POOLS}?fieldValidation=Strict`, { body: pool('strict', { addresses: [], zz: 1 }) });
      assert.equal(strict.json.message, 'IPAddressPool in version "v1beta1" cannot be handled as a IPAddressPool: strict decoding error: unknown field "spec.zz"');
    } finally {
      await raw(api, 'DELETE', POOLS);
    }
  });

  it('validation: a bad type, a missing required field, an enum and a minimum are 422 with the real server\'s causes', async () => {
    const bad = await raw(api, 'POST', POOLS, { body: pool('bad', { addresses: 'x', autoAssign: 'yes' }) });
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.json.details.causes, [
      { reason: 'FieldValueTypeInvalid', message: 'Invalid value: "string": spec.addresses in body must be of type array: "string"', field: 'spec.addresses' },
      { reason: 'FieldValueTypeInvalid', message: 'Invalid value: "string": spec.autoAssign in body must be of type boolean: "string"', field: 'spec.autoAssign' },
    ]);
    assert.equal(bad.json.message.split(':')[0], 'IPAddressPool.metallb.io "bad" is invalid');
    const missing = await raw(api, 'POST', POOLS, { body: { ...pool('nospec'), spec: undefined } });
    assert.equal(missing.json.message, 'IPAddressPool.metallb.io "nospec" is invalid: spec: Required value');
    const sel = await raw(api, 'POST', POOLS, { body: pool('sel', { addresses: [], serviceAllocation: { serviceSelectors: [{ matchExpressions: [{ key: 'a' }] }] } }) });
    assert.equal(sel.json.message, 'IPAddressPool.metallb.io "sel" is invalid: spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].operator: Required value');
    assert.equal((await raw(api, 'POST', CRD_PATH, { body: WIDGETS })).status, 201);
    try {
      await established(api, WIDGETS.metadata.name);
      const W = '/apis/test.fulcrum-lb.io/v1/widgets';
      const e = await raw(api, 'POST', W, { body: { apiVersion: 'test.fulcrum-lb.io/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { mode: 'slow', size: 0 } } });
      assert.equal(e.json.message, 'Widget.test.fulcrum-lb.io "w" is invalid: [spec.mode: Unsupported value: "slow": supported values: "fast", "safe", spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1]');
      const ok = await raw(api, 'POST', W, { body: { apiVersion: 'test.fulcrum-lb.io/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { mode: 'fast', extra: { any: { thing: 1 } } } } });
      assert.deepEqual(ok.json.spec, { extra: { any: { thing: 1 } }, mode: 'fast', size: 3 }, 'x-kubernetes-preserve-unknown-fields keeps, default fills');
    } finally {
      await raw(api, 'DELETE', `${CRD_PATH}/${WIDGETS.metadata.name}`);
    }
  });

  it('patches: merge and JSON patch bump the generation, strategic merge is 415; the status subresource keeps spec and generation', async () => {
    await raw(api, 'POST', POOLS, { body: pool('p') });
    try {
      const merged = await raw(api, 'PATCH', `${POOLS}/p`, { body: { spec: { avoidBuggyIPs: true } }, contentType: 'application/merge-patch+json' });
      assert.deepEqual([merged.status, merged.json.spec.avoidBuggyIPs, merged.json.metadata.generation], [200, true, 2]);
      const json = await raw(api, 'PATCH', `${POOLS}/p`, { body: [{ op: 'add', path: '/spec/addresses/-', value: '192.0.2.99/32' }], contentType: 'application/json-patch+json' });
      assert.deepEqual([json.json.spec.addresses, json.json.metadata.generation], [['192.0.2.0/28', '192.0.2.99/32'], 3]);
      const smp = await raw(api, 'PATCH', `${POOLS}/p`, { body: { spec: { autoAssign: false } }, contentType: 'application/strategic-merge-patch+json' });
      assert.deepEqual([smp.status, smp.json.message], [415, 'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml']);
      const status = await raw(api, 'PATCH', `${POOLS}/p/status`, { body: { spec: { autoAssign: false }, status: { assignedIPv4: 2 } }, contentType: 'application/merge-patch+json' });
      assert.deepEqual([status.json.status, status.json.spec.autoAssign, status.json.metadata.generation], [{ assignedIPv4: 2 }, true, 3]);
      const put = await raw(api, 'PUT', `${POOLS}/p`, { body: { ...status.json, status: { assignedIPv4: 9 } } });
      assert.deepEqual(put.json.status, { assignedIPv4: 2 }, 'status in a main-resource write is dropped');
    } finally {
      await raw(api, 'DELETE', `${POOLS}/p`);
    }
  });

  it('a client-node Watch from the list resourceVersion sees ADDED, MODIFIED and DELETED in order', async () => {
    const listed = (await objects.listNamespacedCustomObject({ group: G, version: V, namespace: NS, plural: 'l2advertisements' })) as Json;
    const seen: [string, string, unknown][] = [];
    const req = await new k8s.Watch(kubeConfigFor(api)).watch(`/apis/${G}/${V}/namespaces/${NS}/l2advertisements`, { resourceVersion: listed.metadata.resourceVersion }, (type: string, o: Json) => {
      seen.push([type, o.metadata.name, o.spec?.interfaces]);
    }, () => undefined);
    try {
      const body = { apiVersion: `${G}/${V}`, kind: 'L2Advertisement', metadata: { name: 'l2', namespace: NS }, spec: { ipAddressPools: ['front'] } };
      await objects.createNamespacedCustomObject({ group: G, version: V, namespace: NS, plural: 'l2advertisements', body });
      await objects.patchNamespacedCustomObject({ group: G, version: V, namespace: NS, plural: 'l2advertisements', name: 'l2', body: [{ op: 'add', path: '/spec/interfaces', value: ['eth0'] }] });
      await objects.deleteNamespacedCustomObject({ group: G, version: V, namespace: NS, plural: 'l2advertisements', name: 'l2' });
      await waitFor('three watch events', () => seen.length >= 3);
      assert.deepEqual(seen, [['ADDED', 'l2', undefined], ['MODIFIED', 'l2', ['eth0']], ['DELETED', 'l2', ['eth0']]]);
    } finally {
      req.abort();
    }
  });

  it('kubectl: apply, get -A with the CRD\'s printer columns, -o yaml, delete', async () => {
    const manifest = `apiVersion: ${G}/${V}\nkind: IPAddressPool\nmetadata: {name: lab-a, namespace: ${NS}}\nspec:\n  addresses: [192.0.2.0/28, 192.0.2.64-192.0.2.70]\n  avoidBuggyIPs: true\n`;
    const applied = await k.run(['apply', '-f', '-'], manifest);
    assert.equal(applied.code, 0, applied.stderr);
    try {
      const table = (await k.run(['get', 'ipaddresspools', '-A'])).stdout.trim().split('\n').map((l) => l.split(/\s{2,}/));
      assert.deepEqual(table, [['NAMESPACE', 'NAME', 'AUTO ASSIGN', 'AVOID BUGGY IPS', 'ADDRESSES'], [NS, 'lab-a', 'true', 'true', '["192.0.2.0/28","192.0.2.64-192.0.2.70"]']]);
      const yaml = (await k.run(['get', 'ipaddresspool', 'lab-a', '-n', NS, '-o', 'yaml'])).stdout;
      assert.match(yaml, /^apiVersion: metallb\.io\/v1beta1\nkind: IPAddressPool\n/);
      assert.match(yaml, /autoAssign: true/);
      const again = await k.run(['apply', '-f', '-'], manifest.replace('avoidBuggyIPs: true', 'avoidBuggyIPs: false'));
      assert.match(again.stdout, /ipaddresspool\.metallb\.io\/lab-a configured/, again.stderr);
      assert.equal((await k.run(['get', 'ipaddresspool', 'lab-a', '-n', NS, '-o', 'jsonpath={.spec.avoidBuggyIPs}'])).stdout, 'false');
    } finally {
      const deleted = await k.run(['delete', 'ipaddresspool', 'lab-a', '-n', NS]);
      assert.match(deleted.stdout, /ipaddresspool\.metallb\.io "lab-a" deleted/, deleted.stderr);
    }
  });

  it('RBAC by apiGroup and resource: a Role on ipaddresspools in metallb.io may list, another user gets a 403 naming ipaddresspools.metallb.io', async () => {
    const role = { metadata: { name: 'pools-reader', namespace: NS }, rules: [{ apiGroups: [G], resources: ['ipaddresspools'], verbs: ['get', 'list', 'watch'] }] };
    const binding = { metadata: { name: 'pools-reader', namespace: NS }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pools-reader' }, subjects: [{ kind: 'User', name: 'reader' }] };
    const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}`;
    await raw(api, 'POST', `${rbac}/roles`, { body: role });
    await raw(api, 'POST', `${rbac}/rolebindings`, { body: binding });
    try {
      assert.equal((await raw(api, 'GET', POOLS, { token: api.userToken('reader') })).status, 200);
      const l2 = await raw(api, 'GET', `/apis/${G}/${V}/namespaces/${NS}/l2advertisements`, { token: api.userToken('reader') });
      assert.equal(l2.status, 403, 'the Role names ipaddresspools only');
      const other = await raw(api, 'GET', POOLS, { token: api.userToken('other') });
      assert.deepEqual([other.status, other.json.message], [403, `ipaddresspools.metallb.io is forbidden: User "other" cannot list resource "ipaddresspools" in API group "metallb.io" in the namespace "${NS}"`]);
    } finally {
      await raw(api, 'DELETE', `${rbac}/rolebindings/pools-reader`);
      await raw(api, 'DELETE', `${rbac}/roles/pools-reader`);
    }
  });

  it('CRD validation: a name that is not plural.group, no storage version, a bad scope are 422 as the real server words them', async () => {
    const r = await raw(api, 'POST', CRD_PATH, { body: { metadata: { name: 'widgets.x.io' }, spec: { group: 'y.io', names: { plural: 'widgets', kind: 'Widget' }, scope: 'Somewhere', versions: [] } } });
    assert.equal(r.status, 422);
    assert.deepEqual(r.json.details.causes.map((c: Json) => `${c.field}: ${c.message}`), [
      'metadata.name: Invalid value: "widgets.x.io": must be spec.names.plural+"."+spec.group',
      'spec.scope: Unsupported value: "Somewhere": supported values: "Cluster", "Namespaced"',
      'spec.versions: Invalid value: []: must have exactly one version marked as storage version',
      'status.storedVersions: Invalid value: null: must have at least one stored version',
    ]);
  });

  it('deleting the CRD deletes its objects (DELETED on the watch), ends the watch, and the resource is no longer served', async () => {
    await raw(api, 'POST', POOLS, { body: pool('doomed') });
    const list = (await raw(api, 'GET', POOLS)).json;
    const w = new RawWatch(api, `${POOLS}?watch=true&resourceVersion=${list.metadata.resourceVersion}`);
    try {
      const del = await raw(api, 'DELETE', `${CRD_PATH}/ipaddresspools.metallb.io`);
      assert.deepEqual([del.status, del.json.metadata.finalizers, del.json.status.conditions.at(-1).type], [200, ['customresourcecleanup.apiextensions.k8s.io'], 'Terminating']);
      await w.ended;
      assert.deepEqual(w.events.map((e) => [e.type, e.object.metadata.name]), [['DELETED', 'doomed']]);
      await waitFor('the CRD gone', async () => (await raw(api, 'GET', `${CRD_PATH}/ipaddresspools.metallb.io`)).status === 404);
      assert.equal((await raw(api, 'GET', POOLS)).status, 404);
      assert.deepEqual((await raw(api, 'GET', `/apis/${G}/${V}`)).json.resources.map((r: Json) => r.name), ['l2advertisements', 'l2advertisements/status']);
    } finally {
      w.close();
      await raw(api, 'DELETE', `${CRD_PATH}/l2advertisements.metallb.io`);
    }
  });
});
