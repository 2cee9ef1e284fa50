import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { V1Service } from '@kubernetes/client-node';
import { Informer } from '../../src/k8s/informer.js';
import { services } from '../../src/k8s/resources.js';
import { applyPoolConfig, createService, getService, ingressIps, lbService, startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

// Two allocator replicas as real processes: one leads, the other takes over when the leader
// is killed (Lease expiry) or stops cleanly (Lease released). An invariant checker watches
// every Service for the whole run: no address is ever shown by two Services that may not share.

const BIN = fileURLToPath(new URL('../../../bin/fulcrum', import.meta.url));
const LEASE = { duration: '2s', renew: '1500ms', retry: '250ms' };

function startReplica(kubeconfig: string, identity: string): ChildProcess {
  return spawn(
    process.execPath,
    [BIN, 'allocator', '--kubeconfig', kubeconfig, '--metrics', 'off', '--identity', identity,
      '--lease-duration', LEASE.duration, '--renew-deadline', LEASE.renew, '--retry-period', LEASE.retry, '--log-level', 'warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
}

/** Every address shown by more than one Service without a common sharing key. */
function doubleAssignments(all: readonly V1Service[]): string[] {
  const byIp = new Map<string, V1Service[]>();
  for (const s of all) for (const ip of ingressIps(s)) byIp.set(ip, [...(byIp.get(ip) ?? []), s]);
  const bad: string[] = [];
  for (const [ip, holders] of byIp) {
    const keys = new Set(holders.map((s) => s.metadata?.annotations?.['fulcrum-lb.io/allow-shared-ip'] ?? `alone:${s.metadata?.name}`));
    if (holders.length > 1 && keys.size > 1) bad.push(`${ip}: ${holders.map((s) => s.metadata?.name).join(', ')}`);
  }
  return bad;
}

async function holder(cluster: TestCluster): Promise<string> {
  const lease = await cluster.clients.coordination.readNamespacedLease({ name: 'fulcrum-allocator', namespace: 'fulcrum-system' });
  return lease.spec?.holderIdentity ?? '';
}

describe('allocator: two replicas, leader election (integration)', function () {
  this.timeout(60_000);
  let cluster: TestCluster;
  const replicas = new Map<string, ChildProcess>();
  let checker: Informer<V1Service>;
  const violations: string[] = [];

  before(async () => {
    cluster = await startTestCluster();
    await applyPoolConfig(cluster.clients, 'address-pools:\n- name: ha\n  protocol: layer2\n  addresses: [192.0.2.64/27]\n');
    checker = new Informer({ clients: cluster.clients, resource: services });
    const check = () => violations.push(...doubleAssignments(checker.list()));
    checker.on({ add: check, update: check });
    checker.start();
    await checker.synced;
    for (const id of ['replica-a', 'replica-b']) replicas.set(id, startReplica(cluster.kubeconfig, id));
  });

  after(async () => {
    for (const p of replicas.values()) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await checker.stop();
    await cluster.close();
  });

  async function timeToServe(name: string): Promise<number> {
    const t0 = performance.now();
    await createService(cluster.clients, lbService(name));
    await waitFor(`an address on ${name}`, async () => ingressIps(await getService(cluster.clients, name)).length > 0, { timeoutMs: 20_000, intervalMs: 10 });
    return performance.now() - t0;
  }

  it('one replica leads and assigns; SIGKILL of the leader hands over after the Lease expires', async () => {
    await timeToServe('before-kill');
    const leader = await waitFor('a leader', async () => (await holder(cluster)) || undefined);
    const t0 = performance.now();
    replicas.get(leader)!.kill('SIGKILL');
    const gap = await timeToServe('after-kill');
    const standby = [...replicas.keys()].find((id) => id !== leader)!;
    assert.equal(await holder(cluster), standby);
    console.log(`      takeover after SIGKILL of the leader: ${Math.round(performance.now() - t0)} ms until a new Service was served (lease ${LEASE.duration}; create→status ${Math.round(gap)} ms)`);
    replicas.set(leader, startReplica(cluster.kubeconfig, leader));
  });

  it('SIGTERM of the leader releases the Lease and the standby takes over at once', async () => {
    const leader = await waitFor('a leader', async () => (await holder(cluster)) || undefined);
    await timeToServe('before-term');
    const proc = replicas.get(leader)!;
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    const t0 = performance.now();
    proc.kill('SIGTERM');
    const gap = await timeToServe('after-term');
    assert.equal(await exited, 0, 'the leader exits 0 on SIGTERM');
    const standby = [...replicas.keys()].find((id) => id !== leader)!;
    assert.equal(await holder(cluster), standby);
    console.log(`      hand-over on SIGTERM: ${Math.round(performance.now() - t0)} ms until a new Service was served (create→status ${Math.round(gap)} ms)`);
  });

  it('no address was ever shown by two Services during the whole run', async () => {
    await waitFor('the checker to see every Service', () => checker.list().length >= 4);
    const all = checker.list();
    const ips = all.flatMap(ingressIps);
    assert.equal(new Set(ips).size, ips.length, `distinct addresses: ${ips.join(', ')}`);
    assert.deepEqual(violations, []);
  });
});
