import assert from 'node:assert/strict';
import type { ConfigIssueCode } from '../../src/config/types.js';
import { convert, l2, NS, pool, type Obj } from './config-metallb-fixtures.js';

// MetalLB resources that are refused: every problem names the object, the field path and the
// value. Rows are named after MetalLB's internal/config/config_test.go (TestParse) where they
// mirror one of its rows.

describe('MetalLB resources → config: every problem names the object, the field and the value', () => {
  const rows: Array<{ name: string; objects: Obj[]; errors: string[]; codes?: ConfigIssueCode[] }> = [
    { name: 'no pool name', objects: [{ apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: {}, spec: { addresses: ['192.0.2.0/28'] } }], errors: ['IPAddressPool #1: metadata.name: a pool needs a name'], codes: ['FUL_ERR_POOL_NAME'] },
    { name: 'address pool with no address', objects: [pool('web', {})], errors: [`IPAddressPool "${NS}/web": spec.addresses: the pool has no addresses`], codes: ['FUL_ERR_POOL_EMPTY'] },
    { name: 'invalid pool CIDR', objects: [pool('web', { addresses: ['100.200.300.400/24'] })], errors: [`IPAddressPool "${NS}/web": spec.addresses[0]: "100.200.300.400/24" is not an IP range`], codes: ['FUL_ERR_POOL_RANGE'] },
    { name: 'invalid pool CIDR prefix length', objects: [pool('web', { addresses: ['1.2.3.0/33'] })], errors: [`IPAddressPool "${NS}/web": spec.addresses[0]: "1.2.3.0/33" is not an IP range (prefix /33 is longer than 32 bits)`] },
    {
      name: 'invalid pool CIDR, first address of the range is after the second',
      objects: [pool('web', { addresses: ['1.2.3.10-1.2.3.1'] })],
      errors: [`IPAddressPool "${NS}/web": spec.addresses[0]: "1.2.3.10-1.2.3.1" is not an IP range: start is after end`],
    },
    {
      name: 'duplicate pool definition',
      objects: [pool('pool1', { addresses: ['10.0.0.0/16'] }), pool('pool1', { addresses: ['10.1.0.0/16'] }, { namespace: 'other' })],
      errors: [`IPAddressPool "other/pool1": metadata.name: "pool1" is already the name of IPAddressPool "${NS}/pool1"`],
      codes: ['FUL_ERR_POOL_NAME'],
    },
    {
      name: 'overlapping CIDRs',
      objects: [pool('pool1', { addresses: ['10.0.0.0/8'] }), pool('pool2', { addresses: ['10.0.0.0/16'] })],
      errors: [`IPAddressPool "${NS}/pool2": spec.addresses[0]: "10.0.0.0/16" overlaps "10.0.0.0/8" of IPAddressPool "${NS}/pool1"`],
      codes: ['FUL_ERR_POOL_OVERLAP'],
    },
    {
      name: 'duplicate CIDRs within one pool',
      objects: [pool('pool1', { addresses: ['10.0.0.0/8', '10.0.0.0/8'] })],
      errors: [`IPAddressPool "${NS}/pool1": spec.addresses[1]: "10.0.0.0/8" overlaps spec.addresses[0] "10.0.0.0/8"`],
    },
    {
      name: 'ip address pool with duplicate namespace selection',
      objects: [pool('pool1', { addresses: ['10.20.0.0/16'], serviceAllocation: { priority: 1, namespaces: ['test-ns1', 'test-ns1'] } })],
      errors: [`IPAddressPool "${NS}/pool1": spec.serviceAllocation.namespaces[1]: "test-ns1" is listed twice`],
      codes: ['FUL_ERR_POOL_ALLOCATION'],
    },
    {
      name: 'ip address pool with duplicate namespace selectors',
      objects: [pool('pool1', { addresses: ['10.20.0.0/16'], serviceAllocation: { namespaceSelectors: [{ matchLabels: { foo: 'bar' } }, { matchLabels: { foo: 'bar' } }] } })],
      errors: [`IPAddressPool "${NS}/pool1": spec.serviceAllocation.namespaceSelectors[1]: "foo=bar" is the same selector as [0]`],
      codes: ['FUL_ERR_POOL_SELECTOR'],
    },
    {
      name: 'ip address pool with duplicate service selection',
      objects: [pool('pool1', { addresses: ['30.0.0.0/8'], serviceAllocation: { priority: 2, serviceSelectors: [{ matchExpressions: [{ key: 'foo', operator: 'In', values: ['bar', 'bar'] }] }] } })],
      errors: [`IPAddressPool "${NS}/pool1": spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].values[1]: "bar" is listed twice`],
    },
    {
      name: 'a negative priority, and one that is not a number',
      objects: [pool('a', { addresses: ['10.0.0.0/16'], serviceAllocation: { priority: -1 } }), pool('b', { addresses: ['10.1.0.0/16'], serviceAllocation: { priority: 'high' } })],
      errors: [
        `IPAddressPool "${NS}/a": spec.serviceAllocation.priority: -1 is not a priority (an integer of 0 or more; 1 is tried first, 0 means none)`,
        `IPAddressPool "${NS}/b": spec.serviceAllocation.priority: "high" is not a priority (an integer of 0 or more; 1 is tried first, 0 means none)`,
      ],
    },
    {
      name: 'a namespace name Kubernetes would refuse',
      objects: [pool('a', { addresses: ['10.0.0.0/16'], serviceAllocation: { namespaces: ['Team_A'] } })],
      errors: [`IPAddressPool "${NS}/a": spec.serviceAllocation.namespaces[0]: "Team_A" is not a namespace name (lower case letters, digits and "-", at most 63 characters)`],
    },
    {
      name: 'a typo in a spec key, with the key it probably meant',
      objects: [pool('web', { addresses: ['192.0.2.0/28'], autoAsign: false, serviceAllocation: { prority: 1 } })],
      errors: [`IPAddressPool "${NS}/web": spec: unknown key "autoAsign" (did you mean "autoAssign"?)`, `IPAddressPool "${NS}/web": spec.serviceAllocation: unknown key "prority" (did you mean "priority"?)`],
      codes: ['FUL_ERR_CONFIG_UNKNOWN_KEY', 'FUL_ERR_CONFIG_UNKNOWN_KEY'],
    },
    {
      name: 'another version of IPAddressPool',
      objects: [{ ...pool('web', { addresses: ['192.0.2.0/28'] }), apiVersion: 'metallb.io/v1alpha1' }],
      errors: [`IPAddressPool "${NS}/web": apiVersion: "metallb.io/v1alpha1" is not "metallb.io/v1beta1"`],
    },
    {
      name: 'duplicate ip address pools - in L2 adv',
      objects: [pool('pool1', { addresses: ['10.0.0.0/16'] }), l2('adv', { ipAddressPools: ['pool1', 'pool1'] })],
      errors: [`L2Advertisement "${NS}/adv": spec.ipAddressPools[1]: "pool1" is listed twice`],
    },
    {
      name: 'use duplicate ip pool selectors - in L2 adv',
      objects: [pool('pool1', { addresses: ['10.0.0.0/16'] }), l2('adv', { ipAddressPoolSelectors: [{ matchLabels: { test: 'pool1' } }, { matchLabels: { test: 'pool1' } }] })],
      errors: [`L2Advertisement "${NS}/adv": spec.ipAddressPoolSelectors[1]: "test=pool1" is the same selector as [0]`],
    },
    {
      name: 'use duplicate match labels in node selectors',
      objects: [pool('pool1', { addresses: ['10.0.0.0/16'] }), l2('adv', { nodeSelectors: [{ matchLabels: { 'kubernetes.io/hostname': 'NodeA' } }, { matchLabels: { 'kubernetes.io/hostname': 'NodeA' } }] })],
      errors: [`L2Advertisement "${NS}/adv": spec.nodeSelectors[1]: "kubernetes.io/hostname=NodeA" is the same selector as [0]`],
    },
    {
      name: 'use duplicate match expression values in node selector',
      objects: [pool('pool1', { addresses: ['10.0.0.0/16'] }), l2('adv', { nodeSelectors: [{ matchExpressions: [{ key: 'k', operator: 'In', values: ['v', 'v'] }] }] })],
      errors: [`L2Advertisement "${NS}/adv": spec.nodeSelectors[0].matchExpressions[0].values[1]: "v" is listed twice`],
    },
    {
      name: 'invalid expression node selector (invalid operator)',
      objects: [pool('pool1', { addresses: ['10.0.0.0/16'] }), l2('adv', { nodeSelectors: [{ matchExpressions: [{ key: 'k', operator: 'Gt', values: ['1'] }] }] })],
      errors: [`L2Advertisement "${NS}/adv": spec.nodeSelectors[0].matchExpressions[0].operator: "Gt" is not one of In, NotIn, Exists, DoesNotExist`],
      codes: ['FUL_ERR_POOL_SELECTOR'],
    },
    {
      name: 'invalid expression node selector (missing key)',
      objects: [pool('pool1', { addresses: ['10.0.0.0/16'] }), l2('adv', { nodeSelectors: [{ matchExpressions: [{ operator: 'Exists' }] }] })],
      errors: [`L2Advertisement "${NS}/adv": spec.nodeSelectors[0].matchExpressions[0].key: null is not a valid label key`],
    },
    {
      name: 'a bad interface name and a repeated one in an L2Advertisement',
      objects: [pool('pool1', { addresses: ['10.0.0.0/16'] }), l2('adv', { interfaces: ['eth0', 'a/b', 'eth0'] })],
      errors: [
        `L2Advertisement "${NS}/adv": spec.interfaces[1]: "a/b" is not an interface name (1-15 characters, no "/", ":" or spaces)`,
        `L2Advertisement "${NS}/adv": spec.interfaces[2]: "eth0" is listed twice`,
      ],
      codes: ['FUL_ERR_POOL_INTERFACE', 'FUL_ERR_POOL_INTERFACE'],
    },
    {
      name: 'L2 advertisement with service selectors is not supported: every Service of a pool is announced alike',
      objects: [pool('first-pool', { addresses: ['10.0.0.0/16'] }), l2('frontend-services', { ipAddressPools: ['first-pool'], interfaces: ['eth0'], serviceSelectors: [{ matchLabels: { tier: 'frontend' } }] })],
      errors: [
        `L2Advertisement "${NS}/frontend-services": spec.serviceSelectors is not supported: Fulcrum announces every Service of a pool the same way; give those Services a pool of their own (serviceAllocation) and an L2Advertisement for it`,
      ],
      codes: ['FUL_ERR_CONFIG_UNSUPPORTED_FIELD'],
    },
    {
      name: 'BGP kinds are not supported, layer2 only',
      objects: [
        pool('pool1', { addresses: ['10.0.0.0/16'] }),
        { apiVersion: 'metallb.io/v1beta2', kind: 'BGPPeer', metadata: { name: 'peer1', namespace: NS }, spec: { myASN: 64500, peerASN: 64501, peerAddress: '10.0.0.1' } },
        { apiVersion: 'metallb.io/v1beta1', kind: 'BGPAdvertisement', metadata: { name: 'bgp', namespace: NS }, spec: {} },
        { apiVersion: 'metallb.io/v1beta1', kind: 'Community', metadata: { name: 'communities', namespace: NS }, spec: { communities: [] } },
        { apiVersion: 'metallb.io/v1beta1', kind: 'BFDProfile', metadata: { name: 'fast', namespace: NS }, spec: {} },
      ],
      errors: [
        `BGPPeer "${NS}/peer1": BGP is not supported, layer2 only`,
        `BGPAdvertisement "${NS}/bgp": BGP is not supported, layer2 only`,
        `Community "${NS}/communities": BGP is not supported, layer2 only`,
        `BFDProfile "${NS}/fast": BGP is not supported, layer2 only`,
      ],
      codes: ['FUL_ERR_CONFIG_UNSUPPORTED', 'FUL_ERR_CONFIG_UNSUPPORTED', 'FUL_ERR_CONFIG_UNSUPPORTED', 'FUL_ERR_CONFIG_UNSUPPORTED'],
    },
    {
      name: 'the AddressPool kind MetalLB removed in v0.14 is not supported',
      objects: [{ apiVersion: 'metallb.io/v1beta1', kind: 'AddressPool', metadata: { name: 'old', namespace: NS }, spec: { protocol: 'layer2', addresses: ['10.0.0.0/16'] } }],
      errors: [`AddressPool "${NS}/old": kind is not supported: MetalLB removed AddressPool in v0.14; write an IPAddressPool and an L2Advertisement instead`],
    },
    {
      name: 'an invalid pool is reported, and every other object is still checked',
      objects: [
        pool('a', { addresses: ['192.0.2.300/32'], autoAsign: true }),
        pool('b', { addresses: ['192.0.2.0/28'] }),
        pool('c', { addresses: ['192.0.2.8/29'] }),
        l2('adv', { interfaces: ['bad/name'] }),
      ],
      errors: [
        `IPAddressPool "${NS}/a": spec: unknown key "autoAsign" (did you mean "autoAssign"?)`,
        `IPAddressPool "${NS}/a": spec.addresses[0]: "192.0.2.300/32" is not an IP range`,
        `L2Advertisement "${NS}/adv": spec.interfaces[0]: "bad/name" is not an interface name (1-15 characters, no "/", ":" or spaces)`,
        `IPAddressPool "${NS}/c": spec.addresses[0]: "192.0.2.8/29" overlaps "192.0.2.0/28" of IPAddressPool "${NS}/b"`,
      ],
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const result = convert(row.objects);
      assert.equal(result.ok, false, 'the resources should be refused');
      if (result.ok) return;
      assert.deepEqual(result.errors, row.errors);
      if (row.codes) assert.deepEqual(result.issues.filter((i) => i.severity === 'error').map((i) => i.code), row.codes);
    });
  }

  it('each issue names the object it is about, for a Warning Event on it', () => {
    const result = convert([pool('a', { addresses: ['bogus'] }), pool('b', { addresses: ['192.0.2.0/28'] }), l2('adv', { ipAddressPools: ['a', 'gone'] })]);
    assert.deepEqual(
      result.issues.map((i) => [i.code, i.object]),
      [
        ['FUL_ERR_POOL_RANGE', { kind: 'IPAddressPool', namespace: NS, name: 'a' }],
        ['FUL_WARN_UNKNOWN_POOL', { kind: 'L2Advertisement', namespace: NS, name: 'adv' }],
        ['FUL_WARN_POOL_NOT_ANNOUNCED', { kind: 'IPAddressPool', namespace: NS, name: 'b' }],
      ],
    );
  });
});
