import assert from 'node:assert/strict';
import type { CoreV1Event } from '@kubernetes/client-node';
import { allocatorMetrics } from '../../allocator/metrics.js';
import { startAllocator, type AllocatorProgram } from '../../allocator/program.js';
import { mergePatchOptions } from '../../src/k8s/client.js';
import { applyPoolConfig, createService, getService, ingressIps, lbService, startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { apiServerName, suiteTitle } from '../helpers/api-target.js';
import { CONFIG_NS, deleteMetalLB, deleteMetalLBObjects, installCrds, metallbServed, putMetalLB, type InstalledCrds } from './metallb-crds.js';

// The allocator configured by MetalLB's IPAddressPool and L2Advertisement resources instead of
// the ConfigMap, through the API: CRDs applied with the real kubectl, pools created, changed and
// deleted, an invalid pool, both sources at once, and serviceAllocation.namespaceSelectors
// following a namespace's labels. Where the server cannot serve CRDs (the emulator until it
// learns them) only the "no CRDs" case runs, and the others say why they are skipped.

const POOL_A = { addresses: ['192.0.2.64/30'] };
const EVERYWHERE = {};

describe(suiteTitle('allocator: MetalLB IPAddressPool and L2Advertisement resources (integration)'), function () {
  this.timeout(60_000);
  let cluster: TestCluster;
  let allocator: AllocatorProgram | undefined;
  /** The first install of this suite, to undo at the end (undefined: not installed, or already there). */
  let firstInstall: InstalledCrds | undefined;

  async function start(): Promise<void> {
    allocator = await startAllocator({
      kubeconfig: cluster.kubeconfig, namespace: CONFIG_NS, configName: 'config', lbClass: undefined, metrics: undefined, identity: 'metallb-resources-test',
      leaderElection: { enabled: false, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
    });
  }

  /** Installs the CRDs for this test, or skips it saying why the server cannot. */
  async function needCrds(ctx: Mocha.Context): Promise<void> {
    const served = await metallbServed(cluster.api);
    const r = await installCrds(cluster.api, cluster.kubeconfig);
    if (!('remove' in r)) {
      process.stdout.write(`      (skipped on ${apiServerName()}: ${r.reason})\n`);
      ctx.skip();
    }
    if (!served && firstInstall === undefined) firstInstall = r as InstalledCrds;
  }

  async function ipsOf(name: string, namespace = 'default'): Promise<string[]> {
    return waitFor(`an address on ${namespace}/${name}`, async () => {
      const ips = ingressIps(await getService(cluster.clients, name, namespace));
      return ips.length > 0 ? ips : undefined;
    });
  }

  async function eventOn(kind: string, name: string, reason: string, text: string, namespace = CONFIG_NS): Promise<CoreV1Event> {
    return waitFor(`event ${reason} on ${kind} ${name} with "${text}"`, async () => {
      const list = await cluster.clients.core.listNamespacedEvent({ namespace });
      return list.items.find((e) => e.involvedObject?.kind === kind && e.involvedObject?.name === name && e.reason === reason && (e.message ?? '').includes(text));
    }, { timeoutMs: 20_000 });
  }

  async function stale(): Promise<number> {
    return (await allocatorMetrics.configStale.get()).values[0]?.value ?? -1;
  }

  beforeEach(async () => {
    cluster = await startTestCluster();
  });

  afterEach(async () => {
    await allocator?.stop();
    allocator = undefined;
    await deleteMetalLBObjects(cluster.api);
    await cluster.close();
  });

  after(async () => {
    if (!firstInstall) return;
    cluster = await startTestCluster();
    await firstInstall.remove(cluster.api, cluster.kubeconfig);
    await cluster.close();
  });

  it('without the CRDs (the list is a 404) a ConfigMap-only cluster works as before', async function () {
    if (await metallbServed(cluster.api)) this.skip(); // another suite left the CRDs on the shared server
    await applyPoolConfig(cluster.clients, 'address-pools:\n- name: main\n  protocol: layer2\n  addresses: [192.0.2.64/30]\n');
    await start();
    assert.equal(allocator!.controller.isSynced(), true);
    await createService(cluster.clients, lbService('web'));
    assert.deepEqual(await ipsOf('web'), ['192.0.2.64']);
    await eventOn('ConfigMap', 'config', 'ConfigLoaded', 'from ConfigMap fulcrum-system/config');
    assert.equal(await stale(), 0);
  });

  it('IPAddressPools created, changed and deleted move Services as the config-change rules say', async function () {
    await needCrds(this);
    await putMetalLB(cluster.api, 'IPAddressPool', 'a', POOL_A);
    await putMetalLB(cluster.api, 'L2Advertisement', 'all', EVERYWHERE);
    await start();
    await createService(cluster.clients, lbService('s1'));
    assert.deepEqual(await ipsOf('s1'), ['192.0.2.64']);
    await eventOn('IPAddressPool', 'a', 'ConfigLoaded', 'from 1 IPAddressPool and 1 L2Advertisement');

    // A new pool (only by name) serves the Service that names it.
    await putMetalLB(cluster.api, 'IPAddressPool', 'b', { addresses: ['192.0.2.96/30'], autoAssign: false });
    await eventOn('IPAddressPool', 'b', 'ConfigLoaded', 'loaded 2 pool(s)');
    await createService(cluster.clients, lbService('s2', { annotations: { 'metallb.io/address-pool': 'b' } }));
    assert.deepEqual(await ipsOf('s2'), ['192.0.2.96']);

    // A change that keeps every address in use is applied; s1 keeps its address (no reshuffle).
    await putMetalLB(cluster.api, 'IPAddressPool', 'a', { addresses: ['192.0.2.64/29'] });
    await eventOn('IPAddressPool', 'a', 'ConfigLoaded', 'loaded 2 pool(s)');
    await createService(cluster.clients, lbService('s3'));
    assert.deepEqual(await ipsOf('s3'), ['192.0.2.65']);
    assert.deepEqual(ingressIps(await getService(cluster.clients, 's1')), ['192.0.2.64']);

    // A change that takes away an address in use is refused on that pool: the last good config stays.
    await putMetalLB(cluster.api, 'IPAddressPool', 'b', { addresses: ['192.0.2.100/30'], autoAssign: false });
    const refused = await eventOn('IPAddressPool', 'b', 'InvalidConfig', 'removes addresses still in use');
    assert.equal(refused.type, 'Warning');
    assert.match(refused.message ?? '', /default\/s2 holds 192\.0\.2\.96 \(pool "b"\)/);
    assert.equal(await stale(), 1);
    await allocator!.controller.idle();
    assert.deepEqual(ingressIps(await getService(cluster.clients, 's2')), ['192.0.2.96']);

    // Once nothing holds it, the pool can go; the config is good again.
    await cluster.clients.core.deleteNamespacedService({ name: 's2', namespace: 'default' });
    await deleteMetalLB(cluster.api, 'IPAddressPool', 'b');
    await waitFor('the config in force again', async () => (await stale()) === 0);

    // Deleting the pool s1 and s3 hold is refused (on the deleted pool), and they keep their addresses.
    await deleteMetalLB(cluster.api, 'IPAddressPool', 'a');
    await eventOn('IPAddressPool', 'a', 'InvalidConfig', 'default/s1 holds 192.0.2.64');
    assert.equal(await stale(), 1);
    assert.deepEqual(ingressIps(await getService(cluster.clients, 's1')), ['192.0.2.64']);
    assert.deepEqual(ingressIps(await getService(cluster.clients, 's3')), ['192.0.2.65']);
  });

  it('an invalid IPAddressPool gets a Warning naming the field and the value, and the last good config stays in force', async function () {
    await needCrds(this);
    await putMetalLB(cluster.api, 'IPAddressPool', 'a', POOL_A);
    await putMetalLB(cluster.api, 'L2Advertisement', 'all', EVERYWHERE);
    await start();
    await createService(cluster.clients, lbService('before'));
    assert.deepEqual(await ipsOf('before'), ['192.0.2.64']);
    await putMetalLB(cluster.api, 'IPAddressPool', 'bad', { addresses: ['192.0.2.300/32'] });
    const ev = await eventOn('IPAddressPool', 'bad', 'InvalidConfig', 'spec.addresses[0]: "192.0.2.300/32" is not an IP range');
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.involvedObject?.apiVersion, 'metallb.io/v1beta1');
    assert.ok(ev.involvedObject?.uid, 'the Event names the object by uid');
    assert.equal(await stale(), 1);
    // The last good config (pool a alone) still assigns.
    await createService(cluster.clients, lbService('after'));
    assert.deepEqual(await ipsOf('after'), ['192.0.2.65']);
    await putMetalLB(cluster.api, 'IPAddressPool', 'bad', { addresses: ['192.0.2.200/32'] });
    await waitFor('the fixed config in force', async () => (await stale()) === 0);
  });

  it('both the ConfigMap and MetalLB resources: refused with a Warning on the ConfigMap naming what to remove; removing one source ends it', async function () {
    await needCrds(this);
    await putMetalLB(cluster.api, 'IPAddressPool', 'a', POOL_A);
    await putMetalLB(cluster.api, 'L2Advertisement', 'b', EVERYWHERE);
    await start();
    await createService(cluster.clients, lbService('web'));
    assert.deepEqual(await ipsOf('web'), ['192.0.2.64']);
    await applyPoolConfig(cluster.clients, 'address-pools:\n- name: other\n  protocol: layer2\n  addresses: [192.0.2.128/30]\n');
    const ev = await eventOn('ConfigMap', 'config', 'InvalidConfig', 'remove one source');
    assert.equal(ev.type, 'Warning');
    assert.match(ev.message ?? '', /^both the ConfigMap fulcrum-system\/config and 2 MetalLB resource\(s\) \(IPAddressPool "a", L2Advertisement "b"\) configure pools: remove one source/);
    assert.equal(await stale(), 1);
    // The last good config (from the resources) stays: a new Service still gets an address of pool a.
    await createService(cluster.clients, lbService('next'));
    assert.deepEqual(await ipsOf('next'), ['192.0.2.65']);
    await cluster.clients.core.deleteNamespacedConfigMap({ name: 'config', namespace: CONFIG_NS });
    await waitFor('the resources in force again', async () => (await stale()) === 0);
  });

  it('serviceAllocation.namespaceSelectors follows a namespace label change: its Services move both ways', async function () {
    await needCrds(this);
    // Pool a serves every namespace not labelled team=blue; pool blue only those labelled.
    const notBlue = { matchExpressions: [{ key: 'team', operator: 'NotIn', values: ['blue'] }] };
    await putMetalLB(cluster.api, 'IPAddressPool', 'a', { ...POOL_A, serviceAllocation: { namespaceSelectors: [notBlue] } });
    await putMetalLB(cluster.api, 'IPAddressPool', 'blue', { addresses: ['192.0.2.112/30'], serviceAllocation: { priority: 1, namespaceSelectors: [{ matchLabels: { team: 'blue' } }] } });
    await putMetalLB(cluster.api, 'L2Advertisement', 'all', EVERYWHERE);
    await cluster.clients.core.createNamespace({ body: { metadata: { name: 'team-x' } } });
    await start();
    await createService(cluster.clients, lbService('web', {}, 'team-x'));
    await createService(cluster.clients, lbService('other'));
    assert.deepEqual(await ipsOf('web', 'team-x'), ['192.0.2.64']);
    assert.deepEqual(await ipsOf('other'), ['192.0.2.65']);

    const label = (team: string | null) => cluster.clients.core.patchNamespace({ name: 'team-x', body: { metadata: { labels: { team } } } }, mergePatchOptions);
    await label('blue');
    await waitFor('web moves to the blue pool', async () => ingressIps(await getService(cluster.clients, 'web', 'team-x'))[0] === '192.0.2.112', { timeoutMs: 20_000 });
    await label(null);
    await waitFor('web moves back to pool a', async () => ingressIps(await getService(cluster.clients, 'web', 'team-x'))[0] === '192.0.2.64', { timeoutMs: 20_000 });
    // A Service of another namespace was never touched.
    assert.deepEqual(ingressIps(await getService(cluster.clients, 'other')), ['192.0.2.65']);
  });
});
