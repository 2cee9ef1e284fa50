import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { candidateHash, electOwner, rankCandidates, type Election } from '../../speaker/plan/elect.js';

/** The owner of ADDRESS among a, b, c when all are eligible, computed by hand from sha256. */
const ADDRESS = '192.0.2.10';
const byHash = ['a', 'b', 'c'].sort((x, y) => {
  const hx = createHash('sha256').update(`${x}#${ADDRESS}`).digest('hex');
  const hy = createHash('sha256').update(`${y}#${ADDRESS}`).digest('hex');
  return hx < hy ? -1 : 1;
});
const [first, second, third] = byHash as [string, string, string];

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
