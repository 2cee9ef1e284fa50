import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  EXCLUDE_FROM_LB_LABEL,
  candidateHash,
  electOwner,
  electServiceOwner,
  nodesWithLocalEndpoint,
  rankCandidates,
  type Election,
  type ElectionInput,
  type EndpointSliceLike,
  type NodeLike,
} from '../../speaker/election/index.js';

const node = (name: string, o: { ready?: boolean; labels?: Record<string, string> } = {}): NodeLike => ({
  metadata: { name, labels: o.labels ?? {} },
  status: { conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
});
const ep = (nodeName: string, conditions: { ready?: boolean; serving?: boolean; terminating?: boolean }) => ({ nodeName, conditions });

/** The owner of ADDRESS among a, b, c when all are eligible, computed by hand from sha256. */
const ADDRESS = '192.0.2.10';
const byHash = ['a', 'b', 'c'].sort((x, y) => {
  const hx = createHash('sha256').update(`${x}#${ADDRESS}`).digest('hex');
  const hy = createHash('sha256').update(`${y}#${ADDRESS}`).digest('hex');
  return hx < hy ? -1 : 1;
});
const [first, second, third] = byHash as [string, string, string];

function input(o: Partial<ElectionInput>): ElectionInput {
  return {
    address: ADDRESS,
    nodes: [node('a'), node('b'), node('c')],
    aliveMembers: new Set(['a', 'b', 'c']),
    poolSelectsNode: () => true,
    externalTrafficPolicy: 'Cluster',
    endpointSlices: [],
    ...o,
  };
}

describe('candidateHash', () => {
  it('is sha256 of node#address in hex, as MetalLB', () => {
    assert.equal(candidateHash('node-1', '192.0.2.1'), createHash('sha256').update('node-1#192.0.2.1').digest('hex'));
  });
});

describe('electOwner', () => {
  const rows: Array<{ name: string; candidates: string[]; want: Election }> = [
    { name: 'no candidates means no owner', candidates: [], want: { kind: 'noCandidate', reason: 'noCandidates' } },
    { name: 'a single candidate owns', candidates: ['b'], want: { kind: 'owner', node: 'b' } },
    { name: 'the lowest hash wins among three', candidates: ['a', 'b', 'c'], want: { kind: 'owner', node: first } },
    { name: 'the order of candidates does not matter', candidates: ['c', 'b', 'a'], want: { kind: 'owner', node: first } },
    { name: 'duplicates do not matter', candidates: [second, first, first], want: { kind: 'owner', node: first } },
    { name: 'without the winner the runner-up owns', candidates: [third, second], want: { kind: 'owner', node: second } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const before = [...row.candidates];
      assert.deepEqual(electOwner(ADDRESS, row.candidates), row.want, `electOwner(${ADDRESS}, ${JSON.stringify(row.candidates)})`);
      assert.deepEqual(row.candidates, before, 'candidates were not mutated');
    });
  }
  it('rankCandidates puts the owner first and keeps every candidate once', () => {
    assert.deepEqual(rankCandidates(ADDRESS, ['c', 'a', 'b', 'a']), byHash);
  });
});

describe('electServiceOwner', () => {
  const localSlices = (...eps: ReturnType<typeof ep>[]): EndpointSliceLike[] => [{ endpoints: eps }];
  const rows: Array<{ name: string; o: Partial<ElectionInput>; want: Election }> = [
    { name: 'every node eligible: the hash decides', o: {}, want: { kind: 'owner', node: first } },
    { name: 'no Node objects: no owner', o: { nodes: [] }, want: { kind: 'noCandidate', reason: 'noNodes' } },
    { name: 'a Node without a name is ignored', o: { nodes: [{ metadata: {} }] }, want: { kind: 'noCandidate', reason: 'noNodes' } },
    { name: 'a dead member loses its addresses to the next in rank', o: { aliveMembers: new Set([second, third]) }, want: { kind: 'owner', node: second } },
    { name: 'no alive member: no owner, reason noAliveMember', o: { aliveMembers: new Set() }, want: { kind: 'noCandidate', reason: 'noAliveMember' } },
    { name: 'a NotReady node cannot own', o: { nodes: [node(first, { ready: false }), node(second), node(third)] }, want: { kind: 'owner', node: second } },
    { name: 'a node without conditions is not ready', o: { nodes: [{ metadata: { name: first } }] }, want: { kind: 'noCandidate', reason: 'noReadyNode' } },
    {
      name: 'the exclude-from-external-load-balancers label excludes, whatever its value',
      o: { nodes: [node(first, { labels: { [EXCLUDE_FROM_LB_LABEL]: '' } }), node(second)] },
      want: { kind: 'owner', node: second },
    },
    {
      name: 'only excluded nodes: reason noIncludedNode',
      o: { nodes: [node(first, { labels: { [EXCLUDE_FROM_LB_LABEL]: 'true' } })] },
      want: { kind: 'noCandidate', reason: 'noIncludedNode' },
    },
    {
      name: "a node the pool's selector refuses cannot own",
      o: { nodes: [node(first, { labels: { rack: 'x' } }), node(second, { labels: { rack: 'y' } })], poolSelectsNode: (l) => l.rack === 'y' },
      want: { kind: 'owner', node: second },
    },
    { name: 'a pool selecting no node: reason noSelectedNode', o: { poolSelectsNode: () => false }, want: { kind: 'noCandidate', reason: 'noSelectedNode' } },
    { name: 'Cluster policy ignores endpoints', o: { endpointSlices: localSlices(ep(third, { ready: true })) }, want: { kind: 'owner', node: first } },
    {
      name: 'Local policy: only a node with a ready endpoint owns',
      o: { externalTrafficPolicy: 'Local', endpointSlices: localSlices(ep(third, { ready: true }), ep(first, { ready: false })) },
      want: { kind: 'owner', node: third },
    },
    {
      name: 'Local policy: an endpoint with ready unset counts as ready',
      o: { externalTrafficPolicy: 'Local', endpointSlices: [{ endpoints: [{ nodeName: second }] }] },
      want: { kind: 'owner', node: second },
    },
    {
      name: 'Local policy: serving+terminating endpoints count when none is ready',
      o: { externalTrafficPolicy: 'Local', endpointSlices: localSlices(ep(third, { ready: false, serving: true, terminating: true })) },
      want: { kind: 'owner', node: third },
    },
    {
      name: 'Local policy: a ready endpoint elsewhere wins over a terminating one',
      o: { externalTrafficPolicy: 'Local', endpointSlices: localSlices(ep(first, { ready: false, serving: true, terminating: true }), ep(third, { ready: true })) },
      want: { kind: 'owner', node: third },
    },
    {
      name: 'Local policy: a terminating endpoint that is not serving does not count',
      o: { externalTrafficPolicy: 'Local', endpointSlices: localSlices(ep(first, { ready: false, serving: false, terminating: true })) },
      want: { kind: 'noCandidate', reason: 'noLocalEndpoint' },
    },
    {
      name: 'Local policy: the endpoint node must also be alive',
      o: { externalTrafficPolicy: 'Local', aliveMembers: new Set([first, second]), endpointSlices: localSlices(ep(third, { ready: true })) },
      want: { kind: 'noCandidate', reason: 'noLocalEndpoint' },
    },
    { name: 'Local policy without endpoints: reason noLocalEndpoint', o: { externalTrafficPolicy: 'Local' }, want: { kind: 'noCandidate', reason: 'noLocalEndpoint' } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const i = input(row.o);
      const before = structuredClone({ nodes: i.nodes, alive: [...i.aliveMembers], slices: i.endpointSlices });
      assert.deepEqual(electServiceOwner(i), row.want, `electServiceOwner(${JSON.stringify({ ...i, aliveMembers: [...i.aliveMembers] })})`);
      assert.deepEqual({ nodes: i.nodes, alive: [...i.aliveMembers], slices: i.endpointSlices }, before, 'inputs were not mutated');
    });
  }
  it('nodesWithLocalEndpoint skips endpoints without a node name', () => {
    assert.deepEqual([...nodesWithLocalEndpoint([{ endpoints: [{ nodeName: null }, { nodeName: 'a' }] }, { endpoints: null }])], ['a']);
  });
});
