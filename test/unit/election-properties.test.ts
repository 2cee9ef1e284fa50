import assert from 'node:assert/strict';
import fc from 'fast-check';
import { electOwner } from '../../speaker/plan/elect.js';

const nodeNames = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,14}$/), { minLength: 1, maxLength: 12 });
const addresses = fc.uniqueArray(
  fc.oneof(
    fc.integer({ min: 1, max: 254 }).map((n) => `192.0.2.${n}`),
    fc.integer({ min: 1, max: 0xffff }).map((n) => `2001:db8::${n.toString(16)}`),
  ),
  { minLength: 1, maxLength: 40 },
);

function owners(addrs: readonly string[], nodes: readonly string[]): Map<string, string | undefined> {
  return new Map(addrs.map((a) => {
    const e = electOwner(a, nodes);
    return [a, e.kind === 'owner' ? e.node : undefined];
  }));
}

describe('electOwner properties', () => {
  it('exactly one owner, one of the candidates, whenever any node is eligible', () => {
    fc.assert(
      fc.property(nodeNames, addresses, (nodes, addrs) => {
        for (const a of addrs) {
          const e = electOwner(a, nodes);
          assert.equal(e.kind, 'owner', `electOwner(${a}, ${JSON.stringify(nodes)})`);
          if (e.kind === 'owner') assert.ok(nodes.includes(e.node));
        }
      }),
    );
  });

  it('any order of the candidates gives the same owner (every speaker agrees)', () => {
    fc.assert(
      fc.property(nodeNames.chain((n) => fc.tuple(fc.constant(n), fc.shuffledSubarray(n, { minLength: n.length, maxLength: n.length }))), addresses, ([nodes, shuffled], addrs) => {
        const before = [...nodes];
        assert.deepEqual(owners(addrs, shuffled), owners(addrs, nodes));
        assert.deepEqual(nodes, before, 'candidates were not mutated');
      }),
    );
  });

  it('removing one node moves only the addresses it owned', () => {
    fc.assert(
      fc.property(nodeNames.filter((n) => n.length >= 2), addresses, fc.nat(), (nodes, addrs, pick) => {
        const gone = nodes[pick % nodes.length]!;
        const before = owners(addrs, nodes);
        const after = owners(addrs, nodes.filter((n) => n !== gone));
        for (const a of addrs) {
          if (before.get(a) !== gone) assert.equal(after.get(a), before.get(a), `${a} moved from ${before.get(a)} though only ${gone} left`);
          else assert.notEqual(after.get(a), gone);
        }
      }),
    );
  });

  it('adding a node takes addresses only for itself', () => {
    fc.assert(
      fc.property(nodeNames.filter((n) => n.length >= 2), addresses, (nodes, addrs) => {
        const [added, ...rest] = nodes;
        const before = owners(addrs, rest);
        const after = owners(addrs, nodes);
        for (const a of addrs) assert.ok(after.get(a) === before.get(a) || after.get(a) === added, `${a}: ${before.get(a)} → ${after.get(a)}`);
      }),
    );
  });
});
