import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseMetalLBResources } from '../../src/config/metallb.js';
import type { Config } from '../../src/config/types.js';
import { Allocator } from '../../src/ipam/allocator.js';
import { autoAssignPools, poolServes, scopeOf } from '../../src/ipam/service-allocation.js';
import type { NamespaceLabels } from '../../src/ipam/types.js';
import { asServiceKey } from '../../src/service/key.js';
import { req, runSteps, type Step } from './ipam-fixtures.js';

// serviceAllocation in the allocator. Rows are named after MetalLB's tables:
// internal/allocator/allocator_test.go (TestAssignment, "IP Pool compatibility tests": a
// requested address) and controller/controller_test.go (TestControllerMutation: auto-assignment
// by namespace, label and priority), and after the "Advanced AddressPool configuration" page.

type Spec = Record<string, unknown>;

/** IPAddressPools (one L2Advertisement for all): `[name, spec]` in any order. */
function metallb(pools: ReadonlyArray<readonly [string, Spec]>): Config {
  const objects = [
    ...pools.map(([name, spec]) => ({ apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name, namespace: 'metallb-system' }, spec })),
    { apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'l2', namespace: 'metallb-system' } },
  ];
  const result = parseMetalLBResources(objects);
  if (!result.ok) throw new Error(`test resources are invalid: ${result.errors.join('; ')}`);
  return result.config;
}

const team = (value: string) => ({ matchLabels: { team: value } });

/** allocator_test.go TestAssignment's pools (IPv4 ranges only). */
const ASSIGNMENT = metallb([
  ['test', { addresses: ['1.2.3.4/31'] }],
  ['test3', { addresses: ['1.2.5.0/24'], avoidBuggyIPs: true, serviceAllocation: { namespaces: ['test-ns1'] } }],
  ['test4', { addresses: ['1.2.6.0/24'], avoidBuggyIPs: true, serviceAllocation: { serviceSelectors: [team('metallb')] } }],
  ['test5', { addresses: ['1.2.7.0/24'], avoidBuggyIPs: true, serviceAllocation: { priority: 20, namespaces: ['test-ns1'], serviceSelectors: [team('metallb')] } }],
  ['test6', { addresses: ['1.2.8.0/24'], avoidBuggyIPs: true, serviceAllocation: { priority: 20, namespaces: ['test-ns2'], serviceSelectors: [{ matchLabels: { foo: 'bar' } }] } }],
]);

/** controller_test.go TestControllerMutation's pools (pool5, which overlaps pool1 there, left out: Fulcrum refuses overlaps). */
const MUTATION = metallb([
  ['pool1', { addresses: ['1.2.3.0/31'] }],
  ['pool2', { addresses: ['3.4.5.6/32'], autoAssign: false }],
  ['pool3', { addresses: ['1000::/127'] }],
  ['pool4', { addresses: ['2000::1/128'], autoAssign: false }],
  ['pool6', { addresses: ['7.8.9.0/31'], serviceAllocation: { namespaces: ['test-ns1'], priority: 10 } }],
  ['pool7', { addresses: ['10.11.12.0/31'], serviceAllocation: { namespaces: ['test-ns1'], priority: 11 } }],
  ['pool8', { addresses: ['13.14.15.0/31'], serviceAllocation: { serviceSelectors: [team('metallb')], priority: 9 } }],
  ['pool9', { addresses: ['16.17.18.0/31'], serviceAllocation: { namespaces: ['test-ns2'] } }],
  ['pool10', { addresses: ['19.20.21.0/31'], serviceAllocation: { serviceSelectors: [team('metallb')], priority: 8 } }],
  ['pool11', { addresses: ['22.23.24.0/31'], serviceAllocation: { namespaces: ['test-ns1'], serviceSelectors: [team('metallb')], priority: 8 } }],
  ['pool12', { addresses: ['25.26.27.0/31'], serviceAllocation: { namespaces: ['test-ns1'], serviceSelectors: [team('metallb')], priority: 5 } }],
]);

/** config_test.go "ip address pool with namespace selection", with the namespaces of its ClusterResources. */
const NAMESPACE_SELECTION = metallb([
  ['pool1', { addresses: ['10.20.0.0/16', '10.50.0.0/24'], avoidBuggyIPs: true, autoAssign: false, serviceAllocation: { priority: 1, namespaces: ['test-ns1'] } }],
  ['pool2', { addresses: ['30.0.0.0/8'], serviceAllocation: { priority: 2, namespaceSelectors: [team('metallb')] } }],
  ['pool3', { addresses: ['40.0.0.0/8'], serviceAllocation: { priority: 3, namespaceSelectors: [team('red')] } }],
  ['open', { addresses: ['50.0.0.0/31'] }],
]);
const NAMESPACES: NamespaceLabels = new Map<string, Record<string, string>>([
  ['test-ns1', {}],
  ['test-ns2', { team: 'metallb' }],
]);

const labelled = (labels: Record<string, string>, extra: object = {}) => ({ labels, ...extra });

type Row = { name: string; config: Config; namespaces?: NamespaceLabels; steps: Step[] };

function run(rows: Row[]): void {
  for (const row of rows) {
    it(row.name, () => {
      const before = structuredClone(row.config);
      runSteps(new Allocator(row.config), row.steps, row.namespaces);
      assert.deepEqual(row.config, before, 'the config was not mutated');
    });
  }
}

describe('serviceAllocation: a requested address must be in a pool that serves the Service (allocator_test.go TestAssignment)', () => {
  run([
    { name: 'attempt to assign ip from pool pinned on same namespace', config: ASSIGNMENT, steps: [{ assign: 'test-ns1/s1', req: { requestedAddresses: ['1.2.5.10'] }, want: ['1.2.5.10'], pool: 'test3' }] },
    { name: 'attempt to assign ip from pool pinned on different namespace', config: ASSIGNMENT, steps: [{ assign: 'testns-not-exist/s1', req: { requestedAddresses: ['1.2.5.10'] }, want: { fail: 'poolPinned' } }] },
    {
      name: 'attempt to assign ip from pool pinned with same service label',
      config: ASSIGNMENT,
      steps: [{ assign: 'testns-not-exist/s1', req: labelled({ team: 'metallb' }, { requestedAddresses: ['1.2.6.10'] }), want: ['1.2.6.10'], pool: 'test4' }],
    },
    {
      name: 'attempt to assign ip from pool pinned with different service label',
      config: ASSIGNMENT,
      steps: [{ assign: 'testns-not-exist/s1', req: labelled({ team: 'red' }, { requestedAddresses: ['1.2.6.10'] }), want: { fail: 'poolPinned' } }],
    },
    {
      name: 'attempt to assign ip from pool pinned with namespace and service label',
      config: ASSIGNMENT,
      steps: [{ assign: 'test-ns1/s1', req: labelled({ team: 'metallb' }, { requestedAddresses: ['1.2.7.10'] }), want: ['1.2.7.10'], pool: 'test5' }],
    },
    {
      name: 'attempt to assign ip from pool pinned with namespace and incompatible service label',
      config: ASSIGNMENT,
      steps: [{ assign: 'test-ns2/s1', req: labelled({ team: 'metallb' }, { requestedAddresses: ['1.2.8.10'] }), want: { fail: 'poolPinned' } }],
    },
    {
      name: 'attempt to assign ip from pool pinned with service label and incompatible namespace',
      config: ASSIGNMENT,
      steps: [{ assign: 'testns-not-exist/s1', req: labelled({ foo: 'bar' }, { requestedAddresses: ['1.2.8.10'] }), want: { fail: 'poolPinned' } }],
    },
    { name: 'a requested address in a pool without serviceAllocation serves any namespace', config: ASSIGNMENT, steps: [{ assign: 'anywhere/s1', req: { requestedAddresses: ['1.2.3.5'] }, want: ['1.2.3.5'], pool: 'test' }] },
  ]);
});

describe('serviceAllocation: auto-assignment by namespace, labels and priority (controller_test.go TestControllerMutation)', () => {
  run([
    { name: 'simple LoadBalancer: a Service no pool is pinned to gets an address of a pool without serviceAllocation', config: MUTATION, steps: [{ assign: 'default/s1', want: ['1.2.3.0'], pool: 'pool1' }] },
    { name: 'request IP for service from namespace specific ip pool', config: MUTATION, steps: [{ assign: 'test-ns1/s1', want: ['7.8.9.0'], pool: 'pool6' }] },
    { name: 'request IP for service from no priority namespace specific ip pool', config: MUTATION, steps: [{ assign: 'test-ns2/s1', want: ['16.17.18.0'], pool: 'pool9' }] },
    { name: 'request IP for service from service label specific ip pool', config: MUTATION, steps: [{ assign: 'default/s1', req: labelled({ team: 'metallb' }), want: ['19.20.21.0'], pool: 'pool10' }] },
    { name: 'request IP for service from ip pool having both namespace and service label', config: MUTATION, steps: [{ assign: 'test-ns1/s1', req: labelled({ team: 'metallb' }), want: ['25.26.27.0'], pool: 'pool12' }] },
    {
      name: 'no suitable IPs in the pinned pools: the pools without serviceAllocation serve next, lowest priority number first until then',
      config: MUTATION,
      steps: [
        { assign: 'test-ns1/a', want: ['7.8.9.0'], pool: 'pool6' },
        { assign: 'test-ns1/b', want: ['7.8.9.1'], pool: 'pool6' },
        { assign: 'test-ns1/c', want: ['10.11.12.0'], pool: 'pool7' },
        { assign: 'test-ns1/d', want: ['10.11.12.1'], pool: 'pool7' },
        { assign: 'test-ns1/e', want: ['1.2.3.0'], pool: 'pool1' },
      ],
    },
    { name: 'request IP from specific pool: an auto-assign false pool without serviceAllocation serves its annotation in any namespace', config: MUTATION, steps: [{ assign: 'test-ns1/s1', req: { pool: 'pool2' }, want: ['3.4.5.6'] }] },
    {
      name: 'an address-pool annotation wins over priority: a pinned pool of lower rank is taken when named',
      config: MUTATION,
      steps: [{ assign: 'test-ns1/s1', req: { pool: 'pool7' }, want: ['10.11.12.0'], pool: 'pool7' }, { assign: 'test-ns1/s2', req: { pool: 'pool1' }, want: ['1.2.3.0'], pool: 'pool1' }],
    },
    { name: 'requested IPs win over priority', config: MUTATION, steps: [{ assign: 'test-ns1/s1', req: { requestedAddresses: ['10.11.12.1'] }, want: ['10.11.12.1'], pool: 'pool7' }] },
    {
      name: 'an annotation naming a pool pinned to another namespace leaves the Service pending (the docs\' note)',
      config: MUTATION,
      steps: [{ assign: 'test-ns2/s1', req: { pool: 'pool6' }, want: { fail: 'poolPinned' } }],
    },
  ]);
});

describe('serviceAllocation: namespace selectors over the labels the caller passes (config_test.go "ip address pool with namespace selection")', () => {
  run([
    { name: 'a namespace named by the pool with autoAssign false gets nothing from it without an annotation', config: NAMESPACE_SELECTION, namespaces: NAMESPACES, steps: [{ assign: 'test-ns1/s1', want: ['50.0.0.0'], pool: 'open' }] },
    { name: 'a namespace named by the pool with autoAssign false gets it by annotation', config: NAMESPACE_SELECTION, namespaces: NAMESPACES, steps: [{ assign: 'test-ns1/s1', req: { pool: 'pool1' }, want: ['10.20.0.1'], pool: 'pool1' }] },
    { name: 'a namespace labelled team=metallb is served by the pool selecting that label', config: NAMESPACE_SELECTION, namespaces: NAMESPACES, steps: [{ assign: 'test-ns2/s1', want: ['30.0.0.0'], pool: 'pool2' }] },
    {
      name: 'namespaceSelectors that match no namespace pin the pool to none (MetalLB would leave it open to annotations)',
      config: NAMESPACE_SELECTION,
      namespaces: NAMESPACES,
      steps: [{ assign: 'test-ns2/s1', req: { pool: 'pool3' }, want: { fail: 'poolPinned' } }, { assign: 'other/s1', want: ['50.0.0.0'], pool: 'open' }],
    },
    {
      name: 'a namespace missing from the map still has the kubernetes.io/metadata.name label',
      config: metallb([['by-name', { addresses: ['192.0.2.0/31'], serviceAllocation: { namespaceSelectors: [{ matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['shop'] }] }] } }]]),
      steps: [{ assign: 'shop/s1', want: ['192.0.2.0'], pool: 'by-name' }, { assign: 'blog/s1', want: { fail: 'poolPinned' } }],
    },
    {
      name: 'a namespace relabelled so that its pool no longer serves it moves to a pool that does',
      config: NAMESPACE_SELECTION,
      namespaces: NAMESPACES,
      steps: [
        { assign: 'test-ns2/s1', want: ['30.0.0.0'], pool: 'pool2' },
        { assign: 'test-ns2/s1', namespaces: new Map([['test-ns2', { team: 'red' }]]), want: ['40.0.0.0'], pool: 'pool3', changed: true },
        { assign: 'test-ns2/s2', want: ['30.0.0.0'], pool: 'pool2' },
      ],
    },
    {
      name: 'a Service whose pool no longer serves it and no other pool can serve keeps its address (MetalLB would clear it)',
      config: metallb([['only', { addresses: ['192.0.2.0/31'], serviceAllocation: { namespaces: ['a'], serviceSelectors: [team('x')] } }]]),
      steps: [
        { assign: 'a/s1', req: labelled({ team: 'x' }), want: ['192.0.2.0'] },
        { assign: 'a/s1', req: labelled({ team: 'y' }), want: { fail: 'poolPinned' } },
        { assign: 'a/s1', req: labelled({ team: 'x' }), want: ['192.0.2.0'], changed: false },
      ],
    },
  ]);
});

describe('serviceAllocation: order among the pools that serve a Service ("Advanced AddressPool configuration")', () => {
  const ORDER = metallb([
    ['b-no-priority', { addresses: ['192.0.2.0/32'], serviceAllocation: { namespaces: ['shop'] } }],
    ['a-no-priority', { addresses: ['192.0.2.1/32'], serviceAllocation: { namespaces: ['shop'] } }],
    ['p50', { addresses: ['192.0.2.2/32'], serviceAllocation: { priority: 50, namespaces: ['shop'] } }],
    ['p1', { addresses: ['192.0.2.3/32'], serviceAllocation: { priority: 1, namespaces: ['shop'] } }],
    ['aa-open', { addresses: ['192.0.2.4/32'] }],
    ['everyone-p7', { addresses: ['192.0.2.5/32'], serviceAllocation: { priority: 7 } }],
  ]);
  run([
    {
      name: 'priority 1 first, then higher numbers, then pools without priority (name order among equals), then pools without serviceAllocation',
      config: ORDER,
      steps: [
        { assign: 'shop/s1', want: ['192.0.2.3'], pool: 'p1' },
        { assign: 'shop/s2', want: ['192.0.2.5'], pool: 'everyone-p7' },
        { assign: 'shop/s3', want: ['192.0.2.2'], pool: 'p50' },
        { assign: 'shop/s4', want: ['192.0.2.1'], pool: 'a-no-priority' },
        { assign: 'shop/s5', want: ['192.0.2.0'], pool: 'b-no-priority' },
        { assign: 'shop/s6', want: ['192.0.2.4'], pool: 'aa-open' },
        { assign: 'shop/s7', want: { fail: 'poolExhausted' } },
      ],
    },
    {
      name: 'ip address pool with only priority serves every Service, before the pools without serviceAllocation',
      config: ORDER,
      steps: [{ assign: 'blog/s1', want: ['192.0.2.5'], pool: 'everyone-p7' }, { assign: 'blog/s2', want: ['192.0.2.4'], pool: 'aa-open' }],
    },
    {
      name: 'PreferDualStack: within the pinned pools one with both families wins over a single-family pool of better priority (as findBestPoolForService)',
      config: metallb([
        ['v4', { addresses: ['192.0.2.0/32'], serviceAllocation: { priority: 1, namespaces: ['shop'] } }],
        ['dual', { addresses: ['192.0.2.1/32', '2001:db8::1/128'], serviceAllocation: { priority: 2, namespaces: ['shop'] } }],
        ['open-dual', { addresses: ['192.0.2.2/32', '2001:db8::2/128'] }],
      ]),
      steps: [
        { assign: 'shop/s1', req: { families: ['IPv4', 'IPv6'], familyPolicy: 'PreferDualStack' }, want: ['192.0.2.1', '2001:db8::1'], pool: 'dual' },
        { assign: 'shop/s2', req: { families: ['IPv4', 'IPv6'], familyPolicy: 'PreferDualStack' }, want: ['192.0.2.0'], pool: 'v4' },
      ],
    },
    {
      name: 'every auto-assign pool pinned elsewhere is poolPinned, not familyUnavailable',
      config: metallb([['shop-only', { addresses: ['192.0.2.0/31'], serviceAllocation: { namespaces: ['shop'] } }]]),
      steps: [{ assign: 'blog/s1', want: { fail: 'poolPinned' } }, { assign: 'blog/s1', req: { families: ['IPv6'] }, want: { fail: 'familyUnavailable' } }],
    },
  ]);
});

describe('serviceAllocation: adopting addresses after a restart', () => {
  run([
    { name: 'an address of a pool that serves the Service is adopted', config: ASSIGNMENT, steps: [{ adopt: 'test-ns1/s1', addresses: ['1.2.5.10'], want: ['1.2.5.10'] }] },
    {
      name: 'an address of a pool pinned elsewhere is refused (MetalLB clears it and allocates again), and the Service is then assigned',
      config: ASSIGNMENT,
      steps: [{ adopt: 'other/s1', addresses: ['1.2.5.10'], want: { fail: 'poolPinned' } }, { assign: 'other/s1', want: ['1.2.3.4'], pool: 'test' }],
    },
  ]);
});

describe('serviceAllocation properties (property-based)', () => {
  const CONFIG = metallb([
    ['a-open', { addresses: ['192.0.2.0/31'] }],
    ['b-shop', { addresses: ['192.0.2.8/31'], serviceAllocation: { priority: 2, namespaces: ['shop'] } }],
    ['c-gold', { addresses: ['192.0.2.16/31'], serviceAllocation: { priority: 1, serviceSelectors: [{ matchLabels: { tier: 'gold' } }] } }],
    ['d-team', { addresses: ['192.0.2.24/31'], serviceAllocation: { namespaceSelectors: [team('a')] } }],
    ['e-off', { addresses: ['192.0.2.32/31'], autoAssign: false, serviceAllocation: { namespaces: ['blog'] } }],
  ]);
  const NS: NamespaceLabels = new Map<string, Record<string, string>>([['shop', { team: 'a' }], ['blog', { team: 'b' }], ['docs', {}]]);
  const op = fc.record({
    release: fc.boolean(),
    namespace: fc.constantFrom('shop', 'blog', 'docs'),
    name: fc.constantFrom('s0', 's1', 's2', 's3'),
    tier: fc.constantFrom(undefined, 'gold', 'silver'),
    pool: fc.constantFrom(undefined, undefined, undefined, 'b-shop', 'e-off'),
  });

  it('every assignment is in a pool that serves its Service, and auto-assignment takes the first pool of the order with room', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const allocator = new Allocator(CONFIG);
        for (const o of ops) {
          const key = asServiceKey(`${o.namespace}/${o.name}`);
          if (o.release) {
            allocator.release(key);
            continue;
          }
          const labels: Record<string, string> = o.tier === undefined ? {} : { tier: o.tier };
          const request = req({ pool: o.pool, labels });
          const fresh = allocator.assignmentOf(key) === undefined;
          const room = new Map(allocator.counts().map((c) => [c.pool, c.total > BigInt(c.inUse)]));
          const result = allocator.assign(key, request, NS);
          if (fresh && o.pool === undefined) {
            const order = autoAssignPools(CONFIG, scopeOf(key, request, NS)).ranks.flat().map((p) => p.name);
            const first = order.find((p) => room.get(p));
            assert.equal(result.kind === 'assigned' ? result.pool : undefined, first, `assign("${key}", ${JSON.stringify(request.labels)}): order ${order.join(', ')}`);
          }
          allocator.checkInvariants();
          for (const a of allocator.assignments()) {
            const pool = CONFIG.pools.find((p) => p.name === a.pool)!;
            assert.ok(poolServes(pool, scopeOf(a.service, a.request, NS)), `${a.service} holds ${a.addresses.join(',')} of pool "${a.pool}", which does not serve it`);
          }
        }
      }),
    );
  });

  it('which pools fall in which rank does not depend on the order of the config', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray([...CONFIG.pools], { minLength: CONFIG.pools.length }), fc.constantFrom('shop', 'blog', 'docs'), fc.constantFrom(undefined, 'gold'), (pools, namespace, tier) => {
        const labels: Record<string, string> = tier === undefined ? {} : { tier };
        const scope = scopeOf(asServiceKey(`${namespace}/s`), req({ labels }), NS);
        const names = (c: Config) => autoAssignPools(c, scope).ranks.map((rank) => rank.map((p) => p.name).sort());
        assert.deepEqual(names({ pools }), names(CONFIG));
      }),
    );
  });
});
