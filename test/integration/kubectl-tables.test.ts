import assert from 'node:assert/strict';
import type { ApiServer } from '../../lab/apiserver/index.js';
import { raw, startTestApiServer, type Json } from '../helpers/apiserver.js';
import { Kubectl } from '../helpers/apiserver-kubectl.js';

// The real kubectl prints the emulator's server-side Tables (lab/apiserver/table-printers.ts):
// the columns kubectl shows on a real cluster for events, endpoints, endpointslices, leases,
// nodes and pods, not NAME and AGE. The cells are compared with kube-apiserver's in
// test/k8s-real/fidelity-diff-kinds.test.ts; here, what a user reads in the terminal.
describe('kubectl get: the server-side tables of events, endpoints, endpointslices, leases, nodes and pods', function () {
  this.timeout(60_000);
  let api: ApiServer;
  let k: Kubectl;
  const NS = 'tables';

  async function post(path: string, body: Json): Promise<Json> {
    const r = await raw(api, 'POST', path, { body });
    assert.equal(r.status, 201, `POST ${path}: ${r.text}`);
    return r.json;
  }

  async function put(path: string, body: Json): Promise<void> {
    const r = await raw(api, 'PUT', path, { body });
    assert.equal(r.status, 200, `PUT ${path}: ${r.text}`);
  }

  /** kubectl's output as rows of cells (split on two spaces or more), header first. */
  async function table(args: string[]): Promise<string[][]> {
    const r = await k.run(['get', ...args]);
    assert.equal(r.code, 0, `kubectl get ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trimEnd().split('\n').map((l) => l.trim().split(/\s{2,}/));
  }

  before(async () => {
    api = await startTestApiServer();
    k = await Kubectl.create(api);
    await post('/api/v1/namespaces', { metadata: { name: NS } });
    const node = await post('/api/v1/nodes', { metadata: { name: 'tn-1', labels: { 'node-role.kubernetes.io/worker': '' } } });
    await put('/api/v1/nodes/tn-1/status', {
      ...node,
      status: {
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ok', lastHeartbeatTime: '2026-01-01T00:00:00Z', lastTransitionTime: '2026-01-01T00:00:00Z' }],
        addresses: [{ type: 'InternalIP', address: '192.0.2.11' }, { type: 'InternalIP', address: '2001:db8::11' }],
        nodeInfo: { kubeletVersion: 'v1.31.0-lab', osImage: 'Fulcrum lab', kernelVersion: '6.1.0', architecture: 'amd64', containerRuntimeVersion: 'lab://1', machineID: 'm', systemUUID: 's', bootID: 'b', kubeProxyVersion: '', operatingSystem: 'linux' },
      },
    });
    const pod = await post(`/api/v1/namespaces/${NS}/pods`, { metadata: { name: 'web-1' }, spec: { nodeName: 'tn-1', containers: [{ name: 'web', image: 'lab/pod-server' }] } });
    // ages in whole minutes past ten read the same for a minute: the test may take seconds
    const finished = new Date(Date.now() - 20 * 60_000).toISOString();
    await put(`/api/v1/namespaces/${NS}/pods/web-1/status`, {
      ...pod,
      status: {
        phase: 'Running', podIP: '198.51.100.34', podIPs: [{ ip: '198.51.100.34' }],
        conditions: [{ type: 'Ready', status: 'True' }],
        containerStatuses: [{ name: 'web', image: 'lab/pod-server', imageID: '', ready: true, restartCount: 2, state: { running: { startedAt: finished } }, lastState: { terminated: { exitCode: 137, reason: 'Error', finishedAt: finished } } }],
      },
    });
    await post(`/api/v1/namespaces/${NS}/endpoints`, { metadata: { name: 'web' }, subsets: [{ addresses: [{ ip: '198.51.100.34' }, { ip: '198.51.100.66' }], ports: [{ name: 'http', port: 8080 }, { name: 'echo', port: 5678 }] }] });
    await post(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`, {
      metadata: { name: 'web-abc', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], endpoints: [{ addresses: ['198.51.100.34'] }, { addresses: ['198.51.100.66'] }],
    });
    await post(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`, { metadata: { name: 'fulcrum-speaker-tn-1' }, spec: { holderIdentity: 'tn-1', leaseDurationSeconds: 10 } });
    await post(`/api/v1/namespaces/${NS}/events`, {
      metadata: { name: 'web.1' }, involvedObject: { kind: 'Service', namespace: NS, name: 'web', apiVersion: 'v1' }, reason: 'nodeAssigned', message: 'announcing from node "tn-1" with protocol "layer2" ',
      type: 'Normal', count: 3, firstTimestamp: new Date(Date.now() - 30 * 60_000).toISOString(), lastTimestamp: new Date(Date.now() - 15 * 60_000).toISOString(), source: { component: 'fulcrum-speaker', host: 'tn-1' },
    });
  });
  after(async () => {
    await api?.stop();
    await k?.cleanup();
  });

  it('events: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE (the message trimmed); -o wide adds SUBOBJECT, SOURCE, FIRST SEEN, COUNT, NAME', async () => {
    const t = await table(['events', '-n', NS]);
    assert.deepEqual(t[0], ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE']);
    assert.deepEqual(t.slice(1), [['15m', 'Normal', 'nodeAssigned', 'service/web', 'announcing from node "tn-1" with protocol "layer2"']]);
    const wide = await table(['events', '-n', NS, '-o', 'wide']);
    assert.deepEqual(wide[0], ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'SUBOBJECT', 'SOURCE', 'MESSAGE', 'FIRST SEEN', 'COUNT', 'NAME']);
    // an empty SUBOBJECT is blank space, so the split joins it to the next cell's gap
    assert.deepEqual(wide[1], ['15m', 'Normal', 'nodeAssigned', 'service/web', 'fulcrum-speaker, tn-1', 'announcing from node "tn-1" with protocol "layer2"', '30m', '3', 'web.1']);
  });

  it('endpoints: NAME, ENDPOINTS (ip:port for each port, three then "+ N more..."), AGE', async () => {
    const t = await table(['endpoints', '-n', NS]);
    assert.deepEqual(t[0], ['NAME', 'ENDPOINTS', 'AGE']);
    assert.equal(t[1]![0], 'web');
    assert.equal(t[1]![1], '198.51.100.34:8080,198.51.100.66:8080,198.51.100.34:5678 + 1 more...');
    assert.match(t[1]![2]!, /^\d+s$/);
  });

  it('endpointslices: NAME, ADDRESSTYPE, PORTS, ENDPOINTS, AGE', async () => {
    const t = await table(['endpointslices', '-n', NS]);
    assert.deepEqual(t[0], ['NAME', 'ADDRESSTYPE', 'PORTS', 'ENDPOINTS', 'AGE']);
    assert.deepEqual(t[1]!.slice(0, 4), ['web-abc', 'IPv4', '8080', '198.51.100.34,198.51.100.66']);
  });

  it('leases: NAME, HOLDER, AGE', async () => {
    const t = await table(['leases', '-n', NS]);
    assert.deepEqual(t[0], ['NAME', 'HOLDER', 'AGE']);
    assert.deepEqual(t[1]!.slice(0, 2), ['fulcrum-speaker-tn-1', 'tn-1']);
  });

  it('nodes: NAME, STATUS, ROLES, AGE, VERSION; -o wide adds the addresses, OS image, kernel (with the architecture) and runtime', async () => {
    const t = await table(['nodes']);
    assert.deepEqual(t[0], ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION']);
    assert.deepEqual([t[1]![0], t[1]![1], t[1]![2], t[1]![4]], ['tn-1', 'Ready', 'worker', 'v1.31.0-lab']);
    const wide = await table(['nodes', '-o', 'wide']);
    assert.deepEqual(wide[0], ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION', 'INTERNAL-IP', 'EXTERNAL-IP', 'OS-IMAGE', 'KERNEL-VERSION', 'CONTAINER-RUNTIME']);
    assert.deepEqual(wide[1]!.slice(5), ['192.0.2.11', '<none>', 'Fulcrum lab', '6.1.0 (amd64)', 'lab://1']);
  });

  it('pods: NAME, READY, STATUS, RESTARTS (with the last restart\'s age), AGE; -o wide adds IP, NODE, NOMINATED NODE, READINESS GATES', async () => {
    const t = await table(['pods', '-n', NS]);
    assert.deepEqual(t[0], ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    assert.deepEqual(t[1]!.slice(0, 4), ['web-1', '1/1', 'Running', '2 (20m ago)']);
    const wide = await table(['pods', '-n', NS, '-o', 'wide']);
    assert.deepEqual(wide[0], ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES']);
    assert.deepEqual(wide[1]!.slice(5), ['198.51.100.34', 'tn-1', '<none>', '<none>']);
  });
});
