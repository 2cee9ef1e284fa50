import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import { parseConfig } from '../../src/config/index.js';
import type { Config } from '../../src/config/types.js';
import { electOwner as elect } from '../../speaker/plan/elect.js';

const electOwner = (ip: string, nodes: readonly string[]): string | undefined => {
  const e = elect(ip, nodes);
  return e.kind === 'owner' ? e.node : undefined;
};
import { indexEndpoints } from '../../src/service/endpoints.js';
import { EXCLUDE_FROM_LB_LABEL as EXCLUDE_LABEL } from '../../src/k8s/nodes.js';
import { planSpeaker, type SpeakerSnapshot } from '../../speaker/plan/addresses.js';

function config(yaml: string): Config {
  const r = parseConfig(yaml);
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.config;
}

const POOLS = config(`
address-pools:
- name: lab
  protocol: layer2
  addresses: [192.0.2.64/26, 2001:db8::100-2001:db8::1ff]
- name: edge
  protocol: layer2
  addresses: [198.51.100.0/28]
  node-selectors:
  - match-labels: {zone: edge}
  interfaces: [eth1]
`);

const NODES = ['n1', 'n2', 'n3'];

function node(name: string, o: { ready?: boolean; labels?: Record<string, string> } = {}): V1Node {
  return { metadata: { name, labels: o.labels ?? {} }, status: { conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] } };
}

function svc(name: string, ips: string[], o: { local?: boolean; cls?: string; type?: string; pool?: string } = {}): V1Service {
  return {
    metadata: { namespace: 'default', name, annotations: o.pool ? { 'fulcrum-lb.io/ip-allocated-from-pool': o.pool } : {} },
    spec: { type: o.type ?? 'LoadBalancer', selector: { app: name }, externalTrafficPolicy: o.local ? 'Local' : 'Cluster', loadBalancerClass: o.cls, ports: [{ port: 80, protocol: 'TCP' }] },
    status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
  };
}

type Ep = { node: string; ready?: boolean; serving?: boolean; terminating?: boolean };
function slice(service: string, eps: Ep[]): V1EndpointSlice {
  return {
    addressType: 'IPv4',
    metadata: { namespace: 'default', name: `${service}-x`, labels: { 'kubernetes.io/service-name': service } },
    ports: [{ name: '', port: 8080, protocol: 'TCP' }],
    endpoints: eps.map((e, i) => ({ addresses: [`198.51.100.${40 + i}`], nodeName: e.node, conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false } })),
  };
}

/** The owner every node agrees on when all are eligible: the hash order alone. */
const hashOwner = (ip: string, nodes = NODES) => electOwner(ip, nodes)!;

interface Row {
  name: string;
  services: V1Service[];
  slices?: V1EndpointSlice[];
  nodes?: V1Node[];
  alive?: string[];
  lbClass?: string;
  interfaces?: string[];
  /** Expected owner (node name) or no-owner reason, by address. */
  expect: Record<string, string>;
}

const VIP = '192.0.2.70';
const VIP6 = '2001:db8::100';

const rows: Row[] = [
  { name: 'an address of a Cluster Service goes to the first node in hash order', services: [svc('a', [VIP])], expect: { [VIP]: hashOwner(VIP) } },
  { name: 'an IPv6 address is elected on its canonical form', services: [svc('a', ['2001:DB8::0100'])], expect: { [VIP6]: hashOwner(VIP6) } },
  {
    name: 'a dead member is never elected and its address moves to the next in hash order',
    services: [svc('a', [VIP])],
    alive: NODES.filter((n) => n !== hashOwner(VIP)),
    expect: { [VIP]: hashOwner(VIP, NODES.filter((n) => n !== hashOwner(VIP))) },
  },
  {
    name: 'a node that is not Ready is not elected',
    services: [svc('a', [VIP])],
    nodes: NODES.map((n) => node(n, { ready: n !== hashOwner(VIP) })),
    expect: { [VIP]: hashOwner(VIP, NODES.filter((n) => n !== hashOwner(VIP))) },
  },
  {
    name: 'a node labelled exclude-from-external-load-balancers is not elected',
    services: [svc('a', [VIP])],
    nodes: NODES.map((n) => node(n, { labels: n === hashOwner(VIP) ? { [EXCLUDE_LABEL]: '' } : {} })),
    expect: { [VIP]: hashOwner(VIP, NODES.filter((n) => n !== hashOwner(VIP))) },
  },
  {
    name: "only nodes matching the pool's node selector announce its addresses",
    services: [svc('a', ['198.51.100.1'])],
    nodes: [node('n1'), node('n2', { labels: { zone: 'edge' } }), node('n3')],
    interfaces: ['eth0', 'eth1'],
    expect: { '198.51.100.1': 'n2' },
  },
  { name: 'no node matching the selector leaves the address unowned', services: [svc('a', ['198.51.100.1'])], expect: { '198.51.100.1': 'noEligibleNode' } },
  { name: 'an address in no pool is not announced', services: [svc('a', ['203.0.113.5'])], expect: {} },
  { name: 'an address outside every pool stays out of the plan as noPool', services: [svc('a', ['192.0.2.5'])], expect: { '192.0.2.5': 'noPool' } },
  { name: 'a Service of another load-balancer class is not ours', services: [svc('a', [VIP], { cls: 'other' })], expect: {} },
  { name: 'with --lb-class only Services of that class count', services: [svc('a', [VIP], { cls: 'fulcrum' }), svc('b', ['192.0.2.71'])], lbClass: 'fulcrum', expect: { [VIP]: hashOwner(VIP) } },
  { name: 'a ClusterIP Service is ignored even with an ingress in status', services: [svc('a', [VIP], { type: 'ClusterIP' })], expect: {} },
  {
    name: 'under ETP Local only the node with a ready local endpoint owns',
    services: [svc('a', [VIP], { local: true })],
    slices: [slice('a', [{ node: 'n3' }, { node: 'n1', ready: false, serving: false }])],
    expect: { [VIP]: 'n3' },
  },
  {
    name: 'under ETP Local serving+terminating endpoints count when no node has a ready one',
    services: [svc('a', [VIP], { local: true })],
    slices: [slice('a', [{ node: 'n2', ready: false, serving: true, terminating: true }])],
    expect: { [VIP]: 'n2' },
  },
  {
    name: 'under ETP Local a ready endpoint beats a terminating one elsewhere',
    services: [svc('a', [VIP], { local: true })],
    slices: [slice('a', [{ node: 'n2', ready: false, serving: true, terminating: true }, { node: 'n1' }])],
    expect: { [VIP]: 'n1' },
  },
  { name: 'under ETP Local no endpoint at all leaves the address unowned', services: [svc('a', [VIP], { local: true })], expect: { [VIP]: 'noLocalEndpoints' } },
  {
    name: 'under ETP Local the endpoint node being dead leaves the address unowned',
    services: [svc('a', [VIP], { local: true })],
    slices: [slice('a', [{ node: 'n2' }])],
    alive: ['n1', 'n3'],
    expect: { [VIP]: 'noLocalEndpoints' },
  },
  {
    name: 'a shared address goes to the node that satisfies the most Local Services',
    services: [svc('a', [VIP], { local: true }), svc('b', [VIP], { local: true }), svc('c', [VIP])],
    slices: [slice('a', [{ node: 'n1' }, { node: 'n2' }]), slice('b', [{ node: 'n2' }])],
    expect: { [VIP]: 'n2' },
  },
  {
    name: 'two addresses of a dual-stack Service are elected independently',
    services: [svc('a', [VIP, VIP6])],
    expect: { [VIP]: hashOwner(VIP), [VIP6]: hashOwner(VIP6) },
  },
  {
    name: "a pool's interfaces that this speaker does not announce on leave it nothing to announce with",
    services: [svc('a', ['198.51.100.1'])],
    nodes: NODES.map((n) => node(n, { labels: { zone: 'edge' } })),
    expect: { '198.51.100.1': hashOwner('198.51.100.1') },
  },
];

describe('planSpeaker: every address, its Services, pool, interfaces and owner', () => {
  for (const row of rows) {
    it(row.name, () => {
      const endpoints = indexEndpoints(row.slices ?? [], []);
      const base = {
        services: row.services,
        lbClass: row.lbClass,
        endpoints,
        nodes: row.nodes ?? NODES.map((n) => node(n)),
        config: POOLS,
        alive: new Set(row.alive ?? NODES),
        interfaces: row.interfaces ?? ['eth0'],
      };
      const frozen = JSON.stringify(base.services);
      // Every speaker must agree: compute the plan from each node's point of view.
      const views = NODES.map((me) => planSpeaker({ ...base, me } satisfies SpeakerSnapshot));
      const got: Record<string, string> = {};
      for (const [ip, a] of views[0]!.addresses) {
        if (a.pool === undefined && !(ip in row.expect)) continue;
        got[ip] = a.owner.kind === 'elected' ? a.owner.node : a.owner.reason;
      }
      assert.deepEqual(got, row.expect, `planSpeaker(${row.name}).owners`);
      for (const v of views.slice(1)) assert.deepEqual([...v.addresses.values()].map((a) => a.owner), [...views[0]!.addresses.values()].map((a) => a.owner), 'every speaker computes the same owners');
      NODES.forEach((me, i) => {
        const mine = Object.entries(row.expect).filter(([ip, o]) => o === me && views[i]!.addresses.get(ip)!.interfaces.length > 0).map(([ip]) => ip).sort();
        assert.deepEqual(views[i]!.owned, mine, `planSpeaker(me=${me}).owned`);
      });
      assert.equal(JSON.stringify(base.services), frozen, 'the snapshot was not mutated');
    });
  }
});

describe('plan: shared-address and interface details', () => {
  it('an address shared by two Services lists both, sorted', () => {
    const p = planSpeaker({ me: 'n1', services: [svc('b', [VIP]), svc('a', [VIP])], lbClass: undefined, endpoints: indexEndpoints([], []), nodes: [node('n1')], config: POOLS, alive: new Set(['n1']), interfaces: ['eth0'] });
    assert.deepEqual(p.addresses.get(VIP)!.services, ['default/a', 'default/b']);
    assert.deepEqual(p.owned, [VIP]);
  });
  it("a pool's interfaces narrow where the owner announces", () => {
    const p = planSpeaker({ me: 'n1', services: [svc('a', ['198.51.100.1'])], lbClass: undefined, endpoints: indexEndpoints([], []), nodes: [node('n1', { labels: { zone: 'edge' } })], config: POOLS, alive: new Set(['n1']), interfaces: ['eth0', 'eth1'] });
    assert.deepEqual(p.addresses.get('198.51.100.1')!.interfaces, ['eth1']);
  });
  it('an owner with none of the pool interfaces is still the owner but owns nothing here', () => {
    const p = planSpeaker({ me: 'n1', services: [svc('a', ['198.51.100.1'])], lbClass: undefined, endpoints: indexEndpoints([], []), nodes: [node('n1', { labels: { zone: 'edge' } })], config: POOLS, alive: new Set(['n1']), interfaces: ['eth0'] });
    assert.deepEqual(p.owned, []);
    assert.deepEqual(p.addresses.get('198.51.100.1')!.interfaces, []);
    assert.equal(p.addresses.get('198.51.100.1')!.owner.kind, 'elected');
  });
});

describe('electOwner: stateless and stable', () => {
  it('removing one node moves only the addresses it owned', () => {
    const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];
    const ips = Array.from({ length: 64 }, (_, i) => `192.0.2.${64 + i}`);
    const before = new Map(ips.map((ip) => [ip, electOwner(ip, nodes)]));
    const after = new Map(ips.map((ip) => [ip, electOwner(ip, nodes.filter((n) => n !== 'n3'))]));
    for (const ip of ips) if (before.get(ip) !== 'n3') assert.equal(after.get(ip), before.get(ip), `electOwner(${ip}) moved without reason`);
    assert.ok(new Set(before.values()).size > 1, 'addresses spread over nodes');
  });
  it('the candidate order does not matter', () => {
    assert.equal(electOwner(VIP, ['n3', 'n1', 'n2']), electOwner(VIP, ['n1', 'n2', 'n3']));
  });
  it('no candidate, no owner', () => {
    assert.equal(electOwner(VIP, []), undefined);
  });
});
