import assert from 'node:assert/strict';
import { isProblem } from '../../src/migrate/report.js';
import { l2, namespace, node, plan, pool, service, verdict, type Obj } from './migrate-fixtures.js';

// planMigration: what Fulcrum does with each Service of a MetalLB install. The pools and
// Services are the examples of MetalLB's documentation ("Advanced AddressPool configuration":
// cheap / expensive, ippool-ns-service-alloc-sample; "Usage": nginx with loadBalancerIPs,
// dns-service-tcp / dns-service-udp sharing 1.2.3.4; "PreferDualStack IP Family Policy").

/** The docs' "cheap" and "expensive" pools, announced everywhere. */
const CHEAP_EXPENSIVE: readonly Obj[] = [
  pool('cheap', { addresses: ['192.168.10.0/24'] }),
  pool('expensive', { addresses: ['42.176.25.64/30'], autoAssign: false }),
  l2('l2'),
];

/** The docs' ippool-ns-service-alloc-sample, beside "cheap". */
const PINNED: readonly Obj[] = [
  ...CHEAP_EXPENSIVE,
  pool('ippool-ns-service-alloc-sample', {
    addresses: ['192.168.20.0/24'],
    avoidBuggyIPs: true,
    serviceAllocation: {
      priority: 50,
      namespaces: ['namespace-a', 'namespace-b'],
      namespaceSelectors: [{ matchLabels: { foo: 'bar' } }],
      serviceSelectors: [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['bar'] }] }],
    },
  }),
];

/** The docs' dual-stack pool (the BGP example's dualstack-pool, announced in layer2 here). */
const DUAL: readonly Obj[] = [pool('dualstack-pool', { addresses: ['192.0.2.0/28', '2001:db8::/124'] }), l2('l2')];

const PREFER_V6_FIRST = { ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv6', 'IPv4'], clusterIPs: ['fd00::1', '10.96.0.1'] };
const DNS = (proto: string) => ({ spec: { loadBalancerIP: '1.2.3.4', ports: [{ port: 53, protocol: proto }], selector: { app: 'dns' } } });
const ONE_FOUR = [pool('public', { addresses: ['1.2.3.4/32'] }), l2('l2')];

interface Row {
  readonly name: string;
  readonly objects: readonly Obj[];
  readonly lbClass?: string;
  /** Service key → `verdict()`. */
  readonly want: Readonly<Record<string, string>>;
  /** Whether the migration is safe (exit 0); default: no Service is a problem. */
  readonly ok?: boolean;
  /** Service key → patterns its notes must match. */
  readonly notes?: Readonly<Record<string, readonly RegExp[]>>;
}

const ROWS: readonly Row[] = [
  // serviceAllocation by namespace (ippool-ns-service-alloc-sample).
  {
    name: 'a Service labelled app=bar in namespace-a keeps its address from the pinned pool',
    objects: [...PINNED, service({ key: 'namespace-a/web', ips: ['192.168.20.1'], labels: { app: 'bar' } })],
    want: { 'namespace-a/web': 'keeps 192.168.20.1 (ippool-ns-service-alloc-sample)' },
  },
  {
    name: 'a Service labelled app=bar in a namespace labelled foo=bar keeps its address',
    objects: [...PINNED, namespace('namespace-c', { foo: 'bar' }), service({ key: 'namespace-c/web', ips: ['192.168.20.7'], labels: { app: 'bar' } })],
    want: { 'namespace-c/web': 'keeps 192.168.20.7 (ippool-ns-service-alloc-sample)' },
  },
  {
    name: 'without the Namespace object the same Service loses it: the pool sees only the name label',
    objects: [...PINNED, service({ key: 'namespace-c/web', ips: ['192.168.20.7'], labels: { app: 'bar' } })],
    want: { 'namespace-c/web': 'loses poolPinned, gets 192.168.10.0 (cheap)' },
    ok: false,
  },
  {
    name: 'a Service of namespace-a without the label app=bar loses the pinned address and gets one from cheap',
    objects: [...PINNED, service({ key: 'namespace-a/other', ips: ['192.168.20.2'] })],
    want: { 'namespace-a/other': 'loses poolPinned, gets 192.168.10.0 (cheap)' },
    ok: false,
  },
  {
    name: 'a pending Service labelled app=bar in namespace-b gets the pinned pool first (priority over the open pool), skipping .0',
    objects: [...PINNED, service({ key: 'namespace-b/new', labels: { app: 'bar' } })],
    want: { 'namespace-b/new': 'gets 192.168.20.1 (ippool-ns-service-alloc-sample)' },
  },
  // Requested addresses (Usage: nginx with metallb.io/loadBalancerIPs; the expensive pool).
  {
    name: 'nginx with metallb.io/loadBalancerIPs keeps the requested address',
    objects: [...CHEAP_EXPENSIVE, service({ key: 'default/nginx', ips: ['192.168.10.100'], annotations: { 'metallb.io/loadBalancerIPs': '192.168.10.100' } })],
    want: { 'default/nginx': 'keeps 192.168.10.100 (cheap)' },
  },
  {
    name: 'a requested address in the autoAssign: false pool is kept',
    objects: [...CHEAP_EXPENSIVE, service({ key: 'default/pay', ips: ['42.176.25.65'], annotations: { 'metallb.universe.tf/loadBalancerIPs': '42.176.25.65' } })],
    want: { 'default/pay': 'keeps 42.176.25.65 (expensive)' },
  },
  {
    name: 'a Service whose status is not the address it requests loses it and gets the requested one',
    objects: [...CHEAP_EXPENSIVE, service({ key: 'default/nginx', ips: ['192.168.10.5'], annotations: { 'metallb.io/loadBalancerIPs': '192.168.10.100' } })],
    want: { 'default/nginx': 'loses requestMismatch, gets 192.168.10.100 (cheap)' },
    ok: false,
  },
  {
    name: 'metallb.io/address-pool: expensive keeps an address of expensive',
    objects: [...CHEAP_EXPENSIVE, service({ key: 'default/web', ips: ['42.176.25.64'], annotations: { 'metallb.io/address-pool': 'expensive' } })],
    want: { 'default/web': 'keeps 42.176.25.64 (expensive)' },
  },
  // Sharing (Usage: dns-service-tcp and dns-service-udp on 1.2.3.4).
  {
    name: 'dns-service-tcp and dns-service-udp keep the address they share under one key',
    objects: [
      ...ONE_FOUR,
      service({ key: 'default/dns-service-tcp', ips: ['1.2.3.4'], annotations: { 'metallb.io/allow-shared-ip': 'key-to-share-1.2.3.4' }, ...DNS('TCP') }),
      service({ key: 'default/dns-service-udp', ips: ['1.2.3.4'], annotations: { 'metallb.io/allow-shared-ip': 'key-to-share-1.2.3.4' }, ...DNS('UDP') }),
    ],
    want: { 'default/dns-service-tcp': 'keeps 1.2.3.4 (public)', 'default/dns-service-udp': 'keeps 1.2.3.4 (public)' },
    notes: { 'default/dns-service-tcp': [/^shares 1\.2\.3\.4 with default\/dns-service-udp$/] },
  },
  {
    name: 'the two prefixes of allow-shared-ip with the same key share too',
    objects: [
      ...ONE_FOUR,
      service({ key: 'default/dns-service-tcp', ips: ['1.2.3.4'], annotations: { 'metallb.io/allow-shared-ip': 'k' }, ...DNS('TCP') }),
      service({ key: 'default/dns-service-udp', ips: ['1.2.3.4'], annotations: { 'metallb.universe.tf/allow-shared-ip': 'k' }, ...DNS('UDP') }),
    ],
    want: { 'default/dns-service-tcp': 'keeps 1.2.3.4 (public)', 'default/dns-service-udp': 'keeps 1.2.3.4 (public)' },
  },
  {
    name: 'with different sharing keys the second in name order loses the address and gets nothing',
    objects: [
      ...ONE_FOUR,
      service({ key: 'default/dns-service-tcp', ips: ['1.2.3.4'], annotations: { 'metallb.io/allow-shared-ip': 'a' }, ...DNS('TCP') }),
      service({ key: 'default/dns-service-udp', ips: ['1.2.3.4'], annotations: { 'metallb.io/allow-shared-ip': 'b' }, ...DNS('UDP') }),
    ],
    want: { 'default/dns-service-tcp': 'keeps 1.2.3.4 (public)', 'default/dns-service-udp': 'loses sharingConflict, nothing sharingConflict' },
    ok: false,
  },
  // An address outside every pool.
  {
    name: 'an address outside every pool is lost, and the Service gets the lowest free one',
    objects: [...CHEAP_EXPENSIVE, service({ key: 'default/old', ips: ['10.0.0.1'] })],
    want: { 'default/old': 'loses notInAnyPool, gets 192.168.10.0 (cheap)' },
    ok: false,
  },
  {
    name: 'a requested address outside every pool: lost, and nothing instead (MetalLB refuses it too)',
    objects: [...CHEAP_EXPENSIVE, service({ key: 'default/old', ips: ['10.0.0.1'], spec: { loadBalancerIP: '10.0.0.1' } })],
    want: { 'default/old': 'loses notInAnyPool, nothing notInAnyPool' },
    ok: false,
  },
  // Dual-stack (PreferDualStack IP Family Policy).
  {
    name: 'an IPv6-first PreferDualStack Service keeps both addresses, listed in its family order',
    objects: [...DUAL, service({ key: 'default/my-app', ips: ['192.0.2.1', '2001:db8::1'], spec: PREFER_V6_FIRST })],
    want: { 'default/my-app': 'keeps 2001:db8::1,192.0.2.1 (dualstack-pool)' },
    notes: { 'default/my-app': [/ipFamilies order \(MetalLB lists IPv4 first\)/] },
  },
  {
    name: 'a PreferDualStack Service holding one family keeps it and gets the other from the same pool',
    objects: [...DUAL, service({ key: 'default/my-app', ips: ['2001:db8::5'], spec: PREFER_V6_FIRST })],
    want: { 'default/my-app': 'keeps 2001:db8::5,192.0.2.0 (dualstack-pool) +192.0.2.0' },
    notes: { 'default/my-app': [/^PreferDualStack: also gets 192\.0\.2\.0/] },
  },
  {
    name: 'a RequireDualStack Service holding one address loses it: it needs one per family',
    objects: [...DUAL, service({ key: 'default/my-app', ips: ['192.0.2.5'], spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'], clusterIPs: ['10.96.0.1', 'fd00::1'] } })],
    want: { 'default/my-app': 'loses requestMismatch, gets 192.0.2.0,2001:db8:: (dualstack-pool)' },
    ok: false,
  },
  // What the allocator does not serve.
  {
    name: 'two prefixes of address-pool that disagree: the request is invalid, the address is held',
    objects: [...CHEAP_EXPENSIVE, service({ key: 'default/shop', ips: ['192.168.10.3'], annotations: { 'metallb.io/address-pool': 'cheap', 'metallb.universe.tf/address-pool': 'expensive' } })],
    want: { 'default/shop': 'invalid conflictingRequests, holds' },
    ok: false,
  },
  {
    name: "a Service of MetalLB's class is not served by a Fulcrum without --lb-class",
    objects: [...CHEAP_EXPENSIVE, service({ key: 'default/web', ips: ['192.168.10.1'], spec: { loadBalancerClass: 'metallb' } })],
    want: { 'default/web': 'notServed metallb' },
    ok: false,
  },
  {
    name: 'the same Service keeps its address with --lb-class metallb',
    objects: [...CHEAP_EXPENSIVE, service({ key: 'default/web', ips: ['192.168.10.1'], spec: { loadBalancerClass: 'metallb' } })],
    lbClass: 'metallb',
    want: { 'default/web': 'keeps 192.168.10.1 (cheap)' },
  },
  {
    name: "another provider's Service outside every pool is left alone and does not fail the migration",
    objects: [...CHEAP_EXPENSIVE, service({ key: 'default/cloud', ips: ['10.0.0.9'], spec: { loadBalancerClass: 'example.com/cloud' } })],
    want: { 'default/cloud': 'notServed' },
  },
  {
    name: 'a pending Service that can get nothing stays pending, which does not fail the migration',
    objects: [...CHEAP_EXPENSIVE, service({ key: 'default/new', annotations: { 'metallb.io/address-pool': 'gone' } })],
    want: { 'default/new': 'pending unknownPool' },
  },
  {
    name: 'a pool no L2Advertisement selects keeps its Services, with a note that nothing announces them',
    objects: [pool('quiet', { addresses: ['192.0.2.0/30'] }), service({ key: 'default/web', ips: ['192.0.2.1'] })],
    want: { 'default/web': 'keeps 192.0.2.1 (quiet)' },
    notes: { 'default/web': [/no L2Advertisement: the address is assigned but no node announces it/] },
  },
  {
    name: 'an invalid config (a BGPPeer) checks no Service',
    objects: [...CHEAP_EXPENSIVE, { apiVersion: 'metallb.io/v1beta2', kind: 'BGPPeer', metadata: { name: 'peer', namespace: 'metallb-system' }, spec: {} }, service({ key: 'default/web', ips: ['192.168.10.1'] })],
    want: { 'default/web': 'unchecked' },
    ok: false,
  },
  {
    name: "MetalLB's legacy ConfigMap reads as the resources do",
    objects: [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config', namespace: 'metallb-system' }, data: { config: 'address-pools:\n- {name: default, protocol: layer2, addresses: [192.168.1.240-192.168.1.250]}\n' } },
      service({ key: 'default/web', ips: ['192.168.1.241'], annotations: { 'metallb.universe.tf/address-pool': 'default' } }),
    ],
    want: { 'default/web': 'keeps 192.168.1.241 (default)' },
  },
];

describe('planMigration: what becomes of each Service of a MetalLB install', () => {
  for (const row of ROWS) {
    it(row.name, () => {
      const report = plan(row.objects, row.lbClass);
      for (const [key, want] of Object.entries(row.want)) assert.equal(verdict(report, key), want, `planMigration(…): ${key}: ${JSON.stringify(report.services.find((s) => s.service === key)?.outcome)}`);
      const ok = row.ok ?? true;
      assert.equal(report.ok, ok, `ok: ${JSON.stringify(report.services.map((s) => s.outcome))} ${report.errors.join('; ')}`);
      assert.equal(report.services.some((s) => isProblem(s.outcome)) || !report.configValid, !ok);
      for (const [key, patterns] of Object.entries(row.notes ?? {})) {
        const notes = report.services.find((s) => s.service === key)?.notes ?? [];
        for (const p of patterns) assert.ok(notes.some((n) => p.test(n)), `${key}: no note matches ${p}: ${JSON.stringify(notes)}`);
      }
    });
  }
});

describe('planMigration: the pools', () => {
  it('lists each pool with its fields, announcements, nodes and Services', () => {
    const report = plan([
      ...PINNED,
      l2('edge', { ipAddressPools: ['expensive'], nodeSelectors: [{ matchLabels: { edge: 'true' } }], interfaces: ['eth1'] }),
      node('a', { edge: 'true' }),
      node('b'),
      service({ key: 'default/pay', ips: ['42.176.25.65'], annotations: { 'metallb.io/loadBalancerIPs': '42.176.25.65' } }),
    ]);
    const byName = new Map(report.pools.map((p) => [p.name, p]));
    assert.deepEqual([...byName.keys()], ['cheap', 'expensive', 'ippool-ns-service-alloc-sample'], 'name order');
    const pinned = byName.get('ippool-ns-service-alloc-sample')!;
    assert.deepEqual(pinned.serviceAllocation, { priority: 50, namespaces: ['namespace-a', 'namespace-b'], namespaceSelectors: ['foo=bar'], serviceSelectors: ['app in (bar)'] });
    assert.deepEqual(pinned.size, { IPv4: '254', IPv6: null }, 'avoidBuggyIPs leaves out .0 and .255');
    const expensive = byName.get('expensive')!;
    assert.equal(expensive.autoAssign, false);
    assert.deepEqual(expensive.announcements, [
      { source: 'L2Advertisement "metallb-system/edge"', nodeSelectors: ['edge=true'], interfaces: ['eth1'] },
      { source: 'L2Advertisement "metallb-system/l2"', nodeSelectors: [], interfaces: [] },
    ]);
    assert.deepEqual(expensive.nodes, ['a', 'b'], 'the l2 advertisement selects every node');
    assert.deepEqual(expensive.services, ['default/pay']);
  });

  it("names a pool's own problems under it: not announced, unsupported fields", () => {
    const report = plan([pool('quiet', { addresses: ['192.0.2.0/30'] }), pool('bad', { addresses: ['192.0.2.8/30'], autoAssign: 'maybe' }), l2('only-bad', { ipAddressPools: ['bad'] })]);
    assert.equal(report.configValid, false);
    const quiet = report.pools.find((p) => p.name === 'quiet')!;
    assert.deepEqual(quiet.issues, ['warning: IPAddressPool "metallb-system/quiet": no L2Advertisement selects the pool: its addresses are assigned but not announced']);
    assert.match(report.pools.find((p) => p.name === 'bad')!.issues.join('\n'), /^error: IPAddressPool "metallb-system\/bad": spec\.autoAssign: "maybe" is not a boolean/m);
  });
});
