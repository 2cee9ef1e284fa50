import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { ApiServer } from '../../lab/apiserver/index.js';
import { RESOURCES } from '../../lab/apiserver/resources.js';
import { kindFields } from '../../lab/apiserver/schema/kinds.js';
import { findingText, jsonPatchFindings, scanJsonBody, unknownFields } from '../../lab/apiserver/schema/unknown-fields.js';
import { nodePlan, podPlan } from '../../lab/addressing.js';
import { applyObject, type ApiTarget } from '../../lab/kube-rest.js';
import { LabKubelet } from '../../lab/kubelet.js';
import { LAB_CONFIGMAP, POD_CONTAINER_PORTS, SAMPLE_SERVICES } from '../../lab/samples.js';
import { EventRecorder } from '../../src/k8s/events.js';
import { NodeAliveLease } from '../../src/k8s/alive-lease.js';
import { createApiClients } from '../../src/k8s/client.js';
import { writeServiceLoadBalancerStatus } from '../../src/k8s/status-writer.js';
import * as k8s from '@kubernetes/client-node';
import { raw, reportRequests, startTestApiServer, type Json } from '../helpers/apiserver.js';

const CONFIG_DIR = fileURLToPath(new URL('../../../config/', import.meta.url));
const SVC = '/api/v1/namespaces/default/services';

/** The texts of a response's `Warning: 299 - "…"` headers (Node joins repeated headers with ", "). */
function warnings(headers: Json): string[] {
  const v = headers.warning as string | undefined;
  if (!v) return [];
  return [...v.matchAll(/299 - "((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!.replace(/\\(.)/g, '$1'));
}

// Server-side field validation (fieldValidation=Strict|Warn|Ignore, kube-apiserver ≥ 1.27): the
// messages and their order are kube-apiserver's (test/integration/apiserver/field_validation_test.go).
describe('apiserver emulator: field validation', () => {
  let api: ApiServer;

  before(async () => {
    api = await startTestApiServer();
  });
  after(async () => {
    reportRequests(api, 'field validation');
    await api.stop();
  });

  // Unknown and duplicate fields in document order; a duplicated unknown field is reported once.
  const TYPO = `{"apiVersion":"v1","kind":"Service","metadata":{"name":"%s","name":"%s","labelz":{"a":"b"}},"spec":{"prots":[{"port":1}],"prots":[],"type":"ClusterIP","type":"ClusterIP","ports":[{"port":80,"nmae":"http"}]}}`;
  const TYPO_FINDINGS = 'duplicate field "metadata.name", unknown field "metadata.labelz", unknown field "spec.prots", duplicate field "spec.type", unknown field "spec.ports[0].nmae"';
  const typo = (name: string): string => TYPO.replaceAll('%s', name);

  it('Strict: a create naming every unknown and duplicate field is a 400, nothing stored', async () => {
    const r = await raw(api, 'POST', `${SVC}?fieldValidation=Strict`, { body: typo('strict') });
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(r.json, {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'BadRequest', code: 400,
      message: `Service in version "v1" cannot be handled as a Service: strict decoding error: ${TYPO_FINDINGS}`,
    });
    assert.equal((await raw(api, 'GET', `${SVC}/strict`)).status, 404);
  });

  it('Warn, and no parameter at all: accepted with one Warning per field, the unknown fields dropped', async () => {
    for (const [name, query] of [['warned', '?fieldValidation=Warn'], ['defaulted', '']] as const) {
      const r = await raw(api, 'POST', `${SVC}${query}`, { body: typo(name) });
      assert.equal(r.status, 201, r.text);
      assert.deepEqual(warnings(r.headers), TYPO_FINDINGS.split(', '));
      assert.equal(r.json.spec.prots, undefined);
      assert.equal(r.json.metadata.labelz, undefined);
      assert.deepEqual(r.json.spec.ports[0], { port: 80, protocol: 'TCP', targetPort: 80 });
      assert.equal((await raw(api, 'GET', `${SVC}/${name}`)).json.spec.prots, undefined, 'not stored either');
    }
  });

  it('Ignore: accepted silently, the unknown fields dropped', async () => {
    const r = await raw(api, 'POST', `${SVC}?fieldValidation=Ignore`, { body: typo('ignored') });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.warning, undefined);
    assert.equal(r.json.spec.prots, undefined);
  });

  it('a valid object under Strict: no warning, the object as sent', async () => {
    const r = await raw(api, 'POST', `${SVC}?fieldValidation=Strict`, { body: { metadata: { name: 'clean', labels: { a: 'b' } }, spec: { ports: [{ name: 'http', port: 80, targetPort: 'http' }], sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } } } } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.warning, undefined);
  });

  it('an unsupported fieldValidation value is a 422 naming the options kind', async () => {
    const r = await raw(api, 'POST', `${SVC}?fieldValidation=strict`, { body: { metadata: { name: 'x' } } });
    assert.equal(r.status, 422);
    assert.equal(r.json.message, 'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn"');
  });

  it('PUT and PUT /status check the whole body', async () => {
    const cur = (await raw(api, 'GET', `${SVC}/clean`)).json;
    const put = await raw(api, 'PUT', `${SVC}/clean?fieldValidation=Strict`, { body: { ...cur, spec: { ...cur.spec, extra: true } } });
    assert.deepEqual([put.status, put.json.message], [400, 'Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field "spec.extra"']);
    const st = await raw(api, 'PUT', `${SVC}/clean/status?fieldValidation=Strict`, { body: { ...cur, status: { loadBalancer: { ingress: [{ ip: '192.0.2.1', ipmode: 'VIP' }] } } } });
    assert.deepEqual([st.status, st.json.message], [400, 'Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field "status.loadBalancer.ingress[0].ipmode"']);
  });

  it('merge and strategic merge patches: the patch\'s duplicates first, then the result\'s unknown fields in key order, no kind prefix', async () => {
    const body = '{"metadata":{"labels":{"x":"1","x":"2"}},"spec":{"zeta":1,"ports":[{"port":80,"nmae":"a"}],"alpha":2}}';
    for (const contentType of ['application/merge-patch+json', 'application/strategic-merge-patch+json']) {
      const r = await raw(api, 'PATCH', `${SVC}/clean?fieldValidation=Strict`, { body, contentType });
      assert.equal(r.status, 400, `${contentType}: ${r.text}`);
      assert.equal(r.json.message, 'strict decoding error: duplicate field "metadata.labels.x", unknown field "spec.alpha", unknown field "spec.ports[0].nmae", unknown field "spec.zeta"', contentType);
    }
    const warned = await raw(api, 'PATCH', `${SVC}/clean`, { body: '{"spec":{"zeta":1}}', contentType: 'application/merge-patch+json' });
    assert.deepEqual([warned.status, warnings(warned.headers), warned.json.spec.zeta], [200, ['unknown field "spec.zeta"'], undefined]);
  });

  it('JSON patch: unknown and duplicate keys of the operations, then the result\'s unknown fields', async () => {
    const body = '[{"op":"add","path":"/spec/b","value":1,"foo":"bar"},{"op":"add","path":"/spec/x","path":"/spec/a","value":1}]';
    const r = await raw(api, 'PATCH', `${SVC}/clean?fieldValidation=Strict`, { body, contentType: 'application/json-patch+json' });
    assert.equal(r.json.message, 'strict decoding error: json patch unknown field "[0].foo", json patch duplicate field "[1].path", unknown field "spec.a", unknown field "spec.b"');
  });

  it('apply patches (server-side apply) report the applied object\'s unknown fields', async () => {
    const r = await raw(api, 'PATCH', '/api/v1/namespaces/default/configmaps/applied?fieldManager=t&fieldValidation=Strict', { body: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied}\ndata: {a: b}\ndatas: {c: d}\n', contentType: 'application/apply-patch+yaml' });
    assert.deepEqual([r.status, r.json.message], [400, 'strict decoding error: unknown field "datas"']);
  });

  it('events.k8s.io/v1 is checked in its own shape (note, not message)', async () => {
    const ev = { metadata: { name: 'e1' }, eventTime: '2026-01-01T00:00:00.000000Z', reportingController: 'fulcrum-lb.io/allocator', reportingInstance: 'a', action: 'Allocate', reason: 'IPAllocated', type: 'Normal', note: 'ok', regarding: { kind: 'Service', name: 'clean', namespace: 'default' } };
    const ok = await raw(api, 'POST', '/apis/events.k8s.io/v1/namespaces/default/events?fieldValidation=Strict', { body: ev });
    assert.equal(ok.status, 201, ok.text);
    const bad = await raw(api, 'POST', '/apis/events.k8s.io/v1/namespaces/default/events?fieldValidation=Strict', { body: { ...ev, metadata: { name: 'e2' }, message: 'core field' } });
    assert.equal(bad.json.message, 'Event in version "v1" cannot be handled as a Event: strict decoding error: unknown field "message"');
  });

  describe('the scanner (no HTTP)', () => {
    const svc = kindFields('v1', 'Service')!;
    const rows: { name: string; text: string; want: string[] }[] = [
      { name: 'a valid object has no findings', text: '{"metadata":{"name":"a","labels":{"x":"y"}},"spec":{"ports":[{"port":1}]}}', want: [] },
      { name: 'free-form maps are not checked for names, only for duplicates', text: '{"spec":{"selector":{"anything":"x","anything":"y"}}}', want: ['duplicate field "spec.selector.anything"'] },
      { name: 'nothing below an unknown field is reported', text: '{"spek":{"prots":1,"prots":2}}', want: ['unknown field "spek"'] },
      { name: 'a repeated unknown field is reported once, as unknown', text: '{"x":1,"x":2}', want: ['unknown field "x"'] },
      { name: 'escaped keys and strings with brackets and braces', text: '{"metadata":{"annotations":{"a\\"b":"}]"}},"sp\\u0065c":{"type":"x"}}', want: [] },
      { name: 'list elements are numbered', text: '{"spec":{"ports":[{"port":1},{"port":2,"porrt":3}]}}', want: ['unknown field "spec.ports[1].porrt"'] },
    ];
    for (const row of rows) {
      it(row.name, () => {
        assert.deepEqual(scanJsonBody(row.text, svc).map(findingText), row.want, `scanJsonBody(${row.text})`);
      });
    }
    it('a JSON patch\'s operations have op, path, value and from', () => {
      assert.deepEqual(jsonPatchFindings('[{"op":"move","from":"/a","path":"/b"}]'), []);
    });
  });

  describe('never rejects a valid object', () => {
    it('every served kind has a field table', () => {
      for (const def of RESOURCES) assert.ok(kindFields(def.apiVersion, def.kind), `${def.apiVersion} ${def.kind}`);
    });

    it('every object of config/*.yaml and config/examples is known field by field', () => {
      const files = [...readdirSync(CONFIG_DIR).filter((f) => f.endsWith('.yaml')), ...readdirSync(`${CONFIG_DIR}examples`).map((f) => `examples/${f}`)];
      let objects = 0;
      for (const f of files) {
        for (const d of parseAllDocuments(readFileSync(`${CONFIG_DIR}${f}`, 'utf8'))) {
          const o = d.toJSON() as Json | null;
          if (!o?.kind) continue; // examples/bare.yaml is the pool config itself, not an object
          objects++;
          const spec = kindFields(o.apiVersion, o.kind);
          assert.ok(spec, `${f}: ${o.apiVersion} ${o.kind} is served`);
          assert.deepEqual(unknownFields(o, spec!).map(findingText), [], `${f}: ${o.kind} ${o.metadata?.name}`);
        }
      }
      assert.ok(objects >= 15, `objects checked: ${objects}`);
    });

    it('what the lab and the project\'s writers write passes Strict as the default', async function () {
      this.timeout(20_000);
      const strict = await startTestApiServer({ fieldValidation: 'Strict' });
      const target: ApiTarget = { url: strict.url, token: strict.adminToken };
      const kubelet = new LabKubelet(target, { heartbeatMs: 50 });
      try {
        for (const i of [1, 2]) await kubelet.registerNode(nodePlan('ful', i));
        await kubelet.setNodeReady(nodePlan('ful', 2).name, false);
        const spec = { namespace: 'default', name: 'web-1', node: nodePlan('ful', 1), pod: podPlan('ful', 1, 1), labels: { app: 'web' }, ports: POD_CONTAINER_PORTS };
        await kubelet.createPod(spec, true);
        await kubelet.setPodReady(spec, false);
        await applyObject(target, '/api/v1/namespaces/fulcrum-system/configmaps', LAB_CONFIGMAP);
        for (const s of SAMPLE_SERVICES) {
          await applyObject(target, `/api/v1/namespaces/${s.manifest.metadata.namespace}/services`, s.manifest);
          await applyObject(target, `/api/v1/namespaces/${s.manifest.metadata.namespace}/services`, s.manifest); // the second one merge-patches
        }
        const kc = new k8s.KubeConfig();
        kc.loadFromString(strict.kubeconfigYaml({ scheme: 'http' }));
        const clients = createApiClients(kc, { requestTimeoutMs: 5_000 });
        const svc = await clients.core.readNamespacedService({ namespace: 'default', name: 'web' });
        const w = await writeServiceLoadBalancerStatus(clients, { namespace: 'default', name: 'web' }, { ingress: [{ ip: '192.0.2.10', ipMode: 'Proxy', ports: [{ port: 80, protocol: 'TCP' }] }] }, { current: svc });
        assert.equal(w.kind, 'written');
        const rec = new EventRecorder({ clients, component: 'fulcrum-allocator', host: 'lab' });
        for (let i = 0; i < 3; i++) rec.record({ kind: 'Service', apiVersion: 'v1', namespace: 'default', name: 'web', uid: svc.metadata?.uid }, 'Normal', 'IPAllocated', 'Assigned IP ["192.0.2.10"]');
        await rec.flush();
        await rec.stop();
        const lease = new NodeAliveLease({ clients, namespace: 'fulcrum-system', nodeName: 'ful-1', renewIntervalMs: 50 });
        await lease.start();
        await new Promise((r) => setTimeout(r, 150));
        await lease.stop();
        const events = (await raw(strict, 'GET', '/api/v1/namespaces/default/events')).json.items as Json[];
        assert.equal(events.find((e) => e.reason === 'IPAllocated')?.count, 3);
      } finally {
        kubelet.stop();
        reportRequests(strict, 'field validation, Strict by default');
        await strict.stop();
      }
    });
  });
});
