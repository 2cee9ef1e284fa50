import assert from 'node:assert/strict';
import { EventRecorder } from '../../src/k8s/events.js';
import { componentLogger } from '../../src/log.js';
import { SpeakerCaches } from '../../speaker/caches.js';
import { SpeakerController, type SpeakerAppliers } from '../../speaker/controller.js';
import { ServedAddresses } from '../../speaker/served.js';
import { electOwner } from '../../speaker/plan/elect.js';
import type { LivenessView } from '../../speaker/membership/liveness.js';
import type { ProxyModel } from '../../speaker/proxy/model.js';
import { applyPoolConfig, createService, lbService, serviceEvents, startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

// The controller against the API emulator with recording appliers (no root, no namespaces):
// the order of the appliers, what the responder is told, the nodeAssigned Event, the config
// and fail-static rules.
const VIP = '192.0.2.70';
const NODES = ['n1', 'n2'];
const ME = (() => {
  const e = electOwner(VIP, NODES);
  if (e.kind !== 'owner') throw new Error('no owner');
  return e.node;
})();
const OTHER = NODES.find((n) => n !== ME)!;
const POOL = 'address-pools:\n- name: lab\n  protocol: layer2\n  addresses: [192.0.2.64/26]\n';

function view(alive: string[], isolated = false): LivenessView {
  const down = NODES.filter((n) => !alive.includes(n));
  const peers = new Map([...alive.map((n) => [n, 'up'] as const), ...down.map((n) => [n, 'down'] as const)].filter(([n]) => n !== ME));
  return { alive: new Set(alive), down: new Set(down), isolated, peers, reasons: new Map(), stale: new Map(), probed: new Set(peers.keys()), awaitingLeases: false };
}

/** The view after `node` stopped cleanly: it said "left" (its Lease may be gone already). */
function leftView(node: string): LivenessView {
  const v = view(NODES.filter((n) => n !== node));
  return { ...v, peers: new Map([...v.peers, [node, 'left']]) };
}

const nodeIp = (name: string) => '192.0.2.1' + name.slice(1);

describe('speaker controller: plan → VIP → proxy → announce, against the API emulator', function () {
  this.timeout(30_000);
  let cluster: TestCluster;
  let caches: SpeakerCaches;
  let events: EventRecorder;
  let controller: SpeakerController;
  const served = new ServedAddresses();
  const ops: string[] = [];

  before(async () => {
    cluster = await startTestCluster();
    const { clients } = cluster;
    for (const name of NODES) {
      await clients.core.createNode({ body: { metadata: { name } } });
      await clients.core.replaceNodeStatus({ name, body: { metadata: { name }, status: { conditions: [{ type: 'Ready', status: 'True' }], addresses: [{ type: 'InternalIP', address: nodeIp(name) }] } } });
    }
    await applyPoolConfig(clients, POOL);
    await createService(clients, lbService('web', { ports: [{ port: 80, name: 'http' }] }));
    const svc = await clients.core.readNamespacedService({ name: 'web', namespace: 'default' });
    svc.status = { loadBalancer: { ingress: [{ ip: VIP }] } };
    await clients.core.replaceNamespacedServiceStatus({ name: 'web', namespace: 'default', body: svc });
    const logger = componentLogger('speaker-test');
    caches = new SpeakerCaches({ clients, namespace: 'fulcrum-system', configName: 'config', logger });
    await caches.start();
    events = new EventRecorder({ clients, component: 'fulcrum-speaker', host: ME, logger });
    const appliers: SpeakerAppliers = {
      vip: { add: async (ip) => void ops.push(`vip.add ${ip}`), remove: async (ip) => void ops.push(`vip.remove ${ip}`) },
      announcer: {
        announce: (ip, iface) => ops.push(`announce ${ip} ${iface} owns=${served.ownsAddress(ip, iface).announce}`),
        withdraw: (ip) => ops.push(`withdraw ${ip} owns=${served.ownsAddress(ip, 'eth0').announce}`),
      },
      proxy: {
        apply: async (m: ProxyModel) => void ops.push(`proxy [${m.frontends.map((f) => f.name).join(' ')}]`),
        stop: async () => void ops.push('proxy.stop'),
        drained: async (ip: string) => void ops.push(`proxy.drained ${ip}`),
      },
      handoff: { forward: async (entries, forMs) => void ops.push(`handoff ${entries.map((e) => `${e.address}>${e.to}`).join(' ')} for ${forMs}`) },
    };
    controller = new SpeakerController({ me: ME, lbClass: undefined, interfaces: ['eth0'], caches, events, logger, served, appliers, coalesceMs: 5, handoffMs: 12_500 });
  });

  after(async () => {
    await events?.stop();
    await caches?.stop();
    await cluster?.close();
  });

  it('takeover: VIP first, then the proxy listens, then the address is answered for and announced', async () => {
    ops.length = 0;
    controller.onLiveness(view(NODES));
    await waitFor('the address to be served', () => controller.serving().includes(VIP) || undefined);
    // A fresh process takes the address from the node that holds it without us, still running: hand off to it.
    assert.deepEqual(ops.slice(0, 4), [`vip.add ${VIP}`, `handoff ${VIP}>${nodeIp(OTHER)} for 12500`, `proxy [default/web:80/TCP@${VIP}]`, `announce ${VIP} eth0 owns=true`]);
    // A cache event may run the loop again: it applies the same proxy model (a no-op in the engine) and nothing else.
    assert.deepEqual(ops.slice(4).filter((o) => o !== `proxy [default/web:80/TCP@${VIP}]`), []);
    assert.deepEqual(served.ownsAddress(VIP, 'eth0'), { announce: true });
    assert.deepEqual(served.ownsAddress(VIP, 'eth1'), { announce: false, reason: 'notThisInterface' });
    assert.deepEqual(served.ownsAddress('192.0.2.71', 'eth0'), { announce: false, reason: 'notOwner' });
  });

  it("records nodeAssigned on the Service with MetalLB's message", async () => {
    await events.flush();
    const evs = await serviceEvents(cluster.clients, 'web');
    const assigned = evs.filter((e) => e.reason === 'nodeAssigned');
    assert.equal(assigned.length, 1);
    assert.equal(assigned[0]!.message, `announcing from node "${ME}" with protocol "layer2"`);
  });

  it('an invalid ConfigMap keeps the last good config: nothing moves', async () => {
    ops.length = 0;
    await applyPoolConfig(cluster.clients, 'address-pools: [{name: 1}]\n');
    await waitFor('the new ConfigMap in the cache', () => caches.configMaps.list()[0]?.data?.config?.startsWith('address-pools: [') || undefined);
    await controller.runNow();
    assert.deepEqual(controller.serving(), [VIP]);
    assert.deepEqual(ops.filter((o) => !o.startsWith('proxy')), []);
    await applyPoolConfig(cluster.clients, POOL);
  });

  it('fail static: with the API hanging the plan is unchanged and the address still served', async () => {
    ops.length = 0;
    cluster.api.faults.dropWatches();
    cluster.api.faults.pause(1_000);
    await controller.runNow();
    assert.deepEqual(controller.serving(), [VIP]);
    assert.deepEqual(ops.filter((o) => !o.startsWith('proxy')), []);
  });

  it('loss: stop answering first, then the proxy drops the frontend, then the VIP comes off once drained', async () => {
    ops.length = 0;
    controller.onLiveness(view([OTHER]));
    await waitFor('the address to be released', () => (controller.serving().length === 0 && ops.includes(`vip.remove ${VIP}`)) || undefined);
    // the run after the drain applies the same (empty) model again, then removes the VIP
    assert.deepEqual(ops, [`withdraw ${VIP} owns=false`, 'proxy []', `proxy.drained ${VIP}`, 'proxy []', `vip.remove ${VIP}`]);
  });

  it('loss with a handover: stop answering at once, keep accepting for the handover, then drop the frontend and the VIP', async () => {
    const HANDOVER_MS = 300;
    const log: { at: number; op: string }[] = [];
    const note = (op: string) => void log.push({ at: performance.now(), op });
    const appliers: SpeakerAppliers = {
      vip: { add: async (ip) => note(`vip.add ${ip}`), remove: async (ip) => note(`vip.remove ${ip}`) },
      announcer: { announce: (ip) => note(`announce ${ip}`), withdraw: (ip) => note(`withdraw ${ip}`) },
      proxy: { apply: async (m: ProxyModel) => note(`proxy [${m.frontends.map((f) => f.name).join(' ')}]`), stop: async () => note('proxy.stop'), drained: async (ip: string) => note(`proxy.drained ${ip}`) },
    };
    const c = new SpeakerController({ me: ME, lbClass: undefined, interfaces: ['eth0'], caches, events, logger: componentLogger('speaker-test'), served: new ServedAddresses(), appliers, coalesceMs: 5, handoverMs: HANDOVER_MS });
    c.onLiveness(view([ME]));
    await waitFor('the address to be served', () => c.serving().includes(VIP) || undefined);
    log.length = 0;
    c.onLiveness(view([OTHER]));
    await waitFor('the VIP to come off', () => log.some((l) => l.op === `vip.remove ${VIP}`) || undefined);
    const ops = log.map((l) => l.op);
    assert.deepEqual(ops, [`withdraw ${VIP}`, `proxy [default/web:80/TCP@${VIP}]`, 'proxy []', `proxy.drained ${VIP}`, 'proxy []', `vip.remove ${VIP}`]);
    const at = (op: string) => log.find((l) => l.op === op)!.at;
    assert.ok(at('proxy []') - at(`withdraw ${VIP}`) >= HANDOVER_MS - 1, `the frontend kept accepting ${Math.round(at('proxy []') - at(`withdraw ${VIP}`))} ms after the withdrawal`);
    await c.release(0);
  });

  it('isolated: owns nothing even though it is elected by hash', async () => {
    ops.length = 0;
    controller.onLiveness(view([], true));
    await controller.runNow();
    assert.deepEqual(controller.serving(), []);
    assert.equal(controller.plan()?.addresses.get(VIP)?.owner.kind, 'none');
  });

  it('a peer coming back makes the owner announce its addresses again', async () => {
    controller.onLiveness(view([ME]));
    await waitFor('served again', () => controller.serving().includes(VIP) || undefined);
    ops.length = 0;
    controller.onLiveness(view(NODES));
    await waitFor('the re-announcement', () => ops.some((o) => o.startsWith('announce')) || undefined);
    assert.deepEqual(ops.filter((o) => !o.startsWith('proxy')), [`announce ${VIP} eth0 owns=true`]);
  });

  it('takeover from an owner still running: its open connections are forwarded to it first; from a crashed one: not', async () => {
    const served = (yes: boolean) => waitFor(`served: ${yes}`, () => controller.serving().includes(VIP) === yes || undefined);
    // Lost, drained, and its VIP off lo: the next takeover starts from nothing.
    const lose = async (v: LivenessView) => {
      ops.length = 0;
      controller.onLiveness(v);
      await waitFor('the VIP off lo', () => ops.includes(`vip.remove ${VIP}`) || undefined);
    };
    // the other node owns it (we are down), then stops cleanly: it drains, so forward to it
    await lose(view([OTHER]));
    ops.length = 0;
    controller.onLiveness(leftView(OTHER));
    await served(true);
    assert.deepEqual(ops.slice(0, 2).sort(), [`handoff ${VIP}>${nodeIp(OTHER)} for 12500`, `vip.add ${VIP}`].sort(), 'the handoff is set with the VIP, before the proxy and the announcement');
    assert.ok(ops.indexOf(`announce ${VIP} eth0 owns=true`) > 1);
    // a rebalance (the other node alive, the hash picks us) forwards too
    await lose(view([OTHER]));
    ops.length = 0;
    controller.onLiveness(view(NODES));
    await served(true);
    assert.ok(ops.includes(`handoff ${VIP}>${nodeIp(OTHER)} for 12500`), ops.join('; '));
    // crashed: nobody to forward to, its clients get a reset here at once
    await lose(view([OTHER]));
    ops.length = 0;
    controller.onLiveness(view([ME]));
    await served(true);
    assert.deepEqual(ops.filter((o) => o.startsWith('handoff')), []);
  });

  it('clean stop: withdrawAll stops answering and leaves the VIP and the listener for the handover; release then stops the proxy and takes the VIP off', async () => {
    ops.length = 0;
    assert.deepEqual(await controller.withdrawAll(), [VIP]);
    assert.deepEqual(ops, [`withdraw ${VIP} owns=false`], 'only the ARP/NDP answers stop: the new owner is the only one answering');
    assert.deepEqual(controller.serving(), []);
    controller.onLiveness(view([ME]));
    controller.schedule(0);
    await controller.runNow();
    assert.deepEqual(ops, [`withdraw ${VIP} owns=false`], 'no plan runs once stopping: nothing is announced again');
    await controller.release(100);
    assert.deepEqual(ops, [`withdraw ${VIP} owns=false`, 'proxy.stop', `vip.remove ${VIP}`]);
  });
});
