import assert from 'node:assert/strict';
import { parseConfigInput } from '../../src/config/parse.js';
import type { Pool } from '../../src/config/types.js';
import { alloc, convert, everywhere, EVERY_NODE, l2, labels, NS, pool, type Obj } from './config-metallb-fixtures.js';

// Rows are named after MetalLB's internal/config/config_test.go (TestParse) where they mirror
// one of its rows, and after the examples of metallb.universe.tf's "Advanced AddressPool
// configuration" and "Advanced L2 configuration" pages. Errors: config-metallb-errors.test.ts.

describe('MetalLB resources → config: valid resources', () => {
  const rows: Array<{ name: string; objects: Obj[]; pools: Record<string, Partial<Record<keyof Pool, unknown>>>; warnings?: string[] }> = [
    {
      name: 'an IPAddressPool gets the defaults (autoAssign on, no buggy-IP avoidance, no serviceAllocation) and is announced by an L2Advertisement naming it',
      objects: [pool('first-pool', { addresses: ['192.168.10.0/24'] }), l2('example', { ipAddressPools: ['first-pool'] })],
      pools: { 'first-pool': { protocol: 'layer2', autoAssign: true, avoidBuggyIps: false, disabled: false, serviceAllocation: undefined, advertisements: [everywhere('example')] } },
    },
    {
      name: 'controlling automatic address allocation: "cheap" auto-assigns, "expensive" has autoAssign false',
      objects: [pool('cheap', { addresses: ['192.168.10.0/24'] }), pool('expensive', { addresses: ['42.176.25.64/30'], autoAssign: false }), EVERY_NODE],
      pools: { cheap: { autoAssign: true }, expensive: { autoAssign: false } },
    },
    {
      name: 'ranges and CIDRs of both families share one pool, avoidBuggyIPs is read',
      objects: [pool('web', { addresses: ['192.0.2.10-192.0.2.20', '2001:db8::/64'], avoidBuggyIPs: true }), EVERY_NODE],
      pools: {
        web: {
          avoidBuggyIps: true,
          ranges: [
            { family: 'IPv4', first: 0xc000020an, last: 0xc0000214n, text: '192.0.2.10-192.0.2.20' },
            { family: 'IPv6', first: 0x20010db8n << 96n, last: (0x20010db8n << 96n) + (1n << 64n) - 1n, text: '2001:db8::/64' },
          ],
        },
      },
    },
    {
      name: 'ip address pool with namespace selection',
      objects: [
        pool('pool1', { addresses: ['10.20.0.0/16', '10.50.0.0/24'], avoidBuggyIPs: true, autoAssign: false, serviceAllocation: { priority: 1, namespaces: ['test-ns1'] } }),
        pool('pool2', { addresses: ['30.0.0.0/8'], serviceAllocation: { priority: 2, namespaceSelectors: [{ matchLabels: { team: 'metallb' } }] } }),
        pool('pool3', { addresses: ['40.0.0.0/8'], serviceAllocation: { priority: 3, namespaceSelectors: [{ matchLabels: { team: 'red' } }] } }),
        EVERY_NODE,
      ],
      pools: {
        pool1: { autoAssign: false, avoidBuggyIps: true, serviceAllocation: alloc({ priority: 1, namespaces: ['test-ns1'] }) },
        pool2: { serviceAllocation: alloc({ priority: 2, namespaceSelectors: [labels({ team: 'metallb' })] }) },
        pool3: { serviceAllocation: alloc({ priority: 3, namespaceSelectors: [labels({ team: 'red' })] }) },
      },
    },
    {
      name: 'ip address pool with service selection',
      objects: [
        pool('pool1', { addresses: ['30.0.0.0/8'], serviceAllocation: { priority: 2, serviceSelectors: [{ matchLabels: { team: 'metallb' } }] } }),
        pool('pool2', { addresses: ['40.0.0.0/8'], serviceAllocation: { priority: 3, serviceSelectors: [{ matchLabels: { team: 'red' } }] } }),
        EVERY_NODE,
      ],
      pools: { pool1: { serviceAllocation: alloc({ priority: 2, serviceSelectors: [labels({ team: 'metallb' })] }) }, pool2: { serviceAllocation: alloc({ priority: 3, serviceSelectors: [labels({ team: 'red' })] }) } },
    },
    {
      name: 'ip address pool with namespace and service selection',
      objects: [
        pool('pool1', { addresses: ['30.0.0.0/8'], serviceAllocation: { priority: 2, namespaces: ['test-ns1'], serviceSelectors: [{ matchLabels: { 'testsvc-1': '1' } }] } }),
        pool('pool2', { addresses: ['40.0.0.0/8'], serviceAllocation: { priority: 3, namespaceSelectors: [{ matchLabels: { team: 'metallb' } }], serviceSelectors: [{ matchLabels: { 'testsvc-2': '2' } }] } }),
        EVERY_NODE,
      ],
      pools: {
        pool1: { serviceAllocation: alloc({ priority: 2, namespaces: ['test-ns1'], serviceSelectors: [labels({ 'testsvc-1': '1' })] }) },
        pool2: { serviceAllocation: alloc({ priority: 3, namespaceSelectors: [labels({ team: 'metallb' })], serviceSelectors: [labels({ 'testsvc-2': '2' })] }) },
      },
    },
    {
      name: 'ip address pool with only priority (it serves every Service, before the pools without serviceAllocation)',
      objects: [pool('pool1', { addresses: ['10.20.0.0/16'], serviceAllocation: { priority: 1 } }), EVERY_NODE],
      pools: { pool1: { serviceAllocation: alloc({ priority: 1 }) } },
    },
    {
      name: 'a priority of 0 is no priority, as in MetalLB',
      objects: [pool('pool1', { addresses: ['10.20.0.0/16'], serviceAllocation: { priority: 0, namespaces: ['a'] } }), EVERY_NODE],
      pools: { pool1: { serviceAllocation: alloc({ namespaces: ['a'] }) } },
    },
    {
      name: 'ippool-ns-service-alloc-sample: pinned to app=bar Services of namespace-a, namespace-b or a namespace labelled foo=bar',
      objects: [
        pool('ippool-ns-service-alloc-sample', {
          addresses: ['192.168.20.0/24'],
          avoidBuggyIPs: true,
          serviceAllocation: { priority: 50, namespaces: ['namespace-a', 'namespace-b'], namespaceSelectors: [{ matchLabels: { foo: 'bar' } }], serviceSelectors: [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['bar'] }] }] },
        }),
        EVERY_NODE,
      ],
      pools: {
        'ippool-ns-service-alloc-sample': {
          serviceAllocation: alloc({
            priority: 50,
            namespaces: ['namespace-a', 'namespace-b'],
            namespaceSelectors: [labels({ foo: 'bar' })],
            serviceSelectors: [{ matchLabels: {}, matchExpressions: [{ key: 'app', operator: 'In', values: ['bar'] }] }],
          }),
        },
      },
    },
    {
      name: 'limiting the set of nodes: first-pool on NodeA and NodeB, second-pool on NodeC',
      objects: [
        pool('first-pool', { addresses: ['192.0.2.0/28'] }),
        pool('second-pool', { addresses: ['192.0.2.16/28'] }),
        l2('example', { ipAddressPools: ['first-pool'], nodeSelectors: [{ matchLabels: { 'kubernetes.io/hostname': 'NodeA' } }, { matchLabels: { 'kubernetes.io/hostname': 'NodeB' } }] }),
        l2('example-c', { ipAddressPools: ['second-pool'], nodeSelectors: [{ matchLabels: { 'kubernetes.io/hostname': 'NodeC' } }] }),
      ],
      pools: {
        'first-pool': { advertisements: [{ source: `L2Advertisement "${NS}/example"`, nodeSelectors: [labels({ 'kubernetes.io/hostname': 'NodeA' }), labels({ 'kubernetes.io/hostname': 'NodeB' })], interfaces: [] }] },
        'second-pool': { advertisements: [{ source: `L2Advertisement "${NS}/example-c"`, nodeSelectors: [labels({ 'kubernetes.io/hostname': 'NodeC' })], interfaces: [] }] },
      },
    },
    {
      name: 'specify interfaces: third-pool from eth0 and eth1 of every node',
      objects: [pool('third-pool', { addresses: ['192.0.2.0/28'] }), l2('example', { ipAddressPools: ['third-pool'], interfaces: ['eth0', 'eth1'] })],
      pools: { 'third-pool': { advertisements: [everywhere('example', ['eth0', 'eth1'])] } },
    },
    {
      name: 'no nodes means all nodes, and no pools named means every pool (example-advertisement9 and 10)',
      objects: [
        pool('pool1', { addresses: ['192.0.2.0/28'] }),
        pool('pool2', { addresses: ['192.0.2.16/28'] }),
        l2('example-advertisement9', { interfaces: ['eno1'] }),
        l2('example-advertisement10', { ipAddressPools: ['pool1'], nodeSelectors: [{ matchLabels: { 'kubernetes.io/hostname': 'hostB' } }], interfaces: ['ens18'] }),
      ],
      pools: {
        pool1: {
          advertisements: [
            { source: `L2Advertisement "${NS}/example-advertisement10"`, nodeSelectors: [labels({ 'kubernetes.io/hostname': 'hostB' })], interfaces: ['ens18'] },
            everywhere('example-advertisement9', ['eno1']),
          ],
        },
        pool2: { advertisements: [everywhere('example-advertisement9', ['eno1'])] },
      },
    },
    {
      name: 'use ip pool selectors: an L2Advertisement applies to the pools whose labels match',
      objects: [
        pool('pool1', { addresses: ['192.0.2.0/28'] }, { labels: { test: 'pool1' } }),
        pool('pool2', { addresses: ['192.0.2.16/28'] }, { labels: { test: 'pool2' } }),
        l2('adv', { ipAddressPoolSelectors: [{ matchLabels: { test: 'pool1' } }] }),
      ],
      pools: { pool1: { advertisements: [everywhere('adv')] }, pool2: { advertisements: [] } },
      warnings: [`IPAddressPool "${NS}/pool2": no L2Advertisement selects the pool: its addresses are assigned but not announced`],
    },
    {
      name: 'use non existent label for ip pool selectors: the pool is not announced',
      objects: [pool('pool1', { addresses: ['192.0.2.0/28'] }, { labels: { test: 'pool1' } }), l2('adv', { ipAddressPoolSelectors: [{ matchLabels: { test: 'nope' } }] })],
      pools: { pool1: { advertisements: [] } },
      warnings: [`IPAddressPool "${NS}/pool1": no L2Advertisement selects the pool: its addresses are assigned but not announced`],
    },
    {
      name: 'pool selected by name and selector attaches once',
      objects: [pool('pool1', { addresses: ['192.0.2.0/28'] }, { labels: { a: 'b' } }), l2('adv', { ipAddressPools: ['pool1'], ipAddressPoolSelectors: [{ matchLabels: { a: 'b' } }] })],
      pools: { pool1: { advertisements: [everywhere('adv')] } },
    },
    {
      name: 'two CRs targeting the same pool attach independently',
      objects: [pool('pool1', { addresses: ['192.0.2.0/28'] }), l2('b', { ipAddressPools: ['pool1'], interfaces: ['eth1'] }), l2('a', { ipAddressPools: ['pool1'], interfaces: ['eth0'] })],
      pools: { pool1: { advertisements: [everywhere('a', ['eth0']), everywhere('b', ['eth1'])] } },
    },
    {
      name: 'a pool without any L2Advertisement is assigned from but not announced, as in MetalLB',
      objects: [pool('quiet', { addresses: ['192.0.2.0/28'] })],
      pools: { quiet: { advertisements: [] } },
      warnings: [`IPAddressPool "${NS}/quiet": no L2Advertisement selects the pool: its addresses are assigned but not announced`],
    },
    {
      name: 'a CIDR with host bits set is accepted with a warning naming the network',
      objects: [pool('web', { addresses: ['192.0.2.5/24'] }), EVERY_NODE],
      pools: { web: {} },
      warnings: [`IPAddressPool "${NS}/web": spec.addresses[0]: "192.0.2.5/24" has host bits set; it means the network 192.0.2.0/24`],
    },
    {
      name: 'an L2Advertisement naming a pool that is not there is a warning (MetalLB skips it)',
      objects: [pool('web', { addresses: ['192.0.2.0/28'] }), l2('adv', { ipAddressPools: ['web', 'gone'] })],
      pools: { web: { advertisements: [everywhere('adv')] } },
      warnings: [`L2Advertisement "${NS}/adv": spec.ipAddressPools[1]: "gone" is not the name of any IPAddressPool`],
    },
    {
      name: 'preferredNodeSelectors is ignored with a warning: the election is Fulcrum\'s own',
      objects: [pool('production-pool', { addresses: ['192.0.2.0/28'] }), l2('prefer-edge', { ipAddressPools: ['production-pool'], preferredNodeSelectors: [{ weight: 100, preference: { matchLabels: { 'node-role': 'edge' } } }] })],
      pools: { 'production-pool': { advertisements: [everywhere('prefer-edge')] } },
      warnings: [
        `L2Advertisement "${NS}/prefer-edge": spec.preferredNodeSelectors is ignored: Fulcrum elects the owner of an address among the eligible nodes by its own order (nodes with local endpoints first, then a hash)`,
      ],
    },
    {
      name: "MetalLB's status kinds are ignored with a warning, other API groups silently",
      objects: [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
        pool('web', { addresses: ['192.0.2.0/28'] }),
        EVERY_NODE,
        { apiVersion: 'metallb.io/v1beta1', kind: 'ServiceL2Status', metadata: { name: 'l2-abc', namespace: NS }, status: { node: 'n1' } },
      ],
      pools: { web: {} },
      warnings: [`ServiceL2Status "${NS}/l2-abc" is ignored: it is state MetalLB reports, not configuration`],
    },
    {
      name: 'YAML 1.1 booleans are read as kubectl (yaml.v2) reads them',
      objects: [pool('web', { addresses: ['192.0.2.0/28'], autoAssign: 'no', avoidBuggyIPs: 'yes' }), EVERY_NODE],
      pools: { web: { autoAssign: false, avoidBuggyIps: true } },
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const result = convert(row.objects);
      assert.ok(result.ok, `parseMetalLBResources: ${result.ok ? '' : result.errors.join('; ')}`);
      if (!result.ok) return;
      assert.deepEqual(result.warnings, row.warnings ?? [], 'warnings');
      assert.deepEqual(result.config.pools.map((p) => p.name), Object.keys(row.pools).sort(), 'pools, in name order');
      for (const [name, want] of Object.entries(row.pools)) {
        const got: Pool = result.config.pools.find((p) => p.name === name)!;
        for (const [k, v] of Object.entries(want)) assert.deepEqual(got[k as keyof Pool], v, `pool "${name}".${k}`);
      }
    });
  }

  it('pools come in name order, whatever the order of the objects', () => {
    const result = convert([pool('z', { addresses: ['192.0.2.32/28'] }), pool('a', { addresses: ['192.0.2.0/28'] }), pool('m', { addresses: ['192.0.2.16/28'] }), EVERY_NODE]);
    assert.ok(result.ok);
    if (result.ok) assert.deepEqual(result.config.pools.map((p) => p.name), ['a', 'm', 'z']);
  });

  it('no MetalLB objects at all is an empty config, with the no-pools warning', () => {
    const result = convert([]);
    assert.ok(result.ok);
    if (result.ok) assert.deepEqual(result.warnings, ['the config has no address pools: no Service will get an address']);
  });
});

describe('parseConfigInput: a file of MetalLB resources or the ConfigMap', () => {
  const MANIFESTS = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: first-pool
  namespace: metallb-system
spec:
  addresses:
  - 192.168.1.240-192.168.1.250
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: example
  namespace: metallb-system
`;
  const LIST = `apiVersion: v1
kind: List
items:
- apiVersion: metallb.io/v1beta1
  kind: IPAddressPool
  metadata: {name: first-pool, namespace: metallb-system, resourceVersion: "1234", uid: 5b2c}
  spec: {addresses: [192.168.1.240/28], autoAssign: true, avoidBuggyIPs: false}
  status: {assignedIPv4: 1, assignedIPv6: 0, availableIPv4: 15, availableIPv6: 0}
- apiVersion: metallb.io/v1beta1
  kind: L2Advertisement
  metadata: {name: example, namespace: metallb-system}
  spec: {ipAddressPools: [first-pool]}
metadata: {resourceVersion: ""}
`;
  const CONFIGMAP = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: fulcrum-system}\ndata:\n  config: |\n    address-pools:\n    - {name: web, addresses: [192.0.2.0/28]}\n';
  const rows: Array<{ name: string; text: string; source: 'configMap' | 'metallb'; pools?: string[]; errors?: string[] }> = [
    { name: 'the manifests a user applies are MetalLB resources', text: MANIFESTS, source: 'metallb', pools: ['first-pool'] },
    { name: 'a kubectl get ipaddresspools,l2advertisements -A -o yaml List is MetalLB resources', text: LIST, source: 'metallb', pools: ['first-pool'] },
    { name: 'an IPAddressPoolList is read item by item', text: LIST.replace('kind: List', 'kind: IPAddressPoolList'), source: 'metallb', pools: ['first-pool'] },
    { name: 'the ConfigMap is still the ConfigMap', text: CONFIGMAP, source: 'configMap', pools: ['web'] },
    { name: 'a bare config is still a bare config', text: 'address-pools:\n- {name: web, addresses: [192.0.2.0/28]}\n', source: 'configMap', pools: ['web'] },
    { name: "MetalLB's install manifest ConfigMaps (no config key) do not count as a second source", text: `${MANIFESTS}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: metallb-excludel2, namespace: metallb-system}\ndata:\n  excludel2.yaml: "announcedInterfacesToExclude: []"\n`, source: 'metallb', pools: ['first-pool'] },
    {
      name: 'MetalLB resources and the ConfigMap in one input are refused: one source at a time',
      text: `${MANIFESTS}---\n${CONFIGMAP}`,
      source: 'metallb',
      errors: ['input has both MetalLB resources and ConfigMap "fulcrum-system/config" with data.config: Fulcrum reads one source, remove one of them'],
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const result = parseConfigInput(row.text);
      assert.equal(result.source, row.source, 'source');
      if (row.errors) {
        assert.equal(result.ok, false);
        if (!result.ok) assert.deepEqual(result.errors, row.errors);
        return;
      }
      assert.ok(result.ok, result.ok ? '' : result.errors.join('; '));
      if (result.ok) assert.deepEqual(result.config.pools.map((p) => p.name), row.pools);
    });
  }
});
