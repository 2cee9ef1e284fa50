import assert from 'node:assert/strict';
import { mergePatchOptions } from '../../src/k8s/client.js';
import { EventRecorder } from '../../src/k8s/events.js';
import { componentLogger } from '../../src/log.js';
import { registry } from '../../src/metrics.js';
import { SpeakerCaches } from '../../speaker/caches.js';
import { SpeakerController, type SpeakerAppliers } from '../../speaker/controller.js';
import type { LivenessView } from '../../speaker/membership/liveness.js';
import { ServedAddresses } from '../../speaker/served.js';
import { apiServerName, suiteTitle } from '../helpers/api-target.js';
import { applyPoolConfig, createService, lbService, startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';
import { CONFIG_NS, deleteMetalLBObjects, installCrds, metallbServed, putMetalLB, type InstalledCrds } from './metallb-crds.js';

// The speaker's controller takes its pools from MetalLB's IPAddressPool and L2Advertisement
// resources when there is no ConfigMap, by the same source rule as the allocator: which node
// may announce is the L2Advertisement's nodeSelectors, on its interfaces; both sources, or an
// invalid resource, keep the last good config (fail static). Recording appliers: no root, no
// network namespaces.

const VIP = '192.0.2.70';
const ME = 'n1';
const OTHER = 'n2';
const NODES = [ME, OTHER];
const POOL = { addresses: ['192.0.2.64/26'] };
const only = (node: string) => ({ nodeSelectors: [{ matchLabels: { 'kubernetes.io/hostname': node } }], interfaces: ['eth0'] });

function view(): LivenessView {
  const peers = new Map([[OTHER, 'up' as const]]);
  return { alive: new Set(NODES), down: new Set(), isolated: false, peers, reasons: new Map(), stale: new Map(), probed: new Set(peers.keys()), awaitingLeases: false };
}

async function configStale(): Promise<number | undefined> {
  const g = registry.getSingleMetric('fulcrum_speaker_config_stale');
  return g ? (await g.get()).values[0]?.value : undefined;
}

describe(suiteTitle('speaker controller: pools from MetalLB resources (integration)'), function () {
  this.timeout(60_000);
  let cluster: TestCluster;
  let caches: SpeakerCaches | undefined;
  let events: EventRecorder | undefined;
  let installed: InstalledCrds | undefined;
  let running: SpeakerController | undefined;
  const served = new ServedAddresses();
  const ops: string[] = [];

  async function startSpeaker(): Promise<SpeakerController> {
    const { clients } = cluster;
    const logger = componentLogger('speaker-test');
    caches = new SpeakerCaches({ clients, namespace: CONFIG_NS, configName: 'config', logger });
    await caches.start();
    events = new EventRecorder({ clients, component: 'fulcrum-speaker', host: ME, logger });
    const appliers: SpeakerAppliers = {
      vip: { add: async (ip) => void ops.push(`vip.add ${ip}`), remove: async (ip) => void ops.push(`vip.remove ${ip}`) },
      announcer: { announce: (ip, iface) => ops.push(`announce ${ip} ${iface}`), withdraw: (ip) => ops.push(`withdraw ${ip}`) },
      proxy: { apply: async () => undefined, stop: async () => undefined, drained: async () => undefined },
    };
    const c = new SpeakerController({ me: ME, lbClass: undefined, interfaces: ['eth0', 'eth1'], caches, events, logger, served, appliers, coalesceMs: 5 });
    c.onLiveness(view());
    running = c;
    return c;
  }

  before(async () => {
    cluster = await startTestCluster();
    const { clients } = cluster;
    for (const name of NODES) {
      await clients.core.createNode({ body: { metadata: { name, labels: { 'kubernetes.io/hostname': name } } } });
      await clients.core.replaceNodeStatus({ name, body: { metadata: { name }, status: { conditions: [{ type: 'Ready', status: 'True' }], addresses: [{ type: 'InternalIP', address: `192.0.2.1${name.slice(1)}` }] } } });
      // After the status: a status write carries the whole object, and labels are not its to set.
      await clients.core.patchNode({ name, body: { metadata: { labels: { 'kubernetes.io/hostname': name } } } }, mergePatchOptions);
    }
    await createService(clients, lbService('web'));
    const svc = await clients.core.readNamespacedService({ name: 'web', namespace: 'default' });
    svc.status = { loadBalancer: { ingress: [{ ip: VIP }] } };
    await clients.core.replaceNamespacedServiceStatus({ name: 'web', namespace: 'default', body: svc });
  });

  afterEach(async () => {
    await running?.release(0);
    running = undefined;
    await events?.stop();
    await caches?.stop();
    caches = undefined;
    events = undefined;
    served.clear();
    ops.length = 0;
  });

  after(async () => {
    await installed?.remove(cluster.api, cluster.kubeconfig);
    await cluster?.close();
  });

  it('without the CRDs the caches sync and the ConfigMap alone configures the speaker, as before', async function () {
    if (await metallbServed(cluster.api)) this.skip();
    await applyPoolConfig(cluster.clients, 'address-pools:\n- name: lab\n  protocol: layer2\n  addresses: [192.0.2.64/26]\n  node-selectors: [{match-labels: {kubernetes.io/hostname: n1}}]\n');
    const controller = await startSpeaker();
    assert.equal(caches!.ipAddressPools.state(), 'absent');
    assert.equal(caches!.watching(), true, 'a kind that is not served does not count as a watch down');
    await waitFor('the address served', () => controller.serving().includes(VIP), { describe: () => [...(controller.plan()?.addresses.values() ?? [])] });
    await cluster.clients.core.deleteNamespacedConfigMap({ name: 'config', namespace: CONFIG_NS });
  });

  it('announces where the L2Advertisement says, follows its changes, and keeps the last good config when refused', async function () {
    const r = await installCrds(cluster.api, cluster.kubeconfig);
    if (!('remove' in r)) {
      process.stdout.write(`      (skipped on ${apiServerName()}: ${r.reason})\n`);
      this.skip();
    }
    installed = r;
    await putMetalLB(cluster.api, 'IPAddressPool', 'lab', POOL);
    await putMetalLB(cluster.api, 'L2Advertisement', 'here', only(ME));
    const controller = await startSpeaker();
    await waitFor('the address served on eth0 only', () => controller.serving().includes(VIP) && ops.includes(`announce ${VIP} eth0`));
    assert.equal(ops.includes(`announce ${VIP} eth1`), false, 'the advertisement names eth0 only');
    const plan = controller.plan()!;
    assert.equal(plan.addresses.get(VIP)?.pool, 'lab');

    // The advertisement now selects the other node only: this one withdraws.
    await putMetalLB(cluster.api, 'L2Advertisement', 'here', only(OTHER));
    await waitFor('the address withdrawn', () => !controller.serving().includes(VIP) && ops.includes(`withdraw ${VIP}`));

    // Both sources: refused, the last good config (the other node announces) stays.
    ops.length = 0;
    await applyPoolConfig(cluster.clients, 'address-pools:\n- name: lab\n  protocol: layer2\n  addresses: [192.0.2.64/26]\n');
    await waitFor('the refusal', async () => (await configStale()) === 1);
    await controller.runNow();
    assert.deepEqual(controller.serving(), []);
    await cluster.clients.core.deleteNamespacedConfigMap({ name: 'config', namespace: CONFIG_NS });
    await waitFor('the resources in force again', async () => (await configStale()) === 0);

    // An invalid IPAddressPool: refused, nothing moves; fixed, the advertisement for this node is honoured again.
    await putMetalLB(cluster.api, 'L2Advertisement', 'here', only(ME));
    await waitFor('the address served again', () => controller.serving().includes(VIP));
    await putMetalLB(cluster.api, 'IPAddressPool', 'bad', { addresses: ['192.0.2.300/32'] });
    await waitFor('the refusal', async () => (await configStale()) === 1);
    await putMetalLB(cluster.api, 'L2Advertisement', 'here', only(OTHER));
    await new Promise((res) => setTimeout(res, 200));
    await controller.runNow();
    assert.deepEqual(controller.serving(), [VIP], 'an invalid config is not applied, even with a valid change beside it');
    await deleteMetalLBObjects(cluster.api);
  });
});
