import assert from 'node:assert/strict';
import { poolSelectsNode } from '../../src/config/node-selector.js';
import type { NodeSelector } from '../../src/config/types.js';

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
      assert.equal(poolSelectsNode({ nodeSelectors: row.selectors }, row.labels), row.selects, `poolSelectsNode(${JSON.stringify(row.selectors)}, ${JSON.stringify(row.labels)})`);
      assert.deepEqual({ selectors: row.selectors, labels: row.labels }, before, 'inputs were not mutated');
    });
  }
});
