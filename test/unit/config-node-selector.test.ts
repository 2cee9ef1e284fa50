import assert from 'node:assert/strict';
import { poolInterfacesOn, poolSelectsNode, selectorText } from '../../src/config/node-selector.js';
import type { Advertisement, NodeSelector } from '../../src/config/types.js';

const sel = (s: Partial<NodeSelector>): NodeSelector => ({ matchLabels: {}, matchExpressions: [], ...s });

describe('poolSelectsNode', () => {
  const rows: Array<{ name: string; selectors: NodeSelector[]; labels: Record<string, string>; selects: boolean }> = [
    { name: 'a pool without selectors selects every node', selectors: [], labels: {}, selects: true },
    { name: 'match-labels selects a node with the label', selectors: [sel({ matchLabels: { rack: 'a' } })], labels: { rack: 'a', zone: 'x' }, selects: true },
    { name: 'match-labels refuses a node with another value', selectors: [sel({ matchLabels: { rack: 'a' } })], labels: { rack: 'b' }, selects: false },
    { name: 'match-labels refuses a node without the label', selectors: [sel({ matchLabels: { rack: 'a' } })], labels: {}, selects: false },
    { name: 'every label of one selector must match', selectors: [sel({ matchLabels: { rack: 'a', zone: 'x' } })], labels: { rack: 'a' }, selects: false },
    { name: 'In selects a listed value', selectors: [sel({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['x', 'y'] }] })], labels: { zone: 'y' }, selects: true },
    { name: 'In refuses a node without the label', selectors: [sel({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['x'] }] })], labels: {}, selects: false },
    { name: 'NotIn refuses a listed value', selectors: [sel({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['x'] }] })], labels: { zone: 'x' }, selects: false },
    { name: 'NotIn selects a node without the label, as in Kubernetes', selectors: [sel({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['x'] }] })], labels: {}, selects: true },
    { name: 'Exists selects a node with the label, whatever its value', selectors: [sel({ matchExpressions: [{ key: 'edge', operator: 'Exists', values: [] }] })], labels: { edge: '' }, selects: true },
    { name: 'DoesNotExist refuses a node with the label', selectors: [sel({ matchExpressions: [{ key: 'edge', operator: 'DoesNotExist', values: [] }] })], labels: { edge: 'yes' }, selects: false },
    { name: 'labels and expressions of one selector are ANDed', selectors: [sel({ matchLabels: { rack: 'a' }, matchExpressions: [{ key: 'edge', operator: 'Exists', values: [] }] })], labels: { rack: 'a' }, selects: false },
    { name: 'selectors of a pool are ORed', selectors: [sel({ matchLabels: { rack: 'a' } }), sel({ matchLabels: { rack: 'b' } })], labels: { rack: 'b' }, selects: true },
    { name: 'a label inherited from Object.prototype does not count', selectors: [sel({ matchExpressions: [{ key: 'constructor', operator: 'Exists', values: [] }] })], labels: {}, selects: false },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const before = structuredClone({ selectors: row.selectors, labels: row.labels });
      const pool = { advertisements: [{ nodeSelectors: row.selectors, interfaces: [] }] };
      assert.equal(poolSelectsNode(pool, row.labels), row.selects, `poolSelectsNode(${JSON.stringify(row.selectors)}, ${JSON.stringify(row.labels)})`);
      assert.deepEqual({ selectors: row.selectors, labels: row.labels }, before, 'inputs were not mutated');
    });
  }
});

/** An advertisement of the MetalLB docs' examples: nodes by hostname (none: every node), interfaces (none: every one). */
const adv = (hosts: string[], interfaces: string[] = []): Advertisement => ({
  nodeSelectors: hosts.map((h) => sel({ matchLabels: { 'kubernetes.io/hostname': h } })),
  interfaces,
});
const host = (name: string) => ({ 'kubernetes.io/hostname': name });
const LOCAL = ['eno1', 'ens18', 'eth0', 'eth1', 'eth3'];

describe('several advertisements for one pool: poolSelectsNode and poolInterfacesOn (MetalLB "Advanced L2 configuration")', () => {
  const rows: Array<{ name: string; advertisements: Advertisement[]; labels: Record<string, string>; selects: boolean; interfaces: string[] }> = [
    { name: 'a pool no L2Advertisement selects is announced by no node', advertisements: [], labels: host('NodeA'), selects: false, interfaces: [] },
    { name: 'first-pool, limited to NodeA and NodeB: NodeB announces it on every interface', advertisements: [adv(['NodeA', 'NodeB'])], labels: host('NodeB'), selects: true, interfaces: LOCAL },
    { name: 'first-pool, limited to NodeA and NodeB: NodeC does not announce it', advertisements: [adv(['NodeA', 'NodeB'])], labels: host('NodeC'), selects: false, interfaces: [] },
    { name: 'third-pool, on eth0 and eth1 of every node', advertisements: [adv([], ['eth0', 'eth1'])], labels: host('NodeC'), selects: true, interfaces: ['eth0', 'eth1'] },
    { name: 'fourth-pool, only from eth3 of NodeA: NodeA', advertisements: [adv(['NodeA'], ['eth3'])], labels: host('NodeA'), selects: true, interfaces: ['eth3'] },
    { name: 'fourth-pool, only from eth3 of NodeA: NodeB', advertisements: [adv(['NodeA'], ['eth3'])], labels: host('NodeB'), selects: false, interfaces: [] },
    {
      name: 'example-advertisement9 and 10: hostB announces pool1 on eno1 and ens18 (the union of the interfaces)',
      advertisements: [adv([], ['eno1']), adv(['hostB'], ['ens18'])],
      labels: host('hostB'),
      selects: true,
      interfaces: ['eno1', 'ens18'],
    },
    { name: 'example-advertisement9 and 10: another node announces pool1 only on eno1', advertisements: [adv([], ['eno1']), adv(['hostB'], ['ens18'])], labels: host('hostA'), selects: true, interfaces: ['eno1'] },
    { name: 'a node is eligible when any advertisement selects it (union of the node sets)', advertisements: [adv(['NodeA'], ['eth0']), adv(['NodeC'], ['eth1'])], labels: host('NodeC'), selects: true, interfaces: ['eth1'] },
    { name: 'an advertisement without interfaces that selects the node gives it every interface', advertisements: [adv(['NodeA'], ['eth0']), adv(['NodeA'])], labels: host('NodeA'), selects: true, interfaces: LOCAL },
    { name: "interfaces the speaker does not announce on are left out, in the speaker's order", advertisements: [adv([], ['eth9', 'eth1', 'eno1'])], labels: host('NodeA'), selects: true, interfaces: ['eno1', 'eth1'] },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const pool = { advertisements: row.advertisements };
      const before = structuredClone(pool);
      assert.equal(poolSelectsNode(pool, row.labels), row.selects, `poolSelectsNode(${JSON.stringify(row.labels)})`);
      assert.deepEqual(poolInterfacesOn(pool, row.labels, LOCAL), row.interfaces, `poolInterfacesOn(${JSON.stringify(row.labels)}, ${JSON.stringify(LOCAL)})`);
      assert.deepEqual(pool, before, 'the pool was not mutated');
    });
  }
});

describe('selectorText: the Kubernetes text form, one per meaning', () => {
  const rows: Array<{ name: string; selector: NodeSelector; text: string }> = [
    { name: 'the empty selector is the empty text', selector: sel({}), text: '' },
    { name: 'labels come sorted by key', selector: sel({ matchLabels: { zone: 'a', rack: '1' } }), text: 'rack=1,zone=a' },
    {
      name: 'expressions keep their order, with sorted values',
      selector: sel({ matchExpressions: [{ key: 'z', operator: 'In', values: ['b', 'a'] }, { key: 'e', operator: 'Exists', values: [] }, { key: 'd', operator: 'DoesNotExist', values: [] }, { key: 'n', operator: 'NotIn', values: ['x'] }] }),
      text: 'z in (a,b),e,!d,n notin (x)',
    },
  ];
  for (const row of rows) it(row.name, () => assert.equal(selectorText(row.selector), row.text));
});
