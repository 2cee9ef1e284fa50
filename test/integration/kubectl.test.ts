import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { ApiServer } from '../../lab/apiserver/index.js';
import { raw, reportRequests, startTestApiServer, waitFor, type Json } from '../helpers/apiserver.js';
import { Kubectl, kubectl132 } from '../helpers/apiserver-kubectl.js';

const CONFIG_DIR = fileURLToPath(new URL('../../../config/', import.meta.url));
const readConfig = (file: string): string => readFileSync(`${CONFIG_DIR}${file}`, 'utf8');

// The real kubectl against the emulator (fidelity spec §2 and §12 item 13). The emulator serves
// OpenAPI v3 with the fieldValidation parameter, so kubectl's default --validate=strict leaves
// validation to the server (fieldValidation=Strict) and create/apply/replace need no flag.
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

  it('applies config/ with the default validation, and again with nothing changed', async () => {
    const first = await k.run(['apply', '-f', CONFIG_DIR]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /deployment\.apps\/fulcrum-allocator created/);
    assert.match(first.stdout, /daemonset\.apps\/fulcrum-speaker created/);
    assert.match(first.stdout, /configmap\/config created/);
    // fulcrum-system exists from the start, so kubectl adds its last-applied annotation; nothing else on stderr
    assert.deepEqual(first.stderr.split('\n').filter((l) => l && !/missing the kubectl\.kubernetes\.io\/last-applied-configuration annotation/.test(l)), []);
    const second = await ok(['apply', '-f', CONFIG_DIR]);
    assert.doesNotMatch(second, /created|configured/, 'a second apply changes nothing');
    assert.equal(await ok(['get', 'deploy', '-n', 'fulcrum-system', 'fulcrum-allocator', '-o', 'jsonpath={.spec.replicas}']), '2');
    assert.equal(await ok(['get', 'ds', '-n', 'fulcrum-system', 'fulcrum-speaker', '-o', 'jsonpath={.spec.template.spec.hostNetwork}']), 'true');
    assert.match(await ok(['get', 'cm', 'config', '-n', 'fulcrum-system', '-o', 'jsonpath={.data.config}']), /address-pools/);
  });

  it('a second apply with changes patches a Deployment, a ConfigMap, a Service, RBAC and a Namespace (compiled-in merge keys)', async () => {
    const changed = [
      readConfig('00-namespace.yaml').replace('    app.kubernetes.io/part-of: fulcrum', '    app.kubernetes.io/part-of: fulcrum\n    team: lb'),
      readConfig('10-rbac-allocator.yaml').replace('verbs: [get, list, watch, update, patch]', 'verbs: [get, list, watch, update]'),
      readConfig('20-config.yaml').replace('labels: {app.kubernetes.io/part-of: fulcrum}', 'labels: {app.kubernetes.io/part-of: fulcrum, edited: "yes"}'),
      readConfig('30-allocator.yaml').replace('replicas: 2', 'replicas: 3').replace('cpu: 50m', 'cpu: 60m'),
      readConfig('90-sample-services.yaml').replace('{name: http, port: 80, targetPort: http}', '{name: http, port: 8080, targetPort: http}'),
    ].join('\n---\n');
    const r = await k.run(['apply', '-f', '-'], changed);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'no warning (kubectl found no v3 schema to merge with and used its compiled-in types)');
    for (const what of ['namespace/fulcrum-system', 'clusterrole.rbac.authorization.k8s.io/fulcrum-allocator', 'configmap/config', 'deployment.apps/fulcrum-allocator', 'service/web']) {
      assert.match(r.stdout, new RegExp(`${what.replace(/\./g, '\\.')} configured`), what);
    }
    assert.equal(await ok(['get', 'ns', 'fulcrum-system', '-o', 'jsonpath={.metadata.labels.team}']), 'lb');
    assert.equal(await ok(['get', 'deploy', '-n', 'fulcrum-system', 'fulcrum-allocator', '-o', 'jsonpath={.spec.replicas} {.spec.template.spec.containers[0].resources.requests.cpu} {.spec.template.spec.containers[0].env[0].name}']), '3 60m POD_NAME');
    const web = JSON.parse(await ok(['get', 'svc', 'web', '-o', 'json'])) as Json;
    assert.deepEqual(web.spec.ports.map((p: Json) => [p.name, p.port]), [['http', 8080]], 'ports merged by port: the old one removed, the new one added');
  });

  it('create -f of a Service with a typo fails naming the field; --validate=warn warns and drops it; --validate=false drops it silently', async () => {
    const manifest = 'apiVersion: v1\nkind: Service\nmetadata: {name: typo}\nspec:\n  selector: {app: typo}\n  prots: [{port: 80}]\n  ports: [{port: 80}]\n';
    const strict = await k.run(['create', '-f', '-'], manifest);
    assert.notEqual(strict.code, 0);
    assert.equal(strict.stderr.trim(), 'Error from server (BadRequest): error when creating "STDIN": Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field "spec.prots"');
    assert.equal((await raw(api, 'GET', '/api/v1/namespaces/default/services/typo')).status, 404);
    const warn = await k.run(['create', '--validate=warn', '-f', '-'], manifest);
    assert.equal(warn.code, 0, warn.stderr);
    assert.equal(warn.stderr.trim(), 'Warning: unknown field "spec.prots"');
    assert.match(warn.stdout, /service\/typo created/);
    assert.equal((await raw(api, 'GET', '/api/v1/namespaces/default/services/typo')).json.spec.prots, undefined);
    await ok(['delete', 'svc', 'typo']);
    const off = await k.run(['create', '--validate=false', '-f', '-'], manifest);
    assert.equal(off.code, 0, off.stderr);
    assert.equal(off.stderr, '');
    await ok(['delete', 'svc', 'typo']);
  });

  it('apply and replace name the unknown field too; kubectl patch (no fieldValidation) gets the server\'s default Warn', async () => {
    const apply = await k.run(['apply', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typo}\ndatas: {a: b}\n');
    assert.match(apply.stderr, /error when creating "STDIN": ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "datas"/);
    const replace = await k.run(['replace', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: fulcrum-system}\ndatas: {a: b}\n');
    assert.match(replace.stderr, /error when replacing "STDIN": ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "datas"/);
    const patch = await k.run(['patch', 'svc', 'web', '-p', '{"spec":{"prots":[]}}']);
    assert.equal(patch.code, 0, patch.stderr);
    assert.equal(patch.stderr.trim(), 'Warning: unknown field "spec.prots"');
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
      await ok(['apply', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: watched}\ndata: {a: "1"}\n');
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
    await ok(['apply', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, finalizers: [fulcrum-lb.io/hold]}\n');
    const del = k.run(['delete', 'cm', 'held', '--timeout=20s']);
    await waitFor('deletionTimestamp', async () => (await raw(api, 'GET', '/api/v1/namespaces/default/configmaps/held')).json.metadata?.deletionTimestamp);
    await raw(api, 'PATCH', '/api/v1/namespaces/default/configmaps/held', { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' });
    const r = await del;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /configmap "held" deleted/);
  });

  it('kubectl 1.32 imperative create sends protobuf and gets 415 (no JSON retry); the manifest route works', async function () {
    const bin = kubectl132();
    if (!bin) this.skip();
    const k132 = await Kubectl.create(api, { binary: bin! });
    try {
      const r = await k132.run(['create', 'configmap', 'imperative', '--from-literal=a=b', '-v=8']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Content-Type: application\/vnd\.kubernetes\.protobuf/);
      assert.equal(r.stderr.match(/POST https?:\/\/\S+\/configmaps/g)?.length ?? r.stderr.match(/verb="POST"/g)?.length, 1, 'one POST: client-go retries only CBOR as JSON, never protobuf');
      assert.match(r.stderr, /error: failed to create configmap: 415: Unsupported Media Type/);
      const typo = await k132.run(['create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typo132}\ndatas: {a: b}\n');
      assert.equal(typo.stderr.trim(), 'Error from server (BadRequest): error when creating "STDIN": ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "datas"', 'manifests go as JSON, validated by the server');
      const manifest = await k132.run(['create', 'configmap', 'imperative', '--from-literal=a=b', '--dry-run=client', '-o', 'yaml']);
      const applied = await k132.run(['apply', '-f', '-'], manifest.stdout);
      assert.equal(applied.code, 0, applied.stderr);
    } finally {
      await k132.cleanup();
    }
  });

  it('kubectl 1.31 (what the gcloud kubectl dispatcher runs against this v1.31 server) sends JSON: imperative create works', async function () {
    const bin = ['/usr/lib/google-cloud-sdk/bin/kubectl.1.31'].find((p) => existsSync(p));
    if (!bin) this.skip();
    const k131 = await Kubectl.create(api, { binary: bin! });
    try {
      const r = await k131.run(['create', 'configmap', 'imperative131', '--from-literal=a=b']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await raw(api, 'GET', '/api/v1/namespaces/default/configmaps/imperative131')).json.data?.a, 'b');
    } finally {
      await k131.cleanup();
    }
  });
});
