import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import { parseConfig } from '../../src/config/index.js';
import { indexEndpoints } from '../../src/service/endpoints.js';
import type { LivenessView, PeerState } from '../../speaker/membership/liveness.js';
import { electOwner } from '../../speaker/plan/elect.js';
import { NOTHING_APPLIED, planTransition, type AppliedState, type Transition, type TransitionInput } from '../../speaker/plan/transition.js';

const parsed = parseConfig('address-pools:\n- name: lab\n  protocol: layer2\n  addresses: [192.0.2.64/26]\n');
if (!parsed.ok) throw new Error(parsed.errors.join('; '));
const CONFIG = parsed.config;
const NODES = ['n1', 'n2', 'n3'];
const VIP = '192.0.2.70';
const NOW = 1_000_000;
const HANDOVER = 1_500;

/** The node that owns VIP when every node is eligible, and the next in rank. */
const owner = (alive: readonly string[]) => {
  const e = electOwner(VIP, alive);
  return e.kind === 'owner' ? e.node : undefined;
};
const ME = owner(NODES)!;
const OTHERS = NODES.filter((n) => n !== ME);
const NEXT = owner(OTHERS)!;

const node = (name: string): V1Node => ({
  metadata: { name },
  status: { conditions: [{ type: 'Ready', status: 'True' }], addresses: [{ type: 'InternalIP', address: `192.0.2.1${name.slice(1)}` }] },
});
const web: V1Service = {
  metadata: { namespace: 'default', name: 'web' },
  spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  status: { loadBalancer: { ingress: [{ ip: VIP }] } },
};

function view(alive: readonly string[], peers: Record<string, PeerState> = {}): LivenessView {
  const all = new Map<string, PeerState>(NODES.filter((n) => n !== ME).map((n) => [n, alive.includes(n) ? 'up' : 'down']));
  for (const [n, s] of Object.entries(peers)) all.set(n, s);
  return {
    alive: new Set(alive), down: new Set(NODES.filter((n) => !alive.includes(n))), isolated: !alive.includes(ME), peers: all,
    reasons: new Map(), stale: new Map(), probed: new Set(), awaitingLeases: false,
  };
}

interface Row {
  name: string;
  alive?: string[];
  peers?: Record<string, PeerState>;
  applied?: Partial<AppliedState>;
  handoverMs?: number;
  reannounce?: boolean;
  interfaces?: string[];
  expect: (t: Transition) => void;
}

const serving = (ip = VIP, ifaces = ['eth0']): Partial<AppliedState> => ({ serving: new Map([[ip, ifaces]]), vips: new Set([ip]), owners: new Map([[ip, ME]]) });
const frontendAddresses = (t: Transition) => [...new Set(t.proxy.model.frontends.map((f) => f.listen.address))];

const rows: Row[] = [
  {
    name: 'first plan of a process that owns the address: VIP, handoff to the node that owned it without us, frontend, announcement, nodeAssigned',
    expect: (t) => {
      assert.deepEqual(t.addVips, [VIP]);
      assert.deepEqual(t.handoffs, [{ address: VIP, to: `192.0.2.1${NEXT.slice(1)}` }]);
      assert.deepEqual(frontendAddresses(t), [VIP]);
      assert.deepEqual(t.announce, [{ address: VIP, interfaces: ['eth0'] }]);
      assert.deepEqual(t.assigned, [{ address: VIP, services: ['default/web'] }]);
      assert.deepEqual(t.elections, [{ address: VIP, owner: ME, result: 'won' }]);
      assert.deepEqual([t.withdraw, t.drain, t.releaseVips], [[], [], []]);
    },
  },
  {
    name: 'steady state: nothing to do, nothing announced again',
    applied: serving(),
    expect: (t) => {
      assert.deepEqual([t.withdraw, t.addVips, t.handoffs, t.announce, t.assigned, t.elections, t.drain, t.releaseVips], [[], [], [], [], [], [], [], []]);
      assert.deepEqual(frontendAddresses(t), [VIP]);
      assert.equal(t.wakeInMs, undefined);
    },
  },
  {
    name: 'reannounce: a served address is announced again, without a new nodeAssigned',
    applied: serving(),
    reannounce: true,
    expect: (t) => {
      assert.deepEqual(t.announce, [{ address: VIP, interfaces: ['eth0'] }]);
      assert.deepEqual(t.assigned, []);
    },
  },
  {
    name: 'the announcing interfaces changed: announced again on the new ones',
    applied: serving(VIP, ['eth1']),
    expect: (t) => assert.deepEqual(t.announce, [{ address: VIP, interfaces: ['eth0'] }]),
  },
  {
    name: 'lost (this node down in the view): stop answering at once, keep accepting for the handover, wake when it ends',
    alive: OTHERS,
    applied: serving(),
    expect: (t) => {
      assert.deepEqual(t.withdraw, [VIP]);
      assert.deepEqual([...t.handingOver], [[VIP, NOW + HANDOVER]]);
      assert.deepEqual(frontendAddresses(t), [VIP], 'the frontend keeps accepting');
      assert.deepEqual(t.drain, []);
      assert.equal(t.wakeInMs, HANDOVER);
      assert.deepEqual(t.elections, [{ address: VIP, owner: NEXT, result: 'lost' }]);
    },
  },
  {
    name: 'the handover over: the frontend goes and the drain starts, the VIP stays',
    alive: OTHERS,
    applied: { vips: new Set([VIP]), handingOver: new Map([[VIP, NOW]]), owners: new Map([[VIP, NEXT]]) },
    expect: (t) => {
      assert.deepEqual(frontendAddresses(t), []);
      assert.deepEqual(t.drain, [VIP]);
      assert.deepEqual([t.releaseVips, [...t.handingOver]], [[], []]);
      assert.equal(t.wakeInMs, undefined);
    },
  },
  {
    name: 'still draining: nothing more',
    alive: OTHERS,
    applied: { vips: new Set([VIP]), draining: new Map([[VIP, 'draining']]), owners: new Map([[VIP, NEXT]]) },
    expect: (t) => assert.deepEqual([t.drain, t.releaseVips, t.forgetDrains], [[], [], []]),
  },
  {
    name: 'drained: the VIP comes off',
    alive: OTHERS,
    applied: { vips: new Set([VIP]), draining: new Map([[VIP, 'drained']]), owners: new Map([[VIP, NEXT]]) },
    expect: (t) => assert.deepEqual(t.releaseVips, [VIP]),
  },
  {
    name: 'regained while draining: the drain is forgotten, the VIP kept, the address announced',
    applied: { vips: new Set([VIP]), draining: new Map([[VIP, 'draining']]), owners: new Map([[VIP, NEXT]]) },
    peers: { [NEXT]: 'down' },
    alive: NODES.filter((n) => n !== NEXT),
    expect: (t) => {
      assert.deepEqual(t.forgetDrains, [VIP]);
      assert.deepEqual([t.addVips, t.releaseVips], [[], []]);
      assert.deepEqual(t.announce, [{ address: VIP, interfaces: ['eth0'] }]);
    },
  },
  {
    name: 'regained during the handover: the handover ends, nothing drains',
    applied: { vips: new Set([VIP]), handingOver: new Map([[VIP, NOW + 500]]), owners: new Map([[VIP, NEXT]]) },
    expect: (t) => {
      assert.deepEqual([[...t.handingOver], t.drain], [[], []]);
      assert.deepEqual(t.announce, [{ address: VIP, interfaces: ['eth0'] }]);
    },
  },
  {
    name: 'no handover configured: dropped at once and drained',
    alive: OTHERS,
    applied: serving(),
    handoverMs: 0,
    expect: (t) => {
      assert.deepEqual(t.withdraw, [VIP]);
      assert.deepEqual(frontendAddresses(t), []);
      assert.deepEqual(t.drain, [VIP]);
    },
  },
  {
    name: 'taken over from a previous owner that crashed: no handoff (its clients get a reset here at once)',
    applied: { owners: new Map([[VIP, NEXT]]) },
    peers: { [NEXT]: 'down' },
    alive: NODES.filter((n) => n !== NEXT),
    expect: (t) => {
      assert.deepEqual(t.addVips, [VIP]);
      assert.deepEqual(t.handoffs, []);
    },
  },
  {
    name: 'taken over from a previous owner that left cleanly (still draining): its connections are forwarded to it',
    applied: { owners: new Map([[VIP, NEXT]]) },
    peers: { [NEXT]: 'left' },
    alive: NODES.filter((n) => n !== NEXT),
    expect: (t) => assert.deepEqual(t.handoffs, [{ address: VIP, to: `192.0.2.1${NEXT.slice(1)}` }]),
  },
  {
    name: 'isolated (alive empty): everything withdrawn, nobody elected',
    alive: [],
    applied: serving(),
    expect: (t) => {
      assert.deepEqual(t.withdraw, [VIP]);
      assert.deepEqual(t.elections, [{ address: VIP, owner: undefined, result: 'lost' }]);
    },
  },
];

function input(row: Row): TransitionInput {
  const alive = row.alive ?? NODES;
  return {
    snapshot: { me: ME, services: [web], lbClass: undefined, endpoints: indexEndpoints([], []), nodes: NODES.map(node), config: CONFIG, alive: new Set(alive), interfaces: row.interfaces ?? ['eth0'] },
    view: view(alive, row.peers),
    applied: { ...NOTHING_APPLIED, ...row.applied },
    nowMs: NOW,
    handoverMs: row.handoverMs ?? HANDOVER,
    handoff: true,
    reannounce: row.reannounce ?? false,
  };
}

describe('planTransition: from what is applied to what the plan wants', () => {
  for (const row of rows) {
    it(row.name, () => {
      const i = input(row);
      const before = structuredClone({ applied: i.applied, snapshot: { ...i.snapshot, alive: [...i.snapshot.alive], endpoints: null } });
      row.expect(planTransition(i));
      assert.deepEqual(structuredClone({ applied: i.applied, snapshot: { ...i.snapshot, alive: [...i.snapshot.alive], endpoints: null } }), before, 'inputs not mutated');
    });
  }
});

describe('speaker transition: a crashed previous owner and kernel-mode ports (pure)', () => {
  const kernelService = (policy: 'Cluster' | 'Local'): V1Service => ({
    metadata: { namespace: 'default', name: 'web-k', annotations: { 'fulcrum-lb.io/data-plane': 'kernel' } },
    spec: {
      type: 'LoadBalancer', externalTrafficPolicy: policy, selector: { app: 'web' },
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'https', port: 443, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }],
    },
    status: { loadBalancer: { ingress: [{ ip: VIP }] } },
  });
  const slice: V1EndpointSlice = {
    metadata: { namespace: 'default', name: 'web-k-1', labels: { 'kubernetes.io/service-name': 'web-k' } },
    addressType: 'IPv4',
    endpoints: [ME, NEXT].map((n, i) => ({ addresses: [`203.0.113.${i + 1}`], nodeName: n, conditions: { ready: true, serving: true, terminating: false } })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'https', port: 8443, protocol: 'TCP' }, { name: 'dns', port: 5353, protocol: 'UDP' }],
  };
  const crashed = (policy: 'Cluster' | 'Local', peer: PeerState): Transition => {
    const alive = NODES.filter((n) => n !== NEXT);
    return planTransition({
      snapshot: { me: ME, services: [kernelService(policy)], lbClass: undefined, endpoints: indexEndpoints([slice], []), nodes: NODES.map(node), config: CONFIG, alive: new Set(alive), interfaces: ['eth0'] },
      view: view(alive, { [NEXT]: peer }),
      applied: { ...NOTHING_APPLIED, owners: new Map([[VIP, NEXT]]) },
      nowMs: NOW, handoverMs: HANDOVER, handoff: true, reannounce: false, kernel: { kind: 'enabled' },
    });
  };

  it('Local: the Local kernel-mode TCP ports alone go to the crashed owner (its pods hold their flows), by address and port', () => {
    for (const peer of ['down', 'unreachable'] as const) {
      const t = crashed('Local', peer);
      assert.deepEqual(t.addVips, [VIP], peer);
      assert.deepEqual(t.handoffs, [{ address: VIP, to: `192.0.2.1${NEXT.slice(1)}`, ports: [80, 443] }], peer);
    }
  });

  it('Cluster: nothing goes to the crashed owner (this node picks the same endpoint by hash)', () => {
    const t = crashed('Cluster', 'down');
    assert.deepEqual(t.addVips, [VIP]);
    assert.deepEqual(t.handoffs, []);
    assert.ok((t.kernel ?? []).some((k) => k.port === 80 && k.snat), 'the port is a kernel-mode one');
  });

  it('Local, the previous owner left cleanly: every port of the address goes to it, as in the proxy', () => {
    assert.deepEqual(crashed('Local', 'left').handoffs, [{ address: VIP, to: `192.0.2.1${NEXT.slice(1)}` }]);
  });
});

describe('speaker transition: an address lost whose ports are all in kernel mode (pure)', () => {
  const svc = (kernel: boolean): V1Service => ({
    metadata: { namespace: 'default', name: 'web-k', ...(kernel ? { annotations: { 'fulcrum-lb.io/data-plane': 'kernel' } } : {}) },
    spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
    status: { loadBalancer: { ingress: [{ ip: VIP }] } },
  });
  // Local with the only endpoint on NEXT: this node is no longer eligible and loses the address.
  const slice: V1EndpointSlice = {
    metadata: { namespace: 'default', name: 'web-k-1', labels: { 'kubernetes.io/service-name': 'web-k' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['203.0.113.2'], nodeName: NEXT, conditions: { ready: true, serving: true, terminating: false } }],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
  const lost = (kernel: boolean): Transition => planTransition({
    snapshot: { me: ME, services: [svc(kernel)], lbClass: undefined, endpoints: indexEndpoints([slice], []), nodes: NODES.map(node), config: CONFIG, alive: new Set(NODES), interfaces: ['eth0'] },
    view: view(NODES),
    applied: { ...NOTHING_APPLIED, ...serving() },
    nowMs: NOW, handoverMs: HANDOVER, handoff: true, reannounce: false, kernel: { kind: 'enabled' },
  });

  it('kernel mode: no handover, the VIP drains at once (kept, it would take the replies of the new owner\'s flows to this node\'s pods)', () => {
    const t = lost(true);
    assert.deepEqual(t.withdraw, [VIP]);
    assert.deepEqual([...t.handingOver.keys()], []);
    assert.deepEqual(t.drain, [VIP]);
    assert.equal(t.wakeInMs, undefined);
  });

  it('proxy: the handover keeps the VIP and its listeners for clients that still have this node\'s MAC', () => {
    const t = lost(false);
    assert.deepEqual(t.withdraw, [VIP]);
    assert.deepEqual([...t.handingOver.keys()], [VIP]);
    assert.deepEqual(t.drain, []);
    assert.deepEqual(frontendAddresses(t), [VIP]);
  });
});
