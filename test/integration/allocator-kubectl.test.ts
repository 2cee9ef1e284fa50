import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startAllocator, type AllocatorProgram } from '../../allocator/program.js';
import { applyPoolConfig, createService, getService, ingressIps, lbService, startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { suiteTitle } from '../helpers/api-target.js';

const run = promisify(execFile);

// What a user sees with the real kubectl: the EXTERNAL-IP column and the allocator's events.
describe(suiteTitle('allocator: seen through kubectl (integration)'), function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  let allocator: AllocatorProgram;

  before(async () => {
    cluster = await startTestCluster();
    await applyPoolConfig(cluster.clients, 'address-pools:\n- name: kube\n  protocol: layer2\n  addresses: [192.0.2.80/30]\n');
    allocator = await startAllocator({
      kubeconfig: cluster.kubeconfig, namespace: 'fulcrum-system', configName: 'config', lbClass: undefined, metrics: undefined,
      identity: 'kubectl-test', leaderElection: { enabled: false, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
    });
    await createService(cluster.clients, lbService('shop', { ports: [{ port: 443 }] }));
    await waitFor('an address on shop', async () => ingressIps(await getService(cluster.clients, 'shop')).length > 0);
  });

  after(async () => {
    await allocator.stop();
    await cluster.close();
  });

  const kubectl = (...args: string[]) => run('kubectl', ['--kubeconfig', cluster.kubeconfig, ...args], { timeout: 20_000 });

  it('kubectl get svc shows the EXTERNAL-IP', async () => {
    const { stdout } = await kubectl('get', 'svc', 'shop');
    const [header, row] = stdout.trim().split('\n');
    assert.match(header!, /EXTERNAL-IP/);
    assert.match(row!, /^shop\s+LoadBalancer\s+\S+\s+192\.0\.2\.80\s+443:\d+\/TCP/);
  });

  it('kubectl describe svc shows the IPAllocated event', async () => {
    const stdout = await waitFor('IPAllocated in describe', async () => {
      const out = (await kubectl('describe', 'svc', 'shop')).stdout;
      return /IPAllocated/.test(out) ? out : undefined;
    });
    assert.match(stdout, /LoadBalancer Ingress:\s+192\.0\.2\.80/);
    assert.match(stdout, /Normal\s+IPAllocated\s+.*Assigned IP \["192\.0\.2\.80"\]/);
  });
});
