import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/parse.js';
import type { ConfigIssueCode, Pool } from '../../src/config/types.js';

/** A bare config with one pool; rows override its pool fields or add text. */
function pools(...items: string[]): string {
  return `address-pools:\n${items.map((i) => `- ${i}`).join('\n')}\n`;
}
const WEB = '{name: web, protocol: layer2, addresses: [192.0.2.0/28]}';

function valid(text: string) {
  const result = parseConfig(text);
  assert.ok(result.ok, `parseConfig(${JSON.stringify(text)}): ${result.ok ? '' : result.errors.join('; ')}`);
  return result;
}

describe('parseConfig: valid configs', () => {
  const rows: Array<{ name: string; text: string; pool?: Partial<Record<keyof Pool, unknown>>; warnings?: string[] }> = [
    {
      name: 'a MetalLB legacy pool gets the defaults: auto-assign on, no buggy-IP avoidance, enabled, every node and interface',
      text: pools(WEB),
      pool: { name: 'web', autoAssign: true, avoidBuggyIps: false, disabled: false, serviceAllocation: undefined, advertisements: [{ nodeSelectors: [], interfaces: [] }] },
    },
    {
      name: 'a start-end range and a CIDR of both families can share one pool',
      text: pools('{name: web, protocol: layer2, addresses: [192.0.2.10-192.0.2.20, "2001:db8::/64"]}'),
      pool: {
        ranges: [
          { family: 'IPv4', first: 0xc000020an, last: 0xc0000214n, text: '192.0.2.10-192.0.2.20' },
          { family: 'IPv6', first: 0x20010db8n << 96n, last: (0x20010db8n << 96n) + (1n << 64n) - 1n, text: '2001:db8::/64' },
        ],
      },
    },
    {
      name: 'auto-assign false, avoid-buggy-ips and disabled are read',
      text: pools('{name: web, protocol: layer2, addresses: [192.0.2.0/28], auto-assign: false, avoid-buggy-ips: true, disabled: true}'),
      pool: { autoAssign: false, avoidBuggyIps: true, disabled: true },
    },
    {
      name: "YAML 1.1 booleans (yes/no/on/off) mean what they meant to MetalLB's yaml.v2",
      text: pools('{name: web, protocol: layer2, addresses: [192.0.2.0/28], auto-assign: no, avoid-buggy-ips: on}'),
      pool: { autoAssign: false, avoidBuggyIps: true },
    },
    {
      name: 'protocol may be left out: layer2 is the only one',
      text: pools('{name: web, addresses: [192.0.2.0/28]}'),
      pool: { protocol: 'layer2' },
    },
    {
      name: 'node selectors with labels and every operator are read',
      text: pools(`name: web
  addresses: [192.0.2.0/28]
  node-selectors:
  - match-labels: {kubernetes.io/hostname: node-a, rack: "1"}
    match-expressions:
    - {key: zone, operator: In, values: [a, b]}
    - {key: zone, operator: NotIn, values: [c]}
    - {key: edge, operator: Exists}
    - {key: example.com/drain, operator: DoesNotExist}`),
      pool: {
        advertisements: [
          {
            nodeSelectors: [
              {
                matchLabels: { 'kubernetes.io/hostname': 'node-a', rack: '1' },
                matchExpressions: [
                  { key: 'zone', operator: 'In', values: ['a', 'b'] },
                  { key: 'zone', operator: 'NotIn', values: ['c'] },
                  { key: 'edge', operator: 'Exists', values: [] },
                  { key: 'example.com/drain', operator: 'DoesNotExist', values: [] },
                ],
              },
            ],
            interfaces: [],
          },
        ],
      },
    },
    { name: 'interfaces are read', text: pools('{name: web, addresses: [192.0.2.0/28], interfaces: [eth0, bond0.100]}'), pool: { advertisements: [{ nodeSelectors: [], interfaces: ['eth0', 'bond0.100'] }] } },
    {
      name: 'a CIDR with host bits set is accepted with a warning naming the network',
      text: pools('{name: web, addresses: [192.0.2.5/24]}'),
      pool: { ranges: [{ family: 'IPv4', first: 0xc0000200n, last: 0xc00002ffn, text: '192.0.2.5/24' }] },
      warnings: ['pool "web": addresses[0]: "192.0.2.5/24" has host bits set; it means the network 192.0.2.0/24'],
    },
    {
      name: 'a whole ConfigMap manifest is read from its data key "config"',
      text: `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: fulcrum-system}\ndata:\n  config: |\n    address-pools:\n    - ${WEB}\n`,
      pool: { name: 'web' },
    },
    {
      name: 'a ConfigMap among other documents is found',
      text: `apiVersion: v1\nkind: Namespace\nmetadata: {name: fulcrum-system}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: fulcrum-system}\ndata:\n  config: |\n    address-pools:\n    - ${WEB}\n`,
      pool: { name: 'web' },
    },
    {
      name: 'a ConfigMap with another name is read, with a warning',
      text: `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: pools, namespace: default}\ndata:\n  config: |\n    address-pools:\n    - ${WEB}\n`,
      pool: { name: 'web' },
      warnings: ['ConfigMap "default/pools": Fulcrum reads fulcrum-system/config'],
    },
    {
      name: 'empty BGP sections are not BGP configuration',
      text: `peers: []\nbgp-communities: {}\n${pools('{name: web, addresses: [192.0.2.0/28], bgp-advertisements: []}')}`,
      pool: { name: 'web' },
    },
    {
      name: 'adjacent ranges do not overlap',
      text: pools('{name: a, addresses: [192.0.2.0/28]}', '{name: b, addresses: [192.0.2.16-192.0.2.16]}'),
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const result = valid(row.text);
      assert.deepEqual(result.warnings, row.warnings ?? [], 'warnings');
      if (row.pool) {
        const pool = result.config.pools[0]!;
        for (const [k, v] of Object.entries(row.pool)) assert.deepEqual(pool[k as keyof Pool], v, `pool.${k}`);
      }
    });
  }

  it('an empty config is valid and warns that no Service will get an address', () => {
    for (const text of ['', 'address-pools: []\n', '{}\n']) {
      const result = valid(text);
      assert.deepEqual(result.config.pools, []);
      assert.deepEqual(result.warnings, ['the config has no address pools: no Service will get an address'], JSON.stringify(text));
    }
  });

  it('pools keep their config order, which decides auto-assignment', () => {
    const result = valid(pools('{name: z, addresses: [192.0.2.32/28]}', '{name: a, addresses: [192.0.2.0/28]}'));
    assert.deepEqual(result.config.pools.map((p) => p.name), ['z', 'a']);
  });

  it('a /8 and 2001:db8::/32 are parsed without enumerating them', () => {
    const result = valid(pools('{name: big, addresses: [10.0.0.0/8, "2001:db8::/32"]}'));
    const [v4, v6] = result.config.pools[0]!.ranges;
    assert.equal(v4!.last - v4!.first + 1n, 1n << 24n);
    assert.equal(v6!.last - v6!.first + 1n, 1n << 96n);
  });
});

describe('parseConfig: every error names the pool, the field and the value', () => {
  const rows: Array<{ name: string; text: string; errors: string[]; codes?: ConfigIssueCode[] }> = [
    {
      name: 'an address that is not an IP range',
      text: pools('{name: web, addresses: [192.0.2.0/28, 192.0.2.64/28, "192.0.2.300/32"]}'),
      errors: ['pool "web": addresses[2]: "192.0.2.300/32" is not an IP range'],
      codes: ['FUL_ERR_POOL_RANGE'],
    },
    { name: 'a range whose start is after its end', text: pools('{name: web, addresses: [192.0.2.9-192.0.2.5]}'), errors: ['pool "web": addresses[0]: "192.0.2.9-192.0.2.5" is not an IP range: start is after end'] },
    { name: 'a range that mixes families', text: pools('{name: web, addresses: ["192.0.2.1-2001:db8::1"]}'), errors: ['pool "web": addresses[0]: "192.0.2.1-2001:db8::1" mixes IPv4 and IPv6 in one range'] },
    { name: 'a prefix longer than the address', text: pools('{name: web, addresses: [192.0.2.0/33]}'), errors: ['pool "web": addresses[0]: "192.0.2.0/33" is not an IP range (prefix /33 is longer than 32 bits)'] },
    { name: 'a bare address without prefix', text: pools('{name: web, addresses: [192.0.2.1]}'), errors: ['pool "web": addresses[0]: "192.0.2.1" is not an IP range (write a CIDR or start-end)'] },
    { name: 'an address YAML read as a number', text: pools('{name: web, addresses: [12345]}'), errors: ['pool "web": addresses[0]: 12345 is not an IP range (YAML read it as a number: quote it)'] },
    { name: 'a pool without addresses', text: pools('{name: web, protocol: layer2}'), errors: ['pool "web": addresses: the pool has no addresses'], codes: ['FUL_ERR_POOL_EMPTY'] },
    { name: 'a pool with an empty address list', text: pools('{name: web, addresses: []}'), errors: ['pool "web": addresses: the pool has no addresses'] },
    { name: 'addresses that are not a list', text: pools('{name: web, addresses: 192.0.2.0/28}'), errors: ['pool "web": addresses: "192.0.2.0/28" is not a list of ranges'] },
    {
      name: 'two pools with the same name',
      text: pools(WEB, '{name: web, addresses: [192.0.2.64/28]}'),
      errors: ['pool "web": name: "web" is already the name of address-pools[0]'],
      codes: ['FUL_ERR_POOL_NAME'],
    },
    { name: 'a pool without a name is named by its index', text: pools('{addresses: [192.0.2.0/28]}'), errors: ['address-pools[0]: name: a pool needs a name'] },
    { name: 'a name with a space', text: pools('{name: "my pool", addresses: [192.0.2.0/28]}'), errors: ['address-pools[0]: name: "my pool" is not a valid pool name (no spaces or quotes, at most 253 characters)'] },
    { name: 'a name that is a list', text: pools('{name: [a], addresses: [192.0.2.0/28]}'), errors: ['address-pools[0]: name: a list is not a string'] },
    {
      name: 'ranges that overlap within a pool',
      text: pools('{name: web, addresses: [192.0.2.0/24, 192.0.2.128/25]}'),
      errors: ['pool "web": addresses[1]: "192.0.2.128/25" overlaps addresses[0] "192.0.2.0/24"'],
      codes: ['FUL_ERR_POOL_OVERLAP'],
    },
    {
      name: 'ranges that overlap across pools',
      text: pools('{name: a, addresses: [192.0.2.0/28]}', '{name: b, addresses: [192.0.2.10-192.0.2.40]}'),
      errors: ['pool "b": addresses[0]: "192.0.2.10-192.0.2.40" overlaps "192.0.2.0/28" of pool "a"'],
    },
    {
      name: 'IPv6 ranges that overlap across pools',
      text: pools('{name: a, addresses: ["2001:db8::/32"]}', '{name: b, addresses: ["2001:db8:1::/64"]}'),
      errors: ['pool "b": addresses[0]: "2001:db8:1::/64" overlaps "2001:db8::/32" of pool "a"'],
    },
    {
      name: 'a typo in a pool key, with the key it probably meant',
      text: pools('{name: web, addresses: [192.0.2.0/28], auto-asign: false}'),
      errors: ['pool "web": unknown key "auto-asign" (did you mean "auto-assign"?)'],
      codes: ['FUL_ERR_CONFIG_UNKNOWN_KEY'],
    },
    { name: 'a typo in a top-level key', text: `adress-pools: []\n`, errors: ['unknown key "adress-pools" (did you mean "address-pools"?)'] },
    { name: 'an unknown key with no near match', text: pools('{name: web, addresses: [192.0.2.0/28], color: blue}'), errors: ['pool "web": unknown key "color"'] },
    {
      name: 'a bad boolean',
      text: pools('{name: web, addresses: [192.0.2.0/28], auto-assign: maybe, disabled: 1}'),
      errors: ['pool "web": auto-assign: "maybe" is not a boolean (true or false)', 'pool "web": disabled: 1 is not a boolean (true or false)'],
      codes: ['FUL_ERR_CONFIG_TYPE', 'FUL_ERR_CONFIG_TYPE'],
    },
    { name: 'protocol bgp', text: pools('{name: web, protocol: bgp, addresses: [192.0.2.0/28]}'), errors: ['pool "web": protocol: "bgp" is not supported, layer2 only'], codes: ['FUL_ERR_CONFIG_UNSUPPORTED'] },
    { name: 'an unknown protocol', text: pools('{name: web, protocol: layer3, addresses: [192.0.2.0/28]}'), errors: ['pool "web": protocol: "layer3" is not a protocol (only "layer2" is supported)'] },
    { name: 'BGP peers', text: `peers:\n- peer-address: 192.0.2.1\n  peer-asn: 64500\n${pools(WEB)}`, errors: ['peers: BGP is not supported, layer2 only'] },
    { name: 'BGP communities', text: `bgp-communities: {no-advertise: "65535:65282"}\n${pools(WEB)}`, errors: ['bgp-communities: BGP is not supported, layer2 only'] },
    { name: 'BGP advertisements of a pool', text: pools('{name: web, addresses: [192.0.2.0/28], bgp-advertisements: [{aggregation-length: 32}]}'), errors: ['pool "web": bgp-advertisements: BGP is not supported, layer2 only'] },
    {
      name: 'a selector operator that does not exist',
      text: pools('{name: web, addresses: [192.0.2.0/28], node-selectors: [{match-expressions: [{key: zone, operator: Gt, values: ["1"]}]}]}'),
      errors: ['pool "web": node-selectors[0].match-expressions[0].operator: "Gt" is not one of In, NotIn, Exists, DoesNotExist'],
      codes: ['FUL_ERR_POOL_SELECTOR'],
    },
    {
      name: 'In without values and Exists with values',
      text: pools('{name: web, addresses: [192.0.2.0/28], node-selectors: [{match-expressions: [{key: zone, operator: In}, {key: edge, operator: Exists, values: [x]}]}]}'),
      errors: ['pool "web": node-selectors[0].match-expressions[0].values: operator In needs at least one value', 'pool "web": node-selectors[0].match-expressions[1].values: operator Exists takes no values'],
    },
    {
      name: 'a label key and a label value that Kubernetes would refuse',
      text: pools('{name: web, addresses: [192.0.2.0/28], node-selectors: [{match-labels: {"bad key!": a, zone: "-x-"}}]}'),
      errors: ['pool "web": node-selectors[0].match-labels: "bad key!" is not a valid label key', 'pool "web": node-selectors[0].match-labels[zone]: "-x-" is not a valid label value'],
    },
    { name: 'a typo in a selector key', text: pools('{name: web, addresses: [192.0.2.0/28], node-selectors: [{match-label: {a: b}}]}'), errors: ['pool "web": node-selectors[0]: unknown key "match-label" (did you mean "match-labels"?)'] },
    { name: 'node selectors that are not a list', text: pools('{name: web, addresses: [192.0.2.0/28], node-selectors: {a: b}}'), errors: ['pool "web": node-selectors: a mapping is not a list of selectors'] },
    {
      name: 'a bad interface name and a repeated one',
      text: pools('{name: web, addresses: [192.0.2.0/28], interfaces: [eth0, "a/b", eth0, averyveryverylongname]}'),
      errors: [
        'pool "web": interfaces[1]: "a/b" is not an interface name (1-15 characters, no "/", ":" or spaces)',
        'pool "web": interfaces[2]: "eth0" is listed twice',
        'pool "web": interfaces[3]: "averyveryverylongname" is not an interface name (1-15 characters, no "/", ":" or spaces)',
      ],
      codes: ['FUL_ERR_POOL_INTERFACE', 'FUL_ERR_POOL_INTERFACE', 'FUL_ERR_POOL_INTERFACE'],
    },
    { name: 'a pool that is not a mapping', text: pools('just-a-string'), errors: ['address-pools[0]: "just-a-string" is not a pool (a mapping with name, protocol, addresses)'] },
    { name: 'address-pools that is not a list', text: 'address-pools: {name: web}\n', errors: ['address-pools: a mapping is not a list of pools'] },
    { name: 'text that is not YAML', text: 'address-pools: [1\n', errors: ['input is not YAML: Flow sequence in block collection must be sufficiently indented and end with a ]'], codes: ['FUL_ERR_CONFIG_YAML'] },
    { name: 'binary input', text: '\u0000\u0001\u00ff\u0002garbage', errors: ['input is not YAML: it contains control characters or invalid UTF-8 (a binary file?)'] },
    { name: 'a YAML scalar instead of a mapping', text: 'hello world\n', errors: ['the config must be a mapping with "address-pools" (or a ConfigMap manifest), got "hello world"'] },
    { name: 'duplicate keys', text: 'address-pools: []\naddress-pools: []\n', errors: ['input is not YAML: Map keys must be unique'] },
    {
      name: 'a ConfigMap without the config key',
      text: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: fulcrum-system}\ndata: {pools: x}\n',
      errors: ['ConfigMap "fulcrum-system/config" has no data key "config"'],
      codes: ['FUL_ERR_CONFIG_MANIFEST'],
    },
    {
      name: 'a ConfigMap whose config is not YAML names the key',
      text: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: fulcrum-system}\ndata:\n  config: "address-pools: [1"\n',
      errors: ['ConfigMap "fulcrum-system/config": data.config is not YAML: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    },
    {
      name: 'errors inside a ConfigMap are prefixed with the data key',
      text: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: fulcrum-system}\ndata:\n  config: |\n    adress-pools: []\n',
      errors: ['data.config: unknown key "adress-pools" (did you mean "address-pools"?)'],
    },
    { name: 'a manifest of another kind', text: 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n', errors: ['input is a manifest of kind "Deployment", not a ConfigMap'] },
    {
      name: 'every error of a config is reported, not only the first',
      text: pools('{name: a, addresses: ["192.0.2.300/32"], auto-asign: true}', '{name: b, protocol: bgp, addresses: []}'),
      errors: [
        'pool "a": unknown key "auto-asign" (did you mean "auto-assign"?)',
        'pool "a": addresses[0]: "192.0.2.300/32" is not an IP range',
        'pool "b": protocol: "bgp" is not supported, layer2 only',
        'pool "b": addresses: the pool has no addresses',
      ],
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const result = parseConfig(row.text);
      assert.equal(result.ok, false, `parseConfig(${JSON.stringify(row.text)}) should fail`);
      if (result.ok) return;
      assert.deepEqual(result.errors, row.errors, `parseConfig(${JSON.stringify(row.text)})`);
      if (row.codes) assert.deepEqual(result.issues.filter((i) => i.severity === 'error').map((i) => i.code), row.codes);
    });
  }

  it('a warning travels with errors, so nothing is hidden', () => {
    const result = parseConfig(pools('{name: web, addresses: [192.0.2.5/24, bogus]}'));
    assert.equal(result.ok, false);
    assert.deepEqual(result.warnings, ['pool "web": addresses[0]: "192.0.2.5/24" has host bits set; it means the network 192.0.2.0/24']);
  });

  it('avoid-buggy-ips on a pool of only .0 and .255 warns that it has nothing to give', () => {
    const result = valid(pools('{name: web, addresses: [192.0.2.255-192.0.3.0], avoid-buggy-ips: true}'));
    assert.deepEqual(result.issues.map((i) => i.code), ['FUL_WARN_NO_USABLE_ADDRESS']);
  });
});
