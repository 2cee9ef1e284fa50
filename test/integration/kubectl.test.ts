import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { ApiServer } from '../../lab/apiserver/index.js';
import { raw, reportRequests, startTestApiServer, waitFor, type Json } from '../helpers/apiserver.js';
import { Kubectl, kubectl132 } from '../helpers/apiserver-kubectl.js';

const CONFIG_DIR = fileURLToPath(new URL('../../../config/', import.meta.url));

// The real kubectl against the emulator (fidelity spec §2 and §12 item 13). There is no
// OpenAPI, so create/apply/replace run with --validate=false.
describe('kubectl against the apiserver emulator', function () {
  this.timeout(60_000);
  let api: ApiServer;
  let k: Kubectl;

  before(async () => {
    api = await startTestApiServer();
    k = await Kubectl.create(api);
  });
  after(async () => {
    reportRequests(api, 'kubectl');
    await api.stop();
    await k.cleanup();
  });

  async function ok(args: string[], input?: string): Promise<string> {
    const r = await k.run(args, input);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  it('reads /version and discovers every served group', async () => {
    const v = JSON.parse(await ok(['version', '-o', 'json'])) as Json;
    assert.equal(v.serverVersion.gitVersion, 'v1.31.0');
    const names = (await ok(['api-resources', '-o', 'name'])).trim().split('\n');
    for (const n of ['services', 'endpoints', 'nodes', 'pods', 'configmaps', 'secrets', 'events', 'namespaces', 'leases.coordination.k8s.io', 'endpointslices.discovery.k8s.io', 'events.events.k8s.io', 'roles.rbac.authorization.k8s.io', 'deployments.apps']) {
      assert.ok(names.includes(n), `api-resources lists ${n}`);
    }
  });

  it('applies config/ with --validate=false, and again with nothing changed', async () => {
    const first = await ok(['apply', '--validate=false', '-f', CONFIG_DIR]);
    assert.match(first, /deployment\.apps\/fulcrum-allocator created/);
    assert.match(first, /daemonset\.apps\/fulcrum-speaker created/);
    assert.match(first, /configmap\/config created/);
    const second = await ok(['apply', '--validate=false', '-f', CONFIG_DIR]);
    assert.doesNotMatch(second, /created|configured/, 'a second apply changes nothing');
    assert.equal(await ok(['get', 'deploy', '-n', 'fulcrum-system', 'fulcrum-allocator', '-o', 'jsonpath={.spec.replicas}']), '2');
    assert.equal(await ok(['get', 'ds', '-n', 'fulcrum-system', 'fulcrum-speaker', '-o', 'jsonpath={.spec.template.spec.hostNetwork}']), 'true');
    assert.match(await ok(['get', 'cm', 'config', '-n', 'fulcrum-system', '-o', 'jsonpath={.data.config}']), /address-pools/);
  });

  it('without --validate=false, apply fails and says how to turn validation off (no OpenAPI)', async () => {
    const r = await k.run(['apply', '-f', CONFIG_DIR]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--validate=false/);
  });

  it('gets a Service as YAML with the server-side defaults', async () => {
    const svc = parseYaml(await ok(['get', 'svc', 'web', '-o', 'yaml'])) as Json;
    assert.equal(svc.kind, 'Service');
    assert.match(svc.spec.clusterIP, /^203\.0\.113\./);
    assert.equal(svc.spec.allocateLoadBalancerNodePorts, true);
    assert.equal(typeof svc.metadata.resourceVersion, 'string');
  });

  it('describes a Service with its events', async () => {
    const svc = (await raw(api, 'GET', '/api/v1/namespaces/default/services/web')).json;
    const ev = await raw(api, 'POST', '/api/v1/namespaces/default/events', {
      body: {
        metadata: { name: 'web.fulcrum1' },
        involvedObject: { kind: 'Service', namespace: 'default', name: 'web', uid: svc.metadata.uid, apiVersion: 'v1' },
        reason: 'IPAllocated',
        message: 'Assigned IP ["192.0.2.100"]',
        type: 'Normal',
        source: { component: 'fulcrum-allocator' },
        firstTimestamp: '2026-01-01T00:00:00Z',
        lastTimestamp: '2026-01-01T00:00:00Z',
        count: 1,
      },
    });
    assert.equal(ev.status, 201, ev.text);
    const out = await ok(['describe', 'svc', 'web']);
    assert.match(out, /Events:/);
    assert.match(out, /IPAllocated/);
    assert.match(out, /Assigned IP \["192\.0\.2\.100"\]/);
  });

  it('patches with strategic merge, merge, JSON patch and on the status subresource', async () => {
    await ok(['patch', 'svc', 'web', '-p', '{"metadata":{"labels":{"smp":"yes"}}}']);
    await ok(['patch', 'svc', 'web', '--type=merge', '-p', '{"metadata":{"labels":{"merge":"yes"}}}']);
    await ok(['patch', 'svc', 'web', '--type=json', '-p', '[{"op":"add","path":"/metadata/labels/json","value":"yes"}]']);
    await ok(['patch', 'svc', 'web', '--subresource=status', '--type=merge', '-p', '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.100","ipMode":"Proxy"}]}}}']);
    await ok(['label', 'svc', 'web', 'labelled=yes']);
    await ok(['annotate', 'svc', 'web', 'note=hi']);
    const svc = JSON.parse(await ok(['get', 'svc', 'web', '-o', 'json'])) as Json;
    assert.deepEqual([svc.metadata.labels.smp, svc.metadata.labels.merge, svc.metadata.labels.json, svc.metadata.labels.labelled], ['yes', 'yes', 'yes', 'yes']);
    assert.equal(svc.metadata.annotations.note, 'hi');
    assert.deepEqual(svc.status.loadBalancer.ingress, [{ ip: '192.0.2.100', ipMode: 'Proxy' }]);
  });

  it('shows a few events with get --watch', async () => {
    const w = k.spawn(['get', 'cm', '-n', 'default', '--watch', '--output-watch-events', '-o', 'jsonpath={.type} {.object.metadata.name}{"\\n"}']);
    try {
      // the watch is open once kubectl has listed; poll until a marker shows up
      await waitFor('kubectl watch to start', async () => {
        await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { body: { metadata: { generateName: 'marker-' } } });
        return w.lines.some((l) => l.startsWith('ADDED marker-'));
      }, 20_000, 200);
      await ok(['apply', '--validate=false', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: watched}\ndata: {a: "1"}\n');
      await ok(['patch', 'cm', 'watched', '--type=merge', '-p', '{"data":{"a":"2"}}']);
      await ok(['delete', 'cm', 'watched']);
      await waitFor('three events for "watched"', () => w.lines.filter((l) => l.endsWith(' watched')).length >= 3, 20_000);
      assert.deepEqual(w.lines.filter((l) => l.endsWith(' watched')), ['ADDED watched', 'MODIFIED watched', 'DELETED watched']);
    } finally {
      w.child.kill('SIGTERM');
    }
  });

  it('deletes (and waits for) a Service and its Endpoints', async () => {
    assert.match(await ok(['delete', 'svc', 'web']), /service "web" deleted/);
    const r = await k.run(['get', 'svc', 'web']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /NotFound|not found/);
    assert.equal((await raw(api, 'GET', '/api/v1/namespaces/default/endpoints/web')).status, 404);
  });

  it('deletes an object with a finalizer only once the finalizer is removed (delete waits with a watch)', async () => {
    await ok(['apply', '--validate=false', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, finalizers: [fulcrum-lb.io/hold]}\n');
    const del = k.run(['delete', 'cm', 'held', '--timeout=20s']);
    await waitFor('deletionTimestamp', async () => (await raw(api, 'GET', '/api/v1/namespaces/default/configmaps/held')).json.metadata?.deletionTimestamp);
    await raw(api, 'PATCH', '/api/v1/namespaces/default/configmaps/held', { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' });
    const r = await del;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /configmap "held" deleted/);
  });

  it('kubectl 1.32 imperative create sends protobuf and gets 415; the manifest route works', async function () {
    const bin = kubectl132();
    if (!bin) this.skip();
    const k132 = await Kubectl.create(api, { binary: bin! });
    try {
      const r = await k132.run(['create', 'configmap', 'imperative', '--from-literal=a=b']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /415: Unsupported Media Type/);
      const manifest = await k132.run(['create', 'configmap', 'imperative', '--from-literal=a=b', '--dry-run=client', '-o', 'yaml']);
      const applied = await k132.run(['apply', '--validate=false', '-f', '-'], manifest.stdout);
      assert.equal(applied.code, 0, applied.stderr);
    } finally {
      await k132.cleanup();
    }
  });
});
