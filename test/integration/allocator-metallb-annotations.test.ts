import assert from 'node:assert/strict';
import { startAllocator, type AllocatorProgram } from '../../allocator/program.js';
import { mergePatchOptions } from '../../src/k8s/client.js';
import { applyPoolConfig, createService, getService, ingressIps, lbService, serviceEvents, startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { suiteTitle } from '../helpers/api-target.js';

// MetalLB's annotations under both of its prefixes (`metallb.io/` since v0.14.9,
// `metallb.universe.tf/` before), beside Fulcrum's: what is read, what is written back, and what
// happens when two prefixes of one annotation disagree. Against the API emulator over HTTP, the
// allocator running as in a cluster (in-process).

const CONFIG = `
address-pools:
- name: main
  protocol: layer2
  addresses: [192.0.2.64/30]
- name: reserved
  protocol: layer2
  auto-assign: false
  addresses: [192.0.2.96-192.0.2.97]
`;

const POOL = 'ip-allocated-from-pool';

describe(suiteTitle('allocator: MetalLB annotation prefixes (integration)'), function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  let allocator: AllocatorProgram | undefined;

  async function start(): Promise<void> {
    allocator = await startAllocator({
      kubeconfig: cluster.kubeconfig,
      namespace: 'fulcrum-system',
      configName: 'config',
      lbClass: undefined,
      metrics: undefined,
      identity: 'test',
      leaderElection: { enabled: false, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
    });
  }

  async function stop(): Promise<void> {
    await allocator?.stop();
    allocator = undefined;
  }

  async function ipsOf(name: string): Promise<string[]> {
    return waitFor(`an address on ${name}`, async () => {
      const ips = ingressIps(await getService(cluster.clients, name));
      return ips.length > 0 ? ips : undefined;
    });
  }

  async function eventWith(name: string, reason: string, text: string): Promise<string> {
    return waitFor(`event ${reason} on ${name} with "${text}"`, async () => {
      const ev = (await serviceEvents(cluster.clients, name)).find((e) => e.reason === reason && (e.message ?? '').includes(text));
      return ev?.message;
    });
  }

  /** The ip-allocated-from-pool annotations of a Service, by prefix. */
  async function poolAnnotations(name: string): Promise<Record<string, string>> {
    const annotations = (await getService(cluster.clients, name)).metadata?.annotations ?? {};
    return Object.fromEntries(Object.entries(annotations).filter(([k]) => k.endsWith(`/${POOL}`)));
  }

  async function annotate(name: string, annotations: Record<string, string | null>): Promise<void> {
    await cluster.clients.core.patchNamespacedService(
      { name, namespace: 'default', body: { metadata: { annotations } } },
      mergePatchOptions,
    );
  }

  beforeEach(async () => {
    cluster = await startTestCluster();
    await applyPoolConfig(cluster.clients, CONFIG);
  });

  afterEach(async () => {
    await stop();
    await cluster.close();
  });

  it("reads metallb.io/ annotations and writes the pool under metallb.io/ and Fulcrum's prefix", async () => {
    await start();
    await createService(cluster.clients, lbService('pinned', { annotations: { 'metallb.io/address-pool': 'reserved' } }));
    await createService(cluster.clients, lbService('asked', { annotations: { 'metallb.io/loadBalancerIPs': '192.0.2.97' } }));
    assert.deepEqual(await ipsOf('pinned'), ['192.0.2.96']);
    assert.deepEqual(await ipsOf('asked'), ['192.0.2.97']);
    for (const name of ['pinned', 'asked']) {
      const want = { [`fulcrum-lb.io/${POOL}`]: 'reserved', [`metallb.io/${POOL}`]: 'reserved' };
      assert.deepEqual(await waitFor(`pool annotations on ${name}`, async () => {
        const got = await poolAnnotations(name);
        return Object.keys(got).length === 2 ? got : undefined;
      }), want, name);
    }
  });

  it('writes the pool under metallb.universe.tf/ for a Service that uses the old prefix, and under ours only for one that uses none', async () => {
    await start();
    await createService(cluster.clients, lbService('old', { annotations: { 'metallb.universe.tf/allow-shared-ip': 'k' } }));
    await createService(cluster.clients, lbService('plain'));
    await ipsOf('old');
    await ipsOf('plain');
    assert.deepEqual(await waitFor('pool annotations on old', async () => {
      const got = await poolAnnotations('old');
      return Object.keys(got).length === 2 ? got : undefined;
    }), { [`fulcrum-lb.io/${POOL}`]: 'main', [`metallb.universe.tf/${POOL}`]: 'main' });
    await allocator!.controller.idle();
    assert.deepEqual(await poolAnnotations('plain'), { [`fulcrum-lb.io/${POOL}`]: 'main' });
  });

  it('takes the same value under two prefixes', async () => {
    await start();
    await createService(cluster.clients, lbService('both', { annotations: { 'metallb.io/address-pool': 'reserved', 'metallb.universe.tf/address-pool': 'reserved' } }));
    assert.deepEqual(await ipsOf('both'), ['192.0.2.96']);
  });

  it('refuses a new Service whose prefixes disagree, naming both annotations and values, and gives it no address', async () => {
    await start();
    await createService(cluster.clients, lbService('torn', { annotations: { 'metallb.io/address-pool': 'main', 'metallb.universe.tf/address-pool': 'reserved' } }));
    const message = await eventWith('torn', 'AllocationFailed', 'disagree');
    assert.match(message, /metallb\.io\/address-pool \("main"\)/);
    assert.match(message, /metallb\.universe\.tf\/address-pool \("reserved"\)/);
    await allocator!.controller.idle();
    assert.deepEqual(ingressIps(await getService(cluster.clients, 'torn')), []);
  });

  it('lets a Service keep its address when its prefixes start to disagree, across a restart too, and moves it once they agree on another pool', async () => {
    await start();
    await createService(cluster.clients, lbService('held', { annotations: { 'metallb.io/address-pool': 'main' } }));
    assert.deepEqual(await ipsOf('held'), ['192.0.2.64']);
    await annotate('held', { 'fulcrum-lb.io/address-pool': 'reserved' });
    await eventWith('held', 'AllocationFailed', 'fulcrum-lb.io/address-pool ("reserved") and metallb.io/address-pool ("main") disagree');
    await allocator!.controller.idle();
    assert.deepEqual(ingressIps(await getService(cluster.clients, 'held')), ['192.0.2.64']);
    assert.equal((await poolAnnotations('held'))[`fulcrum-lb.io/${POOL}`], 'main');

    // After a restart nobody else is given the address the Service still shows.
    await stop();
    await start();
    await createService(cluster.clients, lbService('next'));
    assert.deepEqual(await ipsOf('next'), ['192.0.2.65']);
    assert.deepEqual(ingressIps(await getService(cluster.clients, 'held')), ['192.0.2.64']);

    // The two agree again (on the other pool): the Service moves there.
    await annotate('held', { 'metallb.io/address-pool': 'reserved' });
    await waitFor('held moves to the reserved pool', async () => ingressIps(await getService(cluster.clients, 'held'))[0] === '192.0.2.96');
  });
});
