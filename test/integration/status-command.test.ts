import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { join } from 'node:path';
import type { V1Pod, V1PodStatus, V1Service } from '@kubernetes/client-node';
import type { ComponentStatusRow } from '../../bin/status-components.js';
import { componentPod, componentPodStatus, type ComponentRun } from '../../lab/component-pod-status.js';
import { componentKubeconfig, createService, lbService, startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { suiteTitle } from '../helpers/api-target.js';
import { raw } from '../helpers/apiserver.js';
import { mergePatchOptions } from '../../src/k8s/client.js';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../../bin/fulcrum', import.meta.url));

// `fulcrum status` through the real CLI process against the emulator: the address from
// status, the pool annotation, the owner from the speakers' nodeAssigned event.
describe(suiteTitle('fulcrum status (integration)'), function () {
  this.timeout(20_000);
  let cluster: TestCluster;

  before(async () => {
    cluster = await startTestCluster();
    const svc = await createService(cluster.clients, lbService('web', { annotations: { 'fulcrum-lb.io/ip-allocated-from-pool': 'lab' } }));
    await createService(cluster.clients, lbService('waiting'));
    await createService(cluster.clients, lbService('shop', { annotations: { 'fulcrum-lb.io/protocol': 'http', 'fulcrum-lb.io/tls-secret': 'shop-tls' }, ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] }));
    await cluster.clients.core.replaceNamespacedServiceStatus({
      name: 'web', namespace: 'default',
      body: { ...svc, status: { loadBalancer: { ingress: [{ ip: '192.0.2.70', ipMode: 'Proxy' }] } } } as V1Service,
    });
    for (const [node, at] of [['node-a', '2026-01-01T00:00:00Z'], ['node-b', '2026-01-01T00:01:00Z']] as const) {
      await cluster.clients.core.createNamespacedEvent({
        namespace: 'default',
        body: {
          metadata: { name: `web.${node}` },
          involvedObject: { kind: 'Service', namespace: 'default', name: 'web', apiVersion: 'v1' },
          reason: 'nodeAssigned', type: 'Normal', message: `announcing from node "${node}" with protocol "layer2"`,
          firstTimestamp: new Date(at), lastTimestamp: new Date(at), count: 1, source: { component: 'fulcrum-speaker' },
        },
      });
    }
  });

  after(() => cluster.close());

  it('shows the Pods of the components: a speaker in CrashLoopBackOff with its restarts; -o json --components adds them beside the Services', async () => {
    const ns = 'fulcrum-system';
    await cluster.clients.core.createNamespace({ body: { metadata: { name: ns } } }).catch(() => undefined); // the real server may have it
    await componentKubeconfig(cluster, 'speaker'); // the Pod's ServiceAccount
    const place = { component: 'speaker', nodeName: 'node-a' } as const;
    const now = Date.now();
    const crashing: ComponentRun = { state: 'backOff', firstStartedAt: now - 60_000, startedAt: now - 20_000, restarts: 2, lastExit: { code: 1, signal: null, startedAt: now - 20_000, at: now - 5000 }, restartAt: now + 60_000, backOffMs: 2000 };
    await cluster.clients.core.createNamespacedPod({ namespace: ns, body: componentPod(place, ns) as V1Pod });
    await cluster.clients.core.patchNamespacedPodStatus({ name: 'fulcrum-speaker-node-a', namespace: ns, body: { status: componentPodStatus(place, ns, crashing, { hostIPs: ['192.0.2.11'], podIPs: ['192.0.2.11'] }) as V1PodStatus } }, mergePatchOptions);
    const { stdout } = await run(process.execPath, [BIN, 'status', '--kubeconfig', cluster.kubeconfig]);
    assert.match(stdout, /^NAME\s+COMPONENT\s+NODE\s+READY\s+STATUS\s+RESTARTS\s+AGE$/m);
    assert.match(stdout, /^fulcrum-speaker-node-a\s+speaker\s+node-a\s+0\/1\s+CrashLoopBackOff\s+2 \(\d+s ago\)\s+\d+s$/m);
    const { stdout: json } = await run(process.execPath, [BIN, 'status', '--kubeconfig', cluster.kubeconfig, '-o', 'json', '--components']);
    const body = JSON.parse(json) as { services: { name: string }[]; components: ComponentStatusRow[] };
    assert.deepEqual(body.services.map((r) => r.name), ['shop', 'waiting', 'web']);
    assert.deepEqual(body.components.map((c) => [c.name, c.component, c.node, c.ready, c.status, c.restarts]), [['fulcrum-speaker-node-a', 'speaker', 'node-a', '0/1', 'CrashLoopBackOff', 2]]);
  });

  it('a user who may not list Pods gets a one-line note instead of the components, and exit 0', async () => {
    const rules = [{ apiGroups: [''], resources: ['services', 'events'], verbs: ['list'] }, { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list'] }];
    await cluster.clients.core.createNamespacedServiceAccount({ namespace: 'default', body: { metadata: { name: 'status-reader' } } });
    const rbac = '/apis/rbac.authorization.k8s.io/v1';
    await raw(cluster.api, 'POST', `${rbac}/clusterroles`, { body: { metadata: { name: 'status-reader' }, rules } });
    await raw(cluster.api, 'POST', `${rbac}/clusterrolebindings`, { body: { metadata: { name: 'status-reader' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'status-reader' }, subjects: [{ kind: 'ServiceAccount', name: 'status-reader', namespace: 'default' }] } });
    const kubeconfig = join(cluster.dir, 'status-reader.kubeconfig');
    await cluster.api.writeKubeconfig(kubeconfig, { token: await cluster.api.serviceAccountToken('default', 'status-reader'), user: 'status-reader' });
    const { stdout } = await run(process.execPath, [BIN, 'status', '--kubeconfig', kubeconfig]);
    assert.match(stdout, /default\/web\s+192\.0\.2\.70/);
    assert.match(stdout, /^components not shown: this user may not list Pods in namespace "fulcrum-system" \(403 Forbidden\)$/m);
    const { stdout: json } = await run(process.execPath, [BIN, 'status', '--kubeconfig', kubeconfig, '-o', 'json', '--components']);
    const body = JSON.parse(json) as { components: unknown; componentsNote: string };
    assert.deepEqual([body.components, body.componentsNote], [null, 'components not shown: this user may not list Pods in namespace "fulcrum-system" (403 Forbidden)']);
  });

  it('prints address, pool, latest owner and the pending Service', async () => {
    const { stdout } = await run(process.execPath, [BIN, 'status', '--kubeconfig', cluster.kubeconfig]);
    const lines = stdout.trim().split('\n');
    assert.match(lines[0]!, /^SERVICE\s+ADDRESSES\s+POOL\s+OWNER/);
    assert.match(stdout, /default\/waiting\s+<pending>/);
    assert.match(stdout, /default\/web\s+192\.0\.2\.70\s+lab\s+node-b\s+80\/TCP\s/);
  });

  it("shows each port's protocol and TLS Secret", async () => {
    const { stdout } = await run(process.execPath, [BIN, 'status', '--kubeconfig', cluster.kubeconfig]);
    assert.match(stdout, /default\/shop\s+<pending>\s+-\s+-\s+80\/TCP http,443\/TCP https\(shop-tls\)\s/);
    const { stdout: json } = await run(process.execPath, [BIN, 'status', '--kubeconfig', cluster.kubeconfig, '-o', 'json']);
    const shop = (JSON.parse(json) as { name: string; ports: unknown[] }[]).find((r) => r.name === 'shop')!;
    assert.deepEqual(shop.ports, [{ port: 80, protocol: 'TCP', mode: 'http', tlsSecrets: [], dataPlane: 'proxy' }, { port: 443, protocol: 'TCP', mode: 'https', tlsSecrets: ['shop-tls'], dataPlane: 'proxy' }]);
  });

  it('answers JSON with -o json and refuses an unknown format with exit 2', async () => {
    const { stdout } = await run(process.execPath, [BIN, 'status', '--kubeconfig', cluster.kubeconfig, '-o', 'json']);
    const rows = JSON.parse(stdout) as { name: string; owner: string | null }[];
    assert.deepEqual(rows.map((r) => [r.name, r.owner]), [['shop', null], ['waiting', null], ['web', 'node-b']]);
    await assert.rejects(run(process.execPath, [BIN, 'status', '--kubeconfig', cluster.kubeconfig, '-o', 'xml']), (err: { code?: number; stderr?: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr ?? '', /--output: "xml"/);
      return true;
    });
  });
});
