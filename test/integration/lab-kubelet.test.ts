import assert from 'node:assert/strict';
import { startApiServer, type ApiServer } from '../../lab/apiserver/index.js';
import { nodePlan, podPlan } from '../../lab/addressing.js';
import { apiRequest, applyObject, type ApiTarget } from '../../lab/kube-rest.js';
import { LabKubelet, LAB_NODE_LABEL, type LabPodSpec } from '../../lab/kubelet.js';
import { waitFor } from '../../lab/netns.js';

// The lab's kubelet role against the real emulator (no namespaces needed): Node objects and
// Pods as a kubelet writes them, turned into EndpointSlices by the emulator's controller.
describe('lab kubelet against the API emulator', () => {
  let api: ApiServer;
  let target: ApiTarget;
  let kubelet: LabKubelet;

  before(async () => {
    api = await startApiServer({ host: '127.0.0.1', port: 0 });
    target = { url: api.url, token: api.adminToken };
    kubelet = new LabKubelet(target, { heartbeatMs: 100 });
  });

  after(async () => {
    kubelet?.stop();
    await api?.stop();
  });

  it('registers a node with labels, both InternalIPs and a Ready condition that keeps beating', async () => {
    const n1 = nodePlan('ful', 1);
    await kubelet.registerNode(n1, { zone: 'a' });
    const node = (await apiRequest(target, 'GET', `/api/v1/nodes/${n1.name}`)) as { metadata: { labels: Record<string, string> }; status: { addresses: unknown[]; conditions: { type: string; status: string; lastHeartbeatTime: string }[] } };
    assert.equal(node.metadata.labels['kubernetes.io/hostname'], n1.name);
    assert.equal(node.metadata.labels[LAB_NODE_LABEL], '1');
    assert.equal(node.metadata.labels.zone, 'a');
    assert.deepEqual(node.status.addresses, [
      { type: 'InternalIP', address: '192.0.2.11' },
      { type: 'InternalIP', address: '2001:db8::11' },
      { type: 'Hostname', address: n1.name },
    ]);
    const first = node.status.conditions.find((c) => c.type === 'Ready')!;
    assert.equal(first.status, 'True');
    await waitFor('a later heartbeat', async () => {
      const again = (await apiRequest(target, 'GET', `/api/v1/nodes/${n1.name}`)) as typeof node;
      return again.status.conditions.find((c) => c.type === 'Ready')!.lastHeartbeatTime > first.lastHeartbeatTime;
    }, 5000);
    await kubelet.setNodeReady(n1.name, false);
    const down = (await apiRequest(target, 'GET', `/api/v1/nodes/${n1.name}`)) as typeof node;
    assert.equal(down.status.conditions.find((c) => c.type === 'Ready')!.status, 'False');
    await kubelet.setNodeReady(n1.name, true);
  });

  it('a ready pod appears in its EndpointSlices (node name, both families, named ports), turns terminating but serving when deleted, then goes', async () => {
    await applyObject(target, '/api/v1/namespaces/default/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default' },
      spec: { selector: { app: 'web' }, ipFamilyPolicy: 'PreferDualStack', ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] },
    });
    const spec: LabPodSpec = { namespace: 'default', name: 'web-1', node: nodePlan('ful', 1), pod: podPlan('ful', 1, 1), labels: { app: 'web' }, ports: [{ name: 'http', containerPort: 8080 }] };
    await kubelet.createPod(spec, true);
    type Slice = { addressType: string; endpoints: { addresses: string[]; nodeName: string; conditions: { ready: boolean } }[]; ports: { name: string; port: number }[] };
    const slices = await waitFor('slices for both families', async () => {
      const list = (await apiRequest(target, 'GET', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb')) as { items: Slice[] };
      const ready = list.items.filter((s) => s.endpoints?.some((e) => e.conditions.ready));
      return ready.length === 2 ? ready : undefined;
    }, 5000);
    const byFamily = Object.fromEntries(slices.map((s) => [s.addressType, s]));
    assert.deepEqual(byFamily.IPv4!.endpoints.map((e) => [e.addresses, e.nodeName]), [[['198.51.100.34'], 'ful-n1']]);
    assert.deepEqual(byFamily.IPv6!.endpoints.map((e) => [e.addresses, e.nodeName]), [[['2001:db8:1::1:2'], 'ful-n1']]);
    assert.deepEqual(byFamily.IPv4!.ports.map((p) => [p.name, p.port]), [['http', 8080]]);

    await kubelet.deletePod('default', 'web-1');
    const terminating = await waitFor('the endpoint to turn terminating', async () => {
      const list = (await apiRequest(target, 'GET', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb')) as { items: Slice[] };
      const eps = list.items.flatMap((s) => s.endpoints ?? []) as unknown as { conditions: Record<string, boolean> }[];
      return eps.length === 2 && eps.every((e) => e.conditions.terminating) ? eps : undefined;
    }, 5000);
    assert.deepEqual(terminating[0]!.conditions, { ready: false, serving: true, terminating: true });
    await kubelet.removePod('default', 'web-1');
    await waitFor('the endpoint to go', async () => {
      const list = (await apiRequest(target, 'GET', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb')) as { items: Slice[] };
      return list.items.every((s) => (s.endpoints ?? []).length === 0);
    }, 5000);

    await kubelet.createPod(spec, true);
    await kubelet.setPodReady(spec, false);
    await waitFor('the endpoint to turn not ready', async () => {
      const list = (await apiRequest(target, 'GET', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb')) as { items: Slice[] };
      return list.items.length > 0 && list.items.every((s) => (s.endpoints ?? []).every((e) => !e.conditions.ready));
    }, 5000);
  });
});
