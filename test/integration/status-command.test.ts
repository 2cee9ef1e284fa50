import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { V1Service } from '@kubernetes/client-node';
import { createService, lbService, startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { suiteTitle } from '../helpers/api-target.js';

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
    assert.deepEqual(shop.ports, [{ port: 80, protocol: 'TCP', mode: 'http', tlsSecrets: [] }, { port: 443, protocol: 'TCP', mode: 'https', tlsSecrets: ['shop-tls'] }]);
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
