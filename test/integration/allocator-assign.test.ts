import assert from 'node:assert/strict';
import type { V1Service } from '@kubernetes/client-node';
import { startAllocator, type AllocatorProgram } from '../../allocator/program.js';
import { registry } from '../../src/metrics.js';
import { applyPoolConfig, createService, getService, ingressIps, lbService, serviceEvents, startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { suiteTitle } from '../helpers/api-target.js';

// The assignment scenarios of MetalLB's e2e suite, against the API emulator over HTTP with the
// real client-node, and the allocator running as it does in a cluster (in-process here).

const CONFIG = `
address-pools:
- name: main
  protocol: layer2
  addresses: [192.0.2.64/30]
- name: reserved
  protocol: layer2
  auto-assign: false
  addresses: [192.0.2.96-192.0.2.97]
- name: v6
  protocol: layer2
  addresses: [2001:db8::100-2001:db8::103]
`;

describe(suiteTitle('allocator: assignment scenarios (integration)'), function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  let allocator: AllocatorProgram | undefined;

  async function start(lbClass?: string): Promise<void> {
    allocator = await startAllocator({
      kubeconfig: cluster.kubeconfig,
      namespace: 'fulcrum-system',
      configName: 'config',
      lbClass,
      metrics: undefined,
      identity: 'test',
      leaderElection: { enabled: false, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
    });
  }

  async function stop(): Promise<void> {
    await allocator?.stop();
    allocator = undefined;
  }

  async function ipsOf(name: string, count = 1): Promise<string[]> {
    return waitFor(`${count} address(es) on ${name}`, async () => {
      const ips = ingressIps(await getService(cluster.clients, name));
      return ips.length >= count ? ips : undefined;
    });
  }

  async function eventWith(name: string, reason: string, text?: string): Promise<string> {
    return waitFor(`event ${reason} on ${name}`, async () => {
      const ev = (await serviceEvents(cluster.clients, name)).find((e) => e.reason === reason && (!text || (e.message ?? '').includes(text)));
      return ev?.message;
    });
  }

  beforeEach(async () => {
    cluster = await startTestCluster();
    await applyPoolConfig(cluster.clients, CONFIG);
  });

  afterEach(async () => {
    await stop();
    await cluster.close();
  });

  it('gives a Service the lowest free address with ipMode Proxy, its ports and the pool annotation', async () => {
    await start();
    await createService(cluster.clients, lbService('web', { ports: [{ port: 80 }, { port: 53, protocol: 'UDP' }] }));
    const [ip] = await ipsOf('web');
    assert.equal(ip, '192.0.2.64');
    const svc = await getService(cluster.clients, 'web');
    assert.deepEqual(JSON.parse(JSON.stringify(svc.status?.loadBalancer?.ingress)), [
      { ip: '192.0.2.64', ipMode: 'Proxy', ports: [{ port: 80, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }] },
    ]);
    // The status is written first, the pool annotation in a second write after it.
    assert.equal(await waitFor('the pool annotation', async () => (await getService(cluster.clients, 'web')).metadata?.annotations?.['fulcrum-lb.io/ip-allocated-from-pool']), 'main');
    assert.match(await eventWith('web', 'IPAllocated'), /192\.0\.2\.64/);
  });

  it('recycles the address of a deleted Service', async () => {
    await start();
    await createService(cluster.clients, lbService('a'));
    const [ipA] = await ipsOf('a');
    await cluster.clients.core.deleteNamespacedService({ name: 'a', namespace: 'default' });
    await createService(cluster.clients, lbService('b'));
    assert.deepEqual(await ipsOf('b'), [ipA]);
  });

  it('releases and clears the status when a Service stops being LoadBalancer', async () => {
    await start();
    await createService(cluster.clients, lbService('a'));
    const [ipA] = await ipsOf('a');
    // the pool annotation is a second write after the status
    const pool = await waitFor('the pool annotation on a', async () => (await getService(cluster.clients, 'a')).metadata?.annotations?.['fulcrum-lb.io/ip-allocated-from-pool']);
    await cluster.clients.core.patchNamespacedService(
      { name: 'a', namespace: 'default', body: [{ op: 'replace', path: '/spec/type', value: 'ClusterIP' }] },
    );
    await waitFor('status of a cleared', async () => ingressIps(await getService(cluster.clients, 'a')).length === 0);
    assert.ok(pool);
    await createService(cluster.clients, lbService('b'));
    assert.deepEqual(await ipsOf('b'), [ipA]);
    await eventWith('a', 'ClearAssignment');
  });

  it('keeps every address across an allocator restart and writes no status for unchanged Services', async () => {
    await start();
    for (const n of ['s1', 's2', 's3']) await createService(cluster.clients, lbService(n));
    const before = new Map<string, string[]>();
    for (const n of ['s1', 's2', 's3']) before.set(n, await ipsOf(n));
    await stop();
    const writesBefore = cluster.api.requestCounts()['update services/status'] ?? 0;
    await start();
    await allocator!.controller.idle();
    await createService(cluster.clients, lbService('s4'));
    await ipsOf('s4');
    for (const n of ['s1', 's2', 's3']) assert.deepEqual(ingressIps(await getService(cluster.clients, n)), before.get(n), n);
    const writes = (cluster.api.requestCounts()['update services/status'] ?? 0) - writesBefore;
    assert.equal(writes, 1, 'only the new Service s4 gets a status write');
  });

  it('shares one address between Services with the same key and refuses a port clash', async () => {
    await start();
    const key = { 'metallb.universe.tf/allow-shared-ip': 'k1' };
    await createService(cluster.clients, lbService('dns-tcp', { annotations: key, ports: [{ port: 53, protocol: 'TCP' }] }));
    await createService(cluster.clients, lbService('dns-udp', { annotations: key, ports: [{ port: 53, protocol: 'UDP' }] }));
    const [a] = await ipsOf('dns-tcp');
    const [b] = await ipsOf('dns-udp');
    assert.equal(a, b);
    await createService(cluster.clients, lbService('clash', { annotations: key, loadBalancerIP: a, ports: [{ port: 53, protocol: 'TCP' }] }));
    assert.match(await eventWith('clash', 'AllocationFailed'), /53/);
    assert.deepEqual(ingressIps(await getService(cluster.clients, 'clash')), []);
  });

  it('takes the address from the pool the annotation names, including an auto-assign: false pool', async () => {
    await start();
    await createService(cluster.clients, lbService('pinned', { annotations: { 'fulcrum-lb.io/address-pool': 'reserved' } }));
    assert.deepEqual(await ipsOf('pinned'), ['192.0.2.96']);
    await createService(cluster.clients, lbService('ghost', { annotations: { 'metallb.universe.tf/address-pool': 'nope' } }));
    assert.match(await eventWith('ghost', 'AllocationFailed'), /nope/);
  });

  it('gives a requested address (spec.loadBalancerIP or the annotation) and refuses one outside every pool', async () => {
    await start();
    await createService(cluster.clients, lbService('by-spec', { loadBalancerIP: '192.0.2.66' }));
    await createService(cluster.clients, lbService('by-annotation', { annotations: { 'metallb.universe.tf/loadBalancerIPs': '192.0.2.97' } }));
    await createService(cluster.clients, lbService('outside', { loadBalancerIP: '192.0.2.200' }));
    assert.deepEqual(await ipsOf('by-spec'), ['192.0.2.66']);
    assert.deepEqual(await ipsOf('by-annotation'), ['192.0.2.97']);
    assert.match(await eventWith('outside', 'AllocationFailed'), /192\.0\.2\.200/);
    assert.deepEqual(ingressIps(await getService(cluster.clients, 'outside')), []);
  });

  it('never auto-assigns from an auto-assign: false pool and reports the exhausted pool', async () => {
    await start();
    const names = ['e1', 'e2', 'e3', 'e4', 'e5'];
    for (const n of names) await createService(cluster.clients, lbService(n));
    const got: string[] = [];
    for (const n of names.slice(0, 4)) got.push(...(await ipsOf(n)));
    assert.deepEqual(got.sort(), ['192.0.2.64', '192.0.2.65', '192.0.2.66', '192.0.2.67']);
    assert.match(await eventWith('e5', 'AllocationFailed'), /exhausted|no (free|available)/i);
  });

  it('skips .0 and .255 with avoid-buggy-ips', async () => {
    await applyPoolConfig(cluster.clients, 'address-pools:\n- name: b\n  protocol: layer2\n  avoid-buggy-ips: true\n  addresses: [192.0.2.0/24]\n');
    await start();
    await createService(cluster.clients, lbService('first'));
    assert.deepEqual(await ipsOf('first'), ['192.0.2.1']);
  });

  it('gives both families to PreferDualStack and RequireDualStack Services, in ipFamilies order', async () => {
    await applyPoolConfig(cluster.clients, 'address-pools:\n- name: ds\n  protocol: layer2\n  addresses: [192.0.2.64/30, "2001:db8::100/126"]\n');
    await start();
    await createService(cluster.clients, lbService('prefer', { ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv6', 'IPv4'] }));
    await createService(cluster.clients, lbService('require', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] }));
    assert.deepEqual(await ipsOf('prefer', 2), ['2001:db8::100', '192.0.2.64']);
    assert.deepEqual(await ipsOf('require', 2), ['192.0.2.65', '2001:db8::101']);
  });

  it('refuses a config that removes a pool still in use: last good config kept, Warning on the ConfigMap, stale metric 1', async () => {
    await start();
    await createService(cluster.clients, lbService('keep'));
    const [ip] = await ipsOf('keep');
    await applyPoolConfig(cluster.clients, 'address-pools:\n- name: other\n  protocol: layer2\n  addresses: [192.0.2.128/30]\n');
    const warning = await waitFor('a Warning event on the ConfigMap', async () => {
      const list = await cluster.clients.core.listNamespacedEvent({ namespace: 'fulcrum-system' });
      return list.items.find((e) => e.involvedObject?.kind === 'ConfigMap' && e.type === 'Warning')?.message;
    });
    assert.match(warning, /default\/keep/);
    assert.match(await registry.getSingleMetricAsString('fulcrum_config_stale'), /fulcrum_config_stale 1/);
    await createService(cluster.clients, lbService('next'));
    assert.deepEqual(await ipsOf('next'), ['192.0.2.65'], 'the old pool still serves');
    assert.deepEqual(ingressIps(await getService(cluster.clients, 'keep')), [ip]);
  });

  it('keeps the addresses of a disabled pool but gives no new ones from it', async () => {
    await start();
    await createService(cluster.clients, lbService('old'));
    const [ip] = await ipsOf('old');
    await applyPoolConfig(cluster.clients, CONFIG.replace('  addresses: [192.0.2.64/30]', '  disabled: true\n  addresses: [192.0.2.64/30]'));
    await createService(cluster.clients, lbService('new', { ipFamilyPolicy: 'SingleStack' }));
    assert.match(await eventWith('new', 'AllocationFailed'), /./);
    assert.deepEqual(ingressIps(await getService(cluster.clients, 'old')), [ip]);
  });

  it('serves only its load-balancer class', async () => {
    await start('example.com/fulcrum');
    await createService(cluster.clients, lbService('mine', { loadBalancerClass: 'example.com/fulcrum' }));
    await createService(cluster.clients, lbService('plain'));
    await createService(cluster.clients, lbService('theirs', { loadBalancerClass: 'example.com/other' }));
    await ipsOf('mine');
    await allocator!.controller.idle();
    for (const n of ['plain', 'theirs']) assert.deepEqual(ingressIps(await getService(cluster.clients, n)), [], n);
  });

  it('gives no address that another Service holds in status when Services are listed before the ConfigMap', async () => {
    // A previous allocator assigned 192.0.2.64 to "held"; then the ConfigMap is briefly absent.
    await cluster.clients.core.deleteNamespacedConfigMap({ name: 'config', namespace: 'fulcrum-system' });
    await createService(cluster.clients, lbService('fresh'));
    const held = await createService(cluster.clients, lbService('held'));
    await cluster.clients.core.replaceNamespacedServiceStatus({
      name: 'held',
      namespace: 'default',
      body: { ...held, status: { loadBalancer: { ingress: [{ ip: '192.0.2.64', ipMode: 'Proxy' }] } } } as V1Service,
    });
    await start();
    await eventWith('fresh', 'AllocationFailed', 'not found');
    await applyPoolConfig(cluster.clients, CONFIG);
    assert.deepEqual(await ipsOf('fresh'), ['192.0.2.65']);
    assert.deepEqual(ingressIps(await getService(cluster.clients, 'held')), ['192.0.2.64']);
  });
});
