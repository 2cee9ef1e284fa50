import assert from 'node:assert/strict';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { readConfigSource, type ConfigSourceInput, type ConfigSourceRead, type SourceObject } from '../../src/config/source.js';

// The one rule for where the pools come from (src/config/source.ts): the ConfigMap, MetalLB's
// resources, neither, or both (refused, naming what to remove). Each row sets only what differs
// from an empty cluster; every row checks that the input was not mutated.

const NS = 'fulcrum-system';
const CM_NAME = `${NS}/config`;

function configMap(config: string | undefined, rv = '10'): V1ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config', namespace: NS, resourceVersion: rv, uid: 'cm-uid' }, ...(config === undefined ? {} : { data: { config } }) };
}
/** As a custom-object list item may come: without apiVersion and kind (the rule fills them in). */
function pool(name: string, spec: Record<string, unknown>, rv = '1'): SourceObject & { spec: unknown } {
  return { metadata: { name, namespace: NS, resourceVersion: rv, uid: `${name}-uid` }, spec };
}
function l2(name: string, spec: Record<string, unknown> = {}, rv = '1'): SourceObject & { spec: unknown } {
  return { apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name, namespace: NS, resourceVersion: rv, uid: `${name}-uid` }, spec };
}
const GOOD_CM = 'address-pools:\n- name: main\n  protocol: layer2\n  addresses: [192.0.2.0/28]\n';

function read(over: Partial<ConfigSourceInput>): ConfigSourceRead {
  const input: ConfigSourceInput = { configMap: undefined, configMapName: CM_NAME, ipAddressPools: [], l2Advertisements: [], lastVersion: undefined, ...over };
  const before = structuredClone(input);
  const r = readConfigSource(input);
  assert.deepEqual(input, before, 'readConfigSource did not mutate its input');
  return r;
}

function expectKind<K extends ConfigSourceRead['kind']>(r: ConfigSourceRead, kind: K): Extract<ConfigSourceRead, { kind: K }> {
  if (r.kind !== kind) assert.fail(`expected ${kind}, got ${r.kind}: ${'message' in r ? r.message : ''}`);
  return r as Extract<ConfigSourceRead, { kind: K }>;
}

describe('config source: the ConfigMap or MetalLB resources, never both', () => {
  const rows: Array<{ name: string; input: Partial<ConfigSourceInput>; check(r: ConfigSourceRead): void }> = [
    {
      name: 'an empty cluster has no config, and the message names both sources it looked for',
      input: {},
      check: (r) => assert.equal(expectKind(r, 'missing').message, `no pool config: ConfigMap ${CM_NAME} not found, and no IPAddressPool in ${NS}`),
    },
    {
      name: 'only the ConfigMap: it is read as today, and the ConfigLoaded Event goes on it',
      input: { configMap: configMap(GOOD_CM) },
      check: (r) => {
        const p = expectKind(r, 'parsed');
        assert.equal(p.source, 'configMap');
        assert.equal(p.version, 'configMap:10');
        assert.deepEqual(p.config.pools.map((x) => x.name), ['main']);
        assert.equal(p.from, `ConfigMap ${CM_NAME}`);
        assert.deepEqual(p.changed, [{ apiVersion: 'v1', kind: 'ConfigMap', namespace: NS, name: 'config', uid: 'cm-uid' }]);
      },
    },
    {
      name: 'the same ConfigMap version again is unchanged',
      input: { configMap: configMap(GOOD_CM), lastVersion: 'configMap:10' },
      check: (r) => expectKind(r, 'unchanged'),
    },
    {
      name: 'an invalid ConfigMap is refused with one Warning on it naming every error',
      input: { configMap: configMap('address-pools:\n- name: main\n  protocol: bgp\n  addresses: [192.0.2.300/28]\n') },
      check: (r) => {
        const x = expectKind(r, 'refused');
        assert.equal(x.why, 'invalid');
        assert.equal(x.source, 'configMap');
        assert.equal(x.complaints.length, 1);
        assert.equal(x.complaints[0]!.object.kind, 'ConfigMap');
        assert.match(x.complaints[0]!.message, /^invalid config, 2 error\(s\): .*protocol: "bgp".*"192\.0\.2\.300\/28" is not an IP range/);
      },
    },
    {
      name: 'a ConfigMap without the config key is refused, naming the key',
      input: { configMap: configMap(undefined) },
      check: (r) => assert.match(expectKind(r, 'refused').message, /data key "config" is missing/),
    },
    {
      name: 'only MetalLB resources: converted, kind and apiVersion filled in for list items that lack them',
      input: { ipAddressPools: [pool('web', { addresses: ['192.0.2.64/30'] }), pool('db', { addresses: ['192.0.2.80/30'] })], l2Advertisements: [l2('all')] },
      check: (r) => {
        const p = expectKind(r, 'parsed');
        assert.equal(p.source, 'metallb');
        assert.deepEqual(p.config.pools.map((x) => x.name), ['db', 'web']);
        assert.equal(p.from, '2 IPAddressPools and 1 L2Advertisement');
        assert.equal(p.version, 'metallb:IPAddressPool/db@1,IPAddressPool/web@1,L2Advertisement/all@1');
        assert.deepEqual(p.changed.map((o) => `${o.apiVersion} ${o.kind} ${o.name} ${o.uid}`), [
          'metallb.io/v1beta1 IPAddressPool db db-uid', 'metallb.io/v1beta1 IPAddressPool web web-uid', 'metallb.io/v1beta1 L2Advertisement all all-uid',
        ]);
      },
    },
    {
      name: 'one IPAddressPool changed: only it is named as changed',
      input: {
        ipAddressPools: [pool('web', { addresses: ['192.0.2.64/29'] }, '7'), pool('db', { addresses: ['192.0.2.80/30'] })],
        lastVersion: 'metallb:IPAddressPool/db@1,IPAddressPool/web@1',
      },
      check: (r) => assert.deepEqual(expectKind(r, 'parsed').changed.map((o) => o.name), ['web']),
    },
    {
      name: 'the same resources at the same versions are unchanged, whatever order the caches list them in',
      input: { ipAddressPools: [pool('web', { addresses: ['192.0.2.64/30'] }), pool('db', { addresses: ['192.0.2.80/30'] })], lastVersion: 'metallb:IPAddressPool/db@1,IPAddressPool/web@1' },
      check: (r) => expectKind(r, 'unchanged'),
    },
    {
      name: 'an invalid IPAddressPool gets its own Warning naming field and value; a valid one gets none',
      input: { ipAddressPools: [pool('bad', { addresses: ['192.0.2.300/32'] }), pool('good', { addresses: ['192.0.2.64/30'] })], l2Advertisements: [l2('all')] },
      check: (r) => {
        const x = expectKind(r, 'refused');
        assert.equal(x.why, 'invalid');
        assert.equal(x.source, 'metallb');
        assert.deepEqual(x.complaints, [{
          object: { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', namespace: NS, name: 'bad', uid: 'bad-uid' },
          message: `invalid, 1 error(s): IPAddressPool "${NS}/bad": spec.addresses[0]: "192.0.2.300/32" is not an IP range`,
        }]);
        assert.match(x.message, /^invalid MetalLB resources \(2 IPAddressPools and 1 L2Advertisement\), 1 error\(s\)/);
      },
    },
    {
      name: 'an invalid L2Advertisement gets the Warning, on the L2Advertisement',
      input: { ipAddressPools: [pool('web', { addresses: ['192.0.2.64/30'] })], l2Advertisements: [l2('picky', { serviceSelectors: [{ matchLabels: { a: 'b' } }] })] },
      check: (r) => {
        const x = expectKind(r, 'refused');
        assert.deepEqual(x.complaints.map((c) => `${c.object.kind} ${c.object.name}`), ['L2Advertisement picky']);
        assert.match(x.complaints[0]!.message, /serviceSelectors/);
      },
    },
    {
      name: 'two overlapping pools: the Warning goes on the one that overlaps the other',
      input: { ipAddressPools: [pool('a', { addresses: ['192.0.2.0/24'] }), pool('b', { addresses: ['192.0.2.0/28'] })] },
      check: (r) => assert.deepEqual(expectKind(r, 'refused').complaints.map((c) => c.object.name), ['b']),
    },
    {
      name: 'both sources are refused, on the ConfigMap, naming each resource and how to remove either source',
      input: { configMap: configMap(GOOD_CM), ipAddressPools: [pool('a', { addresses: ['192.0.2.64/30'] })], l2Advertisements: [l2('b')] },
      check: (r) => {
        const x = expectKind(r, 'refused');
        assert.equal(x.why, 'bothSources');
        assert.equal(x.source, 'both');
        assert.equal(x.message,
          `both the ConfigMap ${CM_NAME} and 2 MetalLB resource(s) (IPAddressPool "a", L2Advertisement "b") configure pools: remove one source ` +
          `(the ConfigMap: kubectl -n ${NS} delete configmap config; or the resources: kubectl -n ${NS} delete ipaddresspools,l2advertisements --all); ` +
          'the last good config stays in force');
        assert.deepEqual(x.complaints.map((c) => `${c.object.kind} ${c.object.name}`), ['ConfigMap config']);
      },
    },
    {
      name: 'both sources are refused even when the ConfigMap is invalid and the resources valid (one source, whichever is good)',
      input: { configMap: configMap('nonsense: [', '11'), ipAddressPools: [pool('a', { addresses: ['192.0.2.64/30'] })] },
      check: (r) => assert.equal(expectKind(r, 'refused').why, 'bothSources'),
    },
    {
      name: 'an L2Advertisement alone beside the ConfigMap is a second source too',
      input: { configMap: configMap(GOOD_CM), l2Advertisements: [l2('left-over')] },
      check: (r) => assert.match(expectKind(r, 'refused').message, /1 MetalLB resource\(s\) \(L2Advertisement "left-over"\)/),
    },
    {
      name: 'many resources beside the ConfigMap: five are named, the rest counted',
      input: { configMap: configMap(GOOD_CM), ipAddressPools: ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7'].map((n, i) => pool(n, { addresses: [`192.0.2.${i * 4}/30`] })) },
      check: (r) => assert.match(expectKind(r, 'refused').message, /7 MetalLB resource\(s\) \(IPAddressPool "p1", .*IPAddressPool "p5" and 2 more\)/),
    },
    {
      name: 'a refused both-sources version seen again is unchanged (the Warning is not repeated)',
      input: { configMap: configMap(GOOD_CM), ipAddressPools: [pool('a', { addresses: ['192.0.2.64/30'] })], lastVersion: 'both:10:IPAddressPool/a@1' },
      check: (r) => expectKind(r, 'unchanged'),
    },
    {
      name: 'switching from the ConfigMap to resources is a new version: every resource counts as changed',
      input: { ipAddressPools: [pool('main', { addresses: ['192.0.2.0/28'] })], lastVersion: 'configMap:10' },
      check: (r) => assert.deepEqual(expectKind(r, 'parsed').changed.map((o) => o.name), ['main']),
    },
  ];
  for (const row of rows) it(row.name, () => row.check(read(row.input)));
});
