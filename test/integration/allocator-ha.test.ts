import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { V1Service } from '@kubernetes/client-node';
import { Informer } from '../../src/k8s/informer.js';
import { services } from '../../src/k8s/resources.js';
import { applyPoolConfig, componentKubeconfig, createService, getService, ingressIps, lbService, startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { suiteTitle } from '../helpers/api-target.js';

// Two allocator replicas as real processes: one leads, the other takes over when the leader
// is killed (Lease expiry) or stops cleanly (Lease released). An invariant checker watches
// every Service for the whole run: no address is ever shown by two Services that may not share.

const BIN = fileURLToPath(new URL('../../../bin/fulcrum', import.meta.url));
const LEASE = { duration: '2s', renew: '1500ms', retry: '250ms' };

interface Replica {
  proc: ChildProcess;
  /** Resolves once the replica's caches are synced: from then on it is a warm standby. */
  synced: Promise<void>;
}

function startReplica(kubeconfig: string, identity: string): Replica {
  const proc = spawn(
    process.execPath,
    [BIN, 'allocator', '--kubeconfig', kubeconfig, '--metrics', 'off', '--identity', identity,
      '--lease-duration', LEASE.duration, '--renew-deadline', LEASE.renew, '--retry-period', LEASE.retry, '--log-level', 'info'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const synced = new Promise<void>((resolve, reject) => {
    let seen = '';
    proc.stderr!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes('"event":"synced"')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`replica ${identity} exited (${code}) before its caches synced: ${seen.slice(-500)}`)));
  });
  synced.catch(() => undefined);
  return { proc, synced };
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

describe(suiteTitle('allocator: two replicas, leader election (integration)'), function () {
  this.timeout(60_000);
  let cluster: TestCluster;
  const replicas = new Map<string, Replica>();
  let checker: Informer<V1Service>;
  const violations: string[] = [];
  let kubeconfig: string;

  before(async () => {
    cluster = await startTestCluster();
    await applyPoolConfig(cluster.clients, 'address-pools:\n- name: ha\n  protocol: layer2\n  addresses: [192.0.2.64/27]\n');
    checker = new Informer({ clients: cluster.clients, resource: services });
    const check = () => violations.push(...doubleAssignments(checker.list()));
    checker.on({ add: check, update: check });
    checker.start();
    await checker.synced;
    // The replicas run with the allocator's own ServiceAccount from config/: least privilege.
    kubeconfig = await componentKubeconfig(cluster, 'allocator');
    for (const id of ['replica-a', 'replica-b']) replicas.set(id, startReplica(kubeconfig, id));
  });

  after(async () => {
    for (const { proc } of replicas.values()) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
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
    const standby = [...replicas.keys()].find((id) => id !== leader)!;
    await replicas.get(standby)!.synced;
    const t0 = performance.now();
    replicas.get(leader)!.proc.kill('SIGKILL');
    await waitFor(`${standby} to hold the Lease`, async () => (await holder(cluster)) === standby, { timeoutMs: 20_000, intervalMs: 10 });
    const takeover = performance.now() - t0;
    const serve = await timeToServe('after-kill');
    console.log(`      takeover after SIGKILL of the leader: ${Math.round(takeover)} ms (lease ${LEASE.duration}); then create→status ${Math.round(serve)} ms`);
    replicas.set(leader, startReplica(kubeconfig, leader));
  });

  it('SIGTERM of the leader releases the Lease and the standby takes over at once', async () => {
    const leader = await waitFor('a leader', async () => (await holder(cluster)) || undefined);
    const standby = [...replicas.keys()].find((id) => id !== leader)!;
    await timeToServe('before-term');
    await replicas.get(standby)!.synced;
    const proc = replicas.get(leader)!.proc;
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    const t0 = performance.now();
    proc.kill('SIGTERM');
    await waitFor(`${standby} to hold the Lease`, async () => (await holder(cluster)) === standby, { timeoutMs: 20_000, intervalMs: 10 });
    const takeover = performance.now() - t0;
    assert.equal(await exited, 0, 'the leader exits 0 on SIGTERM');
    const serve = await timeToServe('after-term');
    console.log(`      hand-over on SIGTERM: ${Math.round(takeover)} ms until the standby held the Lease; then create→status ${Math.round(serve)} ms`);
  });

  it('no address was ever shown by two Services during the whole run', async () => {
    await waitFor('the checker to see every Service', () => checker.list().length >= 4);
    const all = checker.list();
    const ips = all.flatMap(ingressIps);
    assert.equal(new Set(ips).size, ips.length, `distinct addresses: ${ips.join(', ')}`);
    assert.deepEqual(violations, []);
  });
});
