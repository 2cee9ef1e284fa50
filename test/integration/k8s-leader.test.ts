import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RbacAuthorizationV1Api, type V1Lease } from '@kubernetes/client-node';
import { createApiClients } from '../../src/k8s/client.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { ALIVE_LEASE_SELECTOR, aliveLeaseName, listPeerLeases, NodeAliveLease } from '../../src/k8s/alive-lease.js';
import { Informer } from '../../src/k8s/informer.js';
import { LeaderElector, type LeaderElectionOptions } from '../../src/k8s/leader-election.js';
import { instant } from '../../src/k8s/lease-record.js';
import { leases } from '../../src/k8s/resources.js';
import { FAST_BACKOFF, startEmulator, waitFor, type Emulator } from './k8s-harness.js';
import { apiServerName } from '../helpers/api-target.js';

/** An elector that records what it was told, in order. */
function candidate(emu: Emulator, identity: string, extra: Partial<LeaderElectionOptions> & { name: string }) {
  const log: string[] = [];
  let startedAt = 0;
  let signal: AbortSignal | undefined;
  const elector = new LeaderElector({
    clients: emu.clients,
    namespace: 'fulcrum-system',
    identity,
    ...extra,
    callbacks: {
      onStartedLeading: (s) => {
        signal = s;
        startedAt = performance.now();
        log.push('started');
      },
      onStoppedLeading: () => log.push('stopped'),
      onNewLeader: (id) => log.push(`leader=${id}`),
    },
  });
  return { elector, log, identity, startedAt: () => startedAt, signal: () => signal };
}

async function readLease(emu: Emulator, name: string): Promise<V1Lease> {
  return emu.clients.coordination.readNamespacedLease({ namespace: 'fulcrum-system', name });
}

describe(`k8s leader election and alive leases against ${apiServerName()}`, function () {
  this.timeout(30_000);
  let emu: Emulator;
  const stops: (() => Promise<void>)[] = [];

  before(async () => {
    emu = await startEmulator();
  });
  afterEach(async () => {
    for (const s of stops.splice(0)) await s();
  });
  after(async () => {
    await emu?.close();
  });

  it('two electors with client-go defaults: one leads; stop() on the leader hands over at once', async () => {
    const a = candidate(emu, 'a', { name: 'handover' });
    const b = candidate(emu, 'b', { name: 'handover' });
    stops.push(() => a.elector.stop(), () => b.elector.stop());
    a.elector.start();
    b.elector.start();
    await waitFor('a leader', () => a.elector.isLeader() || b.elector.isLeader());
    const [leader, standby] = a.elector.isLeader() ? [a, b] : [b, a];
    await waitFor('the standby to know the leader', () => standby.elector.leader() === leader.identity);
    assert.equal(standby.elector.isLeader(), false, 'exactly one leads');
    const held = await readLease(emu, 'handover');
    assert.equal(held.spec?.holderIdentity, leader.identity);
    assert.equal(held.spec?.leaseDurationSeconds, 15);
    assert.match(String(held.spec?.renewTime), /\.\d{6}Z$/, 'MicroTime with six fraction digits');

    const t0 = performance.now();
    await leader.elector.stop();
    // The lease is valid for 15 s; a take-over inside this 5 s deadline can only be the release.
    await waitFor('the standby to take over', () => standby.elector.isLeader(), 5_000, 1);
    const handoverMs = standby.startedAt() - t0;
    process.stdout.write(`      hand-over after stop(): ${handoverMs.toFixed(1)} ms (lease 15 s, retry 2 s)\n`);
    assert.deepEqual(leader.log.filter((l) => l === 'started' || l === 'stopped'), ['started', 'stopped']);
    assert.equal(leader.signal()?.aborted, true, "the old leader's signal aborted on stop");
    assert.equal(standby.signal()?.aborted, false);
    const lease = await readLease(emu, 'handover');
    assert.equal(lease.spec?.holderIdentity, standby.identity);
    assert.equal(lease.spec?.leaseTransitions, 1, 'created at 0, one take-over');
  });

  it('expiry: when the leader just disappears, the standby takes over once the lease expires', async () => {
    const timing = { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 200 };
    const a = candidate(emu, 'a', { name: 'expiry', ...timing, releaseOnStop: false });
    stops.push(() => a.elector.stop());
    a.elector.start();
    await waitFor('a to lead', () => a.elector.isLeader());
    const b = candidate(emu, 'b', { name: 'expiry', ...timing });
    stops.push(() => b.elector.stop());
    b.elector.start();
    await waitFor('b to see a', () => b.elector.leader() === 'a');
    const renewedBefore = instant((await readLease(emu, 'expiry')).spec?.renewTime);
    const t0 = performance.now();
    await a.elector.stop(); // no release: as if the process died
    await waitFor('b to take over after expiry', () => b.elector.isLeader(), 10_000, 5);
    const takeoverMs = b.startedAt() - t0;
    process.stdout.write(`      take-over after the leader vanished: ${takeoverMs.toFixed(0)} ms (lease 2 s, retry 0.2 s)\n`);
    const lease = await readLease(emu, 'expiry');
    assert.equal(lease.spec?.holderIdentity, 'b');
    const acquired = instant(lease.spec?.acquireTime) ?? 0;
    assert.ok(acquired - (renewedBefore ?? 0) >= 2_000, 'b waited for the whole lease duration after the last renewal it saw');
  });

  it('a leader that cannot reach the API steps down after the renew deadline', async () => {
    const timing = { leaseDurationMs: 2_000, renewDeadlineMs: 1_000, retryPeriodMs: 200 };
    const a = candidate(emu, 'a', { name: 'deadline', ...timing });
    stops.push(() => a.elector.stop());
    a.elector.start();
    await waitFor('a to lead', () => a.elector.isLeader());
    await emu.server.stop();
    try {
      await waitFor('a to step down', () => a.log.includes('stopped'), 10_000);
      assert.equal(a.elector.isLeader(), false);
    } finally {
      await emu.server.start();
    }
    await waitFor('a to lead again once the API is back', () => a.elector.isLeader(), 10_000);
  });

  it('with a Role that allows only get/create/update on Leases, the electors fall back to polling and still hand over', async () => {
    const rbac = emu.clients.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    const namespace = 'fulcrum-system';
    await emu.clients.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'elector' } } });
    await rbac.createNamespacedRole({
      namespace,
      body: { metadata: { name: 'elector' }, rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'elector' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'elector' },
        subjects: [{ kind: 'ServiceAccount', name: 'elector', namespace }],
      },
    });
    const dir = await mkdtemp(join(tmpdir(), 'fulcrum-elector-'));
    stops.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'kubeconfig');
    await emu.server.writeKubeconfig(path, { token: await emu.server.serviceAccountToken(namespace, 'elector') });
    const limited = { ...emu, clients: createApiClients(loadKubeConfig(path, {}).kubeConfig) };
    await assert.rejects(limited.clients.coordination.listNamespacedLease({ namespace }), (err: { code?: number }) => err.code === 403);
    const listsBefore = emu.server.requestCounts()['list leases'] ?? 0;
    const timing = { leaseDurationMs: 5_000, renewDeadlineMs: 1_000, retryPeriodMs: 200 };
    const a = candidate(limited, 'a', { name: 'rbac', ...timing });
    const b = candidate(limited, 'b', { name: 'rbac', ...timing });
    stops.push(() => a.elector.stop(), () => b.elector.stop());
    a.elector.start();
    await waitFor('a to lead', () => a.elector.isLeader());
    b.elector.start();
    await waitFor('b to see a', () => b.elector.leader() === 'a');
    await a.elector.stop();
    // The lease is valid for 5 s; inside this 3 s deadline only the release can hand over.
    await waitFor('b to take over by polling', () => b.elector.isLeader(), 3_000);
    const lists = (emu.server.requestCounts()['list leases'] ?? 0) - listsBefore;
    assert.ok(lists <= 2, `each elector tried to list Leases once, then stopped asking (got ${lists})`);
  });

  it('rejects timings client-go would reject, naming every problem', () => {
    assert.throws(
      () => new LeaderElector({ clients: emu.clients, namespace: 'x', name: 'y', identity: 'z', leaseDurationMs: 5_000, renewDeadlineMs: 6_000, retryPeriodMs: 6_000 }),
      (err: { code?: string; message: string }) =>
        err.code === 'FUL_ERR_LEADER_ELECTION_CONFIG' && /leaseDurationMs \(5000\)/.test(err.message) && /renewDeadlineMs \(6000\) must be greater than retryPeriodMs/.test(err.message),
    );
  });

  it('a node alive lease renews at the configured period, is listed by peers, and is deleted on stop', async () => {
    const renewals: number[] = [];
    const watcher = new Informer<V1Lease>({ clients: emu.clients, resource: leases, namespace: 'fulcrum-system', labelSelector: ALIVE_LEASE_SELECTOR, backoff: FAST_BACKOFF });
    stops.push(() => watcher.stop());
    const note = (l: V1Lease) => {
      const t = instant(l.spec?.renewTime);
      if (t !== undefined) renewals.push(t);
    };
    watcher.on({ add: note, update: note });
    watcher.start();
    await watcher.synced;
    const alive = new NodeAliveLease({ clients: emu.clients, namespace: 'fulcrum-system', nodeName: 'node-1', renewIntervalMs: 100 });
    await alive.start();
    stops.push(() => alive.stop());
    await waitFor('six renewals seen through the watch', () => renewals.length >= 6);
    const gaps = renewals.slice(1).map((t, i) => t - (renewals[i] as number));
    const mean = gaps.reduce((s, g) => s + g, 0) / gaps.length;
    process.stdout.write(`      alive lease renewal gaps (period 100 ms): ${gaps.map((g) => g.toFixed(0)).join(', ')} ms, mean ${mean.toFixed(0)} ms\n`);
    assert.ok(gaps.every((g) => g > 0), 'renewTime strictly increases');
    const peers = await listPeerLeases(emu.clients, 'fulcrum-system');
    assert.deepEqual(peers.map((p) => [p.node, p.leaseDurationSeconds]), [['node-1', 1]]);
    await alive.stop();
    stops.pop();
    await waitFor('the lease to be gone from the peers\' view', () => watcher.get(`fulcrum-system/${aliveLeaseName('node-1')}`) === undefined);
    await assert.rejects(readLease(emu, aliveLeaseName('node-1')), (err: { code?: number }) => err.code === 404);
  });

  it('hurry() renews on a shorter period without changing the duration, until called with undefined', async () => {
    const alive = new NodeAliveLease({ clients: emu.clients, namespace: 'fulcrum-system', nodeName: 'node-2', renewIntervalMs: 60_000 });
    await alive.start();
    stops.push(() => alive.stop());
    assert.equal(alive.renewals(), 1);
    alive.hurry(50);
    await waitFor('four renewals at the hurried period', () => alive.renewals() >= 4, 5_000);
    const lease = await readLease(emu, aliveLeaseName('node-2'));
    assert.equal(lease.spec?.leaseDurationSeconds, 180, 'three of the configured periods, not of the hurried one');
    alive.hurry(undefined);
    await new Promise((r) => setTimeout(r, 100)); // a write already started may finish
    const settled = alive.renewals();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(alive.renewals(), settled, 'back to the 60 s period: no renewal in 300 ms');
  });
});
